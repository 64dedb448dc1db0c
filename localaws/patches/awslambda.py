"""Lambda: run the deployment's handlers in this process (moto runs function code only in docker).

run_lambda_in_process      LambdaFunction._invoke_lambda              moto runs function code only in docker
                           (and installs environ.per_invocation_environment)
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaFunction

from localaws.patches import Undo, replace
from localaws.patches.environ import environment, per_invocation_environment
from trailkeeper.envelope import lambda_error


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
    return lambda_error(
        error_type,
        message,
        request_id=context.aws_request_id if context else None,
        stack_trace=traceback.format_list(own),
    )


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

    undo_patch = replace(LambdaFunction, "_invoke_lambda", _invoke_lambda)
    undo_environment = per_invocation_environment()

    def undo() -> None:
        undo_environment()
        undo_patch()
        for directory in added:
            if directory in sys.path:
                sys.path.remove(directory)
        functions.forget_modules()

    return undo
