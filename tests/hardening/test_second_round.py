"""Issue 12's second round, through real executions on the embedded runtime: time bounds, the report day's window,
catalog drift, every published region shape, other trails' layouts, and configurations that match nothing.

Each test fails without its fix: an input dated today was accepted, LookbackDays=0 left the report day
unregistered, a drifted LOCATION was never noticed, `eusc-`/ISO regions were skipped as anomalies, another trail's
folders were ignored without a word, and a configuration matching nothing looked like a quiet night.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import botocore
import pytest

from localaws.patches.core import uncounted
from tests.hardening.harness import World, cause_message, failed_state, running_world
from tests.hardening.reliability import Recorder
from tests.helpers import template
from trailgen.generator import TrailSpec, account_id


@cache
def one_region_per_partition() -> tuple[str, ...]:
    """us-east-1, then the first region botocore lists for every other partition (eusc-, ISO, China, GovCloud)."""
    partitions = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())["partitions"]
    others = [sorted(r for r in p["regions"] if not r.endswith("-global"))[0] for p in partitions if p["id"] != "aws"]
    return ("us-east-1", *sorted(others))


SPEC = TrailSpec(
    start=dt.date(2024, 3, 1), days=4, accounts=1, regions=one_region_per_partition(), events_per_account_region_day=4
)
ACCOUNT = account_id(0)
DAY = dt.date(2024, 3, 3)
NIGHT = {"time": "2024-03-04T01:30:00Z"}  # reports on DAY; window 2024-03-01 .. 2024-03-05
WINDOW = (dt.date(2024, 3, 1), dt.date(2024, 3, 5))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


def nothing_written(world: World) -> bool:
    return world.result_keys() == [] and world.catalog() == [] and world.emails() == []


def folder(bucket: str, region: str, day: dt.date) -> str:
    return f"s3://{bucket}/{SPEC.logs_root}{ACCOUNT}/CloudTrail/{region}/{day:%Y/%m/%d}/"


# ------------------------------------------------------------------------------------------------ time bounds


def clock_relative_inputs() -> dict[str, tuple[dict[str, object], str]]:
    now = dt.datetime.now(dt.UTC)
    soon = (now + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "report_date today": ({"report_date": now.date().isoformat()}, "report_date"),
        "report_date tomorrow": ({"report_date": (now.date() + dt.timedelta(days=1)).isoformat()}, "report_date"),
        "scheduled time ten minutes ahead": ({"time": soon}, "time"),
        "backfill ending the day after tomorrow": (
            {"start": now.date().isoformat(), "end": (now.date() + dt.timedelta(days=2)).isoformat()},
            "end",
        ),
    }


@pytest.mark.parametrize("name", sorted(clock_relative_inputs()))
def test_a_report_day_that_has_not_ended_is_refused_at_validate_input_with_nothing_written(
    name: str, fresh: World, reliability: Recorder
) -> None:
    execution_input, field = clock_relative_inputs()[name]
    result = fresh.run(execution_input, "too-early")
    reliability.record("time bounds", name, f"{result.status} {result.error} at {failed_state(result)}")
    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert result.states == ["ValidateInput", "DescribeRejection", "InputRejected"]
    assert cause_message(result).startswith(f"{field}: ")
    assert nothing_written(fresh)


# ------------------------------------------------------------------------------------------------ the window


def test_lookback_days_zero_still_registers_and_verifies_the_report_days_partitions(
    fresh: World, reliability: Recorder
) -> None:
    with fresh.environment(LOOKBACK_DAYS="0"):
        result = fresh.run(NIGHT, "lookback-zero")
    problems = fresh.night_problems(DAY, DAY, WINDOW[1])
    reliability.record("time bounds", "LookbackDays=0", f"{result.status}, {len(problems)} problems")
    assert result.status == "SUCCEEDED", result.cause
    assert (result.output or {})["window"] == {"start": DAY.isoformat(), "end": WINDOW[1].isoformat()}
    assert problems == []


# ------------------------------------------------------------------------------------------------ regions


def test_every_partitions_region_shape_is_registered_and_reported_on(fresh: World, reliability: Recorder) -> None:
    result = fresh.run(NIGHT, "regions")
    registered = {region for _, region, _ in fresh.catalog()}
    reliability.record(
        "region names",
        f"{len(SPEC.regions)} partitions' regions ({', '.join(SPEC.regions)})",
        f"{len(registered)} registered, {(result.output or {}).get('anomalies', {}).get('count')} anomalies",
    )
    assert result.status == "SUCCEEDED", result.cause
    assert registered == set(SPEC.regions)
    assert fresh.night_problems(DAY, *WINDOW) == []


# ------------------------------------------------------------------------------------------------ catalog drift


def test_a_partition_pointing_at_another_folder_is_repaired_reported_and_its_logs_counted(
    fresh: World, reliability: Recorder
) -> None:
    """Someone with glue:UpdatePartition points the report day's partition at an empty folder before the night."""
    glue = fresh.aws.client("glue")
    database, table = fresh.aws.parameters["DatabaseName"], fresh.aws.parameters["TableName"]
    descriptor = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]
    decoy = f"s3://{fresh.trail_bucket}/{SPEC.logs_root}{ACCOUNT}/CloudTrail/us-east-1/2019/01/01/"
    with uncounted():
        glue.create_partition(
            DatabaseName=database,
            TableName=table,
            PartitionInput={
                "Values": [ACCOUNT, "us-east-1", DAY.isoformat()],
                "StorageDescriptor": {**descriptor, "Location": decoy},
            },
        )
    result = fresh.run(NIGHT, "drift")
    output = result.output or {}
    repairs = [a for a in output.get("anomalies", {}).get("sample", []) if a["kind"] == "partition_location_repaired"]
    with uncounted():
        location = glue.get_partition(
            DatabaseName=database, TableName=table, PartitionValues=[ACCOUNT, "us-east-1", DAY.isoformat()]
        )["Partition"]
    reliability.record(
        "catalog drift",
        "report day's partition pointed at an empty folder",
        f"{result.status}, relocated {output.get('relocated')}, {len(repairs)} reported",
    )
    assert result.status == "SUCCEEDED", result.cause
    assert output["relocated"] == 1
    assert repairs == [
        {"kind": "partition_location_repaired", "key": f"{ACCOUNT}/us-east-1/{DAY.isoformat()} pointed at {decoy}"}
    ]
    assert location["StorageDescriptor"]["Location"] == folder(fresh.trail_bucket, "us-east-1", DAY)
    assert fresh.night_problems(DAY, *WINDOW) == []  # the report counted the folder's logs


