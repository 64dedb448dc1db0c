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
    MAX_NAMED,
    exclude_unreadable,
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
        ("a.json.gz", gzip.compress(b'{"Records": [{"eventVersion": "1.09", '), "not JSON"),
        ("a.json", b"\x1f\x8b not json", "not UTF-8"),
    ],
    ids=["truncated", "not-gzip", "extra-garbage", "invalid-utf8", "lone-low", "lone-high", "not-json", "plain"],
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
