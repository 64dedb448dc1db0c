"""Operating a deployed trailkeeper stack: plan, backfill and status, as plain functions on boto3 clients.

`trailkeeper_cli.main` is the thin shell around these (`trailkeeper plan|backfill|status --stack NAME`). Nothing here
imports moto: the same functions run against AWS and, in the tests, against the embedded runtime.

What the operator's credentials need: cloudformation:DescribeStacks and ListStackResources on the stack;
states:StartExecution, DescribeExecution, GetExecutionHistory and ListExecutions on the state machine and its
executions; s3:ListBucket and s3:GetObject on the results bucket (runs/ and reports/); cloudwatch:DescribeAlarms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from trailkeeper import layout, sanitise
from trailkeeper.layout import failure_key, failures_prefix, outcome_key, outcomes_prefix, shards_key
from trailkeeper_cli.history import TASK_FAILURES, failed_state, readable_cause

Progress = Callable[[str], None]

REQUIRED_OUTPUTS = ("StateMachineArn", "ResultsBucketName")
ALARM_TYPE = "AWS::CloudWatch::Alarm"
_STILL_GOING = frozenset({"RUNNING", "PENDING_REDRIVE"})
_HISTORY_PAGE = 1000
_CLAUSE = re.compile(r"PARTITION \(([^)]*)\) LOCATION '([^']*)'")
_KEY_VALUE = re.compile(r"([a-z_]+)='([^']*)'")


class OperatorError(Exception):
    """The stack or its resources are not what trailkeeper deploys (a clear message, exit status 2)."""


class FollowTimeout(TimeoutError):
    """Stopped following an execution that is still running (it goes on; follow it again later)."""


@dataclass(frozen=True)
class Clients:
    cloudformation: Any
    stepfunctions: Any
    s3: Any
    cloudwatch: Any


@dataclass(frozen=True)
class StackInfo:
    name: str
    status: str
    state_machine_arn: str
    results_bucket: str
    outputs: dict[str, str]
    alarm_names: tuple[str, ...]


@dataclass(frozen=True)
class Finished:
    name: str
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    failed_state: str | None


@dataclass(frozen=True)
class ExecutionLine:
    name: str
    status: str
    started: dt.datetime


@dataclass(frozen=True)
class Alarm:
    name: str
    reason: str
    description: str
    since: dt.datetime | None


@dataclass(frozen=True)
class StackStatus:
    stack: StackInfo
    nightly: list[ExecutionLine]
    last_report_day: str | None
    alarms: list[Alarm]


@dataclass
class _Tail:
    """What has been seen of an execution's history so far."""

    last_id: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    entered: set[str] = field(default_factory=set)
    iterations_done: int = 0


# ------------------------------------------------------------------------------------------------ the stack


