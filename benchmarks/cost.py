"""Dollar cost per nightly run and per one-year backfill, from measured counts and published prices.

Prices (us-east-1, USD): Step Functions Standard $0.025 per 1,000 state transitions (retries count) and
Athena $5 per TB scanned with a 10 MB minimum per query, DDL free (docs/aws-facts.md); Lambda arm64
$0.0000133334 per GB-second and $0.20 per million requests (aws.amazon.com/lambda/pricing); S3 Standard
$0.005 per 1,000 PUT/COPY/POST/LIST and $0.0004 per 1,000 GET (aws.amazon.com/s3/pricing); Glue Data Catalog
$1.00 per million requests (aws.amazon.com/glue/pricing; the monthly free million is ignored here).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.runtime import Run

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
