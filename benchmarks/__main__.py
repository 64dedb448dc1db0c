"""Print every benchmark figure in one run: `make bench` (a benchmark, not a timed test)."""

from __future__ import annotations

import datetime as dt
import os
import platform

from benchmarks import baseline, planning

BACKFILL_ACCOUNTS = (1, 10, 100)
YEAR = 366


def main() -> None:
    print(
        f"trailkeeper benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}\n"
    )
    print("\n".join(planning.report(planning.measure())), end="\n\n", flush=True)
    print(
        "\n".join(baseline.report([baseline.measure(1_000, 250, 25, 14)], baseline.build_report_memory_mb())),
        end="\n\n",
        flush=True,
    )
    # Imported only now: the planning child process (spawned) re-imports this module, and its peak
    # memory must be the plan's, not moto's and DuckDB's.
    from benchmarks import cost, runtime

    nights = [runtime.nightly(accounts) for accounts in (1, 10, 100)]
    backfills = [runtime.backfill(accounts, YEAR) for accounts in BACKFILL_ACCOUNTS]
    print("Embedded runtime: one execution each (transitions include retries and the shards' child executions;")
    print("API calls by the product only)")
    print("\n".join(runtime.report_runs([*nights, *backfills])), end="\n\n", flush=True)

    print("\n".join(runtime.report_pruning(runtime.pruning())), end="\n\n", flush=True)
    print("\n".join(runtime.report_detection_scan(runtime.detection_scan())), end="\n\n", flush=True)

    one, _, hundred = nights
    backfill_one, _, backfill_hundred = backfills
    # 1,000 accounts: the 100-account run's figures per account, times 1,000 (an upper bound: part of each
    # count is fixed). A nightly run's transitions, invocations and its one query do not grow with accounts.
    nightly_flat = frozenset(
        {"transitions", "retries", "lambda_invocations", "athena", "sesv2", "query_bytes", "query_objects"}
    )
    costs = [
        cost.from_run(one, "nightly run, 1 account"),
        cost.from_run(hundred, "nightly run, 100 accounts"),
        cost.from_run(
            runtime.scaled(hundred, 1_000, "", flat=nightly_flat), "nightly run, 1,000 accounts (extrapolated)"
        ),
        cost.from_run(backfill_one, "one-year backfill, 1 account"),
        cost.from_run(backfill_hundred, "one-year backfill, 100 accounts"),
        cost.from_run(runtime.scaled(backfill_hundred, 1_000, ""), "one-year backfill, 1,000 accounts (extrap.)"),
    ]
    print("Cost in USD (us-east-1 prices; see benchmarks/cost.py for sources). 2 regions per account; Athena at")
    print("the 10 MB per-query minimum, as the generated logs are small: a real daily query costs $5/TB x 2 days")
    print("of the organization's CloudTrail volume.")
    print("\n".join(cost.report(costs)), end="\n", flush=True)
    print("\n".join(cost.listing_lines()), end="\n\n", flush=True)

    from benchmarks import integrity

    print("\n".join(integrity.report(integrity.comparisons(), integrity.throughput())))


if __name__ == "__main__":
    main()
