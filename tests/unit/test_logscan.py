"""Finding unreadable log objects (trailkeeper.logscan): what counts as unreadable, and whose list a report uses."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from trailkeeper import layout
from trailkeeper.config import Settings
from trailkeeper.errors import UnreadableLogsNotExcludable, UnreadableLogsNotFound
from trailkeeper.logscan import (
    MAX_LISTED,
    MAX_NAMED,
    PARTITIONS_PER_BATCH,
    SCAN_CONCURRENCY,
    exclude_unreadable,
    listing_root,
    plan_log_scan,
    read_unreadable,
    scan_batch,
    unreadable_reason,
)
from trailkeeper.reconcile import Clients

READABLE = json.dumps({"Records": [{"eventVersion": "1.09", "userAgent": "x"}]}).encode()
DAY = dt.date(2024, 3, 2)


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("a.json.gz", gzip.compress(READABLE)[:-12], "truncated gzip"),
        ("a.json.gz", READABLE, "not gzip"),
        ("a.json.gz", gzip.compress(READABLE) + b"garbage", "data after the end of the gzip stream"),
        ("a.json.gz", gzip.compress(READABLE.replace(b'"x"', b'"\xc3\x28"')), "not UTF-8"),
        ("a.json.gz", gzip.compress(READABLE.replace(b'"x"', b'"\\udc80"')), "lone surrogate escape"),
        ("a.json.gz", gzip.compress(READABLE.replace(b'"x"', b'"\\ud83dx"')), "lone surrogate escape"),
        ("a.json.gz", gzip.compress(READABLE.replace(b'"x"', b'"\\uDC80"')), "lone surrogate escape"),
        ("a.json.gz", gzip.compress(b'{"Records": [{"eventVersion": "1.09", '), "not JSON"),
        ("a.json", b"\x1f\x8b not json", "not UTF-8"),
    ],
    ids=[
        "truncated",
        "not-gzip",
        "extra-garbage",
        "invalid-utf8",
        "lone-low",
        "lone-high",
        "lone-upper-hex",
        "not-json",
        "plain",
    ],
)
def test_an_unreadable_object_is_named_with_why(name: str, body: bytes, reason: str) -> None:
    assert unreadable_reason(name, body) == reason


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(READABLE),
        gzip.compress(READABLE[:10]) + gzip.compress(READABLE[10:]),  # two gzip members read as one stream
        gzip.compress(READABLE.replace(b'"x"', b'"\\ud83d\\ude00"')),  # a surrogate pair is a character
        gzip.compress(READABLE.replace(b'"x"', b'"\\\\udc80"')),  # an escaped backslash, then text
    ],
    ids=["plain", "two-members", "surrogate-pair", "escaped-backslash"],
)
def test_a_readable_object_is_not_named(body: bytes) -> None:
    assert unreadable_reason("a.json.gz", body) is None


def put_list(aws: Clients, execution: str, count: int) -> None:
    objects = [{"bucket": "trail", "key": f"AWSLogs/{i:04d}.json.gz", "reason": "not JSON"} for i in range(count)]
    document = {"execution": execution, "count": count, "objects": objects}
    aws.s3.put_object(Bucket="results-bucket", Key=layout.unreadable_key(DAY), Body=json.dumps(document).encode())


def test_a_report_names_the_unreadable_objects_its_own_execution_left_out_capped(aws: Clients) -> None:
    put_list(aws, "run-1", MAX_NAMED + 5)
    found = read_unreadable(aws.s3, "results-bucket", DAY, "run-1")
    assert found is not None and found.count == MAX_NAMED + 5 and len(found.objects) == MAX_NAMED
    assert found.objects[0] == ("s3://trail/AWSLogs/0000.json.gz", "not JSON")


def test_an_earlier_executions_list_does_not_apply(aws: Clients) -> None:
    put_list(aws, "run-1", 1)
    assert read_unreadable(aws.s3, "results-bucket", DAY, "run-2") is None
    assert read_unreadable(aws.s3, "results-bucket", DAY, None) is None


ACCOUNT = "111111111111"


def scanned(aws: Clients, settings: Settings, bodies: dict[str, bytes]) -> dict[str, object]:
    """Put `bodies` in the report day's partition folder, then plan, scan every batch and exclude, as the ASL does."""
    folder = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/03/02/"
    aws.glue.create_partition(
        DatabaseName="trailkeeper",
        TableName="cloudtrail",
        PartitionInput={
            "Values": [ACCOUNT, "us-east-1", DAY.isoformat()],
            "StorageDescriptor": {"Location": f"s3://trail-bucket/{folder}"},
        },
    )
    for name, body in bodies.items():
        aws.s3.put_object(Bucket="trail-bucket", Key=folder + name, Body=body)
    planned = plan_log_scan(settings, aws.s3, aws.glue, DAY, "run-1")
    for item in json.loads(aws.s3.get_object(Bucket="results-bucket", Key=planned["items_key"])["Body"].read()):
        scan_batch(settings, aws.s3, item, "run-1")
    return exclude_unreadable(settings, aws.s3, aws.glue, DAY, "run-1", {"Cause": "HIVE_CURSOR_ERROR: x"})


