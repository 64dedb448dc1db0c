"""EmbeddedAws: the stack template.yaml describes, running in this process on moto (and DuckDB for Athena).

    with EmbeddedAws.running(parameters={"TrailBucketName": "my-trail", ...}) as aws:
        aws.upload_directory(Path("logs"), aws.parameters["TrailBucketName"])
        result = aws.run_execution({"time": "2024-01-06T01:30:00Z"})

The real state machine definition, the real handlers (imported from the template's CodeUri, with the
template's environment) and the real resources (buckets, Glue table, WorkGroup, topic) run against moto's
backends; localaws/patches/ (listed in localaws/README.md) holds what had to change in moto for that. One
EmbeddedAws at a time: moto's patches are process-wide.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import boto3
from moto import mock_aws
from moto.s3.models import s3_backends
from moto.stepfunctions.parser.utils import TMP_THREADS

from localaws.counters import Counters
from localaws.patches import Undo, asl_parser, awslambda, cloudtrail, core, glue, stepfunctions
from localaws.patches.awslambda import FaultInjector, LocalFunction, LocalFunctions
from localaws.patches.core import uncounted
from localaws.patches.environ import restore_environment
from localaws.template import (
    ACCOUNT_ID,
    REGION,
    Resource,
    Stack,
    TemplateError,
    render_definition,
    resolve_template,
)
from trailgen import digests

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
_TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
POLL_SECONDS = 0.25  # how often run_execution's on_poll runs while an execution goes on
INTERPRETER_STOP_SECONDS = 60  # on the way out, how long a stopped execution's current state may take to end
_SCHEDULED_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
_LAMBDA_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
_STATES_TRUST_POLICY = _LAMBDA_TRUST_POLICY.replace("lambda.amazonaws.com", "states.amazonaws.com")


def _placeholder_zip() -> bytes:
    """moto's CreateFunction wants a zip; the code really runs from the template's CodeUri (patches/awslambda.py)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "localaws runs this function from its CodeUri directory\n")
    return buffer.getvalue()


@dataclass(frozen=True)
class ExecutionResult:
    name: str
    arn: str
    status: str  # SUCCEEDED / FAILED / TIMED_OUT / ABORTED
    states: list[str]  # every StateEntered, in history order (Map iteration states included)
    output: Any | None  # parsed JSON output (SUCCEEDED only)
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    # A Distributed Map's child executions (backfill shards): their StateEntered names and events, interleaved.
    child_states: list[str] = field(default_factory=list)
    child_history: list[dict[str, Any]] = field(default_factory=list)


class ExecutionTimeout(TimeoutError):
    """The execution did not finish within run_execution's timeout (it has been stopped)."""


