"""The benchmark's cost table extrapolates from measured per-account figures and never prints a cost below zero."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.cost import ORGANIZATION_REGIONS, S3_WRITE_OR_LIST, from_run, listing_lines, report
from benchmarks.runtime import Run, scaled

# Two measured nights whose GB-seconds and S3 calls shrank with accounts (noise): a line through them goes
# negative at 1,000 accounts, which is what the table once printed.
SMALL = Run(
    label="10",
    accounts=10,
    status="SUCCEEDED",
    transitions=16,
    retries=0,
    api_calls={"s3": 40, "glue": 5},
    lambda_invocations=6,
    lambda_gb_seconds=3.0,
    statements=1,
    partitions_added=20,
    seconds=1.0,
)
LARGE = dataclasses.replace(SMALL, label="100", accounts=100, api_calls={"s3": 30, "glue": 5}, lambda_gb_seconds=0.5)


def test_a_run_scaled_to_more_accounts_costs_per_account_what_the_measured_run_did() -> None:
    big = scaled(LARGE, 1_000, "", flat=frozenset({"transitions", "lambda_invocations"}))
    assert big.lambda_gb_seconds == pytest.approx(5.0) and big.api_calls == {"s3": 300, "glue": 50}
    assert (big.transitions, big.lambda_invocations) == (16, 6)
    assert all(value >= 0 for value in from_run(big, "1,000").dollars.values())


def test_the_table_refuses_a_cost_below_zero() -> None:
    negative = dataclasses.replace(LARGE, lambda_gb_seconds=-1.0)
    with pytest.raises(ValueError, match="below zero"):
        report([from_run(SMALL, "ok"), from_run(negative, "noisy line")])


def test_the_listing_lines_price_the_date_folder_scan_and_the_sweep_from_their_call_counts() -> None:
    lines = listing_lines()
    assert "3 typical, 5 at most (LookbackDays 3), 8 at LookbackDays 90" in lines[0]
    pairs = 1_000 * ORGANIZATION_REGIONS
    assert f"scan {pairs * 3:,} LISTs ${pairs * 3 * S3_WRITE_OR_LIST:.3f} a night" in lines[-1]
    assert len(lines) == 4