def test_the_day_is_queried_again_without_exactly_its_unreadable_objects(aws: Clients, settings: Settings) -> None:
    good, bad = f"{ACCOUNT}_CloudTrail_us-east-1_20240302T1200Z_a.json.gz", "b.json.gz"
    bodies = {good: gzip.compress(READABLE), bad: gzip.compress(READABLE)[:-12], "_SUCCESS": b"x", "empty.gz": b""}
    prepared = scanned(aws, settings, bodies)
    folder = f"s3://trail-bucket/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/03/02/"
    assert f"\"$path\" NOT IN ('{folder}{bad}')" in str(prepared["query"]) and prepared["unreadable"] == 1
    listed = json.loads(aws.s3.get_object(Bucket="results-bucket", Key=layout.unreadable_key(DAY))["Body"].read())
    assert (listed["execution"], listed["objects_scanned"], listed["count"]) == ("run-1", 2, 1)


def test_an_unreadable_object_whose_key_no_query_can_name_fails_with_one_line(aws: Clients, settings: Settings) -> None:
    with pytest.raises(UnreadableLogsNotExcludable, match=r"is not a CloudTrail log name .* move or delete it") as e:
        scanned(aws, settings, {"x'); DROP TABLE t; --\u202e.json.gz": b"not gzip"})
    assert "\n" not in str(e.value) and "\u202e" not in str(e.value)


def test_a_bad_data_failure_with_every_object_readable_says_so(aws: Clients, settings: Settings) -> None:
    with pytest.raises(UnreadableLogsNotFound, match=r"all 1 log objects .* read cleanly; re-run the day"):
        scanned(aws, settings, {"a.json.gz": gzip.compress(READABLE)})


def partition(aws: Clients, region: str, day: dt.date, location: str | None = None) -> str:
    """Register the (ACCOUNT, region, day) partition in Glue; its LOCATION comes back."""
    folder = f"s3://trail-bucket/AWSLogs/{ACCOUNT}/CloudTrail/{region}/{day:%Y/%m/%d}/"
    aws.glue.create_partition(
        DatabaseName="trailkeeper",
        TableName="cloudtrail",
        PartitionInput={
            "Values": [ACCOUNT, region, day.isoformat()],
            "StorageDescriptor": {"Location": location or folder},
        },
    )
    return location or folder


class NoListing:
    """An S3 client that can only write: planning must not list or read the trail bucket."""

    def __init__(self, s3: object) -> None:
        self.put_object = s3.put_object  # type: ignore[attr-defined]


def test_planning_lists_no_log_object_only_the_partitions_locations_in_batches(
    aws: Clients, settings: Settings
) -> None:
    regions = [f"eu-west-{i}" for i in range(1, 4)] + [f"us-east-{i}" for i in range(1, 3)] + ["ap-south-1"]
    locations = sorted(partition(aws, region, day) for region in regions for day in (DAY, DAY + dt.timedelta(days=1)))
    partition(aws, "us-west-2", DAY + dt.timedelta(days=2))  # not D or D+1
    planned = plan_log_scan(settings, NoListing(aws.s3), aws.glue, DAY, "run-1")
    items = json.loads(aws.s3.get_object(Bucket="results-bucket", Key=planned["items_key"])["Body"].read())
    assert [item["partitions"] for item in items] == [
        locations[i : i + PARTITIONS_PER_BATCH] for i in range(0, len(locations), PARTITIONS_PER_BATCH)
    ]
    assert [item["batch"] for item in items] == list(range(len(items)))
    assert planned == {
        "items_key": layout.log_scan_items_key("run-1"),
        "batches": len(items),
        "partitions": len(locations),
        "concurrency": SCAN_CONCURRENCY,
    }


@pytest.mark.parametrize(
    ("location", "root"),
    [
        ("s3://trail-bucket//AWSLogs///111111111111/x", "s3://trail-bucket/AWSLogs/111111111111/x/"),
        (" s3://trail-bucket/AWSLogs/ ", "s3://trail-bucket/AWSLogs/"),
        ("s3://trail-bucket/", "s3://trail-bucket/"),
        ("s3://trail-bucket/" + "k" * 1_022, "s3://trail-bucket/" + "k" * 1_022 + "/"),
        ("s3://trail-bucket/" + "k" * 1_023, None),  # with its "/", as long as a key: no object can be under it
        ("s3://Trail_Bucket/AWSLogs/", None),
        ("s3://trail-bucket", None),
        ("https://trail-bucket/AWSLogs/", None),
        ("", None),
    ],
    ids=["collapsed", "spaces", "whole-bucket", "longest", "key-long", "bad-bucket", "no-prefix", "not-s3", "empty"],
)
def test_a_location_is_planned_as_the_prefix_athena_lists_or_not_at_all(location: str, root: str | None) -> None:
    assert listing_root(location) == root