def test_a_second_night_after_a_repair_finds_nothing_to_repair(fresh: World, reliability: Recorder) -> None:
    first = fresh.run(NIGHT, "first")
    second = fresh.run({"report_date": DAY.isoformat()}, "second")
    reliability.record("catalog drift", "a night after a clean night", f"relocated {second.output.get('relocated')}")
    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    assert (second.output or {})["relocated"] == 0 and (second.output or {})["statements"] == 0


# ------------------------------------------------------------------------------------------------ layouts


OTHER = account_id(1)
OTHER_TRAILS = {  # name: (the other trail's logs root, the folder reported)
    "an account trail's AWSLogs/<account>/ beside the organization's": ("AWSLogs/", f"AWSLogs/{OTHER}/"),
    "another organization's AWSLogs/o-other/": ("AWSLogs/o-otherorg123/", "AWSLogs/o-otherorg123/"),
    "a trail whose prefix ends in AWSLogs (AWSLogs/AWSLogs/)": ("AWSLogs/AWSLogs/", "AWSLogs/AWSLogs/"),
}


@pytest.fixture
def other_trails(fresh: World) -> Iterator[World]:
    s3 = fresh.aws.client("s3")
    keys = [
        f"{root}{OTHER}/CloudTrail/us-east-1/{DAY:%Y/%m/%d}/{OTHER}_CloudTrail_us-east-1_"
        f"{DAY:%Y%m%d}T0100Z_OTHERTRAIL000000.json.gz"
        for root, _ in OTHER_TRAILS.values()
    ]
    body = gzip.compress(b'{"Records": []}')
    with uncounted():
        for key in keys:
            s3.put_object(Bucket=fresh.trail_bucket, Key=key, Body=body)
    try:
        yield fresh
    finally:
        with uncounted():
            for key in keys:
                s3.delete_object(Bucket=fresh.trail_bucket, Key=key)


@pytest.mark.parametrize("name", sorted(OTHER_TRAILS))
def test_another_trails_logs_in_the_bucket_are_reported_as_an_anomaly(
    name: str, other_trails: World, reliability: Recorder
) -> None:
    result = other_trails.run(NIGHT, "other-trail")
    folder_reported = OTHER_TRAILS[name][1]
    reported = [a for a in (result.output or {}).get("anomalies", {}).get("sample", []) if a["key"] == folder_reported]
    reliability.record("bucket layouts", name, f"{result.status}, {'reported' if reported else 'NOT reported'}")
    assert result.status == "SUCCEEDED", result.cause
    assert reported == [{"kind": "other_trail_layout", "key": folder_reported}]
    assert other_trails.night_problems(DAY, *WINDOW) == []  # the configured trail is reconciled as before


