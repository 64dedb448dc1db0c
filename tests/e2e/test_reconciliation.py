"""The whole pipeline on the embedded runtime over generated logs: nothing mocked."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from localaws.runtime import EmbeddedAws
from tests.e2e.conftest import athena_rows, catalog, days, results_text, sent_emails
from trailgen.generator import CorruptObject, TrailSpec, account_id, generate
from trailkeeper import layout

pytestmark = pytest.mark.e2e
Stack = Callable[..., AbstractContextManager[EmbeddedAws]]

SPEC = TrailSpec(start=dt.date(2024, 3, 1), days=4, accounts=3, regions=("us-east-1", "eu-west-1"))
NIGHT = {"time": "2024-03-04T01:30:00Z"}  # reports on 2024-03-03; window 2024-03-01 .. 2024-03-05
WINDOW = days(dt.date(2024, 3, 1), dt.date(2024, 3, 5))


def expected_partitions(logs: Path) -> set[tuple[str, str, str]]:
    truth = generate(SPEC, logs)
    return {(a, r, d) for a, regions in truth.regions_by_account.items() for r in regions for d in WINDOW}


def test_first_night_adds_exactly_the_expected_partitions_at_their_folders(tmp_path: Path, stack: Stack) -> None:
    expected = expected_partitions(tmp_path)
    with stack(tmp_path) as aws:
        result = aws.run_execution(NIGHT, name="night-1")
        assert result.status == "SUCCEEDED", result.cause
        found = catalog(aws)
    assert set(found) == expected
    assert result.output["added"] == len(expected) and result.output["statements"] == 1
    account, region, day = sorted(expected)[0]
    assert found[(account, region, day)] == (
        f"s3://trailkeeper-local-trail/AWSLogs/o-exampleorg1/{account}/CloudTrail/{region}/{day.replace('-', '/')}/"
    )


def test_the_same_night_run_again_adds_nothing_and_sends_no_second_email(tmp_path: Path, stack: Stack) -> None:
    expected_partitions(tmp_path)
    with stack(tmp_path) as aws:
        first = aws.run_execution(NIGHT, name="night-1")
        again = aws.run_execution(NIGHT, name="night-1-again")
        emails = sent_emails(aws)
    assert first.status == again.status == "SUCCEEDED"
    assert (again.output["missing"], again.output["added"], again.output["statements"]) == (0, 0, 0)
    assert again.output["report"] == {"skipped": "already sent"}
    assert "AddPartitions" not in again.states and len(emails) == 1


def test_a_backfill_fills_a_gap_in_the_catalog(tmp_path: Path, stack: Stack) -> None:
    expected = expected_partitions(tmp_path)
    gap = sorted(expected)[:4]
    with stack(tmp_path) as aws:
        aws.run_execution(NIGHT, name="night-1")
        aws.client("glue").batch_delete_partition(
            DatabaseName="trailkeeper",
            TableName="cloudtrail",
            PartitionsToDelete=[{"Values": list(partition)} for partition in gap],
        )
        backfill = aws.run_execution({"start": WINDOW[0], "end": WINDOW[-1]}, name="backfill")
        found = set(catalog(aws))
    assert backfill.status == "SUCCEEDED"
    assert (backfill.output["added"], backfill.output["mode"]) == (4, "backfill")
    assert "PrepareReport" not in backfill.states
    assert found == expected


def test_a_dry_run_writes_statements_and_adds_nothing(tmp_path: Path, stack: Stack) -> None:
    expected = expected_partitions(tmp_path)
    with stack(tmp_path) as aws:
        result = aws.run_execution({"start": WINDOW[0], "end": WINDOW[-1], "dry_run": True}, name="dry")
        statement = results_text(aws, "runs/dry/shards/s00000/statements/0.sql")
        found = catalog(aws)
    assert result.status == "SUCCEEDED" and result.child_states[-1] == "ShardPlanned"
    assert (result.output["missing"], result.output["added"], found) == (len(expected), 0, {})
    assert statement is not None and statement.count(" PARTITION (") == len(expected)


def records_in_folder(logs: Path, day: str) -> int:
    folder = day.replace("-", "/")
    return sum(
        len(json.loads(gzip.decompress(p.read_bytes()))["Records"])
        for p in logs.rglob(f"*/CloudTrail/*/{folder}/*.json.gz")
    )


def test_a_query_cannot_see_a_day_that_is_not_registered(tmp_path: Path, stack: Stack) -> None:
    expected_partitions(tmp_path)
    with stack(tmp_path) as aws:
        before = athena_rows(aws, "SELECT count(*) AS n FROM trailkeeper.cloudtrail")
        aws.run_execution({"start": "2024-03-02", "end": "2024-03-02"}, name="one-day")
        registered = athena_rows(aws, "SELECT count(*) AS n FROM trailkeeper.cloudtrail WHERE dt = '2024-03-02'")
        unregistered = athena_rows(aws, "SELECT count(*) AS n FROM trailkeeper.cloudtrail WHERE dt = '2024-03-03'")
        everything = athena_rows(aws, "SELECT count(*) AS n FROM trailkeeper.cloudtrail")
    assert before == [["0"]] and unregistered == [["0"]]
    assert registered == everything == [[str(records_in_folder(tmp_path, "2024-03-02"))]]


def test_a_broken_log_object_is_left_out_of_the_report_and_named(tmp_path: Path, stack: Stack) -> None:
    spec = TrailSpec(
        start=SPEC.start,
        days=4,
        accounts=1,
        regions=("us-east-1",),
        plants=(CorruptObject(dt.date(2024, 3, 3), account_id(0), "us-east-1", "truncated"),),
    )
    truth = generate(spec, tmp_path)
    with stack(tmp_path) as aws:
        result = aws.run_execution(NIGHT, name="night-1")
        report = json.loads(results_text(aws, layout.report_json_key(dt.date(2024, 3, 3))) or "{}")
    assert result.status == "SUCCEEDED", result.cause
    assert [
        s for s in result.states if s in {"RunActivityQuery", "PlanLogScan", "ScanLogs", "RunActivityQueryExcluding"}
    ] == ["RunActivityQuery", "PlanLogScan", "ScanLogs", "RunActivityQueryExcluding"]
    [corrupt] = truth.corrupt_keys
    assert [o["uri"].rsplit("/", 1)[-1] for o in report["unreadable"]["objects"]] == [corrupt.rsplit("/", 1)[-1]]
