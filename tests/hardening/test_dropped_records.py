"""Records no query can count are counted by reason (issue 12), through a real nightly execution.

Log files of the report day's folder, which night D's integrity validation reads, are rewritten (as an attacker or a
broken forwarder would: their digests no longer match) into the odd shapes CloudTrailInputFormat yields no row for,
and generated CloudTrail records get an eventTime that is not a timestamp or is far from their folder's day. Each
count must reach BuildReport's output (the execution output), report.json and the email. Without the fix the
execution succeeded and every one of these records vanished without a trace.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from localaws.patches.core import uncounted
from tests.hardening.harness import World, running_world
from tests.hardening.reliability import Recorder
from trailgen.generator import TrailSpec, account_id
from trailkeeper import dropped, layout

DAY = dt.date(2024, 3, 2)
SPEC = TrailSpec(
    start=dt.date(2024, 3, 1), days=3, accounts=1, regions=("us-east-1", "eu-west-1"), events_per_account_region_day=8
)
ACCOUNT = account_id(0)
NIGHT = {"time": "2024-03-03T01:30:00Z"}  # reports on DAY, validates night DAY

# Each rewritten log: (what it holds, the records of the original log -> the new document).
SHAPES: dict[str, Any] = {
    "a top-level array": lambda records: records,
    "lower-case records": lambda records: {"records": records},
    "Records null": lambda records: {"Records": None},
    "Records an object": lambda records: {"Records": records[0]},
}
# Records of one more log, rewritten eventTime by eventTime: (value, reason).
TIMES: dict[str, tuple[Any, str]] = {
    "eventTime null": (None, dropped.EVENT_TIME_NOT_TIMESTAMP),
    "eventTime a number": (1709337600, dropped.EVENT_TIME_NOT_TIMESTAMP),
    "eventTime in another format": ("Sat, 02 Mar 2024 10:00:00 GMT", dropped.EVENT_TIME_NOT_TIMESTAMP),
    "eventTime a month before the folder's day": ("2024-02-02T10:00:00Z", dropped.FAR_FROM_FOLDER_DAY),
    "eventTime two days after the folder's day": ("2024-03-04T10:00:00Z", dropped.FAR_FROM_FOLDER_DAY),
}


def day_logs(world: World) -> list[str]:
    """The log files of DAY's folders (three per region), which night DAY's integrity validation reads."""
    s3 = world.aws.client("s3")
    keys = []
    with uncounted():
        for region in SPEC.regions:
            prefix = f"{SPEC.logs_root}{ACCOUNT}/CloudTrail/{region}/{DAY:%Y/%m/%d}/"
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=world.trail_bucket, Prefix=prefix)
            keys += sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    return keys


def rewrite(world: World, key: str, edit: Any) -> int:
    """Replace a log's document by edit(its records); the number of records it held."""
    s3 = world.aws.client("s3")
    with uncounted():
        records = json.loads(gzip.decompress(s3.get_object(Bucket=world.trail_bucket, Key=key)["Body"].read()))[
            "Records"
        ]
        s3.put_object(Bucket=world.trail_bucket, Key=key, Body=gzip.compress(json.dumps(edit(records)).encode()))
    return len(records)


def with_times(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One of the log's generated records per planted eventTime."""
    return {"Records": [dict(records[i % len(records)], eventTime=v) for i, (v, _) in enumerate(TIMES.values())]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


@pytest.fixture(scope="module")
def night(world: World) -> dict[str, Any]:
    world.reset()
    logs = day_logs(world)
    assert len(logs) > len(SHAPES), "a log of the day per odd shape, and one for the eventTimes"
    for key, edit in zip(logs, SHAPES.values(), strict=False):
        rewrite(world, key, edit)
    rewrite(world, logs[len(SHAPES)], with_times)
    result = world.run(NIGHT, "dropped")
    assert result.status == "SUCCEEDED", result.cause
    [email] = world.emails(DAY)
    return {
        "output": (result.output or {})["report"]["dropped"],
        "report.json": json.loads(world.text(layout.report_json_key(DAY)) or "{}").get("dropped"),
        "email": email.text,
        "html": email.html,
    }


EXPECTED = {
    dropped.NOT_RECORDS_OBJECT: len(SHAPES),
    **{reason: sum(r == reason for _, r in TIMES.values()) for reason in dropped.QUERY_REASONS},
}


def test_every_dropped_record_is_counted_by_reason_in_the_execution_output_and_report_json(
    night: dict[str, Any], reliability: Recorder
) -> None:
    counts = night["output"]
    for name in SHAPES:
        reliability.record("dropped records", name, f"not_records_object={counts.get(dropped.NOT_RECORDS_OBJECT)}")
    for name, (_, reason) in TIMES.items():
        reliability.record("dropped records", name, f"{reason}={counts.get(reason)}")
    assert night["output"] == night["report.json"] == EXPECTED


def test_the_email_shows_each_reasons_count(night: dict[str, Any]) -> None:
    for reason, count in EXPECTED.items():
        assert f"{dropped.WORDING[reason]}: {count:,}" in night["email"]
    assert "Dropped records" in night["html"]


def test_a_summary_from_before_the_count_shows_the_objects_not_counted_never_zero(
    fresh: World, reliability: Recorder
) -> None:
    assert fresh.run(NIGHT, "dropped-first").status == "SUCCEEDED"
    key = layout.integrity_summary_key(DAY)
    summary = json.loads(fresh.text(key) or "{}")
    for pair in summary["pairs"]:
        del pair["not_records_objects"]  # as the version before this count wrote it
    fresh.put_text(key, json.dumps(summary))
    result = fresh.run({"report_date": DAY.isoformat(), "resend_report": True}, "dropped-old-summary")
    counts = (result.output or {}).get("report", {}).get("dropped", {})
    reliability.record(
        "dropped records",
        "night validated by an older version (no count)",
        f"not_records_object={counts.get(dropped.NOT_RECORDS_OBJECT)}",
    )
    assert result.status == "SUCCEEDED", result.cause
    assert counts == {**EXPECTED, dropped.NOT_RECORDS_OBJECT: None}
    assert f"{dropped.WORDING[dropped.NOT_RECORDS_OBJECT]}: {dropped.NOT_COUNTED}" in fresh.emails(DAY)[-1].text