def describe_stack(cloudformation: Any, stack_name: str) -> StackInfo:
    """The stack's outputs (template.yaml Outputs) and the names of its alarms."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    if len(stacks) != 1:
        raise OperatorError(f"stack {stack_name}: DescribeStacks returned {len(stacks)} stacks")
    stack = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise OperatorError(f"stack {stack_name} has no output {', '.join(missing)}: is it a trailkeeper stack?")
    # ListStackResources pages; DescribeStackResources stops at 100 resources.
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
    alarms = tuple(
        sorted(
            r["PhysicalResourceId"]
            for page in pages
            for r in page["StackResourceSummaries"]
            if r["ResourceType"] == ALARM_TYPE and r.get("PhysicalResourceId")
        )
    )
    return StackInfo(
        name=stack["StackName"],
        status=stack["StackStatus"],
        state_machine_arn=outputs["StateMachineArn"],
        results_bucket=outputs["ResultsBucketName"],
        outputs=outputs,
        alarm_names=alarms,
    )


# ------------------------------------------------------------------------------------------------ requests


def backfill_request(
    start: dt.date, end: dt.date, accounts: Iterable[str] = (), regions: Iterable[str] = (), dry_run: bool = False
) -> dict[str, Any]:
    """The execution input of a backfill, in one canonical form (lists sorted and unique, empty ones left out),
    so the same request always has the same execution name. The state machine validates it."""
    request: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat()}
    if accounts:
        request["accounts"] = sorted(set(accounts))
    if regions:
        request["regions"] = sorted(set(regions))
    if dry_run:
        request["dry_run"] = True
    return request


def resume_request(sfn: Any, state_machine_arn: str, earlier: str) -> dict[str, Any]:
    """The input that finishes backfill execution `earlier`: its own input, naming it to resume."""
    try:
        described = sfn.describe_execution(executionArn=execution_arn(state_machine_arn, earlier))
    except sfn.exceptions.ExecutionDoesNotExist:
        raise OperatorError(f"--resume {earlier}: no such execution of this stack's state machine") from None
    request = json.loads(described.get("input") or "{}")
    if not isinstance(request, dict) or "start" not in request:
        raise OperatorError(f"--resume {earlier}: not a backfill execution")
    if described["status"] in _STILL_GOING:
        raise OperatorError(f"--resume {earlier}: it is still {described['status']}; follow it instead")
    return {**request, "resume": earlier}


def canonical_json(request: dict[str, Any]) -> str:
    return json.dumps(request, sort_keys=True, separators=(",", ":"))


def backfill_execution_name(request: dict[str, Any]) -> str:
    """backfill-<start>-<end>-<hash of the canonical input>: repeating a command finds its execution instead of
    starting another (Step Functions keeps an execution name for 90 days). At most 80 characters."""
    digest = hashlib.sha256(canonical_json(request).encode()).hexdigest()[:10]
    return f"backfill-{request['start']}-{request['end']}-{digest}"


def plan_execution_name(request: dict[str, Any]) -> str:
    """A new name every time: a plan must look at the catalog as it is now, not return an earlier plan."""
    return f"plan-{request['start']}-{request['end']}-{uuid.uuid4().hex[:10]}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:<p>:states:<r>:<a>:stateMachine:<machine> -> arn:<p>:states:<r>:<a>:execution:<machine>:<name>"""
    parts = state_machine_arn.split(":")
    if len(parts) != 7 or parts[5] != "stateMachine":
        raise OperatorError(f"{state_machine_arn!r} is not a state machine ARN")
    return ":".join([*parts[:5], "execution", parts[6], name])


# ------------------------------------------------------------------------------------------------ executions


def start(sfn: Any, state_machine_arn: str, name: str, request: dict[str, Any]) -> str:
    sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=canonical_json(request))
    return execution_arn(state_machine_arn, name)


def start_or_find(sfn: Any, state_machine_arn: str, name: str, request: dict[str, Any]) -> tuple[str, bool]:
    """(execution ARN, True if this call started it). An execution of that name is found, not started again."""
    arn = execution_arn(state_machine_arn, name)
    try:
        sfn.describe_execution(executionArn=arn)
        return arn, False
    except sfn.exceptions.ExecutionDoesNotExist:
        pass
    try:
        return start(sfn, state_machine_arn, name, request), True
    except sfn.exceptions.ExecutionAlreadyExists:  # started by someone else between the two calls
        return arn, False


