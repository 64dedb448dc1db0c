"""Dollar cost per nightly run and per one-year backfill, from measured counts and published prices.

Prices (us-east-1, USD): Step Functions Standard $0.025 per 1,000 state transitions (retries count) and
Athena $5 per TB scanned with a 10 MB minimum per query, DDL free (docs/aws-facts.md); Lambda arm64
$0.0000133334 per GB-second and $0.20 per million requests (aws.amazon.com/lambda/pricing); S3 Standard
$0.005 per 1,000 PUT/COPY/POST/LIST and $0.0004 per 1,000 GET (aws.amazon.com/s3/pricing); Glue Data Catalog
$1.00 per million requests (aws.amazon.com/glue/pricing; the monthly free million is ignored here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from benchmarks.runtime import Run
from trailkeeper.discovery import date_listing_prefixes
from trailkeeper.inputs import parse_execution_input
from trailkeeper.integrity.sweep import DEFAULT_DAYS_PER_NIGHT

TRANSITION = 0.025 / 1_000
ATHENA_PER_BYTE = 5 / 1e12
ATHENA_MINIMUM_BYTES = 10 * 1_000_000
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
S3_WRITE_OR_LIST = 0.005 / 1_000
S3_READ = 0.0004 / 1_000
GLUE_REQUEST = 1.00 / 1e6


@dataclass(frozen=True)
class Cost:
    label: str
    transitions: float
    lambda_gb_seconds: float
    lambda_requests: float
    athena_bytes: float
    athena_queries: float
    s3_requests: float
    glue_requests: float

    @property
    def dollars(self) -> dict[str, float]:
        return {
            "Step Functions": self.transitions * TRANSITION,
            "Lambda": self.lambda_gb_seconds * LAMBDA_GB_SECOND + self.lambda_requests * LAMBDA_REQUEST,
            "Athena": max(self.athena_bytes, ATHENA_MINIMUM_BYTES * self.athena_queries) * ATHENA_PER_BYTE,
            # LIST/PUT are the dearer class; counting every S3 call at that price keeps this an upper bound.
            "S3": self.s3_requests * S3_WRITE_OR_LIST,
            "Glue": self.glue_requests * GLUE_REQUEST,
        }

    @property
    def total(self) -> float:
        return sum(self.dollars.values())


def from_run(run: Run, label: str) -> Cost:
    """What a measured (or extrapolated) execution costs."""
    return Cost(
        label=label,
        transitions=run.transitions + run.retries,
        lambda_gb_seconds=run.lambda_gb_seconds,
        lambda_requests=run.lambda_invocations,
        athena_bytes=run.query_bytes,
        athena_queries=1 if run.query_bytes else 0,
        s3_requests=run.api_calls.get("s3", 0),
        glue_requests=run.api_calls.get("glue", 0),
    )


def report(costs: list[Cost]) -> list[str]:
    for cost in costs:
        negative = {service: value for service, value in cost.dollars.items() if value < 0}
        if negative:
            raise ValueError(f"{cost.label}: a cost below zero {negative}; an extrapolation is wrong")
    columns = list(costs[0].dollars)
    lines = [f"  {'':44}" + "".join(f"{c:>16}" for c in columns) + f"{'total':>12}"]
    for cost in costs:
        lines.append(
            f"  {cost.label:44}" + "".join(f"{v:>16.6f}" for v in cost.dollars.values()) + f"{cost.total:>12.4f}"
        )
    return lines


ORGANIZATION_REGIONS = 17  # the regions enabled by default in an AWS account
SWEEP_DIGEST_GETS_PER_DAY = 26  # a day's 24 hourly digests and the next day's first two (integrity/sweep.py)


def _date_listings(lookback_days: int) -> tuple[int, int]:
    """LIST calls per pair of a nightly run's date-folder scan: a mid-month night's, and the most over four years."""
    counts = []
    for day in range(4 * 366):
        night = dt.datetime(2023, 12, 20, 1, 30, tzinfo=dt.UTC) + dt.timedelta(days=day)
        window = parse_execution_input(
            {"time": f"{night:%Y-%m-%dT%H:%M:%SZ}"}, lookback_days=lookback_days, now=night + dt.timedelta(days=2)
        )
        counts.append(len(date_listing_prefixes("AWSLogs/", "111111111111", "us-east-1", window.start, window.end)))
    return counts[26], max(counts)  # 2024-01-15: a night whose window stays in one month


def listing_lines(default_lookback: int = 3, max_lookback: int = 90) -> list[str]:
    """What the nightly date-folder scan (bucket anomalies) and the integrity sweep add, at organization scale."""
    typical, worst = _date_listings(default_lookback)
    _, widest = _date_listings(max_lookback)
    # A swept day: its log folder, and its two digest folders in one listing (integrity/sweep.py).
    sweep_lists, sweep_gets = 2 * DEFAULT_DAYS_PER_NIGHT, SWEEP_DIGEST_GETS_PER_DAY * DEFAULT_DAYS_PER_NIGHT
    lines = [
        f"Date-folder scan (bucket anomalies), LISTs per account x region a night = 1 + years + months touched: "
        f"{typical} typical, {worst} at most (LookbackDays {default_lookback}), "
        f"{widest} at LookbackDays {max_lookback}",
        f"Integrity sweep ({DEFAULT_DAYS_PER_NIGHT} older days a night): {sweep_lists} LISTs + ~{sweep_gets} digest "
        "GETs per account x region",
    ]
    for accounts in (100, 1_000):
        pairs = accounts * ORGANIZATION_REGIONS
        lines.append(
            f"  {accounts:,} accounts x {ORGANIZATION_REGIONS} regions: scan {pairs * typical:,} LISTs "
            f"${pairs * typical * S3_WRITE_OR_LIST:.3f} a night (worst {pairs * widest:,}, "
            f"${pairs * widest * S3_WRITE_OR_LIST:.3f}); sweep {pairs * sweep_lists:,} LISTs + "
            f"{pairs * sweep_gets:,} GETs ${pairs * (sweep_lists * S3_WRITE_OR_LIST + sweep_gets * S3_READ):.2f}"
        )
    return lines
