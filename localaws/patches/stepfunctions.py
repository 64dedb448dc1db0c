"""Step Functions: moto's vendored ASL interpreter (LocalStack's), made to run trailkeeper's state machine.

athena_task_service        state_task_factory.state_task_service_for  moto fails athena `.sync` as unsupported
mock_config_test_cases     load_mock_test_case_for, start_execution,  moto stubs MockConfigFile loading and
                           Execution._get_start_execution_worker      ignores `stateMachineArn#TestCase`
states_errors_propagate    CustomErrorName in state_fail, Map/Parallel a re-raised `States.*` error name
                           workers and mock_eval_utils                became a ValueError (States.Runtime)
json_safe_task_output      StateTaskService._after_eval_execution     datetimes / S3 bodies broke DescribeExecution
aws_sdk_error_prefixes     aws-sdk _SERVICE_ERROR_NAMES               `s3.NoSuchKeyException`, AWS says `S3.…`
scale_waits                WaitFunction._wait_interval, retry delay,  Wait, Retry and `.sync` polling really sleep
                           `.sync` poll delay
keep_child_histories       DistributedIterationComponent._map_run     moto drops Map Run children's events
stop_before_the_worker_starts
                           ExecutionWorker.stop and                   StopExecution before the first state
                           ._get_evaluation_environment,              raised AttributeError or was ignored
                           Program._eval_body
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl import JitterStrategyDecl
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils, state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.mocking import mock_config
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponse,
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from localaws.counters import Counters
from localaws.patches import Undo, replace, undo_all

# ============================================================================================ JSON-safe output


def json_safe(value: Any) -> Any:
    """Task output as Step Functions hands it on: JSON only. Datetimes become ISO-8601 strings; streamed bodies
    (S3 GetObject `Body`) become their text, as Step Functions returns text bodies as strings."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, StreamingBody):
        value = value.read()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def json_safe_task_output() -> Undo:
    """moto leaves boto3 response objects in task output: Glue `CreationTime` datetimes and S3 GetObject's
    streaming `Body`. The state output then holds them and DescribeExecution fails (HTTP 500, TypeError).
    Every service task's output passes `StateTaskService._after_eval_execution` (`.sync` results included):
    convert it there, before the output is selected, recorded and handed on."""
    original = StateTaskService.__dict__["_after_eval_execution"]

    def _after_eval_execution(self: StateTaskService, env: Environment, *args: Any, **kwargs: Any) -> None:
        env.stack[-1] = json_safe(env.stack[-1])
        original(self, env, *args, **kwargs)

    return replace(StateTaskService, "_after_eval_execution", _after_eval_execution)


# ============================================================================================ aws-sdk error names

# Step Functions: "ServiceName.ErrorName, both in PascalCase" (e.g. S3.NoSuchKeyException, AcmPca.…).
_SDK_ERROR_PREFIXES: Final[dict[str, str]] = {
    "s3": "S3",
    "glue": "Glue",
    "athena": "Athena",
    "sns": "Sns",
    "sqs": "Sqs",
    "sesv2": "SesV2",
    "ses": "Ses",
    "lambda": "Lambda",
    "cloudwatch": "CloudWatch",
    "secretsmanager": "SecretsManager",
    "ssm": "Ssm",
    "kms": "Kms",
}


def aws_sdk_error_prefixes() -> Undo:
    """moto names aws-sdk errors with the lower-case service (`s3.NoSuchKeyException`) except for DynamoDb and
    Sfn; AWS uses PascalCase (`S3.NoSuchKeyException`), which is what the ASL's Retry/Catch name. Add the
    services trailkeeper (and its neighbours) call to moto's lookup table."""
    table: dict[str, str] = state_task_service_aws_sdk._SERVICE_ERROR_NAMES
    added = {key: value for key, value in _SDK_ERROR_PREFIXES.items() if key not in table}
    table.update(added)

    def undo() -> None:
        for key in added:
            table.pop(key, None)

    return undo


# ============================================================================================ Athena task service

