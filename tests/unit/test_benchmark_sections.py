"""Each `make bench` section that needs no embedded runtime measures and reports at a tiny size, so a change of
the product's schemas (a result column, a ledger field) breaks a test instead of the bench. No timing is
asserted: the figures checked are counts that follow from the sizes. The sections that run the embedded
runtime are test_benchmark_runtime_sections.py's (make test)."""

from __future__ import annotations

from benchmarks import baseline, integrity, planning


def test_the_baseline_section_compares_a_tiny_organizations_day_with_its_ledger() -> None:
    accounts, rows_per_account, churn, window = 2, 4, 1, 3

    figures = baseline.measure(accounts, rows_per_account, churn, window)

    assert figures.rows_per_day == accounts * rows_per_account
    # The ledger: the routine once, plus each earlier day's churn; today's churn is all that is new.
    assert figures.ledger_keys == accounts * (rows_per_account - churn + (window - 1) * churn)
    assert figures.new_rows == accounts * churn
    assert len(baseline.report([figures], baseline.build_report_memory_mb())) == 6


def test_the_planning_section_plans_a_one_account_year() -> None:
    figures = planning.measure(accounts=1)

    assert figures.expected == len(planning.REGIONS) * 366
    assert figures.existing == figures.missing == figures.expected // 2  # every other day is present
    assert figures.statements >= figures.shards
    assert len(planning.report(figures)) == 9


def test_the_integrity_throughput_section_verifies_every_log_and_digest_of_a_tiny_bucket() -> None:
    speed = integrity.throughput(accounts=1, days=1)

    assert speed.log_bytes > 0
    assert speed.digests > 0
