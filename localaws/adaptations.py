"""The small changes moto 5.2.5 needs to run trailkeeper's state machine offline, one function each.

Each adaptation replaces the fewest moto attributes that fix one gap (listed below), says why, and returns
the callable that puts moto back exactly. They are tied to moto==5.2.5 (pinned): each has tests in
tests/unit/localaws/test_adaptations.py, so an upgrade shows exactly which one broke.

  run_lambda_in_process      LambdaFunction._invoke_lambda              moto runs function code only in docker
  athena_task_service        state_task_factory.state_task_service_for  moto fails athena `.sync` as unsupported
  mock_config_test_cases     load_mock_test_case_for, start_execution,  moto stubs MockConfigFile loading and
                             Execution._get_start_execution_worker      ignores `stateMachineArn#TestCase`
  states_errors_propagate    CustomErrorName in state_fail, Map/Parallel a re-raised `States.*` error name
                             workers and mock_eval_utils                became a ValueError (States.Runtime)
  json_safe_task_output      StateTaskService._after_eval_execution     datetimes / S3 bodies broke DescribeExecution
  aws_sdk_error_prefixes     aws-sdk _SERVICE_ERROR_NAMES               `s3.NoSuchKeyException`, AWS says `S3.…`
  scale_waits                WaitFunction._wait_interval, retry delay,  Wait, Retry and `.sync` polling really sleep
                             `.sync` poll delay
  count_api_calls            BotocoreStubber.__call__                   the one place every mocked request passes
  per_invocation_environment os.environ (run_lambda_in_process          key-by-key environment swaps broke
                             installs it)                               threads creating clients meanwhile
  glue_partitions_thread_safe
                             FakeTable partition methods                shards side by side mutated moto's
                                                                        partition dict while it was iterated
  keep_child_histories       DistributedIterationComponent._map_run     moto drops Map Run children's events
  stop_before_the_worker_starts
                             ExecutionWorker.stop and                   StopExecution before the first state
                             ._get_evaluation_environment,              raised AttributeError or was ignored
                             Program._eval_body
"""

from __future__ import annotations

import contextvars
import datetime as dt
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto.awslambda.models import LambdaFunction
from moto.core.botocore_stubber import BotocoreStubber
from moto.glue.models import FakeTable
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
from trailkeeper.envelope import lambda_error

Undo = Callable[[], None]


def _undo_all(undos: list[Undo]) -> Undo:
    def undo() -> None:
        for each in reversed(undos):
            each()

    return undo


def _replace(owner: Any, name: str, replacement: Any) -> Undo:
    """Set owner.name (a class or module attribute) and return what restores the exact original object."""
    original = owner.__dict__[name]
    setattr(owner, name, replacement)

    def undo() -> None:
        setattr(owner, name, original)

    return undo


# ============================================================================================ Lambda, in process


class InjectedFault(Exception):
    """Raise from a fault injector to make the invocation fail with any Lambda error type, dotted ones included
    (e.g. "Sandbox.Timedout", which no Python class can be named)."""

    def __init__(self, error_type: str, message: str = "injected fault") -> None:
        super().__init__(message)
        self.error_type = error_type


FaultInjector = Callable[[str, Any], None]  # (function name, event) -> None, or raises