_ATHENA_PARAMETERS: Final[dict[str, set[str]]] = {
    "startqueryexecution": {
        "QueryString",
        "ClientRequestToken",
        "QueryExecutionContext",
        "ResultConfiguration",
        "WorkGroup",
        "ExecutionParameters",
        "ResultReuseConfiguration",
    },
    "getqueryexecution": {"QueryExecutionId"},
    "getqueryresults": {"QueryExecutionId", "MaxResults", "NextToken"},
    "stopqueryexecution": {"QueryExecutionId"},
}
_QUERY_RUNNING: Final[frozenset[str]] = frozenset({"QUEUED", "RUNNING"})
_SYNC_ONLY: Final[set[Any]] = {ResourceCondition.Sync}  # Athena has no .waitForTaskToken integration


class StateTaskServiceAthena(StateTaskServiceCallback):
    """Step Functions' optimised Athena integration: the request-response calls and
    `startQueryExecution.sync`, which polls GetQueryExecution until the query ends and returns its response
    (SUCCEEDED), or fails the task with States.TaskFailed and that response as the cause (FAILED/CANCELLED)."""

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns=_SYNC_ONLY)

    def _get_supported_parameters(self) -> set[str] | None:
        return _ATHENA_PARAMETERS.get(self.resource.api_action.lower())

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        # Mirrors moto's SNS/Glue optimised integrations: "Athena.<Code>", suffixed with Exception.
        if isinstance(ex, ClientError):
            code = ex.response["Error"]["Code"]
            error = f"Athena.{code if code.endswith('Exception') else code + 'Exception'}"
            metadata = ex.response["ResponseMetadata"]
            cause = (
                f"{ex.response['Error'].get('Message', '')} (Service: AmazonAthena; Status Code: "
                f"{metadata.get('HTTPStatusCode')}; Error Code: {code}; Request ID: {metadata.get('RequestId')}; "
                "Proxy: null)"
            )
            return self._failure(env, CustomErrorName(error), error, cause)
        return super()._from_error(env=env, ex=ex)

    def _failure(self, env: Environment, name: Any, error: str, cause: str) -> FailureEvent:
        return FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict is total; moto does this too
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        athena = boto_client_for(
            region=resource_runtime_part.region, service="athena", state_credentials=state_credentials
        )
        response = getattr(athena, self._get_boto_service_action())(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(json_safe(response))

    def _eval_integration_pattern(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        """`.sync` only. moto's shared version ends with `callback_endpoint.interrupt_all()` on an endpoint that
        exists only for services supporting `.waitForTaskToken` (AttributeError on None otherwise: the reason
        moto's own glue `.sync` fails too), so poll here. The delay is read at each poll: scale_waits scales it."""
        resolve = self._build_sync_resolver(env, resource_runtime_part, normalised_parameters, state_credentials)
        outcome = None
        while env.is_running() and resolve is not None:
            outcome = resolve()
            if outcome is not None:
                break
            time.sleep(state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK)
        env.stack.append(outcome)

    def _build_sync_resolver(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> Callable[[], Any] | None:
        if self.resource.api_action.lower() != "startqueryexecution":
            return super()._build_sync_resolver(env, resource_runtime_part, normalised_parameters, state_credentials)
        query_execution_id = env.stack.pop()["QueryExecutionId"]
        athena = boto_client_for(
            region=resource_runtime_part.region, service="athena", state_credentials=state_credentials
        )

        def resolve() -> Any | None:
            response = athena.get_query_execution(QueryExecutionId=query_execution_id)
            response.pop("ResponseMetadata", None)
            state = response["QueryExecution"]["Status"]["State"]
            if state in _QUERY_RUNNING:
                return None
            output = json_safe(response)
            if state == "SUCCEEDED":
                return output
            failed = StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
            raise FailureEventException(self._failure(env, failed, failed.error_name or "", to_json_str(output)))

        return resolve


def athena_task_service() -> Undo:
    """moto maps `athena` to its "unsupported" service, which fails `startQueryExecution.sync` with
    "Unsupported .sync callback procedure" (even for a mocked state). Build StateTaskServiceAthena instead, at
    the factory the ASL parser calls for every `arn:aws:states:::<service>:<action>` Task."""
    original = state_task_factory.__dict__["state_task_service_for"]

    def state_task_service_for(service_name: str) -> StateTaskService:
        if service_name == "athena":
            return StateTaskServiceAthena()
        service: StateTaskService = original(service_name)
        return service

    return replace(state_task_factory, "state_task_service_for", state_task_service_for)


# ============================================================================================ MockConfigFile


def load_mock_config(path: Path) -> dict[str, Any]:
    config = json.loads(path.read_text())
    if not isinstance(config, dict) or not {"StateMachines", "MockedResponses"} <= config.keys():
        raise ValueError(f"{path}: a MockConfigFile needs StateMachines and MockedResponses")
    return config


def _mocked_response(name: str, ranges: str, body: Mapping[str, Any]) -> MockedResponse:
    first, _, last = ranges.strip().partition("-")
    start, end = int(first), int(last or first)
    if set(body) == {"Return"}:
        return MockedResponseReturn(range_start=start, range_end=end, payload=body["Return"])
    if set(body) == {"Throw"}:
        throw = body["Throw"]
        return MockedResponseThrow(range_start=start, range_end=end, error=throw["Error"], cause=throw.get("Cause", ""))
    raise ValueError(f"mocked response {name} [{ranges}] must have exactly one of Return or Throw")


def mock_test_case(config: Mapping[str, Any], state_machine_name: str, test_case_name: str) -> MockTestCase:
    """Step Functions Local's MockConfigFile format, into moto's (LocalStack's) mocking model."""
    machine = config["StateMachines"].get(state_machine_name)
    if machine is None:
        raise ValueError(f"the mock config has no state machine named {state_machine_name!r}")
    test_case = machine.get("TestCases", {}).get(test_case_name)
    if test_case is None:
        raise ValueError(f"the mock config has no test case {test_case_name!r} for {state_machine_name!r}")
    states = []
    for state_name, response_name in test_case.items():
        responses = config["MockedResponses"].get(response_name)
        if not responses:
            raise ValueError(f"test case {test_case_name!r} names mocked response {response_name!r}, which is absent")
        mocked = [_mocked_response(response_name, ranges, body) for ranges, body in responses.items()]
        states.append(StateMockedResponses(state_name, response_name, mocked))
    return MockTestCase(state_machine_name, test_case_name, states)


def _lambda_task_names(states: Mapping[str, Any]) -> set[str]:
    """Task states (at any depth: Map, Parallel) that invoke Lambda, by plain function ARN or lambda:invoke."""
    names = set()
    for name, state in states.items():
        resource = str(state.get("Resource", ""))
        invokes = ":lambda:" in resource.split(":::")[0] or resource.endswith(":lambda:invoke")
        if state.get("Type") == "Task" and invokes:
            names.add(name)
        for inner in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if isinstance(inner, dict):
                names |= _lambda_task_names(inner.get("States", {}))
    return names


def check_lambda_mocks(definition: Mapping[str, Any], test_case: MockTestCase) -> None:
    """A mocked Lambda task answers with what Lambda's Invoke returns, {"StatusCode": 200, "Payload": <result>}
    (Step Functions Local's format; moto reads `Payload`, for plain function-ARN resources too). Without it moto
    fails the state with error "Exception", cause "'Payload'"; say what is wrong instead, before it runs."""
    lambda_tasks = _lambda_task_names(definition.get("States", {}))
    for state_name, mocked in test_case.state_mocked_responses.items():
        if state_name not in lambda_tasks:
            continue
        for response in mocked.mocked_responses:
            if isinstance(response, MockedResponseReturn) and not (
                isinstance(response.payload, dict) and "Payload" in response.payload
            ):
                raise ValueError(
                    f"mocked response {mocked.mocked_response_name!r} for Lambda task {state_name!r} must be "
                    'Lambda\'s Invoke response, {"StatusCode": 200, "Payload": <the function\'s result>}'
                )


_test_case_for_start: contextvars.ContextVar[MockTestCase | None] = contextvars.ContextVar(
    "localaws_test_case_for_start", default=None
)


def mock_config_test_cases(config: Mapping[str, Any] | None) -> Undo:
    """moto carries LocalStack's mocking engine but `load_mock_test_case_for` always returns None, and
    StartExecution neither parses `stateMachineArn#TestCase` nor hands a test case to the execution worker.
    Make all three real: the test case named after `#` is loaded from this config (Step Functions Local's
    format), passed to the worker, and states it mocks answer from it (ranges advance per retry); the other
    states run for real. A test case that cannot work (unknown name, Lambda mock without the Invoke envelope)
    is refused by StartExecution with a ValidationException saying why."""

    def load_mock_test_case_for(state_machine_name: str, test_case_name: str) -> MockTestCase | None:
        if config is None:
            raise ValueError("no mock config: pass mock_config= or set SFN_MOCK_CONFIG")
        return mock_test_case(config, state_machine_name, test_case_name)

    original_start = StepFunctionsParserBackend.__dict__["start_execution"]
    original_worker = Execution.__dict__["_get_start_execution_worker"]

    def start_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: Any = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Execution:
        arn, _, test_case_name = state_machine_arn.partition("#")
        if not test_case_name:
            started: Execution = original_start(self, arn, name, execution_input, trace_header)
            return started
        machine = self.describe_state_machine(arn)
        try:
            test_case = mock_config.load_mock_test_case_for(machine.name, test_case_name)
            if test_case is not None:
                check_lambda_mocks(json.loads(machine.definition), test_case)
        except (ValueError, RuntimeError) as error:
            raise ValidationException(str(error)) from error
        token = _test_case_for_start.set(test_case)
        try:
            started = original_start(self, arn, name, execution_input, trace_header)
            return started
        finally:
            _test_case_for_start.reset(token)

    def _get_start_execution_worker(self: Execution) -> Any:
        worker = original_worker(self)
        test_case = _test_case_for_start.get()
        if test_case is not None:
            worker._mock_test_case = test_case  # read when the worker builds its Environment
        return worker

    undos = [
        replace(mock_config, "load_mock_test_case_for", load_mock_test_case_for),
        replace(StepFunctionsParserBackend, "start_execution", start_execution),
        replace(Execution, "_get_start_execution_worker", _get_start_execution_worker),
    ]
    return undo_all(undos)


class _AnyErrorName(ErrorName):
    """An error name without CustomErrorName's "States." check (for States.* names moto does not know)."""


def _error_name(error_name: str | None) -> ErrorName:
    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            return _AnyErrorName(error_name)
    return CustomErrorName(error_name)


def states_errors_propagate() -> Undo:
    """Where moto re-raises an error *name* it got from elsewhere it builds a CustomErrorName, whose constructor
    rejects names starting with "States." (ValueError -> the execution dies with States.Runtime):
    a Fail state with ErrorPath re-throwing a caught States.TaskFailed, a Map iteration or Parallel branch that
    failed with States.TaskFailed/States.Timeout, and a MockConfigFile `Throw` of a States.* error (which Step
    Functions Local allows). Give those four places a factory that keeps States.* names as StatesErrorName."""
    return undo_all(
        [
            replace(module, "CustomErrorName", _error_name)
            for module in (state_fail, iteration_worker, branches_decl, mock_eval_utils)
        ]
    )


# ============================================================================================ stopping

_STOP_LOCK: Final = threading.Lock()


def stop_before_the_worker_starts() -> Undo:
    """moto's StopExecution calls `ExecutionWorker.stop`, which needs the Environment the worker's thread
    builds after parsing the definition (AttributeError on None before that) and which is ignored until the
    program runs its first state. Keep such an early stop and apply it when the program starts: the execution
    then ends ABORTED before its first state, as in Step Functions, instead of erroring or running on."""
    original_environment = ExecutionWorker.__dict__["_get_evaluation_environment"]
    original_body = Program.__dict__["_eval_body"]

    def _get_evaluation_environment(self: ExecutionWorker) -> Environment:
        environment: Environment = original_environment(self)
        with _STOP_LOCK:
            self._built_environment = environment  # type: ignore[attr-defined]
            if hasattr(self, "_pending_stop"):
                environment._pending_stop = self._pending_stop  # type: ignore[attr-defined]
        return environment

    def stop(self: ExecutionWorker, stop_date: dt.datetime, error: str | None, cause: str | None) -> None:
        def request(environment: Environment) -> None:
            environment.set_stop(stop_date=stop_date, cause=cause, error=error)

        with _STOP_LOCK:
            environment: Environment | None = getattr(self, "_built_environment", None)
            if environment is None:
                self._pending_stop = request  # type: ignore[attr-defined]
                return
            if environment.program_state() is None:  # built, first state not entered yet
                environment._pending_stop = request  # type: ignore[attr-defined]
                return
        request(environment)

    def _eval_body(self: Program, env: Environment) -> None:
        with _STOP_LOCK:
            pending = env.__dict__.pop("_pending_stop", None)
        if pending is not None:
            pending(env)
        original_body(self, env)

    return undo_all(
        [
            replace(ExecutionWorker, "_get_evaluation_environment", _get_evaluation_environment),
            replace(ExecutionWorker, "stop", stop),
            replace(Program, "_eval_body", _eval_body),
        ]
    )


# ============================================================================================ Distributed Map

ChildHistories = dict[str, list[dict[str, Any]]]


def keep_child_histories(histories: ChildHistories) -> Undo:
    """A Distributed Map's child executions have their own histories in Step Functions; moto records their
    events in a fresh EventManager for the Map Run and drops it. Keep those events, under the parent
    execution's ARN, so transitions and retries can be counted across parent and children (children's
    events interleave: the list is for counting, not for reading one child's story)."""
    original = DistributedIterationComponent.__dict__["_map_run"]

    def _map_run(self: DistributedIterationComponent, env: Environment, eval_input: Any) -> None:
        try:
            original(self, env, eval_input)
        finally:
            parent = env.states.context_object.context_object_data["Execution"]["Id"]
            histories.setdefault(parent, []).extend(dict(event) for event in env.event_manager.get_event_history())

    return replace(DistributedIterationComponent, "_map_run", _map_run)


# ============================================================================================ waiting

_SYNC_POLL_SECONDS: Final[float] = state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK
_MIN_POLL_SECONDS: Final[float] = 0.001  # a poll loop must still yield the CPU when nothing waits for real


def scale_waits(scale: float, counters: Counters) -> Undo:
    """Wait states, Retry intervals and `.sync` polling really sleep in moto. Multiply every such delay by
    `scale` (Step Functions Local's WAIT_TIME_SCALE: 0 = no real waiting, 1 = real time) and add the delay the
    real service would have spent to counters.simulated_wait_seconds.

    Retry: the delay moto computed (IntervalSeconds x BackoffRate^n, capped at MaxDelaySeconds, then
    JitterStrategy FULL) is on top of the stack when JitterStrategyDecl, the last step before the sleep, ends."""
    if scale < 0:
        raise ValueError(f"wait time scale must be >= 0, got {scale}")
    lock = threading.Lock()

    def simulate(seconds: float) -> None:
        with lock:
            counters.simulated_wait_seconds += seconds

    def _wait_interval(self: WaitFunction, env: Environment, wait_seconds: int) -> None:
        simulate(wait_seconds)
        if wait_seconds > 0 and scale > 0:
            env.program_state_event.wait(wait_seconds * scale)  # set early when the execution is stopped

    original_jitter = JitterStrategyDecl.__dict__["_eval_body"]

    def _jitter_eval_body(self: JitterStrategyDecl, env: Environment) -> None:
        original_jitter(self, env)
        delay = env.stack.pop()
        simulate(delay)
        env.stack.append(delay * scale)

    undos = [
        replace(WaitFunction, "_wait_interval", _wait_interval),
        replace(JitterStrategyDecl, "_eval_body", _jitter_eval_body),
        replace(
            state_task_service_callback,
            "_DELAY_SECONDS_SYNC_CONDITION_CHECK",
            max(_SYNC_POLL_SECONDS * scale, _MIN_POLL_SECONDS),
        ),
    ]
    return undo_all(undos)
