"""EmbeddedAws on the runtime's fixture stack (tests/fixtures/runtime): the stack it creates and the executions
it runs. One stack serves the module (creating it is the slow part); tests reset the counters they read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from botocore.exceptions import ClientError

from localaws.patches.awslambda import InjectedFault
from localaws.runtime import EmbeddedAws, ExecutionResult
from tests.helpers import FIXTURES

FIXTURE = FIXTURES / "runtime"
DATA_BUCKET = "trailkeeper-databucket-123456789012"


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedAws]:
    with EmbeddedAws.running(
        FIXTURE / "template.yaml", {"Greeting": "hi"}, wait_time_scale=0, mock_config=FIXTURE / "mock_config.json"
    ) as aws:
        for i in range(3):
            aws.client("s3").put_object(Bucket=DATA_BUCKET, Key=f"items/{i}.txt", Body=f"item {i}".encode())
        aws.client("glue").create_partition(
            DatabaseName="fixture_db", TableName="events", PartitionInput={"Values": ["2024-01-01"]}
        )
        yield aws


@pytest.fixture
def aws(stack: EmbeddedAws) -> Iterator[EmbeddedAws]:
    stack.counters.reset()
    yield stack
    stack.fault_injector = None


class Tour(NamedTuple):
    result: ExecutionResult
    api_calls: dict[str, int]


@pytest.fixture(scope="module")
def tour_run(stack: EmbeddedAws) -> Tour:
    """The "features" path once: Lambda invoke, intrinsics, Map over S3 getObject, Glue, SNS, a caught S3 error."""
    stack.counters.reset()
    result = stack.run_execution({"case": "features", "value": "abc", "count": 3})
    return Tour(result, dict(stack.counters.api_calls))


@pytest.fixture
def tour(tour_run: Tour) -> ExecutionResult:
    return tour_run.result


# ------------------------------------------------------------------------------------------- the stack


def test_template_buckets_and_the_trail_bucket_exist(aws: EmbeddedAws) -> None:
    names = {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}

    assert names == {DATA_BUCKET, "fixture-trail"}


def test_glue_table_is_created_from_the_whole_table_input(aws: EmbeddedAws) -> None:
    table = aws.client("glue").get_table(DatabaseName="fixture_db", Name="events")["Table"]

    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["StorageDescriptor"]["Location"] == "s3://fixture-trail/AWSLogs/"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"


def test_work_group_keeps_its_result_configuration(aws: EmbeddedAws) -> None:
    work_group = aws.client("athena").get_work_group(WorkGroup="trailkeeper-fixture")["WorkGroup"]

    output_location = work_group["Configuration"]["ResultConfiguration"]["OutputLocation"]
    assert output_location == f"s3://{DATA_BUCKET}/athena/"


def test_topic_is_created_under_its_name(aws: EmbeddedAws) -> None:
    arns = [t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]]

    assert arns == [aws.physical["Topic"]] == ["arn:aws:sns:us-east-1:123456789012:fixture-topic"]


def test_function_gets_the_resolved_template_environment(aws: EmbeddedAws) -> None:
    configuration = aws.client("lambda").get_function_configuration(FunctionName="trailkeeper-EchoFunction")

    variables = configuration["Environment"]["Variables"]
    assert (variables["STAGE"], variables["GREETING"], variables["DATA_BUCKET"]) == ("test", "hi", DATA_BUCKET)
    assert (configuration["Handler"], configuration["Timeout"], configuration["MemorySize"]) == (
        "handlers.echo",
        30,
        256,
    )


def test_state_machine_definition_has_every_placeholder_filled(aws: EmbeddedAws) -> None:
    definition = aws.client("stepfunctions").describe_state_machine(stateMachineArn=aws.state_machine_arn)["definition"]

    assert "${" not in definition
    assert json.loads(definition)["States"]["Echo"]["Resource"] == "arn:aws:states:::lambda:invoke"


def test_resources_not_created_locally_are_reported(aws: EmbeddedAws) -> None:
    assert aws.skipped == {"TopicPolicy": "AWS::SNS::TopicPolicy", "EchoLogGroup": "AWS::Logs::LogGroup"}


def test_upload_directory_puts_files_at_their_relative_posix_keys(aws: EmbeddedAws, tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.json.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / "top.txt").write_text("top")

    count = aws.upload_directory(tmp_path, "fixture-trail")

    listed = aws.client("s3").list_objects_v2(Bucket="fixture-trail")["Contents"]
    assert count == 2
    assert sorted(o["Key"] for o in listed) == ["a/b/x.json.gz", "top.txt"]


# ------------------------------------------------------------------------------------------- the feature tour


def test_tour_enters_every_state_including_each_map_iteration(tour: ExecutionResult) -> None:
    assert tour.status == "SUCCEEDED", (tour.error, tour.cause)
    assert tour.states == [
        "Route",
        "Echo",
        "Compute",
        "LoadItems",
        "LoadItem",
        "LoadItem",
        "LoadItem",
        "ListPartitions",
        "Notify",
        "MissingObject",
        "FeaturesDone",
    ]


def test_lambda_invoke_payload_and_result_selector(tour: ExecutionResult) -> None:
    echo = tour.output["echo"]["echo"]

    assert echo["event"] == {"value": "abc", "run": tour.name}
    assert (echo["function_name"], echo["stage"], echo["greeting"]) == ("trailkeeper-EchoFunction", "test", "hi")


def test_handler_prints_are_kept_in_the_function_logs(tour: ExecutionResult, stack: EmbeddedAws) -> None:
    assert "echoing abc" in stack.function_logs("trailkeeper-EchoFunction")


def test_intrinsic_functions_array_range_format_math_add_and_hash(tour: ExecutionResult) -> None:
    assert tour.output["computed"] == {
        "indexes": [0, 1, 2],
        "label": "3 items of abc",
        "digest": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    }


def test_map_items_read_s3_bodies_as_text(tour: ExecutionResult) -> None:
    assert [item["text"] for item in tour.output["items"]] == ["item 0", "item 1", "item 2"]


def test_glue_partition_datetimes_arrive_as_strings(tour: ExecutionResult) -> None:
    partition = tour.output["glue"]["partitions"][0]

    assert partition["Values"] == ["2024-01-01"]
    assert isinstance(partition["CreationTime"], str)


def test_sns_publish_returns_a_message_id(tour: ExecutionResult) -> None:
    assert tour.output["published"]["message_id"]


def test_missing_s3_object_is_caught_as_s3_no_such_key_exception(tour: ExecutionResult) -> None:
    assert tour.output["missing"]["Error"] == "S3.NoSuchKeyException"


# ------------------------------------------------------------------------------------------- errors and retries


def test_handler_exception_class_name_is_caught_and_rethrown_by_the_fail_state(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "lambda_error", "value": "x"})

    assert (result.status, result.states) == ("FAILED", ["Route", "CallFailing", "ReportError"])
    assert result.error == "BadThing"
    assert json.loads(result.cause or "")["errorMessage"] == "bad thing for x"


def test_retry_then_success_counts_retries_and_state_transitions(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "retry", "failures": 2})

    assert (result.status, result.output) == ("SUCCEEDED", {"attempts": 3})
    assert (aws.counters.state_transitions, aws.counters.retries) == (2, 2)


def test_retry_every_30_seconds_with_wait_scale_zero_retries_twice_without_waiting(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "slow_retry"}, timeout=10)

    assert (result.status, result.states) == ("SUCCEEDED", ["Route", "CallFailingSlowly", "GaveUp"])
    assert aws.counters.retries == 2
    assert aws.counters.simulated_wait_seconds == 30 + 60


def test_fault_injector_error_is_what_the_state_machine_sees(aws: EmbeddedAws) -> None:
    def timed_out(function_name: str, event: Any) -> None:
        if function_name == "trailkeeper-EchoFunction":
            raise InjectedFault("Sandbox.Timedout", "Task timed out after 30.00 seconds")

    aws.fault_injector = timed_out

    result = aws.run_execution({"case": "features", "value": "abc", "count": 1})

    assert (result.status, result.error, result.states) == ("FAILED", "Sandbox.Timedout", ["Route", "Echo"])


# ------------------------------------------------------------------------------------------- MockConfigFile


def test_test_case_mocks_its_states_and_runs_the_others_for_real(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "features", "value": "abc", "count": 1}, test_case="EchoMocked")

    assert result.output["echo"] == {"echo": {"canned": True}}
    assert result.output["items"][0]["text"] == "item 0"


def test_mocked_responses_advance_per_retry(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "retry", "failures": 0}, test_case="FlakyMockedThenOk")

    assert (result.status, result.output) == ("SUCCEEDED", {"attempts": "mocked"})
    assert aws.counters.retries == 2


def test_mocked_states_timeout_reaches_the_fail_state(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "athena", "sql": "SELECT 1"}, test_case="QueryTimesOut")

    assert (result.status, result.error, result.cause) == ("FAILED", "States.Timeout", "mocked timeout")


# ------------------------------------------------------------------------------------------- Athena .sync


def test_athena_sync_waits_for_the_query_and_returns_its_execution(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "athena", "sql": "SELECT 1 AS one"})

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["state"] == "SUCCEEDED"


def test_failed_athena_query_fails_the_task_with_states_task_failed(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "athena", "sql": "SELEKT nothing"})

    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert json.loads(result.cause or "")["QueryExecution"]["Status"]["State"] == "FAILED"


# ------------------------------------------------------------------------------------------- run_execution


def test_api_calls_are_counted_per_operation_without_the_harness_own_calls(tour_run: Tour) -> None:
    assert tour_run.api_calls == {
        "lambda.Invoke": 1,
        "s3.GetObject": 4,
        "glue.GetPartitions": 1,
        "sns.Publish": 1,
    }


def test_execution_name_and_raw_input_are_used_as_given(aws: EmbeddedAws) -> None:
    result = aws.run_execution(None, name="given-name", raw_input='{"case": "wait"}')

    assert (result.name, result.status, result.output) == ("given-name", "SUCCEEDED", {"case": "wait"})
    assert result.arn.endswith(":trailkeeper-fixture:given-name")


def test_malformed_raw_input_is_rejected_by_start_execution(aws: EmbeddedAws) -> None:
    with pytest.raises(ClientError, match="StartExecution operation"):
        aws.run_execution(None, raw_input="{not json")


def test_history_is_returned_in_event_order(aws: EmbeddedAws) -> None:
    result = aws.run_execution({"case": "wait"})

    assert [e["id"] for e in result.history] == list(range(1, len(result.history) + 1))
    assert (result.history[0]["type"], result.history[-1]["type"]) == ("ExecutionStarted", "ExecutionSucceeded")