@dataclass(frozen=True)
class LocalFunction:
    """Where a deployed function's code is: the CodeUri directory and the "module.function" Handler."""

    name: str
    code_dir: Path
    handler: str
    memory_mb: int = 128
    timeout_seconds: int = 3
    runtime: str = "python3.13"


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LogSink(io.TextIOBase):
    """Collects what a handler prints (stdout and stderr, Powertools logs and metrics included) during one
    invocation. While a handler runs, sys.stdout is process-wide redirected here: prints from other threads
    in that moment land here too."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text


@dataclass
class LocalFunctions:
    """The deployment's functions, run in this process. One invocation at a time: the environment variables a
    handler sees are process-wide, so invocations (and module imports) are serialised by `lock`.

    Each function's module is imported once, on its first invocation, inside that function's environment,
    under a name unique to the deployment and function: module-level state (clients, Settings) is per function
    and per EmbeddedAws, as it is per Lambda function in AWS."""

    deployment: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    fault_injector: FaultInjector | None = None
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    modules: dict[str, ModuleType] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    invocations: int = 0
    # One stream for the deployment's whole life: Powertools' Logger binds sys.stdout when the module is
    # imported (inside an invocation), so what it writes later must still land here.
    output: LogSink = field(default_factory=lambda: LogSink())

    def register(self, function: LocalFunction) -> None:
        self.functions[function.name] = function

    def invoke(self, deployed: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        """moto's `_invoke_lambda` contract: (response payload JSON, errored, logs)."""
        function = self.functions.get(deployed.function_name)
        if function is None:
            message = f"{deployed.function_name} is not a local function"
            return _error_envelope("Runtime.HandlerNotFound", message), True, ""
        if isinstance(event, (str, bytes)):
            event = json.loads(event or "{}")
        context = LambdaContext(
            function_name=function.name,
            invoked_function_arn=deployed.function_arn,
            memory_limit_in_mb=function.memory_mb,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{function.name}",
            log_stream_name=f"{dt.date.today():%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
            deadline=time.monotonic() + function.timeout_seconds,
        )
        variables = {**_runtime_variables(function, context), **(deployed.environment_vars or {})}
        with self.lock, environment(variables), redirect_stdout(self.output), redirect_stderr(self.output):
            self.invocations += 1
            payload, errored, _ = self._call(function, event, context)
            logs = self.output.take()
        if logs:  # Lambda sends what the function prints to its log group; so does moto's docker runner
            deployed.logs_backend.ensure_log_group(deployed.logs_group_name)
            deployed.save_logs(logs)
        return payload, errored, logs

    def _call(self, function: LocalFunction, event: Any, context: LambdaContext) -> tuple[str, bool, str]:
        module_name, _, attribute = function.handler.rpartition(".")
        try:
            if self.fault_injector is not None:
                self.fault_injector(function.name, event)
        except InjectedFault as fault:
            return _error_envelope(fault.error_type, str(fault), fault, context), True, ""
        except Exception as error:
            return _error_envelope(type(error).__name__, str(error), error, context), True, ""
        try:
            module = self._module(function, module_name)
        except Exception as error:  # what the Python runtime reports for a module that cannot be imported
            message = f"Unable to import module '{module_name}': {error}"
            return _error_envelope("Runtime.ImportModuleError", message, error, context), True, ""
        handler = getattr(module, attribute, None)
        if not callable(handler):
            message = f"Handler '{attribute}' missing on module '{module_name}'"
            return _error_envelope("Runtime.HandlerNotFound", message, None, context), True, ""
        try:
            result = handler(event, context)
        except Exception as error:
            return _error_envelope(type(error).__name__, str(error), error, context), True, ""
        try:
            return json.dumps(result), False, ""
        except (TypeError, ValueError) as error:
            return _error_envelope("Runtime.MarshalError", f"Unable to marshal response: {error}", error), True, ""

    def _module(self, function: LocalFunction, module_name: str) -> ModuleType:
        if function.name in self.modules:
            return self.modules[function.name]
        path = function.code_dir.joinpath(*module_name.split(".")).with_suffix(".py")
        unique = f"_localaws_{self.deployment}_{function.name}_{module_name}".replace(".", "_").replace("-", "_")
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ModuleNotFoundError(f"No module named '{module_name}' in {function.code_dir}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique]
            raise
        self.modules[function.name] = module
        return module

    def forget_modules(self) -> None:
        for module in self.modules.values():
            sys.modules.pop(module.__name__, None)
        self.modules.clear()


def _runtime_variables(function: LocalFunction, context: LambdaContext) -> dict[str, str]:
    """The variables the Lambda runtime sets itself (reserved names); the function's own come on top."""
    return {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "_HANDLER": function.handler,
    }


def _error_envelope(
    error_type: str, message: str, error: BaseException | None = None, context: LambdaContext | None = None
) -> str:
    """The payload Lambda returns for a failed invocation (its shape: trailkeeper.envelope)."""
    # The handler's frames only, as Lambda shows them (not this module's, nor importlib's).
    frames = traceback.extract_tb(error.__traceback__) if error else []
    own = [f for f in frames if f.filename != __file__ and not f.filename.startswith("<frozen")]
    return lambda_error(error_type, message, request_id=context.aws_request_id if context else None,
                          stack_trace=traceback.format_list(own))


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """os.environ with these variables set, for this thread only while run_lambda_in_process is installed
    (a Lambda has its own environment; other threads, such as shards running side by side, keep reading
    the process's, which is never changed under them); else process-wide, exactly as before afterwards."""
    if isinstance(os.environ, InvocationEnviron):
        process = os.environ.process_data
        data = dict(process)
        encode_key, encode_value = os.environ.encodekey, os.environ.encodevalue
        data.update({encode_key(name): encode_value(str(value)) for name, value in variables.items()})
        _invocation.data = data
        try:
            yield
        finally:
            del _invocation.data
        return
    saved = dict(os.environ)
    os.environ.update({name: str(value) for name, value in variables.items()})
    try:
        yield
    finally:
        restore_environment(saved)


_invocation = threading.local()


class InvocationEnviron(os._Environ[str]):
    """os.environ whose contents are, in a thread running a Lambda invocation, that invocation's environment,
    and in every other thread the process's. Swapping the process environment key by key instead breaks a
    thread that copies it meanwhile (botocore does, creating a client): KeyError, or a dict changed size."""

    def __init__(self, process: os._Environ[str]) -> None:  # not super().__init__: _data is a property here
        self.encodekey, self.decodekey = process.encodekey, process.decodekey
        self.encodevalue, self.decodevalue = process.encodevalue, process.decodevalue
        self.process_data = process._data  # type: ignore[attr-defined]

    @property
    def _data(self) -> dict[Any, Any]:
        data: dict[Any, Any] = getattr(_invocation, "data", self.process_data)
        return data


def per_invocation_environment() -> Undo:
    process = os.environ
    os.environ = InvocationEnviron(process)  # noqa: B003  # a view of the same environment, nothing cleared

    def undo() -> None:
        os.environ = process  # noqa: B003

    return undo


def restore_environment(saved: Mapping[str, str]) -> None:
    """Make os.environ equal to saved, key by key: never empty in between (other threads read it)."""
    for name in [name for name in os.environ if name not in saved]:
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def run_lambda_in_process(functions: LocalFunctions) -> Undo:
    """moto runs Lambda code only in docker (`LambdaFunction._invoke_lambda` is the one place, for both the
    Invoke API and Step Functions' Lambda tasks); there is no docker here. Run the registered handler in
    process instead and answer with moto's (payload, errored, logs) triple; an exception becomes Lambda's
    error envelope (errorType = exception class name) so ASL Retry/Catch match on the class name."""
    code_dirs = {str(f.code_dir) for f in functions.functions.values()}
    added = [d for d in sorted(code_dirs) if d not in sys.path]
    sys.path[:0] = added  # the CodeUri root is on sys.path in Lambda: handlers import their package from it

    def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return functions.invoke(self, event)

    undo_patch = _replace(LambdaFunction, "_invoke_lambda", _invoke_lambda)
    undo_environment = per_invocation_environment()

    def undo() -> None:
        undo_environment()
        undo_patch()
        for directory in added:
            if directory in sys.path:
                sys.path.remove(directory)
        functions.forget_modules()

    return undo


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

    return _replace(StateTaskService, "_after_eval_execution", _after_eval_execution)


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
        "QueryString", "ClientRequestToken", "QueryExecutionContext", "ResultConfiguration", "WorkGroup",
        "ExecutionParameters", "ResultReuseConfiguration",
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
                    error=error, cause=cause, resource=self._get_sfn_resource(),
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
        athena = boto_client_for(region=resource_runtime_part.region, service="athena",
                                 state_credentials=state_credentials)
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
        athena = boto_client_for(region=resource_runtime_part.region, service="athena",
                                 state_credentials=state_credentials)

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

    return _replace(state_task_factory, "state_task_service_for", state_task_service_for)


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
        self: StepFunctionsParserBackend, state_machine_arn: str, name: Any = None, execution_input: Any = None,
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
        _replace(mock_config, "load_mock_test_case_for", load_mock_test_case_for),
        _replace(StepFunctionsParserBackend, "start_execution", start_execution),
        _replace(Execution, "_get_start_execution_worker", _get_start_execution_worker),
    ]
    return _undo_all(undos)


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
    return _undo_all([
        _replace(module, "CustomErrorName", _error_name)
        for module in (state_fail, iteration_worker, branches_decl, mock_eval_utils)
    ])


