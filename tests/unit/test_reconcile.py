"""Plan and verify on moto: exactly the missing partitions become statements; verify catches gaps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.helpers import log_key, make_settings, put_logs
from tests.sqlcheck import parse_add_partitions
from trailkeeper import aws
from trailkeeper.errors import PartitionsStillMissing, PlanTooLarge, TableNotFound
from trailkeeper.inputs import RunRequest
from trailkeeper.reconcile import Clients, plan_run, verify_run

A1, A2 = "111111111111", "222222222222"
REQUEST = RunRequest(mode="backfill", start=dt.date(2024, 1, 30), end=dt.date(2024, 2, 1))


def folder_of(ref: tuple[str, str, str]) -> str:
    """The partition's own CloudTrail folder (make_settings: trail-bucket, AWSLogs/o-exampleorg1/)."""
    account, region, day = ref
    return f"s3://trail-bucket/{make_settings().logs_root}{account}/CloudTrail/{region}/{day.replace('-', '/')}/"


def add_to_glue(glue: Any, *refs: tuple[str, str, str], location: str | None = None) -> None:
    glue.batch_create_partition(
        DatabaseName="trailkeeper",
        TableName="cloudtrail",
        PartitionInputList=[
            {"Values": list(ref), "StorageDescriptor": {"Location": location or folder_of(ref)}} for ref in refs
        ],
    )