def follow(
    sfn: Any,
    arn: str,
    progress: Progress,
    poll_seconds: float = 5.0,
    timeout_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    shards: ShardTracker | None = None,
) -> Finished:
    """Wait for the execution to end, reporting each state it enters (once per state name), Map iterations
    done and, for a backfill, each shard that finished; a poll every poll_seconds (Step Functions offers
    nothing to wait on)."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    tail = _Tail()
    while True:
        described = sfn.describe_execution(executionArn=arn)
        for line in _progress_lines(tail, _new_events(sfn, arn, tail.last_id)):
            progress(line)
        for line in shards.poll() if shards is not None else ():
            progress(line)
        if described["status"] not in _STILL_GOING:
            return _finished(described, tail.events)
        if deadline is not None and time.monotonic() > deadline:
            raise FollowTimeout(f"{described['name']} is still {described['status']} after {timeout_seconds} s")
        sleep(poll_seconds)


def _new_events(sfn: Any, arn: str, last_id: int) -> list[dict[str, Any]]:
    """History events after last_id, oldest first. Newest-first pages, stopping at the first page that reaches
    what was already seen, so a long backfill's history is not read again on every poll."""
    found: dict[int, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"executionArn": arn, "reverseOrder": True, "maxResults": _HISTORY_PAGE}
    while True:
        page = sfn.get_execution_history(**kwargs)
        ids = [event["id"] for event in page["events"]]
        found.update((event["id"], event) for event in page["events"] if event["id"] > last_id)
        if not page.get("nextToken") or (ids and min(ids) <= last_id):
            return [found[i] for i in sorted(found)]
        kwargs["nextToken"] = page["nextToken"]


def _progress_lines(tail: _Tail, events: list[dict[str, Any]]) -> Iterator[str]:
    iterations_before = tail.iterations_done
    for event in events:
        tail.events.append(event)
        tail.last_id = max(tail.last_id, event["id"])
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name not in tail.entered:
                tail.entered.add(name)
                yield f"{_clock(event['timestamp'])} {name}"
        elif kind == "MapIterationSucceeded":
            tail.iterations_done += 1
        elif kind in TASK_FAILURES:
            details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            yield f"{_clock(event['timestamp'])}   {kind}: {sanitise.terminal(str(details.get('error', '')))}"
    if tail.iterations_done != iterations_before:
        yield f"  {tail.iterations_done} statement(s) done"


def _finished(described: dict[str, Any], events: list[dict[str, Any]]) -> Finished:
    output = described.get("output")
    parsed = json.loads(output) if output else None
    return Finished(
        name=described["name"],
        arn=described["executionArn"],
        status=described["status"],
        output=parsed if isinstance(parsed, dict) else None,
        error=described.get("error"),
        cause=described.get("cause"),
        failed_state=None if described["status"] == "SUCCEEDED" else failed_state(events),
    )


def summary(finished: Finished) -> str:
    if finished.status != "SUCCEEDED":
        return (
            f"{finished.name}: {finished.status} at {finished.failed_state}: {finished.error}: "
            f"{readable_cause(finished.cause)}"
        )
    out = finished.output or {}
    window = out.get("window", {})
    regions = f"{out['regions']} region(s), " if "regions" in out else ""
    parts = [
        f"{finished.name}: SUCCEEDED",
        f"window {window.get('start')}..{window.get('end')}: {out.get('accounts', 0)} account(s), "
        f"{regions}{out.get('days', 0)} day(s)",
        f"{out.get('expected', 0)} partitions expected, {out.get('existing', 0)} already there, "
        f"{out.get('missing', 0)} missing",
        f"dry run: nothing added; {out.get('statements', 0)} statement(s) would add the missing ones"
        if out.get("dry_run")
        else f"{out.get('added', 0)} added in {out.get('statements', 0)} statement(s)",
    ]
    shards = out.get("shards")
    if isinstance(shards, dict):
        resumed = (
            f"; resumed {shards['resumed_from']}, whose other {shards.get('already_done', 0)} shard(s) were done"
            if shards.get("resumed_from")
            else ""
        )
        parts.append(f"{shards.get('done', 0)} of {shards.get('run', 0)} shard(s) done{resumed}")
    anomalies = out.get("anomalies", {}).get("count", 0)
    if anomalies:
        parts.append(f"{anomalies} bucket anomalies (see the execution output)")
    if out.get("filtered_out"):
        parts.append(f"{out['filtered_out']} account/region folders outside the allow-lists")
    if out.get("relocated"):
        parts.append(f"{out['relocated']} partition(s) pointed away from their folder and were repaired (tampering?)")
    alarm = out.get("no_data_alarm")
    if isinstance(alarm, dict):
        parts.append(f"ALARM, no account discovered ({alarm.get('reason')}): {alarm.get('detail')}")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------ backfill shards


