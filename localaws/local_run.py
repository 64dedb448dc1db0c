"""Running trailkeeper's nights and backfills on the embedded runtime, over a directory of trail objects.

The directory holds objects exactly as they sit in a trail bucket (`aws s3 sync s3://bucket DIR`).
Night D is the scheduled execution whose report day is D: it starts on D+1 at the schedule's time,
and sees only the objects delivered by then: the delivery time is in every CloudTrail file name, so a
file delivered at 03:10 on D+1 waits for night D+1, as it would on AWS. State is kept across nights.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localaws.patches.core import uncounted
from localaws.runtime import EmbeddedAws, ExecutionResult, ExecutionTimeout
from trailgen import digests
from trailkeeper import allowlist, layout
from trailkeeper.discovery import folder_day
from trailkeeper_cli.history import failed_state, readable_cause
from trailkeeper_cli.operator import ShardTracker, execution_arn

# What the template's deploy-time parameters are when everything runs on this machine.
LOCAL_PARAMETERS = {
    "TrailBucketName": "trailkeeper-local-trail",
    "ReportSender": "trailkeeper@example.com",
    "ReportRecipients": "security-team@example.com",
}
FOLDER_DAY = re.compile(r"/CloudTrail[^/]*/[^/]+/([0-9]{4})/([0-9]{2})/([0-9]{2})/[^/]+$")
# <account>_CloudTrail_<region>_YYYYMMDDTHHmmZ_<unique>.json.gz, and digests' ..._YYYYMMDDTHHmmssZ.json.gz
# (docs/aws-facts.md): the UTC time CloudTrail delivered the file.
DELIVERY_TIME = re.compile(r"_([0-9]{8}T[0-9]{4}(?:[0-9]{2})?)Z(?:_[A-Za-z0-9]+)?\.json(?:\.gz)?$")
PREFIX_DEPTH = 4
# How long one local execution may run before it is stopped (--timeout raises it): a night of the demo takes
# seconds; a year's backfill over a large folder can take many minutes on this emulator.
DEFAULT_TIMEOUT_SECONDS = 600.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class NightResult:
    day: dt.date
    execution: ExecutionResult
    outputs: list[Path] = field(default_factory=list)


class LayoutError(ValueError):
    """The logs directory does not look like a trail bucket."""


class LocalTimeout(Exception):
    """A local execution ran past its timeout: it was stopped, and what it had done so far was written."""


def detect_layout(logs: Path) -> dict[str, str]:
    """TrailKeyPrefix and OrganizationId from where `AWSLogs/` sits and what is under it.

    The trail's `AWSLogs/` is the one whose children are trail folders (12-digit accounts or an organization id);
    a prefix may itself contain an `AWSLogs` segment (`AWSLogs/AWSLogs/o-org/...`), so the deepest such folder
    wins over its ancestors. An organization trail wins over account folders beside it: those are another
    trail's logs, which the product reports as anomalies.
    """
    candidates = [p for p in _dirs_named(logs, "AWSLogs") if _trail_children(p)]
    candidates = [p for p in candidates if not any(q != p and q.is_relative_to(p) for q in candidates)]
    if len(candidates) != 1:
        found = ", ".join(str(p.relative_to(logs)) for p in candidates) or "none"
        raise LayoutError(f"{logs}: expected exactly one AWSLogs/ folder holding trail folders (found: {found})")
    awslogs = candidates[0]
    prefix = awslogs.parent.relative_to(logs).as_posix()
    organizations = [c for c in _trail_children(awslogs) if allowlist.ORGANIZATION_ID.fullmatch(c)]
    if len(organizations) > 1:
        raise LayoutError(f"{awslogs}: several organizations {organizations}; pass --param OrganizationId=...")
    return {
        "TrailKeyPrefix": "" if prefix == "." else prefix,
        "OrganizationId": organizations[0] if organizations else "",
    }


def _trail_children(awslogs: Path) -> list[str]:
    return sorted(
        c.name
        for c in awslogs.iterdir()
        if c.is_dir() and (allowlist.ORGANIZATION_ID.fullmatch(c.name) or allowlist.ACCOUNT_ID.fullmatch(c.name))
    )


def _dirs_named(root: Path, name: str, depth: int = PREFIX_DEPTH) -> Iterator[Path]:
    if depth < 0:
        return
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if child.name == name:
            yield child
        yield from _dirs_named(child, name, depth - 1)


TrailObject = tuple[str, Path, dt.datetime | None]


def delivery_time(key: str) -> dt.datetime | None:
    """When CloudTrail delivered the object: from its file name, else the start of its dated folder's day
    (a file CloudTrail did not name), else None (not in a dated folder: there from the start)."""
    named = DELIVERY_TIME.search(key.rsplit("/", 1)[-1])
    if named:
        stamp = named.group(1)
        try:
            return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S" if len(stamp) == 15 else "%Y%m%dT%H%M")
        except ValueError:
            pass  # not a real time: fall back to the folder
    folder = FOLDER_DAY.search("/" + key)
    day = folder_day(folder.groups()) if folder else None  # the product's classifier of date folders
    return dt.datetime.combine(day, dt.time()) if day else None


def trail_objects(logs: Path) -> list[TrailObject]:
    """(key, file, delivery time or None) for every file under logs that S3 can hold, key = its relative POSIX path.

    A file in a folder that is not a calendar date (`2024/02/30/`) is still an object of the bucket (there from the
    first night): the product meets it as CloudTrail-shaped noise, never a crash here.
    """
    return [
        (key, path, delivery_time(key))
        for path in sorted(p for p in logs.rglob("*") if p.is_file())
        for key in [path.relative_to(logs).as_posix()]
        if not unstorable_name(key) and not digests.is_sidecar(path)
    ]  # a sidecar is metadata, not an object


def delivered_by(objects: list[TrailObject], moment: dt.datetime) -> list[tuple[str, Path]]:
    """The objects CloudTrail had delivered at `moment` (UTC)."""
    return [(key, path) for key, path, delivered in objects if delivered is None or delivered <= moment]


def unstorable_name(key: str) -> bool:
    """True for a name S3 cannot hold: keys are UTF-8, a non-UTF-8 file name arrives as surrogate escapes."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def skipped_objects(logs: Path) -> list[str]:
    """Files under logs that no trail bucket could hold (non-UTF-8 names), shown with their bytes escaped."""
    return [
        path.relative_to(logs).as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        for path in sorted(p for p in logs.rglob("*") if p.is_file())
        if unstorable_name(path.relative_to(logs).as_posix())
    ]


