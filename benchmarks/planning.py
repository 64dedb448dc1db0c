"""Plan + pack an organization-scale backfill: 1,000 accounts × 20 regions × 366 days, half present.

Runs the production code path in a child process, so its peak memory is the plan's alone: shards.split
cuts the year into (month, account group) shards as PlanShards does; each shard is then planned as one
child execution's PlanShard would: an ExistingIndex of the shard's pairs fed with Glue-shaped values from
an in-memory catalog (what GetPartitions over the shard's account range and month yields), ClauseBuilder,
pack_statements.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from trailkeeper.config import ATHENA_QUERY_LIMIT_BYTES, Settings
from trailkeeper.ddl import pack_statements, statement_header
from trailkeeper.inputs import RunRequest
from trailkeeper.planner import ClauseBuilder, ExistingIndex, Window
from trailkeeper.schemes import TRAILKEEPER_KEYS, PartitionScheme
from trailkeeper.shards import split_within_limits

REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "me-south-1",
    "af-south-1",
)
GLUE_BATCH_CREATE_LIMIT = 100


@dataclass(frozen=True)
class PlanFigures:
    accounts: int
    regions: int
    days: int
    expected: int
    existing: int
    missing: int
    seconds: float
    peak_rss_mb: float
    shards: int
    largest_shard: int
    statements: int
    shard_minimum_statements: int  # sum over shards of ceil(the shard's clause bytes / room in a statement)
    most_over_shard_minimum: int
    clause_bytes: int
    statement_limit: int

    @property
    def per_second(self) -> float:
        return self.expected / self.seconds

    @property
    def minimum_statements(self) -> int:
        return math.ceil(self.clause_bytes / ATHENA_QUERY_LIMIT_BYTES)

    @property
    def one_per_account_day(self) -> int:
        return self.accounts * self.days

    @property
    def glue_batch_calls(self) -> int:
        return math.ceil(self.missing / GLUE_BATCH_CREATE_LIMIT)


def _plan(accounts: int, year: int) -> PlanFigures:
    settings = Settings.from_env(
        {
            "TRAIL_BUCKET": "org-trail-bucket",
            "ORGANIZATION_ID": "o-exampleorg1",
            "DATABASE_NAME": "trailkeeper",
            "TABLE_NAME": "cloudtrail",
            "RESULTS_BUCKET": "results-bucket",
        }
    )
    backfill = RunRequest(mode="backfill", start=dt.date(year, 1, 1), end=dt.date(year, 12, 31))
    scheme = PartitionScheme("trailkeeper", TRAILKEEPER_KEYS)
    regions_by_account = {f"{100000000000 + n:012d}": REGIONS for n in range(accounts)}
    header = statement_header("trailkeeper", "cloudtrail")
    room = settings.MAX_STATEMENT_BYTES - len(header)

    started = time.perf_counter()
    shards = split_within_limits(backfill, regions_by_account, scheme, settings)
    statements = clause_bytes = missing = shard_minimum = most_over = 0
    for shard in shards:
        window = Window(shard.request.start, shard.request.end)
        pairs = [(a, r) for a in sorted(shard.request.accounts or ()) for r in regions_by_account[a]]
        present_days = [(i, d.isoformat()) for i, d in enumerate(window.days) if d.toordinal() % 2 == 0]  # half
        builder = ClauseBuilder(scheme, settings, window)
        # LOCATIONs are compared as reconcile does, each existing partition's against its folder (building the
        # LOCATION Glue would return is timed too: an upper bound).
        existing = ExistingIndex(scheme, window, only=frozenset(pairs), location_of=builder.location)
        for pair in pairs:  # what GetPartitions pages would yield, streamed
            for index, day in present_days:
                existing.add([pair[0], pair[1], day], builder.location(pair, index))
        shard_statements = shard_bytes = 0
        clauses = builder.missing_clauses(pairs, existing)
        for statement in pack_statements(header, clauses, settings.MAX_STATEMENT_BYTES):
            shard_statements += 1
            shard_bytes += len(statement.encode()) - len(header)
            missing += statement.count(" PARTITION (")
        statements += shard_statements
        clause_bytes += shard_bytes
        shard_minimum += math.ceil(shard_bytes / room)
        most_over = max(most_over, shard_statements - math.ceil(shard_bytes / room))
    seconds = time.perf_counter() - started
    expected = sum(shard.expected for shard in shards)
    return PlanFigures(
        accounts=accounts,
        regions=len(REGIONS),
        days=len(backfill.days),
        expected=expected,
        existing=expected - missing,
        missing=missing,
        seconds=seconds,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        shards=len(shards),
        largest_shard=max(shard.expected for shard in shards),
        statements=statements,
        shard_minimum_statements=shard_minimum,
        most_over_shard_minimum=most_over,
        clause_bytes=clause_bytes,
        statement_limit=settings.MAX_STATEMENT_BYTES,
    )


def measure(accounts: int = 1_000, year: int = 2024) -> PlanFigures:
    # A pool of one fresh process: its peak memory is the plan's alone, and its exception is raised here.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_plan, accounts, year).result()


def report(figures: PlanFigures) -> list[str]:
    f = figures
    return [
        f"Plan + pack: {f.accounts:,} accounts × {f.regions} regions × {f.days} days = {f.expected:,} expected "
        f"partitions, {f.existing:,} already in the catalog, {f.missing:,} missing",
        f"  {f.shards} shards (month x account group, as PlanShards splits it), largest {f.largest_shard:,} "
        "partitions, each planned on its own",
        f"  time {f.seconds:.2f} s on one core  ->  {f.per_second:,.0f} expected partitions / s / core"
        f"   (target >= 1,000,000)",
        f"  peak memory of the planning process {f.peak_rss_mb:,.0f} MB   (target <= 512 MB)",
        f"  ALTER TABLE statements produced          {f.statements:>10,}   (limit {f.statement_limit:,} B each)",
        f"  minimum per shard, summed                {f.shard_minimum_statements:>10,}   "
        f"(worst shard +{f.most_over_shard_minimum}; target within +1 per shard)",
        f"  minimum ceil(clause bytes / 262,144)     {f.minimum_statements:>10,}   "
        f"(ratio {f.statements / f.minimum_statements:.3f})",
        f"  one statement per (account, day)         {f.one_per_account_day:>10,}   "
        f"({f.one_per_account_day / f.statements:,.0f}x more)   (target >= 100x)",
        f"  Glue BatchCreatePartition calls (100 ea) {f.glue_batch_calls:>10,}   "
        f"({f.glue_batch_calls / f.statements:,.1f}x more)",
    ]