def test_aws_config_beside_an_organization_trail_is_not_another_trail(fresh: World) -> None:
    """Control Tower log buckets keep AWS Config under AWSLogs/<account>/Config/: normal, and the generator's noise."""
    config = [k for k in fresh.truth.noise_keys if "/Config/" in k and not k.startswith(SPEC.logs_root)]
    result = fresh.run(NIGHT, "config-beside")
    kinds = {a["kind"] for a in (result.output or {}).get("anomalies", {}).get("sample", [])}
    assert config and result.status == "SUCCEEDED"
    assert "other_trail_layout" not in kinds


# ------------------------------------------------------------------------------------------------ silent configurations


SILENT = {
    "wrong organization id": ({"ORGANIZATION_ID": "o-wrongorg999"}, "other_trail_layout"),
    "account allow-list matching nothing": ({"ACCOUNT_ALLOWLIST": "999999999999"}, "allow_lists_match_nothing"),
    "region allow-list matching nothing": ({"REGION_ALLOWLIST": "ap-south-2"}, "allow_lists_match_nothing"),
    "empty bucket (a prefix nothing is under)": ({"TRAIL_PREFIX": "nothing-here"}, "nothing_under_logs_root"),
    "digests only": ({"TRAIL_PREFIX": "digests-only"}, "no_cloudtrail_folders"),
}


@pytest.fixture
def digests_only(fresh: World) -> Iterator[World]:
    key = (
        f"digests-only/{SPEC.logs_root}{ACCOUNT}/CloudTrail-Digest/us-east-1/{DAY:%Y/%m/%d}/"
        f"{ACCOUNT}_CloudTrail-Digest_us-east-1_main-trail_us-east-1_{DAY:%Y%m%d}T010000Z.json.gz"
    )
    s3 = fresh.aws.client("s3")
    with uncounted():
        s3.put_object(Bucket=fresh.trail_bucket, Key=key, Body=gzip.compress(b"{}"))
    try:
        yield fresh
    finally:
        with uncounted():
            s3.delete_object(Bucket=fresh.trail_bucket, Key=key)


@pytest.mark.parametrize("name", sorted(SILENT))
def test_a_configuration_that_matches_nothing_is_an_alarm_in_the_output_and_a_metric(
    name: str, digests_only: World, reliability: Recorder
) -> None:
    variables, reason = SILENT[name]
    with digests_only.environment(**variables):
        result = digests_only.run(NIGHT, "silent")
    output = result.output or {}
    alarm = output.get("no_data_alarm")
    reliability.record(
        "silent configurations",
        name,
        f"{result.status}, accounts {output.get('accounts')}, alarm {alarm and alarm['reason']}",
    )
    assert result.status == "SUCCEEDED", result.cause
    assert output["accounts"] == 0 and alarm is not None and alarm["reason"] == reason
    assert accounts_discovered_metrics(digests_only)[-1:] == [0]


def test_a_healthy_night_raises_no_alarm_and_publishes_its_accounts(fresh: World) -> None:
    result = fresh.run(NIGHT, "healthy")
    assert result.status == "SUCCEEDED", result.cause
    assert (result.output or {})["no_data_alarm"] is None
    assert accounts_discovered_metrics(fresh)[-1:] == [1]


def accounts_discovered_metrics(world: World) -> list[int]:
    """AccountsDiscovered values PlanPartitions published (Powertools EMF lines in its log group), oldest first;
    the dimension and namespace are the ones the template's NoDataAlarm watches."""
    alarm = template()["Resources"]["NoDataAlarm"]["Properties"]
    values = []
    for line in world.aws.function_logs(world.aws.physical["PlanPartitionsFunction"]):
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        metrics = blob.get("_aws", {}).get("CloudWatchMetrics", []) if isinstance(blob, dict) else []
        for directive in metrics:
            names = [m["Name"] for m in directive.get("Metrics", [])]
            dimensions = {d: blob.get(d) for group in directive.get("Dimensions", []) for d in group}
            if (
                alarm["MetricName"] in names
                and directive.get("Namespace") == alarm["Namespace"]
                and dimensions == {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            ):
                value = blob[alarm["MetricName"]]
                values.append(int(value[0] if isinstance(value, list) else value))
    return values
