"""The hardening suite's harness: one embedded stack per module, faults at the HTTP layer, and the oracles.

Where faults are injected, and why there
----------------------------------------
Every boto3 client in this process — the tests', the handlers' module-level clients and the ones moto's
Step Functions interpreter creates for each Task (`moto...asl.utils.boto_client.boto_client_for`) — is made
with `boto3.client(...)`, i.e. from `boto3.DEFAULT_SESSION`. moto resets that session to None when it starts,
so the first client EmbeddedAws creates makes a fresh one; moto's own `before-send` handler (the one that
answers from its backends) reaches it through botocore's BUILTIN_HANDLERS. A client copies its session's
event handlers when it is created, so `HttpFaults` is registered first on that session's `before-send`
*before the first execution* (handler modules are imported, and their clients created, on first invocation).

A `before-send` handler that returns an AWSResponse replaces the HTTP exchange: botocore parses it as the
service's answer, so the client's real retry logic runs (botocore's standard mode in the handlers; ASL Retry
for the interpreter's clients, which botocore does not retry). botocore still calls the remaining handlers,
moto's included; an injected request is therefore pointed at an unroutable URL first, which moto ignores:
a throttled request must not also have been executed.

botocore's own backoff sleeps (up to 1 s, 2 s, ...) are scaled to zero here, as WAIT_TIME_SCALE=0 scales the
ASL's Retry intervals: the retry decisions and attempt counts are real, the waiting is not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.retries import standard

from localaws.local_run import LOCAL_PARAMETERS, detect_layout
from localaws.patches.core import uncounted
from localaws.runtime import EmbeddedAws, ExecutionResult, wait_for_execution
from tests.helpers import SentEmail, sent_emails
from trailgen.generator import GroundTruth, TrailSpec, generate
from trailkeeper import layout
from trailkeeper.report.activity import parse_activity_csv
from trailkeeper_cli import history

ACCOUNT, REGION = "123456789012", "us-east-1"
UNROUTABLE = "https://fault-injected.invalid/"  # matches no moto backend: moto leaves the request alone
Partition = tuple[str, ...]


# ================================================================================================ replies


class _Body(io.BytesIO):
    """What botocore reads a response body from (`raw.stream()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


def json_reply(status: int, payload: Mapping[str, Any]) -> Reply:
    """awsJson1_1 (Athena, Glue): the error code travels in `__type`."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4())}
    return Reply(status, headers, json.dumps(payload).encode())


def json_error(code: str, message: str, status: int = 400) -> Reply:
    return json_reply(status, {"__type": code, "Message": message})


def rest_json_error(code: str, message: str, status: int) -> Reply:
    """restJson1 (SES v2): the error code travels in the x-amzn-ErrorType header."""
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())}
    return Reply(status, headers, json.dumps({"message": message}).encode())


def s3_error(code: str, message: str, status: int) -> Reply:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>FAULT</RequestId></Error>"
    ).encode()
    return Reply(status, {"Content-Type": "application/xml", "x-amz-request-id": "FAULT", "x-amz-id-2": "fault"}, body)


def body_text(request: AWSPreparedRequest) -> str:
    body = request.body
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


# ================================================================================================ HTTP faults


Replier = Callable[[AWSPreparedRequest], Reply]


@dataclass
class HttpFault:
    operation: str  # botocore service id and operation: "glue.GetPartitions"
    reply: Replier
    times: int | None  # None: every matching call
    when: Callable[[AWSPreparedRequest], bool]
    counted: bool = True  # False for the follow-up answers of one fault (Athena's status polls)
    processed: bool = False  # True: the service still executes the request; only its response is lost
    injected: int = 0
    matched: int = 0  # matching calls, injected or let through


class HttpFaults:
    """A `before-send` handler answering chosen calls with a fault, a bounded number of times."""

    def __init__(self) -> None:
        self._faults: list[HttpFault] = []
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # every call seen, "service.Operation"

    def add(
        self,
        operation: str,
        reply: Reply | Replier,
        *,
        times: int | None = 1,
        when: Callable[[AWSPreparedRequest], bool] | None = None,
        counted: bool = True,
        processed: bool = False,
    ) -> HttpFault:
        def fixed(_request: AWSPreparedRequest) -> Reply:
            assert isinstance(reply, Reply)
            return reply

        replier: Replier = reply if callable(reply) else fixed
        fault = HttpFault(operation, replier, times, when or (lambda _request: True), counted, processed)
        with self._lock:
            self._faults.append(fault)
        return fault

    def athena_query_ends(
        self, state: str, reason: str, *, times: int | None, when: Callable[[AWSPreparedRequest], bool]
    ) -> HttpFault:
        """Athena accepts the query (a new execution id) and reports it `state` when asked; nothing ran."""
        ids: set[str] = set()

        def started(_request: AWSPreparedRequest) -> Reply:
            query_id = str(uuid.uuid4())
            ids.add(query_id)
            return json_reply(200, {"QueryExecutionId": query_id})

        def status(request: AWSPreparedRequest) -> Reply:
            query_id = json.loads(body_text(request))["QueryExecutionId"]
            return json_reply(
                200,
                {
                    "QueryExecution": {
                        "QueryExecutionId": query_id,
                        "StatementType": "DDL",
                        "Status": {"State": state, "StateChangeReason": reason},
                        "ResultConfiguration": {},
                        "Statistics": {"DataScannedInBytes": 0},
                    }
                },
            )

        fault = self.add("athena.StartQueryExecution", started, times=times, when=when)
        self.add(
            "athena.GetQueryExecution",
            status,
            times=None,
            counted=False,
            when=lambda request: json.loads(body_text(request) or "{}").get("QueryExecutionId") in ids,
        )
        return fault

    @property
    def injected(self) -> int:
        with self._lock:
            return sum(f.injected for f in self._faults if f.counted)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.calls.clear()

    def __call__(self, event_name: str, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        operation = event_name.removeprefix("before-send.")
        with self._lock:
            self.calls[operation] += 1
            for fault in self._faults:
                if fault.operation != operation or not fault.when(request):
                    continue
                fault.matched += 1
                if fault.times is not None and fault.injected >= fault.times:
                    continue
                fault.injected += 1
                reply = fault.reply(request)
                if not fault.processed:
                    request.url = UNROUTABLE
                return AWSResponse(request.url, reply.status, dict(reply.headers), _Body(reply.body))
        return None


@contextlib.contextmanager
def faults_on_default_session() -> Iterator[HttpFaults]:
    session = boto3.DEFAULT_SESSION
    if session is None:
        raise RuntimeError("no boto3 default session yet: start EmbeddedAws first")
    faults = HttpFaults()
    session.events.register_first("before-send", faults, unique_id="trailkeeper-hardening-faults")
    original_delay = standard.ExponentialBackoff.delay_amount
    standard.ExponentialBackoff.delay_amount = lambda self, context: 0.0
    try:
        yield faults
    finally:
        standard.ExponentialBackoff.delay_amount = original_delay
        session.events.unregister("before-send", unique_id="trailkeeper-hardening-faults")


# ================================================================================================ Lambda faults


@dataclass
class LambdaFault:
    function: str  # the end of the physical name: "PlanPartitionsFunction"
    error: Callable[[], Exception]
    times: int
    injected: int = 0


@dataclass
class LambdaFaults:
    """EmbeddedAws.fault_injector: what it raises is what the function raised (a bounded number of times)."""

    faults: list[LambdaFault] = field(default_factory=list)

    @property
    def injected(self) -> int:
        return sum(f.injected for f in self.faults)

    def __call__(self, function_name: str, event: Any) -> None:
        for fault in self.faults:
            if function_name.endswith(fault.function) and fault.injected < fault.times:
                fault.injected += 1
                raise fault.error()


# ================================================================================================ the world


@dataclass
class World:
    """One running stack over one generated trail bucket, shared by a module's tests (reset between them)."""

    aws: EmbeddedAws
    truth: GroundTruth
    http: HttpFaults
    lambdas: LambdaFaults = field(default_factory=LambdaFaults)

    @property
    def results_bucket(self) -> str:
        return self.aws.physical["ResultsBucket"]

    @property
    def trail_bucket(self) -> str:
        return self.aws.parameters["TrailBucketName"]

    @property
    def injected(self) -> int:
        return self.http.injected + self.lambdas.injected

    def clear_faults(self) -> None:
        """No HTTP or Lambda faults from here on (read `injected` first: clearing forgets them)."""
        self.http.clear()
        self.lambdas.faults.clear()

    @contextlib.contextmanager
    def environment(self, **variables: str) -> Iterator[None]:
        """Every function of the stack with these environment variables changed (a redeploy with other
        parameters, without a new stack); restored on the way out."""
        lambda_ = self.aws.client("lambda")
        functions = [
            resource.physical
            for resource in self.aws.stack.resources.values()
            if resource.type in {"AWS::Lambda::Function", "AWS::Serverless::Function"}
        ]
        with uncounted():
            originals = {
                f: lambda_.get_function_configuration(FunctionName=f)["Environment"]["Variables"] for f in functions
            }
            for function, original in originals.items():
                lambda_.update_function_configuration(
                    FunctionName=function, Environment={"Variables": {**original, **variables}}
                )
        try:
            yield
        finally:
            with uncounted():
                for function, original in originals.items():
                    lambda_.update_function_configuration(FunctionName=function, Environment={"Variables": original})

    def fail_lambda(self, function: str, error: Callable[[], Exception], times: int = 1) -> LambdaFault:
        fault = LambdaFault(function, error, times)
        self.lambdas.faults.append(fault)
        return fault

    # ---------------------------------------------------------------------------------------- running

    def run(self, execution_input: object, name: str) -> ExecutionResult:
        return self.aws.run_execution(execution_input, name=f"{name}-{uuid.uuid4().hex[:6]}")

    def start(self, execution_input: object, name: str) -> str:
        """StartExecution without waiting (executions interleave; Lambda invocations are serialised)."""
        sfn = self.aws.client("stepfunctions")
        with uncounted():
            started: str = sfn.start_execution(
                stateMachineArn=self.aws.state_machine_arn,
                name=f"{name}-{uuid.uuid4().hex[:6]}",
                input=json.dumps(execution_input),
            )["executionArn"]
        return started

    def wait(self, execution_arn: str) -> dict[str, Any]:
        with uncounted():
            return wait_for_execution(self.aws.client("stepfunctions"), execution_arn, timeout=120)

    # ---------------------------------------------------------------------------------------- observing

    def catalog(self) -> list[Partition]:
        """Every partition's values, as Glue lists them (duplicates would show)."""
        glue = self.aws.client("glue")
        with uncounted():
            pages = glue.get_paginator("get_partitions").paginate(
                DatabaseName=self.aws.parameters["DatabaseName"], TableName=self.aws.parameters["TableName"]
            )
            return [tuple(p["Values"]) for page in pages for p in page["Partitions"]]

    def expected_catalog(self, start: dt.date, end: dt.date) -> set[Partition]:
        days = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        return {(a, r, d) for a, regions in self.truth.regions_by_account.items() for r in regions for d in days}

    def result_keys(self) -> list[str]:
        s3 = self.aws.client("s3")
        with uncounted():
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.results_bucket)
            return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def text(self, key: str) -> str | None:
        s3 = self.aws.client("s3")
        with uncounted():
            try:
                body: bytes = s3.get_object(Bucket=self.results_bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                return None
        return body.decode()

    def put_text(self, key: str, text: str) -> None:
        with uncounted():
            self.aws.client("s3").put_object(Bucket=self.results_bucket, Key=key, Body=text.encode())

    def emails(self, day: dt.date | None = None) -> list[SentEmail]:
        return [m for m in sent_emails(ACCOUNT, REGION) if day is None or day.isoformat() in m.subject]

    def notifications(self) -> list[str]:
        from moto.sns.models import sns_backends

        topic = sns_backends[ACCOUNT][REGION].topics[self.aws.physical["FailureTopic"]]
        return [message for _, message, *_ in topic.sent_notifications]

    def saved_activity_matches_truth(self, day: dt.date) -> bool:
        saved = self.text(layout.activity_key(day))
        if saved is None:
            return False
        rows = {row.key: (row.events, row.failures, row.first_at) for row in parse_activity_csv(saved)}
        truth = {
            tuple(key): (s.events, s.failures, s.first_event_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
            for key, s in self.truth.activity(day).items()
        }
        return rows == truth

    def night_problems(self, report_day: dt.date, catalog_from: dt.date, catalog_to: dt.date) -> list[str]:
        """What differs from a night that completed exactly once: [] when the catalog holds each expected partition
        once, the day's saved result is the ground truth, and exactly one email went out and is marked sent."""
        problems = []
        catalog, expected = self.catalog(), self.expected_catalog(catalog_from, catalog_to)
        if sorted(catalog) != sorted(expected):
            problems.append(
                f"catalog has {len(catalog)} partitions ({len(set(catalog))} distinct), "
                f"expected {len(expected)}: missing {sorted(expected - set(catalog))[:3]}, "
                f"extra {sorted(set(catalog) - expected)[:3]}"
            )
        if not self.saved_activity_matches_truth(report_day):
            problems.append(f"{layout.activity_key(report_day)} is absent or differs from the ground truth")
        emails = self.emails(report_day)
        if len(emails) != 1:
            problems.append(f"{len(emails)} emails for {report_day}, expected exactly 1")
        marker = self.text(layout.report_key(report_day, layout.SENT_MARKER))
        if marker is None or json.loads(marker).get("state") != "sent":
            problems.append(f"{layout.report_key(report_day, layout.SENT_MARKER)} is {marker!r}, expected state 'sent'")
        return problems

    # ---------------------------------------------------------------------------------------- resetting

    def reset(self) -> None:
        """Back to a deployed stack over a full trail bucket: no faults, no partitions, no results, no mail."""
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        self.clear_faults()
        self.aws.fault_injector = self.lambdas
        with uncounted():
            self._table_exists()
            self._drop_partitions()
            self._empty_results_bucket()
        ses_backends[ACCOUNT][REGION].sent_messages.clear()
        sns_backends[ACCOUNT][REGION].topics[self.aws.physical["FailureTopic"]].sent_notifications.clear()

    def _table_exists(self) -> None:
        glue = self.aws.client("glue")
        properties = self.aws.stack.resources["CloudTrailTable"].properties
        try:
            glue.get_table(DatabaseName=properties["DatabaseName"], Name=properties["TableInput"]["Name"])
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=properties["DatabaseName"], TableInput=properties["TableInput"])

    def _drop_partitions(self) -> None:
        values = self.catalog()
        glue = self.aws.client("glue")
        for i in range(0, len(values), 25):
            glue.batch_delete_partition(
                DatabaseName=self.aws.parameters["DatabaseName"],
                TableName=self.aws.parameters["TableName"],
                PartitionsToDelete=[{"Values": list(v)} for v in values[i : i + 25]],
            )

    def _empty_results_bucket(self) -> None:
        s3 = self.aws.client("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.results_bucket):
            versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            if versions:
                s3.delete_objects(
                    Bucket=self.results_bucket,
                    Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]},
                )


@contextlib.contextmanager
def running_world(spec: TrailSpec, logs: Path, **parameters: str) -> Iterator[World]:
    """Generate the spec's bucket, start the template's stack over it, and install the fault handlers."""
    truth = generate(spec, logs)
    with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs), **parameters}) as aws:
        aws.upload_directory(logs, aws.parameters["TrailBucketName"])
        s3 = aws.client("s3")
        with uncounted():
            for key, body in truth.unrepresentable_objects:  # keys no filesystem can hold (`//`, `..`)
                s3.put_object(Bucket=aws.parameters["TrailBucketName"], Key=key, Body=body)
        with faults_on_default_session() as http:
            world = World(aws, truth, http)
            world.reset()
            yield world


def failed_state(result: ExecutionResult) -> str | None:
    """The state that failed (trailkeeper_cli.history reads it from the execution's history)."""
    return history.failed_state(result.history)


def cause_message(result: ExecutionResult) -> str:
    """The cause a person reads: a Lambda error's cause is its error envelope, whose errorMessage says it."""
    return history.cause_message(result.cause)


def task_errors(result: ExecutionResult) -> list[str]:
    """The error of every failed task attempt, in order (Lambda and service integrations)."""
    errors = []
    for event in result.history:
        for key in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails"):
            if key in event:
                errors.append(str(event[key].get("error")))
    return errors
