"""The state machine's behaviours, one Step Functions Local MockConfigFile TestCase each.

By default they run in-process on the embedded runtime (moto's interpreter, `stateMachineArn#TestCase`,
as Step Functions Local does). With SFN_ENDPOINT set (Step Functions Local in docker started with this
mock_config.json, see README) the same TestCases run there as well. Assertions read the execution history;
a backfill's shards run as Distributed Map child executions, whose states are read from child_states. Those
TestCases read the shard list from S3 (the Map's ItemReader is not a Task, so not mockable): they run on the
embedded runtime only.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from localaws.local_run import LOCAL_PARAMETERS
from localaws.runtime import EmbeddedAws
from tests.helpers import asl_text, state_machine_resource

MOCK_CONFIG = Path(__file__).with_name("mock_config.json")
NIGHTLY = {"time": "2024-03-09T01:30:00Z"}
BACKFILL = {"start": "2024-03-06", "end": "2024-03-10"}
ADDING = [
    "IsBackfill",
    "PlanPartitions",
    "AnythingToAdd",
    "ListStatements",
    "AddPartitions",
    "LoadStatement",
    "RunStatement",
    "VerifyPartitions",
]
SHARDED = ["ValidateInput", "IsBackfill", "PlanShards", "ReconcileShards", "SummariseShards"]
SHARD_ITEMS = [
    {
        "shard": "s00000",
        "expected": 20,
        "request": {
            "mode": "backfill",
            "start": "2024-03-06",
            "end": "2024-03-10",
            "accounts": ["111111111111", "222222222222"],
            "regions": None,
            "dry_run": False,
            "report_day": None,
            "resend_report": False,
            "resume": None,
        },
    }
]
INTEGRITY_NOTHING_TO_VALIDATE = ["IsIntegrityDue", "PlanIntegrity", "AnythingToValidate"]
REPORTING = ["IsReportDue", "PrepareReport", "ReportAlreadySent", "RunActivityQuery", "BuildReport", "SendReport"]


@dataclass(frozen=True)
class Run:
    status: str
    states: list[str]
    error: str | None
    cause: str | None
    output: Any
    history: list[dict[str, Any]]
    child_states: list[str] | None = None  # None where the runner cannot see child executions

    def failures(self) -> list[str]:
        """Error names of every failed attempt in the history, retried ones included."""
        return [
            details["error"]
            for event in self.history
            for key, details in event.items()
            if key.endswith("FailedEventDetails") and "error" in details
        ]


Runner = Callable[[str, object], Run]


@pytest.fixture(scope="module")
def embedded() -> Iterator[Runner]:
    with EmbeddedAws.running(parameters=LOCAL_PARAMETERS, mock_config=MOCK_CONFIG) as aws:
        aws.client("s3").put_object(
            Bucket=aws.physical["ResultsBucket"],
            Key="runs/mock-config/shards.json",
            Body=json.dumps(SHARD_ITEMS).encode(),
        )

        def run(test_case: str, execution_input: object) -> Run:
            result = aws.run_execution(execution_input, test_case=test_case)
            return Run(
                result.status,
                result.states,
                result.error,
                result.cause,
                result.output,
                result.history,
                result.child_states,
            )

        yield run


@pytest.fixture(scope="module")
def step_functions_local() -> Runner:
    endpoint = os.environ.get("SFN_ENDPOINT")
    if not endpoint:
        pytest.skip("SFN_ENDPOINT is not set: no Step Functions Local to run against (see README, Testing)")
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    definition = re.sub(r"\$\{(\w+)\}", lambda m: _local_value(m.group(1)), asl_text())
    arn = sfn.create_state_machine(
        name="trailkeeper", definition=definition, roleArn="arn:aws:iam::123456789012:role/DummyRole"
    )["stateMachineArn"]

    def run(test_case: str, execution_input: object) -> Run:
        execution = sfn.start_execution(stateMachineArn=f"{arn}#{test_case}", input=json.dumps(execution_input))
        deadline = time.monotonic() + 60
        while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{test_case} did not finish in 60 s"
            time.sleep(0.2)
        history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        states = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
        output = json.loads(described["output"]) if described.get("output") else None
        return Run(described["status"], states, described.get("error"), described.get("cause"), output, history)

    return run


def _local_value(placeholder: str) -> str:
    substitution = state_machine_resource()["Properties"]["DefinitionSubstitutions"][placeholder]
    if placeholder == "Partition":
        return "aws"
    if placeholder.endswith("FunctionArn"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:{substitution['Fn::GetAtt'][0]}"
    if placeholder.endswith("TopicArn"):
        return "arn:aws:sns:us-east-1:123456789012:trailkeeper-failures"
    return f"trailkeeper-{placeholder.lower()}"


@pytest.fixture(params=["embedded", "step_functions_local"])
def run(request: pytest.FixtureRequest) -> Runner:
    runner: Runner = request.getfixturevalue(request.param)
    return runner


@pytest.fixture
def embedded_run(embedded: Runner) -> Runner:
    return embedded


def test_happy_path_adds_partitions_then_reports(run: Runner) -> None:
    result = run("HappyPath", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert result.states == ["ValidateInput", *ADDING, *INTEGRITY_NOTHING_TO_VALIDATE, *REPORTING, "Done"]
    assert result.output["added"] == 4 and result.output["report"]["email"]["sent"] is True


def test_nothing_missing_skips_the_athena_step(run: Runner) -> None:
    result = run("NothingMissing", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert result.states == [
        "ValidateInput",
        "IsBackfill",
        "PlanPartitions",
        "AnythingToAdd",
        "VerifyPartitions",
        *INTEGRITY_NOTHING_TO_VALIDATE,
        *REPORTING,
        "Done",
    ]


def test_athena_throttling_is_retried_until_the_statement_runs(run: Runner) -> None:
    result = run("RetryOnAthenaThrottle", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert result.failures() == ["Athena.TooManyRequestsException"] * 2


def test_a_transient_lambda_error_is_retried(run: Runner) -> None:
    result = run("RetryOnTransientLambdaError", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert result.failures() == ["TransientAwsError"]


def test_a_failed_athena_query_is_retried_then_notified(run: Runner) -> None:
    result = run("AddQueryFails", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert result.states[-5:] == ["LoadStatement", "RunStatement", "DescribeFailure", "NotifyFailure", "Failed"]
    assert result.failures().count("States.TaskFailed") >= 3  # first attempt + 2 retries


def test_a_lambda_error_is_caught_notified_and_named(run: Runner) -> None:
    result = run("LambdaErrorCaught", NIGHTLY)
    assert result.states == [
        "ValidateInput",
        "IsBackfill",
        "PlanPartitions",
        "DescribeFailure",
        "NotifyFailure",
        "Failed",
    ]
    assert (result.status, result.error) == ("FAILED", "TableNotFound")
    assert "trailkeeper.cloudtrail" in (result.cause or "")


def test_partitions_still_missing_after_adding_fail_the_execution(run: Runner) -> None:
    result = run("PartitionsStillMissing", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "PartitionsStillMissing")
    assert result.states[-4:] == ["VerifyPartitions", "DescribeFailure", "NotifyFailure", "Failed"]


def test_a_dry_run_backfill_plans_its_shards_and_adds_nothing(embedded_run: Runner) -> None:
    result = embedded_run("DryRun", {**BACKFILL, "dry_run": True})
    assert result.status == "SUCCEEDED"
    assert result.states == [*SHARDED, "BackfillDone"]
    assert result.child_states == ["PlanShard", "ShardHasWork", "ShardPlanned"]
    assert result.output["dry_run"] is True


def test_invalid_input_ends_at_the_first_state_naming_the_field(run: Runner) -> None:
    result = run("InvalidInput", {"start": "2024-02-30", "end": "2024-03-01"})
    assert result.states == ["ValidateInput", "DescribeRejection", "InputRejected"]
    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert (result.cause or "").startswith("start:")


def test_a_backfill_adds_through_its_shards_and_does_not_report(embedded_run: Runner) -> None:
    result = embedded_run("BackfillDoesNotReport", BACKFILL)
    assert result.status == "SUCCEEDED"
    assert result.states == [*SHARDED, "BackfillDone"]
    assert result.child_states == [
        "PlanShard",
        "ShardHasWork",
        "ListShardStatements",
        "AddShardPartitions",
        "LoadShardStatement",
        "RunShardStatement",
        "VerifyShard",
    ]
    assert result.output["shards"]["done"] == 1 and result.output["added"] == 4


def test_a_failed_shard_is_recorded_and_fails_the_backfill_after_the_others(embedded_run: Runner) -> None:
    result = embedded_run("FailedShardFailsTheBackfill", BACKFILL)
    assert result.child_states == ["PlanShard", "RecordShardFailure", "ShardFailed"]
    assert result.states == [*SHARDED, "DescribeFailure", "NotifyFailure", "Failed"]
    assert (result.status, result.error) == ("FAILED", "ShardsFailed")
    assert "s00000: TableNotFound" in (result.cause or "")


def test_a_day_already_emailed_is_not_reported_again(run: Runner) -> None:
    result = run("ReportAlreadySent", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert result.states[-4:] == ["PrepareReport", "ReportAlreadySent", "ReportSkipped", "Done"]
    assert result.output["report"] == {"skipped": "already sent"}


def test_nothing_new_still_completes_the_report(run: Runner) -> None:
    result = run("NothingNew", NIGHTLY)
    assert result.status == "SUCCEEDED" and result.states[-2:] == ["SendReport", "Done"]
    assert result.output["report"]["nothing_new"] is True


def test_a_failed_report_query_is_notified(run: Runner) -> None:
    result = run("ReportQueryFails", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    # not bad data (no "HIVE_BAD_DATA:" code): notified with the query's reason, no log scan
    assert result.states[-6:] == [
        "RunActivityQuery",
        "DescribeQueryFailure",
        "IsUnreadableData",
        "QueryFailed",
        "NotifyFailure",
        "Failed",
    ]


def test_ses_rejection_is_notified_with_its_cause(run: Runner) -> None:
    result = run("SesRejected", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "EmailRejected")
    assert result.states[-4:] == ["SendReport", "DescribeFailure", "NotifyFailure", "Failed"]
    assert "MessageRejected" in (result.cause or "")


def test_every_test_case_is_exercised() -> None:
    config = json.loads(MOCK_CONFIG.read_text())
    cases = set(config["StateMachines"]["trailkeeper"]["TestCases"])
    used = set(re.findall(r'run\("(\w+)"', Path(__file__).read_text()))  # run(...) and embedded_run(...)
    assert cases == used
