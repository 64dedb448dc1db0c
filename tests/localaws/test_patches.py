"""localaws.patches, one at a time, on plain moto (no template): each changes what it says and undoes it."""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.athena.models import AthenaBackend
from moto.athena.models import Execution as AthenaExecution
from moto.awslambda.models import LambdaFunction
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.exceptions import JsonRESTError
from moto.glue.models import FakeTable
from moto.moto_api import state_manager
from moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl import JitterStrategyDecl
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils, state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.mocking import mock_config
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from localaws.counters import Counters
from localaws.patches import Undo, awslambda, core, environ, glue, stepfunctions
from localaws.patches.awslambda import InjectedFault, LocalFunction, LocalFunctions
from localaws.patches.core import uncounted
from localaws.patches.stepfunctions import json_safe
from localaws.runtime import wait_for_execution
from tests.helpers import FIXTURES

FUNCTIONS = FIXTURES / "runtime" / "functions"
ROLE = "arn:aws:iam::123456789012:role/states"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
REGION = "us-east-1"


@pytest.fixture
def moto_sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


@contextmanager
def installed(*undos: Undo) -> Iterator[None]:
    try:
        yield
    finally:
        for undo in reversed(undos):
            undo()


def run(
    sfn: Any, states: dict[str, Any], execution_input: Any = None, *, test_case: str = "", name: str = "machine"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a state machine of these states (the first one starts), run it to its end: (describe, history)."""
    definition = {"StartAt": next(iter(states)), "States": states}
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    started = sfn.start_execution(
        stateMachineArn=arn + (f"#{test_case}" if test_case else ""),
        name=uuid.uuid4().hex,
        input=json.dumps(execution_input or {}),
    )
    described = wait_for_execution(sfn, started["executionArn"], timeout=30)
    return described, sfn.get_execution_history(executionArn=started["executionArn"])["events"]


def output(described: dict[str, Any]) -> Any:
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    return json.loads(described["output"])


def events(history: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in history if e["type"] == kind]


def deploy(functions: LocalFunctions, name: str, handler: str, variables: dict[str, str]) -> None:
    """A function in moto's Lambda whose code runs from the fixture's CodeUri."""
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("placeholder.txt", "")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler=handler,
        Code={"ZipFile": archive.getvalue()},
        Environment={"Variables": variables},
    )
    functions.register(LocalFunction(name=name, code_dir=FUNCTIONS, handler=handler, memory_mb=128, timeout_seconds=5))


def invoke(name: str, event: Any) -> tuple[dict[str, Any], Any]:
    response = boto3.client("lambda", region_name=REGION).invoke(FunctionName=name, Payload=json.dumps(event))
    return response, json.loads(response["Payload"].read())


def lambda_task(function: str, catch: list[str] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": LAMBDA_ARN + function, "Payload": {"value": "v"}},
        "End": True,
    }
    if catch:
        state.pop("End")
        state["Catch"] = [{"ErrorEquals": catch, "ResultPath": "$.error", "Next": "Caught"}]
        state["Next"] = "Caught"
    return state


CAUGHT = {"Type": "Pass", "End": True}


# ------------------------------------------------------------------------------------------- run_lambda_in_process


@pytest.fixture
def local_functions(moto_sfn: Any) -> Iterator[LocalFunctions]:
    functions = LocalFunctions()
    deploy(functions, "echo", "handlers.echo", {"STAGE": "unit"})
    deploy(functions, "fail", "handlers.fail", {})
    with installed(awslambda.run_lambda_in_process(functions)):
        yield functions


def test_invoke_runs_the_handler_with_the_function_environment_and_context(local_functions: LocalFunctions) -> None:
    _, payload = invoke("echo", {"value": 1})

    assert payload["event"] == {"value": 1}
    assert (payload["stage"], payload["function_name"], payload["memory_limit_in_mb"]) == ("unit", "echo", 128)
    assert payload["invoked_function_arn"] == LAMBDA_ARN + "echo"
    assert payload["remaining_ms_positive"] is True


def test_handler_module_is_imported_inside_the_function_environment(local_functions: LocalFunctions) -> None:
    _, payload = invoke("echo", {})

    assert payload["stage_at_import"] == "unit"


def test_environment_is_restored_after_an_invocation(local_functions: LocalFunctions) -> None:
    before = dict(os.environ)

    invoke("echo", {})

    assert dict(os.environ) == before


def test_handler_output_goes_to_the_function_log_group_not_stdout(
    local_functions: LocalFunctions, capsys: pytest.CaptureFixture[str]
) -> None:
    response = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName="echo", Payload=b'{"value": 7}', LogType="Tail"
    )

    assert capsys.readouterr().out == ""
    assert "echoing 7" in base64.b64decode(response["LogResult"]).decode()


def test_each_function_imports_its_own_copy_of_the_module(local_functions: LocalFunctions) -> None:
    deploy(local_functions, "echo-prod", "handlers.echo", {"STAGE": "prod"})

    stages = [invoke(name, {})[1]["stage_at_import"] for name in ("echo", "echo-prod")]

    assert stages == ["unit", "prod"]


def test_handler_exception_becomes_lambdas_error_envelope(local_functions: LocalFunctions) -> None:
    response, payload = invoke("fail", {"value": "x"})

    assert "FunctionError" in response
    assert (payload["errorType"], payload["errorMessage"]) == ("BadThing", "bad thing for x")
    assert "handlers.py" in "".join(payload["stackTrace"])
    assert "awslambda.py" not in "".join(payload["stackTrace"])


def test_catch_matches_the_handler_exception_class_name(moto_sfn: Any, local_functions: LocalFunctions) -> None:
    described, _ = run(moto_sfn, {"Call": lambda_task("fail", catch=["BadThing"]), "Caught": CAUGHT})

    assert output(described)["error"]["Error"] == "BadThing"


def test_missing_handler_module_is_a_runtime_import_module_error(local_functions: LocalFunctions) -> None:
    deploy(local_functions, "broken", "no_such_module.handler", {})

    _, payload = invoke("broken", {})

    assert payload["errorType"] == "Runtime.ImportModuleError"


def test_fault_injector_error_type_reaches_the_state_machine(moto_sfn: Any, local_functions: LocalFunctions) -> None:
    def timed_out(function_name: str, event: Any) -> None:
        raise InjectedFault("Sandbox.Timedout", f"{function_name} timed out")

    local_functions.fault_injector = timed_out

    described, _ = run(moto_sfn, {"Call": lambda_task("echo", catch=["Sandbox.Timedout"]), "Caught": CAUGHT})

    assert output(described)["error"]["Error"] == "Sandbox.Timedout"


# ------------------------------------------------------------------------------------------- athena_task_service

ATHENA_SYNC = {
    "Type": "Task",
    "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
    "Parameters": {"QueryString": "SELECT 1", "WorkGroup": "primary"},
    "End": True,
}


@pytest.fixture
def athena(moto_sfn: Any) -> Iterator[Counters]:
    counters = Counters()
    with installed(
        stepfunctions.athena_task_service(), stepfunctions.scale_waits(0, counters), core.count_api_calls(counters)
    ):
        yield counters


def test_athena_sync_output_is_the_get_query_execution_response(moto_sfn: Any, athena: Counters) -> None:
    described, _ = run(moto_sfn, {"Query": ATHENA_SYNC})

    execution = output(described)["QueryExecution"]
    assert (execution["Query"], execution["Status"]["State"]) == ("SELECT 1", "SUCCEEDED")
    assert isinstance(execution["Status"]["SubmissionDateTime"], str)


def test_athena_sync_polls_while_the_query_is_queued_or_running(moto_sfn: Any, athena: Counters) -> None:
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 1})
    try:
        described, _ = run(moto_sfn, {"Query": ATHENA_SYNC})
    finally:
        state_manager.unset_transition("athena::execution")

    assert output(described)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
    assert athena.api_calls["athena.GetQueryExecution"] == 2  # RUNNING, then SUCCEEDED


def test_failed_query_fails_the_task_with_the_query_execution_as_cause(
    moto_sfn: Any, athena: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AthenaExecution, "status", property(lambda self: "FAILED"))

    described, _ = run(moto_sfn, {"Query": ATHENA_SYNC})

    assert (described["status"], described["error"]) == ("FAILED", "States.TaskFailed")
    assert json.loads(described["cause"])["QueryExecution"]["Status"]["State"] == "FAILED"


def test_athena_service_exception_is_named_athena_dot_code(
    moto_sfn: Any, athena: Counters, monkeypatch: pytest.MonkeyPatch
) -> None:
    def throttled(*args: Any, **kwargs: Any) -> str:
        raise JsonRESTError("TooManyRequestsException", "Rate exceeded")

    monkeypatch.setattr(AthenaBackend, "start_query_execution", throttled)
    query = {**ATHENA_SYNC, "Catch": [{"ErrorEquals": ["Athena.TooManyRequestsException"], "Next": "Caught"}]}
    query.pop("End")

    described, _ = run(moto_sfn, {"Query": query, "Caught": CAUGHT})

    assert output(described)["Error"] == "Athena.TooManyRequestsException"


# ------------------------------------------------------------------------------------------- MockConfigFile

LIST_BUCKETS = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets", "Parameters": {}}
MOCK_CONFIG = {
    "StateMachines": {
        "machine": {
            "TestCases": {
                "Mocked": {"First": "MockedBuckets"},
                "ThrowTwice": {"First": "FailTwiceThenBuckets"},
                "TaskFailed": {"First": "TaskFailed"},
                "Timeout": {"First": "Timeout"},
                "UnwrappedLambda": {"Call": "BareResult"},
            }
        }
    },
    "MockedResponses": {
        "MockedBuckets": {"0": {"Return": {"Buckets": [{"Name": "mocked"}]}}},
        "FailTwiceThenBuckets": {
            "0-1": {"Throw": {"Error": "Flaky", "Cause": "mocked"}},
            "2": {"Return": {"Buckets": [{"Name": "third-time"}]}},
        },
        "TaskFailed": {"0": {"Throw": {"Error": "States.TaskFailed", "Cause": "mocked failure"}}},
        "Timeout": {"0": {"Throw": {"Error": "States.Timeout", "Cause": "mocked timeout"}}},
        "BareResult": {"0": {"Return": {"result": 1}}},
    },
}
TWO_LISTINGS = {
    "First": {**LIST_BUCKETS, "ResultPath": "$.first", "Next": "Second"},
    "Second": {
        **LIST_BUCKETS,
        "ResultSelector": {"names.$": "$.Buckets[*].Name"},
        "ResultPath": "$.second",
        "End": True,
    },
}


@pytest.fixture
def mocking(moto_sfn: Any) -> Iterator[None]:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="real-bucket")
    with installed(
        stepfunctions.mock_config_test_cases(MOCK_CONFIG),
        stepfunctions.states_errors_propagate(),
        stepfunctions.json_safe_task_output(),
        stepfunctions.scale_waits(0, Counters()),
    ):
        yield


def test_test_case_selects_the_mocked_response(moto_sfn: Any, mocking: None) -> None:
    described, _ = run(moto_sfn, TWO_LISTINGS, test_case="Mocked")

    assert output(described)["first"] == {"Buckets": [{"Name": "mocked"}]}


def test_states_without_a_mock_entry_run_for_real(moto_sfn: Any, mocking: None) -> None:
    described, _ = run(moto_sfn, TWO_LISTINGS, test_case="Mocked")

    assert output(described)["second"] == {"names": ["real-bucket"]}


def test_without_a_test_case_every_state_runs_for_real(moto_sfn: Any, mocking: None) -> None:
    described, _ = run(moto_sfn, TWO_LISTINGS)

    assert output(described)["first"]["Buckets"][0]["Name"] == "real-bucket"


def test_mocked_ranges_advance_per_retry(moto_sfn: Any, mocking: None) -> None:
    first = {**TWO_LISTINGS["First"], "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 3}]}

    described, history = run(moto_sfn, {**TWO_LISTINGS, "First": first}, test_case="ThrowTwice")

    assert output(described)["first"] == {"Buckets": [{"Name": "third-time"}]}
    assert [e["taskFailedEventDetails"]["error"] for e in events(history, "TaskFailed")] == ["Flaky", "Flaky"]


def test_unknown_test_case_is_rejected_when_the_execution_starts(moto_sfn: Any, mocking: None) -> None:
    with pytest.raises(ClientError, match="no test case 'Nope'"):
        run(moto_sfn, TWO_LISTINGS, test_case="Nope")


def test_mocked_lambda_result_without_invoke_envelope_is_rejected_at_start(moto_sfn: Any, mocking: None) -> None:
    call = {"Type": "Task", "Resource": LAMBDA_ARN + "anything", "End": True}

    with pytest.raises(ClientError, match="'BareResult' for Lambda task 'Call' must be Lambda's Invoke response"):
        run(moto_sfn, {"Call": call}, test_case="UnwrappedLambda")


# ------------------------------------------------------------------------------------------- States.* errors


def test_mocked_throw_of_a_states_error_is_catchable_by_name(moto_sfn: Any, mocking: None) -> None:
    first = {**LIST_BUCKETS, "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Caught"}], "End": True}

    described, _ = run(moto_sfn, {"First": first, "Caught": CAUGHT}, test_case="Timeout")

    assert output(described)["Error"] == "States.Timeout"


def test_fail_state_rethrows_a_caught_states_error(moto_sfn: Any, mocking: None) -> None:
    first = {
        **LIST_BUCKETS,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
        "End": True,
    }
    failed = {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}

    described, _ = run(moto_sfn, {"First": first, "Failed": failed}, test_case="TaskFailed")

    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "States.TaskFailed",
        "mocked failure",
    )


def test_map_iteration_failing_with_a_states_error_fails_the_map_with_it(moto_sfn: Any, mocking: None) -> None:
    each = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {
            "StartAt": "Boom",
            "States": {"Boom": {"Type": "Fail", "Error": "States.TaskFailed", "Cause": "inner"}},
        },
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}],
        "End": True,
    }

    described, _ = run(moto_sfn, {"Each": each, "Caught": CAUGHT}, {"items": [1]})

    assert output(described)["error"]["Error"] == "States.TaskFailed"


# ------------------------------------------------------------------------------------------- JSON-safe output


def test_s3_get_object_body_is_returned_as_text_and_dates_as_iso_strings(moto_sfn: Any, mocking: None) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket="real-bucket", Key="a.sql", Body=b"SELECT 1")
    get = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
        "Parameters": {"Bucket": "real-bucket", "Key": "a.sql"},
        "ResultSelector": {"sql.$": "$.Body", "modified.$": "$.LastModified"},
        "End": True,
    }

    described, _ = run(moto_sfn, {"Get": get})

    result = output(described)
    assert result["sql"] == "SELECT 1"
    assert result["modified"].startswith("20")


def test_glue_creation_time_no_longer_breaks_describe_execution(moto_sfn: Any, mocking: None) -> None:
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(DatabaseName="db", TableInput={"Name": "t", "PartitionKeys": [{"Name": "dt", "Type": "string"}]})
    glue.create_partition(DatabaseName="db", TableName="t", PartitionInput={"Values": ["2024-01-01"]})
    parts = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:glue:getPartitions",
        "Parameters": {"DatabaseName": "db", "TableName": "t"},
        "End": True,
    }

    described, _ = run(moto_sfn, {"Parts": parts})

    assert isinstance(output(described)["Partitions"][0]["CreationTime"], str)


def test_json_safe_converts_nested_datetimes_bytes_and_tuples() -> None:
    import datetime as dt

    value = {"a": [dt.date(2024, 1, 2), (b"x",)], "b": {"c": dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC)}}

    assert json_safe(value) == {"a": ["2024-01-02", ["x"]], "b": {"c": "2024-01-02T03:04:00+00:00"}}


# ------------------------------------------------------------------------------------------- aws-sdk error names


def test_aws_sdk_errors_use_the_pascal_case_service_prefix(moto_sfn: Any, mocking: None) -> None:
    missing = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
        "Parameters": {"Bucket": "real-bucket", "Key": "absent"},
        "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"], "Next": "Caught"}],
        "End": True,
    }

    with installed(stepfunctions.aws_sdk_error_prefixes()):
        described, _ = run(moto_sfn, {"Missing": missing, "Caught": CAUGHT})

    assert output(described)["Error"] == "S3.NoSuchKeyException"


# ------------------------------------------------------------------------------------------- scale_waits


@pytest.fixture
def unscaled(moto_sfn: Any) -> Iterator[Counters]:
    counters = Counters()
    functions = LocalFunctions()
    deploy(functions, "fail", "handlers.fail", {})
    with installed(stepfunctions.scale_waits(0, counters), awslambda.run_lambda_in_process(functions)):
        yield counters


def test_wait_state_with_scale_zero_records_the_simulated_hour(moto_sfn: Any, unscaled: Counters) -> None:
    described, _ = run(moto_sfn, {"Hour": {"Type": "Wait", "Seconds": 3600, "End": True}})

    assert described["status"] == "SUCCEEDED"
    assert unscaled.simulated_wait_seconds == 3600


def test_retry_every_30_seconds_runs_every_attempt_without_waiting(moto_sfn: Any, unscaled: Counters) -> None:
    call = {
        **lambda_task("fail", catch=["States.ALL"]),
        "Retry": [{"ErrorEquals": ["BadThing"], "IntervalSeconds": 30, "MaxAttempts": 2, "BackoffRate": 2}],
    }

    described, history = run(moto_sfn, {"Call": call, "Caught": CAUGHT})

    assert output(described)["error"]["Error"] == "BadThing"
    assert len(events(history, "TaskScheduled")) == 3  # the attempt and its two retries
    assert unscaled.simulated_wait_seconds == 30 + 60


def test_max_delay_seconds_caps_the_backoff(moto_sfn: Any, unscaled: Counters) -> None:
    call = {
        **lambda_task("fail", catch=["States.ALL"]),
        "Retry": [
            {
                "ErrorEquals": ["BadThing"],
                "IntervalSeconds": 30,
                "MaxAttempts": 2,
                "BackoffRate": 10,
                "MaxDelaySeconds": 40,
            }
        ],
    }

    run(moto_sfn, {"Call": call, "Caught": CAUGHT})

    assert unscaled.simulated_wait_seconds == 30 + 40


def test_negative_wait_scale_is_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        stepfunctions.scale_waits(-1, Counters())


# ------------------------------------------------------------------------------------------- per_invocation_environment


def test_an_invocations_environment_is_seen_only_by_its_own_thread() -> None:
    seen: dict[str, str | None] = {}
    inside, read = threading.Event(), threading.Event()

    def invocation() -> None:
        with environ.environment({"TRAIL_BUCKET": "invocation"}):
            inside.set()
            read.wait(timeout=30)
            seen["invocation"] = os.environ.get("TRAIL_BUCKET")

    with installed(environ.per_invocation_environment()):
        thread = threading.Thread(target=invocation)
        thread.start()
        inside.wait(timeout=30)
        seen["other thread"] = os.environ.get("TRAIL_BUCKET")
        read.set()
        thread.join(timeout=30)

    assert seen == {"invocation": "invocation", "other thread": None}
    assert "TRAIL_BUCKET" not in os.environ


def test_an_invocations_writes_stay_in_its_own_environment() -> None:
    written: dict[str, Any] = {}

    def invocation() -> None:
        with environ.environment({"TRAIL_BUCKET": "invocation"}):
            os.environ["WRITTEN_BY_HANDLER"] = "yes"
            written["copy"] = os.environ.copy()
        written["after"] = os.environ.get("WRITTEN_BY_HANDLER")

    with installed(environ.per_invocation_environment()):
        thread = threading.Thread(target=invocation)
        thread.start()
        thread.join(timeout=30)
        seen_by_other_thread = os.environ.get("WRITTEN_BY_HANDLER")
    os.unsetenv("WRITTEN_BY_HANDLER")  # a handler's write reaches the C environment, as os.environ's does

    assert written["copy"]["TRAIL_BUCKET"] == "invocation" and written["copy"]["WRITTEN_BY_HANDLER"] == "yes"
    assert (written["after"], seen_by_other_thread) == (None, None)
    assert not isinstance(os.environ, environ.InvocationEnviron)


# ------------------------------------------------------------------------------------- glue_partitions_thread_safe


@pytest.mark.parametrize("method", glue.GLUE_PARTITION_METHODS)
def test_glue_partition_methods_run_under_the_partitions_lock(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    held: list[bool] = []

    def probe(self: FakeTable, *args: Any, **kwargs: Any) -> None:
        held.append(glue.GLUE_PARTITIONS_LOCK._is_owned())  # type: ignore[attr-defined]

    monkeypatch.setattr(FakeTable, method, probe)
    with installed(glue.glue_partitions_thread_safe()):
        getattr(FakeTable, method)(object())

    assert held == [True]


# ------------------------------------------------------------------------------------------- keep_child_histories

DISTRIBUTED_MAP = {
    "Shards": {
        "Type": "Map",
        "ItemsPath": "$.items",
        "End": True,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Shard",
            "States": {"Shard": {"Type": "Pass", "End": True}},
        },
    }
}


def test_distributed_map_child_events_are_kept_under_the_parent_execution(moto_sfn: Any) -> None:
    histories: stepfunctions.ChildHistories = {}

    with installed(stepfunctions.keep_child_histories(histories)):
        described, _ = run(moto_sfn, DISTRIBUTED_MAP, {"items": [1, 2, 3]})

    assert described["status"] == "SUCCEEDED"
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in histories[described["executionArn"]]
        if e["type"] == "PassStateEntered"
    ]
    assert entered == ["Shard"] * 3


# ------------------------------------------------------------------------------------- stop_before_the_worker_starts


@pytest.mark.parametrize(
    "held_in",
    ["_get_evaluation_entrypoint", "_get_evaluation_environment"],
    ids=["before its environment exists", "before its first state"],
)
def test_an_execution_stopped_before_its_first_state_ends_aborted(
    moto_sfn: Any, monkeypatch: pytest.MonkeyPatch, held_in: str
) -> None:
    released = threading.Event()
    with installed(stepfunctions.stop_before_the_worker_starts()):
        original = ExecutionWorker.__dict__[held_in]

        def held(self: ExecutionWorker) -> Any:
            if held_in == "_get_evaluation_environment":
                built = original(self)
                released.wait(timeout=30)
                return built
            released.wait(timeout=30)
            return original(self)

        monkeypatch.setattr(ExecutionWorker, held_in, held)
        definition = json.dumps({"StartAt": "First", "States": {"First": {"Type": "Pass", "End": True}}})
        arn = moto_sfn.create_state_machine(name="m", definition=definition, roleArn=ROLE)["stateMachineArn"]
        execution = moto_sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        moto_sfn.stop_execution(executionArn=execution)
        released.set()
        described = wait_for_execution(moto_sfn, execution, timeout=30)
        history = moto_sfn.get_execution_history(executionArn=execution)["events"]

    assert described["status"] == "ABORTED"
    assert [e["type"] for e in history] == ["ExecutionStarted", "ExecutionAborted"]


# ------------------------------------------------------------------------------------------- count_api_calls


@pytest.fixture
def counted(moto_sfn: Any) -> Iterator[Counters]:
    counters = Counters()
    with installed(core.count_api_calls(counters)):
        yield counters


def test_client_calls_are_counted_as_service_dot_operation(counted: Counters) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="counted")
    s3.list_objects_v2(Bucket="counted")
    s3.list_objects_v2(Bucket="counted")

    assert counted.api_calls == {"s3.CreateBucket": 1, "s3.ListObjectsV2": 2}


def test_calls_inside_uncounted_are_not_counted(counted: Counters) -> None:
    with uncounted():
        boto3.client("s3", region_name=REGION).list_buckets()

    assert counted.api_calls == {}


def test_state_machine_task_calls_are_counted(moto_sfn: Any, counted: Counters) -> None:
    with uncounted():
        run(moto_sfn, {"List": {**LIST_BUCKETS, "End": True}})

    assert counted.api_calls == {"s3.ListBuckets": 1}


# ------------------------------------------------------------------------------------------- undo

PATCHED: list[tuple[str, Callable[[], Undo], list[tuple[Any, str]]]] = [
    (
        "run_lambda_in_process",
        lambda: awslambda.run_lambda_in_process(LocalFunctions()),
        [(LambdaFunction, "_invoke_lambda")],
    ),
    ("athena_task_service", stepfunctions.athena_task_service, [(state_task_factory, "state_task_service_for")]),
    (
        "mock_config_test_cases",
        lambda: stepfunctions.mock_config_test_cases(None),
        [
            (mock_config, "load_mock_test_case_for"),
            (StepFunctionsParserBackend, "start_execution"),
            (Execution, "_get_start_execution_worker"),
        ],
    ),
    (
        "states_errors_propagate",
        stepfunctions.states_errors_propagate,
        [(state_fail, "CustomErrorName"), (mock_eval_utils, "CustomErrorName")],
    ),
    ("json_safe_task_output", stepfunctions.json_safe_task_output, [(StateTaskService, "_after_eval_execution")]),
    (
        "scale_waits",
        lambda: stepfunctions.scale_waits(0, Counters()),
        [
            (WaitFunction, "_wait_interval"),
            (JitterStrategyDecl, "_eval_body"),
            (state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK"),
        ],
    ),
    ("count_api_calls", lambda: core.count_api_calls(Counters()), [(BotocoreStubber, "__call__")]),
    (
        "glue_partitions_thread_safe",
        glue.glue_partitions_thread_safe,
        [(FakeTable, name) for name in glue.GLUE_PARTITION_METHODS],
    ),
    (
        "keep_child_histories",
        lambda: stepfunctions.keep_child_histories({}),
        [(DistributedIterationComponent, "_map_run")],
    ),
    (
        "stop_before_the_worker_starts",
        stepfunctions.stop_before_the_worker_starts,
        [(ExecutionWorker, "_get_evaluation_environment"), (ExecutionWorker, "stop"), (Program, "_eval_body")],
    ),
]


@pytest.mark.parametrize(("install", "targets"), [p[1:] for p in PATCHED], ids=[p[0] for p in PATCHED])
def test_undo_puts_the_original_moto_objects_back(install: Callable[[], Undo], targets: list[tuple[Any, str]]) -> None:
    originals = [owner.__dict__[name] for owner, name in targets]

    undo = install()
    replaced = [owner.__dict__[name] is not was for (owner, name), was in zip(targets, originals, strict=True)]
    undo()

    assert all(replaced)
    assert [owner.__dict__[name] for owner, name in targets] == originals


def test_undo_removes_only_the_error_prefixes_it_added() -> None:
    before = dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES)

    undo = stepfunctions.aws_sdk_error_prefixes()
    added = state_task_service_aws_sdk._SERVICE_ERROR_NAMES["s3"]
    undo()

    assert added == "S3"
    after = dict(state_task_service_aws_sdk._SERVICE_ERROR_NAMES)
    assert after == before
