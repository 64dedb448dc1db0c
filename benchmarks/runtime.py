"""Figures measured on the embedded runtime: the real state machine, handlers and SQL over generated logs.

- nightly executions at 1, 10 and 100 accounts: state transitions, Lambda invocations, API calls per service;
- one-year sharded backfills at 10 and 100 accounts: transitions (the shards' child executions included)
  and calls grow with statements, not with the nights' path;
- query pruning: what the daily-activity query reads, against the whole table, over 30+ days of logs.
Lambda durations are timed in-process (no cold starts), so the GB-seconds derived from them are a proxy:
moto answers most calls faster than AWS, but filters Glue partitions by expression far slower (a backfill's
figure is dominated by that); they are reported as such.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localaws.local_run import LOCAL_PARAMETERS, detect_layout
from localaws.patches import awslambda
from localaws.runtime import EmbeddedAws
from trailgen.generator import TrailSpec, generate

REGIONS = ("us-east-1", "eu-west-1")
START = dt.date(2024, 3, 1)


@dataclass
class Run:
    label: str
    accounts: int
    status: str
    transitions: int
    retries: int
    api_calls: dict[str, int]
    lambda_invocations: int
    lambda_gb_seconds: float
    statements: int
    partitions_added: int
    seconds: float
    shards: int = 0
    query_bytes: int = 0
    query_objects: int = 0


@dataclass
class Pruning:
    days: int  # days of logs (their folders, plus the next day's for late events, are all registered)
    table_objects: int
    table_bytes: int
    query_objects: int
    query_bytes: int
    query_partitions: int
    registered_partitions: int


@dataclass
class LambdaTimer:
    """Times every in-process handler call (function name -> (seconds, memory MB))."""

    calls: list[tuple[str, float, int]] = field(default_factory=list)

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = awslambda.LocalFunctions._call

        def timed(functions: Any, function: Any, event: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(functions, function, event, context)
            finally:
                self.calls.append((function.name, time.perf_counter() - started, function.memory_mb))

        awslambda.LocalFunctions._call = timed  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            awslambda.LocalFunctions._call = original  # type: ignore[method-assign]

    def gb_seconds(self) -> float:
        return sum(seconds * memory / 1024 for _, seconds, memory in self.calls)


def _execute(aws: EmbeddedAws, label: str, accounts: int, execution_input: dict[str, Any], name: str) -> Run:
    aws.counters.reset()
    timer = LambdaTimer()
    started = time.perf_counter()
    with timer.installed():
        result = aws.run_execution(execution_input, name=name, timeout=600)
    seconds = time.perf_counter() - started
    output = result.output if isinstance(result.output, dict) else {}
    dml = [q for q in aws.counters.queries if q.statement_type == "DML"]
    return Run(
        label=label,
        accounts=accounts,
        status=result.status,
        transitions=aws.counters.state_transitions,
        retries=aws.counters.retries,
        api_calls=aws.counters.calls_by_service(),
        lambda_invocations=len(timer.calls),
        lambda_gb_seconds=timer.gb_seconds(),
        statements=int(output.get("statements", 0)),
        partitions_added=int(output.get("added", 0)),
        seconds=seconds,
        query_bytes=sum(q.bytes_read for q in dml),
        query_objects=sum(q.objects_read for q in dml),
        shards=int((output.get("shards") or {}).get("run", 0)),
    )


@contextmanager
def _stack(spec: TrailSpec) -> Iterator[tuple[EmbeddedAws, Path]]:
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        generate(spec, logs)
        with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs)}) as aws:
            aws.upload_directory(logs, aws.parameters["TrailBucketName"])
            yield aws, logs


def nightly(accounts: int) -> Run:
    """One scheduled night on an organization of `accounts` accounts that already has yesterday's baseline."""
    spec = TrailSpec(
        start=START, days=4, accounts=accounts, regions=REGIONS, noise=False, events_per_account_region_day=6
    )
    with _stack(spec) as (aws, _):
        aws.run_execution({"time": "2024-03-03T01:30:00Z"}, name="warm-up", timeout=600)  # baseline + partitions
        return _execute(aws, f"nightly, {accounts} account(s)", accounts, {"time": "2024-03-04T01:30:00Z"}, "night")