def test_a_batch_lists_each_of_its_partitions_and_counts_what_it_read(aws: Clients, settings: Settings) -> None:
    first, second = (partition(aws, region, DAY) for region in ("eu-west-1", "us-east-1"))
    bad = f"{ACCOUNT}_CloudTrail_us-east-1_20240302T1200Z_b.json.gz"
    for location, names in ((first, ["a.json.gz", "_hidden.json.gz", ".tmp/c.json.gz"]), (second, ["a.json.gz", bad])):
        for name in names:
            body = gzip.compress(READABLE)[:-12] if name == bad else gzip.compress(READABLE)
            aws.s3.put_object(Bucket="trail-bucket", Key=location.removeprefix("s3://trail-bucket/") + name, Body=body)
    aws.s3.put_object(Bucket="trail-bucket", Key=first.removeprefix("s3://trail-bucket/") + "empty.json.gz", Body=b"")
    counts = scan_batch(settings, aws.s3, {"batch": 7, "partitions": [first, second]}, "run-1")
    assert counts == {"batch": 7, "partitions": 2, "objects": 3, "unreadable": 1}
    result = json.loads(
        aws.s3.get_object(Bucket="results-bucket", Key=layout.log_scan_batch_key("run-1", 7))["Body"].read()
    )
    bad_key = second.removeprefix("s3://trail-bucket/") + bad
    assert result == counts | {"unreadable": [{"bucket": "trail-bucket", "key": bad_key, "reason": "truncated gzip"}]}


def put_result(aws: Clients, batch: int, objects: int, unreadable: list[str]) -> None:
    result = {
        "batch": batch,
        "partitions": 1,
        "objects": objects,
        "unreadable": [{"bucket": "trail-bucket", "key": key, "reason": "not JSON"} for key in unreadable],
    }
    aws.s3.put_object(
        Bucket="results-bucket", Key=layout.log_scan_batch_key("run-1", batch), Body=json.dumps(result).encode()
    )


def test_every_batch_result_is_added_up_however_many_batches(aws: Clients, settings: Settings) -> None:
    partition(aws, "us-east-1", DAY)
    batches = 1_100  # more than one listing page, and more than one round of parallel reads
    for batch in range(batches):
        put_result(aws, batch, 3, [f"AWSLogs/{ACCOUNT}/x/{batch}.json.gz"] if batch % 500 == 0 else [])
    prepared = exclude_unreadable(settings, aws.s3, aws.glue, DAY, "run-1", {"Cause": "HIVE_BAD_DATA: x"})
    listed = json.loads(aws.s3.get_object(Bucket="results-bucket", Key=layout.unreadable_key(DAY))["Body"].read())
    assert (listed["objects_scanned"], listed["count"], prepared["unreadable"]) == (3 * batches, 3, 3)
    assert [o["key"] for o in listed["objects"]] == [f"AWSLogs/{ACCOUNT}/x/{b}.json.gz" for b in (0, 1000, 500)]


def test_an_object_under_two_partitions_locations_is_listed_once(aws: Clients, settings: Settings) -> None:
    partition(aws, "us-east-1", DAY)
    put_result(aws, 0, 2, ["AWSLogs/a.json.gz"])
    put_result(aws, 1, 1, ["AWSLogs/a.json.gz"])
    prepared = exclude_unreadable(settings, aws.s3, aws.glue, DAY, "run-1", {})
    listed = json.loads(aws.s3.get_object(Bucket="results-bucket", Key=layout.unreadable_key(DAY))["Body"].read())
    assert (listed["objects_scanned"], listed["count"], len(listed["objects"]), prepared["unreadable"]) == (3, 1, 1, 1)


def test_more_unreadable_objects_than_any_exclusion_admits_are_counted_and_the_list_capped(
    aws: Clients, settings: Settings
) -> None:
    names = [f"AWSLogs/{i:06d}.json.gz" for i in range(2 * MAX_LISTED + 2)]
    for batch in range(3):
        put_result(aws, batch, 10**6, names[batch::3])
    with pytest.raises(UnreadableLogsNotExcludable, match=rf"{len(names)} unreadable log objects .* more than one"):
        exclude_unreadable(settings, aws.s3, aws.glue, DAY, "run-1", {})
    listed = json.loads(aws.s3.get_object(Bucket="results-bucket", Key=layout.unreadable_key(DAY))["Body"].read())
    assert listed["count"] == len(names) and listed["objects_scanned"] == 3 * 10**6
    assert [o["key"] for o in listed["objects"]] == names[:MAX_LISTED]
