"""Plan + pack an organization-scale backfill: 1,000 accounts × 20 regions × 366 days, half present.

Runs the production code path (ExistingIndex fed with Glue-shaped values from an in-memory catalog,
ClauseBuilder, pack_statements) in a child process, so its peak memory is the plan's alone.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import resource
import time
from dataclasses import dataclass

from trailkeeper.config import ATHENA_QUERY_LIMIT_BYTES, Settings
from trailkeeper.ddl import pack_statements, statement_header
from trailkeeper.planner import ClauseBuilder, ExistingIndex, Window
from trailkeeper.schemes import TRAILKEEPER_KEYS, PartitionScheme

REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "me-south-1", "af-south-1",
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
    statements: int
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


def _plan(accounts: int, year: int, queue: multiprocessing.Queue[PlanFigures]) -> None:
    settings = Settings.from_env({
        "TRAIL_BUCKET": "org-trail-bucket", "ORGANIZATION_ID": "o-exampleorg1", "DATABASE_NAME": "trailkeeper",
        "TABLE_NAME": "cloudtrail", "RESULTS_BUCKET": "results-bucket",
    })
    window = Window(dt.date(year, 1, 1), dt.date(year, 12, 31))
    scheme = PartitionScheme("trailkeeper", TRAILKEEPER_KEYS)
    account_ids = [f"{100000000000 + n:012d}" for n in range(accounts)]
    days = [day.isoformat() for day in window.days]
    catalog = ([account, region, day] for account in account_ids for region in REGIONS for day in days[::2])

    started = time.perf_counter()
    existing = ExistingIndex(scheme, window)
    for values in catalog:  # what GetPartitions pages would yield, streamed
        existing.add(values)
    pairs = [(account, region) for account in account_ids for region in REGIONS]
    header = statement_header("trailkeeper", "cloudtrail")
    statements = clause_bytes = missing = 0
    for statement in pack_statements(header, ClauseBuilder(scheme, settings, window).missing_clauses(pairs, existing),
                                     settings.MAX_STATEMENT_BYTES):
        statements += 1
        body = len(statement.encode()) - len(header)
        clause_bytes += body
        missing += statement.count(" PARTITION (")
    seconds = time.perf_counter() - started
    expected = len(pairs) * len(window)
    queue.put(PlanFigures(
        accounts=accounts, regions=len(REGIONS), days=len(window), expected=expected, existing=expected - missing,
        missing=missing, seconds=seconds, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        statements=statements, clause_bytes=clause_bytes, statement_limit=settings.MAX_STATEMENT_BYTES,
    ))


def measure(accounts: int = 1_000, year: int = 2024) -> PlanFigures:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[PlanFigures] = context.Queue()
    child = context.Process(target=_plan, args=(accounts, year, queue))
    child.start()
    figures = queue.get()
    child.join()
    return figures


def report(figures: PlanFigures) -> list[str]:
    f = figures
    return [
        f"Plan + pack: {f.accounts:,} accounts × {f.regions} regions × {f.days} days = {f.expected:,} expected "
        f"partitions, {f.existing:,} already in the catalog, {f.missing:,} missing",
        f"  time {f.seconds:.2f} s on one core  ->  {f.per_second:,.0f} expected partitions / s / core"
        f"   (target >= 1,000,000)",
        f"  peak memory of the planning process {f.peak_rss_mb:,.0f} MB   (target <= 512 MB)",
        f"  ALTER TABLE statements produced          {f.statements:>10,}   (limit {f.statement_limit:,} B each)",
        f"  minimum ceil(clause bytes / 262,144)     {f.minimum_statements:>10,}   "
        f"(ratio {f.statements / f.minimum_statements:.3f})",
        f"  one statement per (account, day)         {f.one_per_account_day:>10,}   "
        f"({f.one_per_account_day / f.statements:,.0f}x more)   (target >= 100x)",
        f"  Glue BatchCreatePartition calls (100 ea) {f.glue_batch_calls:>10,}   "
        f"({f.glue_batch_calls / f.statements:,.1f}x more)",
    ]