@dataclass
class ShardTracker:
    """Per-shard progress of a backfill, from the files its executions write in the results bucket (laid out
    by trailkeeper.reconcile): the shards, once PlanShards wrote them, an outcome per finished shard and a
    failure per failed one. Two ListObjectsV2 per poll (a page per 1,000 shards), one GetObject per newly
    finished or failed shard."""

    s3: Any
    bucket: str
    run: str
    shards: dict[str, dict[str, Any]] | None = None
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)

    def poll(self) -> list[str]:
        if self.shards is None:
            items = _json_if_exists(self.s3, self.bucket, shards_key(self.run))
            if items is None:
                return []
            self.shards = {item["shard"]: item for item in items}
            if not self.shards:
                return ["no shards to run"]
            lines = [f"{len(self.shards)} shard(s) to run"]
        else:
            lines = []
        for shard in sorted(set(self._listed(outcomes_prefix(self.run))) - self.done):
            self.done.add(shard)
            outcome = _json_if_exists(self.s3, self.bucket, outcome_key(self.run, shard)) or {}
            lines.append(
                f"  shard {shard} [{len(self.done)}/{len(self.shards)}] {self._label(shard)}: {_shard_counts(outcome)}"
            )
        for shard in sorted(set(self._listed(failures_prefix(self.run))) - self.failed):
            self.failed.add(shard)
            failure = _json_if_exists(self.s3, self.bucket, failure_key(self.run, shard)) or {}
            error, cause = sanitise.terminal(str(failure.get("Error"))), readable_cause(failure.get("Cause"))
            lines.append(f"  shard {shard} FAILED {self._label(shard)}: {error}: {cause}")
        return lines

    def _listed(self, prefix: str) -> Iterator[str]:
        """Shard ids with a file under prefix (only ids that are in the shard list)."""
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if name.endswith(".json") and self.shards is not None and name[:-5] in self.shards:
                    yield name[:-5]

    def _label(self, shard: str) -> str:
        assert self.shards is not None
        request = self.shards[shard]["request"]
        accounts = request.get("accounts") or []
        return f"{request['start']}..{request['end']}, {len(accounts)} account(s)"


def _shard_counts(outcome: dict[str, Any]) -> str:
    if outcome.get("dry_run"):
        return f"{outcome.get('missing', 0)} missing, {outcome.get('statements', 0)} statement(s) planned"
    return (
        f"{outcome.get('added', 0)} added in {outcome.get('statements', 0)} statement(s), "
        f"{outcome.get('existing', 0)} already there"
    )


def _json_if_exists(s3: Any, bucket: str, key: str) -> Any:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


# ------------------------------------------------------------------------------------------------ the plan


def statement_keys(s3: Any, bucket: str, run: str, output: dict[str, Any]) -> list[str]:
    """Statement i of a run is <statements_prefix><i>.sql (see the ASL's AddPartitions Map); a backfill's are
    those of each of its finished shards, in shard order."""
    if "runs_prefix" not in output:  # a nightly run's or one shard's output
        folder = str(output["statements_prefix"])
        return [layout.statement_key(folder, i) for i in range(int(output.get("statements", 0)))]
    keys = []
    for item in _json_if_exists(s3, bucket, shards_key(run)) or []:
        outcome = _json_if_exists(s3, bucket, outcome_key(run, item["shard"]))
        if outcome is not None:
            keys.extend(statement_keys(s3, bucket, run, outcome))
    return keys


def read_statements(s3: Any, bucket: str, keys: Iterable[str]) -> Iterator[str]:
    for key in keys:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        yield body.decode()


def partitions(statements: Iterable[str]) -> Iterator[str]:
    """`account=... region=... dt=...  <LOCATION>` for each PARTITION clause, in statement order."""
    for statement in statements:
        for values, location in _CLAUSE.findall(statement):
            keys = " ".join(f"{k}={v}" for k, v in _KEY_VALUE.findall(values))
            yield sanitise.terminal(f"{keys}  {location}")