class EmbeddedAws:
    _active: ClassVar[bool] = False

    def __init__(self, stack: Stack, counters: Counters, functions: LocalFunctions) -> None:
        self.stack = stack
        self.parameters: dict[str, str] = dict(stack.parameters)
        self.physical: dict[str, str] = dict(stack.physical)
        self.counters = counters
        self._functions = functions
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.child_histories: stepfunctions.ChildHistories = {}

    # ------------------------------------------------------------------------------------------ lifecycle

    @classmethod
    @contextmanager
    def running(
        cls,
        template: Path = DEFAULT_TEMPLATE,
        parameters: Mapping[str, str] | None = None,
        *,
        wait_time_scale: float | None = None,
        mock_config: Path | None = None,
    ) -> Iterator[EmbeddedAws]:
        """Create the template's stack on moto, yield it, and remove everything (moto data, patches, sys.path
        additions, handler modules, environment variables) on exit.

        wait_time_scale: multiplies Wait states, Retry intervals and `.sync` polling (Step Functions Local's
        WAIT_TIME_SCALE; 0 = no real waiting). None: the WAIT_TIME_SCALE environment variable, else 0.
        mock_config: a Step Functions Local MockConfigFile, used by `run_execution(test_case=...)`. None: the
        SFN_MOCK_CONFIG environment variable, if set."""
        stack = resolve_template(Path(template), parameters)  # parameter/template errors before anything starts
        scale = wait_time_scale if wait_time_scale is not None else float(os.environ.get("WAIT_TIME_SCALE", "0"))
        config_file = mock_config or os.environ.get("SFN_MOCK_CONFIG")
        config = stepfunctions.load_mock_config(Path(config_file)) if config_file else None
        if cls._active:
            raise RuntimeError("an EmbeddedAws is already running in this process (moto's patches are process-wide)")
        cls._active = True
        saved_environment = dict(os.environ)
        # moto's interpreter logs every error a Catch handles at ERROR, with the parse tree; the execution
        # history (ExecutionResult.history) has the same facts. Keep the CLI's output readable.
        interpreter_log = logging.getLogger("moto.stepfunctions.parser")
        saved_level = interpreter_log.level
        interpreter_log.setLevel(logging.CRITICAL)
        mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        started = False
        undos: list[Undo] = []
        aws: EmbeddedAws | None = None
        try:
            counters, functions = Counters(), LocalFunctions()
            for resource in _of_type(stack, "AWS::Serverless::Function"):
                functions.register(_local_function(stack, resource))
            mock.start()
            started = True
            undos = _install(counters, functions, scale, config)
            aws = cls(stack, counters, functions)
            undos.append(stepfunctions.keep_child_histories(aws.child_histories))
            with uncounted():
                aws._create_stack()
            yield aws
        finally:
            if aws is not None:
                # Best effort on the way out (an exception may be propagating): no interpreter thread should
                # outlive the mock and reach for the real AWS.
                with contextlib.suppress(Exception):
                    aws._stop_running_executions()
                _join_interpreter_threads(INTERPRETER_STOP_SECONDS)
            for undo in reversed(undos):
                undo()
            if started:
                mock.stop()
            interpreter_log.setLevel(saved_level)
            restore_environment(saved_environment)
            cls._active = False

    # ------------------------------------------------------------------------------------------ public API

    @property
    def state_machine_arn(self) -> str:
        machines = [r for r in self.stack.resources.values() if r.type in STATE_MACHINE_TYPES]
        if len(machines) != 1:
            raise RuntimeError(f"the template has {len(machines)} state machines; use physical[<logical id>]")
        return machines[0].physical

    @property
    def skipped(self) -> dict[str, str]:
        """Resources of the template not created locally (logical id -> type)."""
        return dict(self.stack.skipped)

    @property
    def fault_injector(self) -> FaultInjector | None:
        """Called as (function name, event) before every Lambda invocation; what it raises is what the function
        raised (raise awslambda.InjectedFault("Sandbox.Timedout") for a dotted Lambda error type)."""
        return self._functions.fault_injector

    @fault_injector.setter
    def fault_injector(self, injector: FaultInjector | None) -> None:
        self._functions.fault_injector = injector

    def function_logs(self, function_name: str) -> list[str]:
        """What the function printed (its Powertools log lines included), oldest first: like Lambda, the runtime
        keeps a function's output in its log group /aws/lambda/<name>, not on this process's stdout."""
        logs = self.client("logs")
        group = f"/aws/lambda/{function_name}"
        with uncounted():
            if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
                return []
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
            found = [event for page in pages for event in page["events"]]
        return [event["message"] for event in sorted(found, key=lambda e: (e["timestamp"], e["eventId"]))]

    def client(self, service_name: str) -> Any:
        """A boto3 client on the embedded AWS (us-east-1), created once per service."""
        with self._clients_lock:
            if service_name not in self._clients:
                self._clients[service_name] = boto3.client(service_name, region_name=REGION)
            return self._clients[service_name]

    def upload_files(self, files: Iterable[tuple[str, Path]], bucket: str) -> int:
        """Put each (key, local path) into the bucket. Written straight into moto's S3 backend: ~25x faster than
        PutObject through the API, and not counted as the product's API calls. A metadata sidecar (a directory
        cannot hold object metadata: trailgen.digests) is not uploaded; it gives the object beside it its
        metadata, as `x-amz-meta-*`."""
        backend = s3_backends[ACCOUNT_ID]["aws"]
        count = 0
        for key, path in files:
            if digests.is_sidecar(path):
                continue  # metadata of the object beside it, not an object (trailgen.digests)
            stored = backend.put_object(bucket, key, path.read_bytes())
            metadata = digests.read_sidecar(path)
            if metadata:
                stored.set_metadata({f"x-amz-meta-{name}": value for name, value in metadata.items()})
            count += 1
        return count

    def upload_directory(self, local_dir: Path, bucket: str) -> int:
        """Every file under local_dir, at key = its POSIX path relative to local_dir."""
        files = sorted(p for p in local_dir.rglob("*") if p.is_file())
        return self.upload_files(((p.relative_to(local_dir).as_posix(), p) for p in files), bucket)

    def run_execution(
        self,
        execution_input: object = None,
        *,
        name: str | None = None,
        test_case: str | None = None,
        raw_input: str | None = None,
        timeout: float = 120,
        on_poll: Callable[[], None] | None = None,
    ) -> ExecutionResult:
        """Start the state machine (`#test_case` selects a MockConfigFile test case) and wait for it to end.

        Adds the StateEntered events of the execution and of its Distributed Map children to
        counters.state_transitions, and their retried task attempts to counters.retries. raw_input is sent
        as is (for testing malformed input); on_poll is called while it runs (at most every POLL_SECONDS)."""
        sfn = self.client("stepfunctions")
        name = name or f"exec-{uuid.uuid4().hex[:12]}"
        arn = self.state_machine_arn + (f"#{test_case}" if test_case else "")
        document = raw_input if raw_input is not None else json.dumps(execution_input)
        with uncounted():
            execution_arn = sfn.start_execution(stateMachineArn=arn, name=name, input=document)["executionArn"]
            described = self._wait(execution_arn, timeout, on_poll)
            history = self._history(execution_arn)
        child_history = self.child_histories.pop(execution_arn, [])
        states, child_states = _entered(history), _entered(child_history)
        self.counters.state_transitions += len(states) + len(child_states)
        self.counters.retries += _retries(history) + _retries(child_history)
        output = described.get("output")
        return ExecutionResult(
            name=name,
            arn=execution_arn,
            status=described["status"],
            states=states,
            output=json.loads(output) if output is not None else None,
            error=described.get("error"),
            cause=described.get("cause"),
            history=history,
            child_states=child_states,
            child_history=child_history,
        )

    # ------------------------------------------------------------------------------------------ internals

    def _wait(self, execution_arn: str, timeout: float, on_poll: Callable[[], None] | None = None) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        try:
            return wait_for_execution(sfn, execution_arn, timeout, on_poll)
        except ExecutionTimeout:
            sfn.stop_execution(executionArn=execution_arn, error="localaws.Timeout", cause="run_execution timeout")
            with contextlib.suppress(ExecutionTimeout):  # moto marks it ABORTED once its worker thread notices
                wait_for_execution(sfn, execution_arn, timeout=10)
            entered = [
                e["stateEnteredEventDetails"]["name"]
                for e in self._history(execution_arn)
                if e["type"].endswith("StateEntered")
            ]
            message = f"{execution_arn} still running after {timeout} s; states so far: {entered}"
            raise ExecutionTimeout(message) from None

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def _stop_running_executions(self) -> None:
        sfn = self.client("stepfunctions")
        with uncounted():
            for machine in sfn.list_state_machines()["stateMachines"]:
                running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
                for execution in running["executions"]:
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="EmbeddedAws stopped")

    def _create_stack(self) -> None:
        creators: dict[str, Callable[[Resource], None]] = {
            "AWS::S3::Bucket": self._create_bucket,
            "AWS::Glue::Database": self._create_database,
            "AWS::Glue::Table": self._create_table,
            "AWS::Athena::WorkGroup": self._create_work_group,
            "AWS::SNS::Topic": self._create_topic,
            "AWS::SES::EmailIdentity": self._create_email_identity,
            "AWS::Serverless::Function": self._create_function,
            "AWS::Serverless::StateMachine": self._create_state_machine,
            "AWS::StepFunctions::StateMachine": self._create_state_machine,
        }
        for kind, create in creators.items():  # this order satisfies every dependency between these types
            for resource in _of_type(self.stack, kind):
                create(resource)
        self._create_external_resources()
        log.debug("not created locally: %s", ", ".join(sorted(self.stack.skipped)))

    def _create_external_resources(self) -> None:
        """What a real deployment finds already there: the trail bucket, and a sender verified elsewhere."""
        buckets = {r.physical for r in _of_type(self.stack, "AWS::S3::Bucket")}
        trail_bucket = self.parameters.get("TrailBucketName")
        if trail_bucket and trail_bucket not in buckets:
            self.client("s3").create_bucket(Bucket=trail_bucket)
        identities = {r.physical for r in _of_type(self.stack, "AWS::SES::EmailIdentity")}
        sender = self.parameters.get("ReportSender")
        if sender and sender not in identities:
            self.client("sesv2").create_email_identity(EmailIdentity=sender)

    def _create_bucket(self, resource: Resource) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=resource.physical)
        versioning = resource.properties.get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=resource.physical, VersioningConfiguration=versioning)

    def _create_database(self, resource: Resource) -> None:
        self.client("glue").create_database(DatabaseInput=resource.properties["DatabaseInput"])

    def _create_table(self, resource: Resource) -> None:
        properties = resource.properties
        self.client("glue").create_table(DatabaseName=properties["DatabaseName"], TableInput=properties["TableInput"])

    def _create_work_group(self, resource: Resource) -> None:
        configuration = dict(resource.properties.get("WorkGroupConfiguration") or {})
        if "BytesScannedCutoffPerQuery" in configuration:  # a Ref to a Number parameter is a string
            configuration["BytesScannedCutoffPerQuery"] = int(configuration["BytesScannedCutoffPerQuery"])
        self.client("athena").create_work_group(
            Name=resource.physical,
            Description=resource.properties.get("Description", ""),
            Configuration=configuration,
        )

    def _create_topic(self, resource: Resource) -> None:
        attributes = {"DisplayName": resource.properties["DisplayName"]} if "DisplayName" in resource.properties else {}
        self.client("sns").create_topic(Name=resource.physical.rsplit(":", 1)[1], Attributes=attributes)

    def _create_email_identity(self, resource: Resource) -> None:
        self.client("sesv2").create_email_identity(EmailIdentity=resource.physical)

    def _create_role(self, name: str, trust_policy: str) -> str:
        role: dict[str, Any] = self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy)
        return str(role["Role"]["Arn"])

    def _create_function(self, resource: Resource) -> None:
        properties = resource.properties
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        function = self._functions.functions[resource.physical]
        self.client("lambda").create_function(
            FunctionName=resource.physical,
            Runtime=function.runtime,
            Role=self._create_role(f"{resource.physical}-role", _LAMBDA_TRUST_POLICY),
            Handler=function.handler,
            Code={"ZipFile": _placeholder_zip()},
            Description=str(properties.get("Description", "")),
            Timeout=function.timeout_seconds,
            MemorySize=function.memory_mb,
            Environment={"Variables": {name: _text(value) for name, value in variables.items()}},
        )

    def _create_state_machine(self, resource: Resource) -> None:
        properties = resource.properties
        if "DefinitionUri" in properties:
            uri = properties["DefinitionUri"]
            if not isinstance(uri, str):
                raise TemplateError(f"{resource.logical_id}: only a local DefinitionUri file is supported")
            text = (self.stack.template_dir / uri).read_text()
        elif isinstance(properties.get("Definition"), dict):
            text = json.dumps(properties["Definition"])
        elif isinstance(properties.get("DefinitionString"), str):
            text = properties["DefinitionString"]
        else:
            raise TemplateError(f"{resource.logical_id}: no DefinitionUri, Definition or DefinitionString")
        try:
            definition = render_definition(text, properties.get("DefinitionSubstitutions") or {})
        except TemplateError as error:
            raise TemplateError(f"{resource.logical_id}: {error}") from None
        name = resource.physical.rsplit(":", 1)[1]
        self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=self._create_role(f"{name}-role", _STATES_TRUST_POLICY),
            type=str(properties.get("Type", properties.get("StateMachineType", "STANDARD"))),
        )