def backfill(accounts: int, days: int) -> Run:
    spec = TrailSpec(
        start=START, days=2, accounts=accounts, regions=REGIONS, noise=False, events_per_account_region_day=2
    )
    end = START + dt.timedelta(days=days - 1)
    with _stack(spec) as (aws, _):
        return _execute(
            aws,
            f"backfill, {accounts} accounts x {days} days",
            accounts,
            {"start": START.isoformat(), "end": end.isoformat()},
            "backfill",
        )


def scaled(measured: Run, accounts: int, label: str, flat: frozenset[str] = frozenset()) -> Run:
    """A run at `accounts`, from the measured run's per-account figures (each count / its accounts), except
    the `flat` ones, taken as measured. Counts only scale by a non-negative factor, so nothing extrapolated
    can fall below zero; for counts with a fixed part this is an upper bound."""
    factor = accounts / measured.accounts

    def at(name: str, value: float) -> float:
        return value if name in flat else value * factor

    return Run(
        label=label,
        accounts=accounts,
        status="(extrapolated)",
        transitions=round(at("transitions", measured.transitions)),
        retries=round(at("retries", measured.retries)),
        api_calls={s: round(at(s, n)) for s, n in measured.api_calls.items()},
        lambda_invocations=round(at("lambda_invocations", measured.lambda_invocations)),
        lambda_gb_seconds=at("lambda_gb_seconds", measured.lambda_gb_seconds),
        statements=round(at("statements", measured.statements)),
        partitions_added=round(at("partitions_added", measured.partitions_added)),
        seconds=0.0,
        shards=measured.shards,
        query_bytes=round(at("query_bytes", measured.query_bytes)),
        query_objects=round(at("query_objects", measured.query_objects)),
    )