# ------------------------------------------------------------------------------------------------ status


def stack_status(clients: Clients, stack: StackInfo, nightly_limit: int = 5, scan_limit: int = 50) -> StackStatus:
    return StackStatus(
        stack=stack,
        nightly=nightly_executions(clients.stepfunctions, stack.state_machine_arn, nightly_limit, scan_limit),
        last_report_day=last_report_day(clients.s3, stack.results_bucket),
        alarms=alarms_in_alarm(clients.cloudwatch, stack.alarm_names),
    )


def nightly_executions(sfn: Any, state_machine_arn: str, limit: int, scan_limit: int) -> list[ExecutionLine]:
    """The last `limit` scheduled executions, most recent first. Only the input tells a scheduled run
    ({"time": ...}) from a backfill or a report re-run, so each of the `scan_limit` most recent is described."""
    listed = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=scan_limit)["executions"]
    listed.sort(key=lambda e: e["startDate"], reverse=True)
    found: list[ExecutionLine] = []
    for execution in listed:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        try:
            execution_input = json.loads(described.get("input") or "null")
        except ValueError:
            continue
        if isinstance(execution_input, dict) and "time" in execution_input:
            found.append(ExecutionLine(execution["name"], execution["status"], execution["startDate"]))
            if len(found) == limit:
                break
    return found


def last_report_day(s3: Any, bucket: str) -> str | None:
    """The latest day D whose reports/D/sent.json says the email went out ("sending" = claimed, not sent)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=layout.REPORTS_PREFIX, Delimiter="/")
    days = sorted(
        (day for page in pages for p in page.get("CommonPrefixes", []) if (day := layout.report_day(p["Prefix"]))),
        reverse=True,
    )
    for day in days:
        try:
            body = s3.get_object(Bucket=bucket, Key=layout.report_key(day, layout.SENT_MARKER))["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
        marker = json.loads(body)
        if isinstance(marker, dict) and marker.get("state") == "sent":
            return day.isoformat()
    return None


def alarms_in_alarm(cloudwatch: Any, names: Sequence[str]) -> list[Alarm]:
    """The stack's alarms now in ALARM (DescribeAlarms takes at most 100 names a call). The state is checked
    here too: moto 5.2.5 applies only the first of AlarmNames / StateValue."""
    found: list[Alarm] = []
    paginator = cloudwatch.get_paginator("describe_alarms")
    for first in range(0, len(names), 100):
        pages = paginator.paginate(
            AlarmNames=list(names[first : first + 100]),
            StateValue="ALARM",
            AlarmTypes=["MetricAlarm", "CompositeAlarm"],
        )
        for page in pages:
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                if alarm.get("StateValue") != "ALARM":
                    continue
                found.append(
                    Alarm(
                        name=alarm["AlarmName"],
                        reason=sanitise.terminal(alarm.get("StateReason", "")),
                        description=sanitise.terminal(alarm.get("AlarmDescription", "")),
                        since=alarm.get("StateUpdatedTimestamp"),
                    )
                )
    return sorted(found, key=lambda a: a.name)


def render_status(status: StackStatus) -> str:
    stack = status.stack
    lines = [
        f"stack {stack.name} ({stack.status}): {stack.state_machine_arn}",
        "nightly executions, most recent first:",
    ]
    lines += [f"  {_utc(e.started)}  {e.status:<9} {e.name}" for e in status.nightly] or ["  none"]
    lines.append(f"last report day: {status.last_report_day or 'none sent'}")
    lines.append(f"alarms in ALARM: {len(status.alarms)} of {len(stack.alarm_names)}")
    for alarm in status.alarms:
        since = f" since {_utc(alarm.since)}" if alarm.since else ""
        lines.append(f"  {alarm.name}{since}: {alarm.description}")
        lines.append(f"    {alarm.reason}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ text


def _clock(timestamp: dt.datetime) -> str:
    return timestamp.astimezone(dt.UTC).strftime("%H:%M:%S")


def _utc(timestamp: dt.datetime) -> str:
    return timestamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