def planned_partitions(aws_clients: Clients, summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for index in range(summary["statements"]):
        sql = aws.get_text(aws_clients.s3, "results-bucket", f"{summary['statements_prefix']}{index}.sql")
        found += [
            (p.values["account"], p.values["region"], p.values["dt"]) for p in parse_add_partitions(sql).partitions
        ]
    return found


def apply_plan(aws_clients: Clients, summary: dict[str, Any]) -> None:
    """What the state machine's Athena step does: register every planned partition."""
    add_to_glue(aws_clients.glue, *planned_partitions(aws_clients, summary))


def test_plan_covers_every_account_region_and_day_minus_existing(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"), log_key(A1, "eu-west-1"), log_key(A2, "us-east-1"))
    add_to_glue(aws.glue, (A1, "us-east-1", "2024-01-31"), (A1, "us-east-1", "2024-03-01"))
    summary = plan_run(REQUEST, make_settings(), aws, "run-1")
    assert (summary["expected"], summary["existing"], summary["missing"], summary["statements"]) == (9, 1, 8, 1)
    assert (summary["accounts"], summary["regions"], summary["days"]) == (2, 2, 3)
    planned = planned_partitions(aws, summary)
    assert (A1, "us-east-1", "2024-01-31") not in planned
    assert sorted(planned) == sorted(
        (a, r, d)
        for a, r in [(A1, "us-east-1"), (A1, "eu-west-1"), (A2, "us-east-1")]
        for d in ("2024-01-30", "2024-01-31", "2024-02-01")
        if (a, r, d) != (A1, "us-east-1", "2024-01-31")
    )


def test_statement_locations_point_under_the_configured_bucket_and_prefix(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1", root="org/AWSLogs/o-exampleorg1/"))
    summary = plan_run(REQUEST, make_settings(TRAIL_PREFIX="org"), aws, "run-1")
    sql = aws_text(aws, summary, 0)
    for partition in parse_add_partitions(sql).partitions:
        day = partition.values["dt"].replace("-", "/")
        assert partition.location == f"s3://trail-bucket/org/AWSLogs/o-exampleorg1/{A1}/CloudTrail/us-east-1/{day}/"


def aws_text(aws_clients: Clients, summary: dict[str, Any], index: int) -> str:
    return aws.get_text(aws_clients.s3, "results-bucket", f"{summary['statements_prefix']}{index}.sql")


def test_second_plan_after_adding_finds_nothing_missing(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"))
    apply_plan(aws, plan_run(REQUEST, make_settings(), aws, "run-1"))
    again = plan_run(REQUEST, make_settings(), aws, "run-2")
    assert (again["missing"], again["statements"], again["existing"]) == (0, 0, 3)


def test_many_missing_partitions_pack_into_several_statements(aws: Clients) -> None:
    put_logs(aws.s3, *(log_key(f"{n:012d}", "us-east-1") for n in range(1, 41)))
    summary = plan_run(REQUEST, make_settings(MAX_STATEMENT_BYTES="4096"), aws, "run-1")
    assert summary["missing"] == 120 and summary["statements"] > 1
    assert len(planned_partitions(aws, summary)) == 120


def test_plan_reports_bucket_anomalies(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"), f"AWSLogs/o-exampleorg1/{A1}/CloudTrail/us-east-1') --/x")
    summary = plan_run(REQUEST, make_settings(), aws, "run-1")
    assert summary["anomalies"]["count"] == 1
    assert summary["anomalies"]["sample"][0]["kind"] == "unexpected_folder"
    assert summary["expected"] == 3


def test_verify_passes_when_every_planned_partition_exists(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"))
    summary = plan_run(REQUEST, make_settings(), aws, "run-1")
    apply_plan(aws, summary)
    assert verify_run(REQUEST, make_settings(), aws, "run-1")["added"] == 3


def test_verify_fails_naming_what_is_still_missing(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"))
    plan_run(REQUEST, make_settings(), aws, "run-1")
    add_to_glue(aws.glue, (A1, "us-east-1", "2024-01-30"))
    with pytest.raises(PartitionsStillMissing, match=r"2 of 3 expected .*111111111111/us-east-1/2024-01-31"):
        verify_run(REQUEST, make_settings(), aws, "run-1")


def test_plan_refuses_more_statements_than_one_execution_runs(aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trailkeeper.reconcile.MAX_STATEMENTS_PER_RUN", 2)
    put_logs(aws.s3, *(log_key(f"{n:012d}", "us-east-1") for n in range(1, 41)))
    with pytest.raises(PlanTooLarge, match="Run a backfill over the window"):
        plan_run(REQUEST, make_settings(MAX_STATEMENT_BYTES="4096"), aws, "run-1")


def test_dropped_table_is_a_clear_error(aws: Clients) -> None:
    aws.glue.delete_table(DatabaseName="trailkeeper", Name="cloudtrail")
    with pytest.raises(TableNotFound, match=r"trailkeeper\.cloudtrail"):
        plan_run(REQUEST, make_settings(), aws, "run-1")


def statement_texts(aws_clients: Clients, summary: dict[str, Any]) -> list[str]:
    return [
        aws.get_text(aws_clients.s3, "results-bucket", f"{summary['statements_prefix']}{i}.sql")
        for i in range(summary["statements"])
    ]


def test_a_partition_pointing_at_another_folder_is_relocated_and_reported(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"))
    add_to_glue(aws.glue, (A1, "us-east-1", "2024-01-31"), location="s3://trail-bucket/empty/")
    summary = plan_run(REQUEST, make_settings(), aws, "run-1")
    assert (summary["missing"], summary["relocated"], summary["statements"]) == (2, 1, 2)
    relocation = statement_texts(aws, summary)[-1]
    assert relocation == (
        "ALTER TABLE `trailkeeper`.`cloudtrail` PARTITION (account='111111111111', region='us-east-1', "
        f"dt='2024-01-31') SET LOCATION '{folder_of((A1, 'us-east-1', '2024-01-31'))}'"
    )
    assert summary["anomalies"]["sample"][0] == {
        "kind": "partition_location_repaired",
        "key": "111111111111/us-east-1/2024-01-31 pointed at s3://trail-bucket/empty/",
    }


def test_a_location_without_its_trailing_slash_is_the_same_folder(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"))
    ref = (A1, "us-east-1", "2024-01-31")
    add_to_glue(aws.glue, ref, location=folder_of(ref).rstrip("/"))
    assert plan_run(REQUEST, make_settings(), aws, "run-1")["relocated"] == 0


def test_verify_fails_while_a_partition_still_points_elsewhere(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"))
    add_to_glue(aws.glue, *((A1, "us-east-1", d) for d in ("2024-01-30", "2024-02-01")))
    add_to_glue(aws.glue, (A1, "us-east-1", "2024-01-31"), location="s3://trail-bucket/empty/")
    plan_run(REQUEST, make_settings(), aws, "run-1")
    with pytest.raises(PartitionsStillMissing, match="1 partitions still point away from their folder"):
        verify_run(REQUEST, make_settings(), aws, "run-1")