def pruning(
    accounts: int = 10,
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1", "eu-central-1", "ap-south-1"),
    days: int = 30,
) -> Pruning:
    """Register every day of `days` days of logs, then measure the daily query of a day in the middle."""
    spec = TrailSpec(
        start=START, days=days, accounts=accounts, regions=regions, noise=False, events_per_account_region_day=8
    )
    last = START + dt.timedelta(days=days)  # late events of the last day sit in the next folder
    report_day = START + dt.timedelta(days=days // 2)
    with _stack(spec) as (aws, logs):
        aws.run_execution({"start": START.isoformat(), "end": last.isoformat()}, name="register", timeout=600)
        run = _execute(aws, "report", accounts, {"report_date": report_day.isoformat()}, "report")
        table = [p.stat().st_size for p in logs.rglob("*.json.gz") if "/CloudTrail/" in p.as_posix()]
        registered = len(regions) * accounts * (days + 1)
        partitions = sum(q.partitions_read for q in aws.counters.queries if q.statement_type == "DML")
    return Pruning(
        days=days,
        table_objects=len(table),
        table_bytes=sum(table),
        query_objects=run.query_objects,
        query_bytes=run.query_bytes,
        query_partitions=partitions,
        registered_partitions=registered,
    )


def report_runs(runs: list[Run]) -> list[str]:
    services = sorted({s for run in runs for s in run.api_calls})
    lines = [
        f"  {'execution':34} {'status':9} {'transitions':>11} {'shards':>6} {'Lambda':>6} {'GB-s*':>7} "
        f"{'stmts':>5} " + " ".join(f"{s:>8}" for s in services) + f" {'seconds':>7}"
    ]
    for run in runs:
        lines.append(
            f"  {run.label:34} {run.status:9} {run.transitions + run.retries:>11} {run.shards or '-':>6} "
            f"{run.lambda_invocations:>6} {run.lambda_gb_seconds:>7.3f} {run.statements:>5} "
            + " ".join(f"{run.api_calls.get(s, 0):>8}" for s in services)
            + f" {run.seconds:>7.2f}"
        )
    lines.append("  (*) in-process handler time on moto x configured memory (see benchmarks/runtime.py)")
    return lines


def report_pruning(p: Pruning) -> list[str]:
    objects, data = p.query_objects / p.table_objects, p.query_bytes / p.table_bytes
    return [
        f"Query pruning: the daily-activity query over {p.days} days of logs, {p.registered_partitions:,} "
        "partitions registered",
        f"  whole table       {p.table_objects:>7,} objects {p.table_bytes:>12,} bytes  "
        f"{p.registered_partitions:>6,} partitions  (the unpartitioned table reads this every time: ratio 1.0)",
        f"  daily query read  {p.query_objects:>7,} objects {p.query_bytes:>12,} bytes  "
        f"{p.query_partitions:>6,} partitions",
        f"  ratio             {objects:>15.3f} {data:>18.3f} {p.query_partitions / p.registered_partitions:>17.3f}"
        f"   (target <= 2 / {p.days} days = {2 / p.days:.3f})",
    ]


def calls_per_service_per_account(small: Run, large: Run) -> dict[str, float]:
    """How API calls grow with accounts (from two measured nights)."""
    growth: dict[str, float] = defaultdict(float)
    for service in set(small.api_calls) | set(large.api_calls):
        growth[service] = (large.api_calls.get(service, 0) - small.api_calls.get(service, 0)) / (
            large.accounts - small.accounts
        )
    return dict(growth)


@dataclass
class DetectionScan:
    accounts: int
    regions: int
    rows: int
    hits: int
    baseline_bytes: int  # the daily query without the detection catalog
    report_bytes: int  # the same query with the catalog evaluated in it: everything the report scans
    baseline_partitions: int
    report_partitions: int
    query_chars: int


def detection_scan(accounts: int = 10) -> DetectionScan:
    """The report's bytes scanned with the detections against the daily query without them (one scan each)."""
    from trailkeeper.detections.attention import attention
    from trailkeeper.report.activity import parse_activity_csv
    from trailkeeper.report.query import build_daily_activity_query

    regions = ("us-east-1", "eu-west-1", "eu-central-1", "ap-south-1")
    spec = TrailSpec(
        start=START, days=3, accounts=accounts, regions=regions, noise=False, events_per_account_region_day=8
    )
    report_day = START + dt.timedelta(days=1)
    with _stack(spec) as (aws, _):
        aws.run_execution(
            {"start": START.isoformat(), "end": (START + dt.timedelta(days=3)).isoformat()},
            name="register",
            timeout=600,
        )
        athena, s3 = aws.client("athena"), aws.client("s3")
        keys = ("account", "region", "dt")
        measured = []
        for detections in (False, True):
            sql, parameters = build_daily_activity_query(
                aws.parameters["DatabaseName"], aws.parameters["TableName"], keys, report_day, detections=detections
            )
            before = len(aws.counters.queries)
            query_id = athena.start_query_execution(
                QueryString=sql, ExecutionParameters=parameters, WorkGroup=aws.physical["AthenaWorkGroup"]
            )["QueryExecutionId"]
            execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
            location = execution["ResultConfiguration"]["OutputLocation"]
            bucket, key = location.removeprefix("s3://").split("/", 1)
            text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            partitions = sum(q.partitions_read for q in aws.counters.queries[before:])
            measured.append((int(execution["Statistics"]["DataScannedInBytes"]), partitions, text, len(sql)))
    (base_bytes, base_parts, _, _), (report_bytes, report_parts, text, chars) = measured
    rows = parse_activity_csv(text)
    return DetectionScan(
        accounts=accounts,
        regions=len(regions),
        rows=len(rows),
        hits=len(attention(rows, (), report_day).rows),
        baseline_bytes=base_bytes,
        report_bytes=report_bytes,
        baseline_partitions=base_parts,
        report_partitions=report_parts,
        query_chars=chars,
    )


def report_detection_scan(d: DetectionScan) -> list[str]:
    return [
        f"Detections in the daily scan: {d.accounts} accounts x {d.regions} regions, report day and the next "
        "(one query, one scan)",
        f"  daily query without detections  {d.baseline_bytes:>10,} bytes scanned  "
        f"{d.baseline_partitions:>4} partitions",
        f"  report (with {len(_catalog())} detections)    {d.report_bytes:>10,} bytes scanned  "
        f"{d.report_partitions:>4} partitions  {d.rows:,} rows, {d.hits} hits",
        f"  ratio {d.report_bytes / d.baseline_bytes:.3f}   (target <= 1.05); query text {d.query_chars:,} of "
        "262,144 bytes",
    ]


def _catalog() -> tuple[object, ...]:
    from trailkeeper.detections.catalog import CATALOG

    return CATALOG