def _join_interpreter_threads(timeout: float) -> None:
    """Wait for moto's interpreter threads to end (a stopped execution ends at its next state): one may be inside
    DuckDB's C++ code, and a thread still there when the patches are undone or the interpreter exits aborts the
    whole process (`terminate called ...`, SIGABRT), which turned a Ctrl-C into a crash."""
    deadline = time.monotonic() + timeout
    for thread in list(TMP_THREADS):
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


def wait_for_execution(
    sfn: Any, execution_arn: str, timeout: float = 120, on_poll: Callable[[], None] | None = None
) -> dict[str, Any]:
    """DescribeExecution once it has ended. A poll (harness code: moto's interpreter runs the execution in its
    own thread and offers nothing to wait on), starting at 1 ms so short executions return at once."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    next_callback = time.monotonic() + POLL_SECONDS
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if on_poll is not None and (described["status"] in _TERMINAL or time.monotonic() >= next_callback):
            on_poll()
            next_callback = time.monotonic() + POLL_SECONDS
        if described["status"] in _TERMINAL:
            return described
        if time.monotonic() > deadline:
            raise ExecutionTimeout(f"{execution_arn} still running after {timeout} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _entered(history: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]


def _retries(history: list[dict[str, Any]]) -> int:
    scheduled = sum(1 for e in history if e["type"] in _SCHEDULED_EVENTS)
    return max(0, scheduled - sum(1 for e in history if e["type"] == "TaskStateEntered"))


def _of_type(stack: Stack, kind: str) -> list[Resource]:
    return [r for r in stack.resources.values() if r.type == kind]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _local_function(stack: Stack, resource: Resource) -> LocalFunction:
    properties = resource.properties
    code_uri = properties.get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{resource.logical_id}: CodeUri must be a local directory, got {code_uri!r}")
    if "Handler" not in properties:
        raise TemplateError(f"{resource.logical_id}: no Handler")
    return LocalFunction(
        name=resource.physical,
        code_dir=(stack.template_dir / code_uri).resolve(),
        handler=str(properties["Handler"]),
        memory_mb=int(properties.get("MemorySize", 128)),
        timeout_seconds=int(properties.get("Timeout", 3)),
        runtime=str(properties.get("Runtime", "python3.13")),
    )


def _install(
    counters: Counters, functions: LocalFunctions, scale: float, config: Mapping[str, Any] | None
) -> list[Undo]:
    undos: list[Undo] = []
    try:
        undos.append(core.count_api_calls(counters))
        undos.append(awslambda.run_lambda_in_process(functions))
        undos.append(stepfunctions.athena_task_service())
        undos.append(stepfunctions.mock_config_test_cases(config))
        undos.append(stepfunctions.states_errors_propagate())
        undos.append(stepfunctions.json_safe_task_output())
        undos.append(glue.glue_partitions_thread_safe())
        undos.append(stepfunctions.stop_before_the_worker_starts())
        undos.append(stepfunctions.aws_sdk_error_prefixes())
        undos.append(stepfunctions.scale_waits(scale, counters))
        undos.append(asl_parser.integer_tolerated_failure_percentage())
        undos.append(cloudtrail.serve_public_keys())
        athena_engine = _athena_engine()
        if athena_engine is not None:
            undos.append(athena_engine(counters))
    except BaseException:
        for undo in reversed(undos):
            undo()
        raise
    return undos


def _athena_engine() -> Callable[[Counters], Undo] | None:
    """localaws.athena (SQL on DuckDB) when it is there; moto's Athena (runs no SQL) otherwise."""
    try:
        module = importlib.import_module("localaws.athena")
    except ModuleNotFoundError as error:
        if error.name != "localaws.athena":
            raise
        log.warning("localaws.athena is missing: Athena queries will not run (moto answers SUCCEEDED to any SQL)")
        return None
    install: Callable[[Counters], Undo] = module.install
    return install