@contextmanager
def local_stack(logs: Path, params: Mapping[str, str], out: Path) -> Iterator[EmbeddedAws]:
    """The stack; on the way out the functions' own output (Powertools logs, metrics) goes to OUT/functions.log."""
    parameters = {**LOCAL_PARAMETERS, **detect_layout(logs), **params}
    with EmbeddedAws.running(parameters=parameters) as aws:
        try:
            yield aws
        finally:
            out.mkdir(parents=True, exist_ok=True)
            lines = [
                f"{name}: {line.rstrip()}"
                for name in sorted(aws.physical.values())
                if name.startswith("trailkeeper-") and name.endswith("Function")
                for line in aws.function_logs(name)
            ]
            (out / "functions.log").write_text("\n".join(lines) + "\n")


def run_nights(
    logs: Path,
    first: dt.date,
    last: dt.date,
    out: Path,
    params: Mapping[str, str],
    progress: Progress,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[NightResult]:
    """Each night in turn. However it ends (a timeout, Ctrl-C), OUT holds the nights that finished, the stopped
    one's execution.json and the catalog as it was, and running the same command again redoes it all."""
    if first > last:
        raise ValueError(f"--start {first} is after --end {last}")
    objects = trail_objects(logs)
    _report_skipped(logs, progress)
    results = []
    with local_stack(logs, params, out) as aws:
        bucket = aws.parameters["TrailBucketName"]
        uploaded: set[str] = set()
        run_time = _schedule_time(aws.parameters.get("ScheduleExpression", ""))
        day = first
        try:
            while day <= last:
                run_day = day + dt.timedelta(days=1)
                starts = dt.datetime.combine(run_day, run_time)
                delivered = [(key, path) for key, path in delivered_by(objects, starts) if key not in uploaded]
                aws.upload_files(delivered, bucket)
                uploaded.update(key for key, _ in delivered)
                progress(f"night {day}: {len(delivered)} new objects, running ...")
                execution = _run_within(
                    aws,
                    {"time": f"{starts:%Y-%m-%dT%H:%M:%S}Z"},
                    f"nightly-{day.isoformat()}",
                    timeout,
                    out / day.isoformat(),
                    day,
                )
                outputs = write_execution(aws, execution, out / day.isoformat(), report_day=day)
                results.append(NightResult(day, execution, outputs))
                progress(describe(day.isoformat(), execution))
                day = run_day
        finally:
            write_catalog(aws, out / "catalog.json")
    return results


def _run_within(
    aws: EmbeddedAws,
    execution_input: dict[str, Any],
    name: str,
    timeout: float,
    folder: Path,
    report_day: dt.date | None,
    on_poll: Callable[[], None] | None = None,
) -> ExecutionResult:
    """run_execution, and on its timeout the stopped execution's record in folder, then LocalTimeout."""
    try:
        return aws.run_execution(execution_input, name=name, timeout=timeout, on_poll=on_poll)
    except ExecutionTimeout:
        stopped = stopped_execution(aws, name)
        write_execution(aws, stopped, folder, report_day)
        raise LocalTimeout(
            f"{name} was still running after {timeout:g} s, the local timeout, and was stopped at "
            f"{failed_state(stopped.history) or 'its start'}; raise it with --timeout SECONDS "
            f"(its record: {folder / 'execution.json'})"
        ) from None


def stopped_execution(aws: EmbeddedAws, name: str) -> ExecutionResult:
    """What the runtime stopped: its status, the states it entered and its history."""
    sfn = aws.client("stepfunctions")
    arn = execution_arn(aws.state_machine_arn, name)
    with uncounted():
        described = sfn.describe_execution(executionArn=arn)
        history = [
            event
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
            for event in page["events"]
        ]
    return ExecutionResult(
        name=name,
        arn=arn,
        status=described["status"],
        states=[e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")],
        output=None,
        error=described.get("error"),
        cause=described.get("cause"),
        history=history,
    )


def run_backfill(
    logs: Path,
    start: dt.date,
    end: dt.date,
    out: Path,
    params: Mapping[str, str],
    dry_run: bool,
    progress: Progress,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ExecutionResult:
    with local_stack(logs, params, out) as aws:
        objects = trail_objects(logs)
        _report_skipped(logs, progress)
        aws.upload_files([(key, path) for key, path, _ in objects], aws.parameters["TrailBucketName"])
        progress(f"backfill {start}..{end}: {len(objects)} objects, running ...")
        name = f"backfill-{start.isoformat()}-{end.isoformat()}"
        shards = ShardTracker(aws.client("s3"), aws.physical["ResultsBucket"], name)

        def report_shards() -> None:
            with uncounted():  # reading progress is the operator's traffic, not the execution's
                for line in shards.poll():
                    progress(line)

        try:
            execution = _run_within(
                aws,
                {"start": start.isoformat(), "end": end.isoformat(), "dry_run": dry_run},
                name,
                timeout,
                out,
                None,
                on_poll=report_shards,
            )
        finally:
            write_catalog(aws, out / "catalog.json")
        write_execution(aws, execution, out, report_day=None)
        progress(describe("backfill", execution))
        return execution


def _report_skipped(logs: Path, progress: Progress) -> None:
    skipped = skipped_objects(logs)
    if skipped:
        progress(
            f"anomaly: {len(skipped)} file(s) skipped, their names are not UTF-8 and no S3 key can hold them: "
            f"{', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''}"
        )


def write_execution(
    aws: EmbeddedAws, execution: ExecutionResult, folder: Path, report_day: dt.date | None
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"status": execution.status, "states": execution.states, "output": execution.output}
    if execution.status != "SUCCEEDED":
        record |= {"error": execution.error, "cause": execution.cause, "failed_state": failed_state(execution.history)}
    path = folder / "execution.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return [path, *copy_report(aws, folder, report_day)]


def copy_report(aws: EmbeddedAws, folder: Path, report_day: dt.date | None) -> list[Path]:
    """The day's report files, when the execution produced them (results bucket reports/<D>/, trailkeeper.layout)."""
    if report_day is None:
        return []
    s3 = aws.client("s3")
    bucket = aws.physical["ResultsBucket"]
    copied = []
    for name in layout.REPORT_FILES:
        key = layout.report_key(report_day, name)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
        (folder / name).write_bytes(body)
        copied.append(folder / name)
    return copied


def write_catalog(aws: EmbeddedAws, path: Path) -> None:
    glue = aws.client("glue")
    database, table = aws.parameters["DatabaseName"], aws.parameters["TableName"]
    keys = [k["Name"] for k in glue.get_table(DatabaseName=database, Name=table)["Table"]["PartitionKeys"]]
    partitions = [
        {"values": dict(zip(keys, p["Values"], strict=True)), "location": p["StorageDescriptor"]["Location"]}
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
        for p in page["Partitions"]
    ]
    partitions.sort(key=lambda p: [p["values"][k] for k in keys])
    catalog = {"database": database, "table": table, "partition_keys": keys, "partitions": partitions}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(catalog, indent=1) + "\n")


def describe(label: str, execution: ExecutionResult) -> str:
    output = execution.output if isinstance(execution.output, dict) else {}
    if execution.status != "SUCCEEDED":
        return (
            f"{label}: {execution.status} at {failed_state(execution.history)}: {execution.error}: "
            f"{readable_cause(execution.cause)}"
        )
    parts = [
        f"{label}: {execution.status}",
        f"{output.get('added', 0)} partitions added in {output.get('statements', 0)} statement(s)",
        f"{output.get('expected', 0)} expected, {output.get('existing', 0)} already there",
    ]
    shards = output.get("shards")
    if isinstance(shards, dict):
        parts.append(f"{shards.get('done', 0)} of {shards.get('run', 0)} shard(s)")
    anomalies = output.get("anomalies", {}).get("count", 0)
    if anomalies:
        parts.append(f"{anomalies} bucket anomalies")
    checked = output.get("integrity")  # SummariseIntegrity's counts (README "Integrity")
    if isinstance(checked, dict) and "pairs" in checked:
        parts.append(
            f"integrity: {checked.get('pairs', 0)} account-region(s) verified, "
            f"{checked.get('alarming_findings', 0)} alarming finding(s)"
        )
    report = output.get("report")
    if isinstance(report, dict) and "skipped" in report:
        parts.append(f"report skipped: {report['skipped']}")
    elif isinstance(report, dict) and report.get("baseline_state") == "established":
        parts.append(f"report: baseline established ({report.get('rows', 0)} activity rows)")
    elif isinstance(report, dict):
        if report.get("no_activity"):
            parts.append("report: NO ACTIVITY in any account (alarm)")
        first_seen = sum(report.get(f"first_seen_{what}", 0) for what in ("accounts", "regions", "principals"))
        parts.append(
            f"report: {report.get('new_rows', 0)} new, {report.get('went_silent', 0)} silent, {first_seen} first seen"
        )
    return "; ".join(parts)


def _schedule_time(expression: str) -> dt.time:
    """The time of day of a daily `cron(M H * * ? *)` or `cron(M H ? * * *)` schedule (the only ones template.yaml
    admits); 01:30 when it is neither."""
    match = re.fullmatch(r"cron\(([0-9]{1,2}) ([0-9]{1,2}) (?:\* \* \? \*|\? \* \* \*)\)", expression)
    return dt.time(int(match.group(2)), int(match.group(1))) if match else dt.time(1, 30)
