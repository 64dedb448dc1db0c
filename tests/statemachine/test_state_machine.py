"""The state machine's behaviours, one Step Functions Local MockConfigFile TestCase each.

By default they run in-process on the embedded runtime (moto's interpreter, `stateMachineArn#TestCase`,
as Step Functions Local does). With SFN_ENDPOINT set (Step Functions Local in docker started with this
mock_config.json, see README) the same TestCases run there as well. Assertions read the execution history: the
states entered are the TestCase's path in expected_paths.py, a Distributed Map's children's are child_states.

A Task the TestCase does not mock runs for real. Step Functions Local then calls the service at its configured
endpoint ("If you do not specify a mocked response, a Task will attempt to call the service endpoints", AWS docs,
"Using mocked service integrations for testing in Step Functions Local"); nothing answers there, no Lambda, no
Athena. moto's interpreter mocks a state only when its name is in the TestCase (`Environment.is_mocked_mode`; Map
iterations and Distributed Map children get the same TestCase) and otherwise runs the real Task: the handler
in-process, the query on DuckDB. So on the embedded runtime a missing mock goes unnoticed; every TestCase mocks
every Task it enters, which test_mock_config_contract.py checks offline (in `make check`). On moto an attempt past
the state's last mocked response fails with States.Runtime ("No mocked response definition for state ... and retry
number ..."), which a States.ALL Catch takes like any failure: the contract checks that the mocks last through every
retry too.

The Distributed Maps' items are read from S3 by their ItemReader, which is not a Task and cannot be mocked: the
TestCases that run one (backfill shards, log-scan batches, integrity batches) run on the embedded runtime only,
with the items put where their mocked planners point. UnreadableObjectLeftOut plans 0 log-scan batches, so the
unreadable-object path also runs on Step Functions Local.
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
from tests.statemachine.expected_paths import PATHS

MOCK_CONFIG = Path(__file__).with_name("mock_config.json")
NIGHTLY = {"time": "2024-03-09T01:30:00Z"}
BACKFILL = {"start": "2024-03-06", "end": "2024-03-10"}
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
# The Distributed Maps' items (ItemReader is not a Task: not mockable), at the keys their mocked planners name.
LOG_SCAN_ITEMS = [
    {
        "batch": 0,
        "partitions": [
            "s3://trail/AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/08/",
            "s3://trail/AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/09/",
        ],
    }
]
INTEGRITY_ITEMS = [{"batch": "0", "night": "2024-03-08", "accounts": [["111111111111", ["us-east-1", "eu-west-1"]]]}]
MAP_ITEMS = {
    "runs/mock-config/shards.json": SHARD_ITEMS,
    "runs/mock-config/log-scan/items.json": LOG_SCAN_ITEMS,
    "integrity/mock-config/pairs.json": INTEGRITY_ITEMS,
}


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
        for key, items in MAP_ITEMS.items():
            aws.client("s3").put_object(Bucket=aws.physical["ResultsBucket"], Key=key, Body=json.dumps(items).encode())

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


def assert_takes_its_path(result: Run, test_case: str) -> None:
    """The states entered are the TestCase's expected path (expected_paths.py, which the offline contract checks
    mock_config.json against), and so are its Distributed Map children's where the runner sees them."""
    expected = PATHS[test_case]
    assert result.states == expected.states
    if result.child_states is not None:
        assert result.child_states == (expected.child_states or [])


def test_happy_path_adds_partitions_then_reports(run: Runner) -> None:
    result = run("HappyPath", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "HappyPath")
    assert result.output["added"] == 4 and result.output["report"]["email"]["sent"] is True


def test_nothing_missing_skips_the_athena_step(run: Runner) -> None:
    result = run("NothingMissing", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "NothingMissing")
    assert "AddPartitions" not in result.states


def test_athena_throttling_is_retried_until_the_statement_runs(run: Runner) -> None:
    result = run("RetryOnAthenaThrottle", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "RetryOnAthenaThrottle")
    assert result.failures() == ["Athena.TooManyRequestsException"] * 2


def test_a_transient_lambda_error_is_retried(run: Runner) -> None:
    result = run("RetryOnTransientLambdaError", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "RetryOnTransientLambdaError")
    assert result.failures() == ["TransientAwsError"]