# ============================================================================================ Glue partitions

# moto keeps a table's partitions in a dict that GetPartitions iterates unguarded: a Distributed Map runs
# shards side by side, and one shard's ALTER TABLE ADD (a write) during another's GetPartitions (a read)
# fails with "OrderedDict mutated during iteration". The Glue service has no such race: take one lock for
# every partition access (the embedded Athena engine reads table.partitions under it too).
GLUE_PARTITIONS_LOCK: Final = threading.RLock()
GLUE_PARTITION_METHODS: Final = ("create_partition", "get_partitions", "get_partition", "update_partition",
                                 "delete_partition")


def glue_partitions_thread_safe() -> Undo:
    def locked(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: FakeTable, *args: Any, **kwargs: Any) -> Any:
            with GLUE_PARTITIONS_LOCK:
                return original(self, *args, **kwargs)
        return method

    return _undo_all([_replace(FakeTable, name, locked(FakeTable.__dict__[name])) for name in GLUE_PARTITION_METHODS])


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

    return _undo_all([
        _replace(ExecutionWorker, "_get_evaluation_environment", _get_evaluation_environment),
        _replace(ExecutionWorker, "stop", stop),
        _replace(Program, "_eval_body", _eval_body),
    ])


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

    return _replace(DistributedIterationComponent, "_map_run", _map_run)


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
        _replace(WaitFunction, "_wait_interval", _wait_interval),
        _replace(JitterStrategyDecl, "_eval_body", _jitter_eval_body),
        _replace(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK",
                 max(_SYNC_POLL_SECONDS * scale, _MIN_POLL_SECONDS)),
    ]
    return _undo_all(undos)


