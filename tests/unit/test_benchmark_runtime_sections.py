"""Each `make bench` section that runs on the embedded runtime (or the moto server on 127.0.0.1) measures and
reports at a tiny size, so a change of the state machine's output or of the product's schemas breaks a test
instead of the bench. No timing is asserted. In `make test`, not `make check`: each starts a stack."""

from __future__ import annotations

from benchmarks import cost, integrity, runtime


def test_the_runtime_section_runs_a_tiny_night_and_backfill_and_costs_them() -> None:
    night = runtime.nightly(1)
    backfill = runtime.backfill(1, 2)

    assert (night.status, backfill.status) == ("SUCCEEDED", "SUCCEEDED")
    assert night.statements >= 1 and backfill.shards >= 1
    assert len(runtime.report_runs([night, backfill])) == 4
    costs = [cost.from_run(night, "night"), cost.from_run(runtime.scaled(backfill, 1_000, "backfill"), "x1000")]
    assert all(c.total > 0 for c in costs)
    assert len(cost.report(costs)) == 3


def test_the_pruning_section_reads_fewer_partitions_than_it_registered() -> None:
    pruning = runtime.pruning(accounts=1, regions=("us-east-1",), days=2)

    assert pruning.registered_partitions == 3  # 2 days and the next day's folder, for late events
    assert 0 < pruning.query_partitions < pruning.registered_partitions
    assert len(runtime.report_pruning(pruning)) == 4


def test_the_detection_scan_section_scans_no_more_partitions_with_the_catalog_than_without() -> None:
    scan = runtime.detection_scan(accounts=1)

    assert scan.rows > 0
    assert scan.report_partitions == scan.baseline_partitions
    assert len(runtime.report_detection_scan(scan)) == 4


def test_the_integrity_section_validates_a_tiny_clean_bucket_without_findings() -> None:
    comparison = integrity.compare(1, regions=("us-east-1",), days=1, run_cli=False)

    assert (comparison.pairs, comparison.trailkeeper_findings) == (1, 0)
    assert comparison.digests > 0 and comparison.logs > 0
    assert len(integrity.report([comparison], integrity.throughput(accounts=1, days=1))) == 7


def test_the_integrity_section_runs_against_a_server_with_s3_latency() -> None:
    comparison = integrity.compare(1, regions=("us-east-1",), days=1, run_cli=False, latency=0.4)

    assert (comparison.pairs, comparison.trailkeeper_findings) == (1, 0)
    assert comparison.label.endswith("+400 ms a request")
    # the listings, the digests, the logs, one after the other: each waited (unlike loopback, well under 1 s)
    assert comparison.batch_seconds >= 0.4 * 3