def test_a_failed_athena_query_is_retried_then_notified(run: Runner) -> None:
    result = run("AddQueryFails", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert_takes_its_path(result, "AddQueryFails")
    assert result.failures().count("States.TaskFailed") >= 3  # first attempt + 2 retries
    assert (result.cause or "").startswith("Athena query q-add FAILED: FAILED: Execution Error")


def test_a_lambda_error_is_caught_notified_and_named(run: Runner) -> None:
    result = run("LambdaErrorCaught", NIGHTLY)
    assert_takes_its_path(result, "LambdaErrorCaught")
    assert (result.status, result.error) == ("FAILED", "TableNotFound")
    assert "trailkeeper.cloudtrail" in (result.cause or "")


def test_the_original_error_is_notified_when_describing_it_fails(run: Runner) -> None:
    result = run("DescribeFailureFails", NIGHTLY)
    assert_takes_its_path(result, "DescribeFailureFails")
    assert result.failures().count("Lambda.ServiceException") == 5  # DescribeFailure: first attempt + 4 retries
    assert (result.status, result.error) == ("FAILED", "TableNotFound")
    assert result.cause == "reading table trailkeeper.cloudtrail: Table not found"


def test_partitions_still_missing_after_adding_fail_the_execution(run: Runner) -> None:
    result = run("PartitionsStillMissing", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "PartitionsStillMissing")
    assert_takes_its_path(result, "PartitionsStillMissing")


def test_a_dry_run_backfill_plans_its_shards_and_adds_nothing(embedded_run: Runner) -> None:
    result = embedded_run("DryRun", {**BACKFILL, "dry_run": True})
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "DryRun")
    assert result.output["dry_run"] is True


def test_invalid_input_ends_at_the_first_state_naming_the_field(run: Runner) -> None:
    result = run("InvalidInput", {"start": "2024-02-30", "end": "2024-03-01"})
    assert_takes_its_path(result, "InvalidInput")
    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert (result.cause or "").startswith("start:")


def test_a_backfill_adds_through_its_shards_and_does_not_report(embedded_run: Runner) -> None:
    result = embedded_run("BackfillDoesNotReport", BACKFILL)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "BackfillDoesNotReport")
    assert result.output["shards"]["done"] == 1 and result.output["added"] == 4


def test_a_failed_shard_is_recorded_and_fails_the_backfill_after_the_others(embedded_run: Runner) -> None:
    result = embedded_run("FailedShardFailsTheBackfill", BACKFILL)
    assert_takes_its_path(result, "FailedShardFailsTheBackfill")
    assert (result.status, result.error) == ("FAILED", "ShardsFailed")
    assert "s00000: TableNotFound" in (result.cause or "")


def test_a_day_already_emailed_is_not_reported_again(run: Runner) -> None:
    result = run("ReportAlreadySent", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "ReportAlreadySent")
    assert result.output["report"] == {"skipped": "already sent"}


def test_nothing_new_still_completes_the_report(run: Runner) -> None:
    result = run("NothingNew", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "NothingNew")
    assert result.output["report"]["nothing_new"] is True


def test_a_report_query_failing_on_anything_but_bad_data_is_notified_with_its_reason(run: Runner) -> None:
    result = run("ReportQueryFails", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    assert_takes_its_path(result, "ReportQueryFails")  # no log scan
    assert (result.cause or "").startswith("Athena query q-report FAILED: HIVE_CANNOT_OPEN_SPLIT:")


def test_a_report_query_failing_on_bad_data_reports_without_the_unreadable_objects(run: Runner) -> None:
    result = run("UnreadableObjectLeftOut", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "UnreadableObjectLeftOut")
    assert result.output["report"]["email"]["sent"] is True


def test_the_log_scan_runs_one_child_execution_per_batch(embedded_run: Runner) -> None:
    result = embedded_run("UnreadableObjectFoundByTheScan", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "UnreadableObjectFoundByTheScan")


def test_a_night_with_accounts_validates_their_digest_chains_before_the_report(embedded_run: Runner) -> None:
    result = embedded_run("IntegrityValidated", NIGHTLY)
    assert result.status == "SUCCEEDED"
    assert_takes_its_path(result, "IntegrityValidated")
    assert result.output["integrity"]["pairs"] == 2 and result.output["integrity"]["alarming_findings"] == 0


def test_ses_rejection_is_notified_with_its_cause(run: Runner) -> None:
    result = run("SesRejected", NIGHTLY)
    assert (result.status, result.error) == ("FAILED", "EmailRejected")
    assert_takes_its_path(result, "SesRejected")
    assert "MessageRejected" in (result.cause or "")


def test_every_test_case_is_exercised() -> None:
    config = json.loads(MOCK_CONFIG.read_text())
    cases = set(config["StateMachines"]["trailkeeper"]["TestCases"])
    used = set(re.findall(r'run\("(\w+)"', Path(__file__).read_text()))  # run(...) and embedded_run(...)
    assert cases == used