# ============================================================================================ API call counting

_uncounted: contextvars.ContextVar[bool] = contextvars.ContextVar("localaws_uncounted", default=False)


@contextmanager
def uncounted() -> Iterator[None]:
    """Requests made in this block (in this thread) are the harness's own bookkeeping, not the product's."""
    token = _uncounted.set(True)
    try:
        yield
    finally:
        _uncounted.reset(token)


def count_api_calls(counters: Counters) -> Undo:
    """Every request a boto3 client makes while moto is active passes moto's `before-send` handler,
    `BotocoreStubber.__call__(event_name="before-send.<service>.<Operation>", ...)`: the test's clients, the
    handlers' clients and the state machine interpreter's. Count them there as "<service>.<Operation>"
    (botocore's service id: s3, glue, athena, lambda, sfn, sns, sesv2 ...), except inside `uncounted()`."""
    original = BotocoreStubber.__dict__["__call__"]
    lock = threading.Lock()

    def __call__(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if self.enabled and not _uncounted.get():
            parts = event_name.split(".")
            if len(parts) >= 3:
                with lock:
                    counters.api_calls[f"{parts[1]}.{parts[2]}"] += 1
        return original(self, event_name, request, **kwargs)

    return _replace(BotocoreStubber, "__call__", __call__)
