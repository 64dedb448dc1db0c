"""Issue 12: an unreadable log object no longer stops the day's report; every failure cause is one line.

Through real executions on the embedded runtime. Without the fix, one corrupt object (a truncated gzip, bytes
that are not UTF-8, a lone surrogate escape, text that is not JSON, data after the gzip stream) failed the
activity query of every day whose two partitions held it, with the 4 KB GetQueryExecution response as the
failure notification's cause. Now the report goes out without the object, names it, and counts the other events.
"""

from __future__ import annotations

import datetime as dt
import json
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from localaws.patches.core import uncounted
from tests.hardening.harness import World, failed_state, running_world
from tests.hardening.reliability import Recorder
from trailgen.generator import CorruptKind, CorruptObject, TrailSpec, account_id, generate
from trailkeeper import layout

ACCOUNT = account_id(0)
REGIONS = ("us-east-1", "eu-west-1")
DAY = dt.date(2024, 3, 2)
SPEC = TrailSpec(start=DAY, days=1, accounts=1, regions=REGIONS, events_per_account_region_day=3, noise=False)


def nightly(day: dt.date) -> dict[str, str]:
    return {"time": f"{day + dt.timedelta(days=1)}T01:30:00Z"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


def corrupt_object(world: World, kind: CorruptKind, folder: Path) -> str:
    """Put one unreadable object of `kind` into the report day's us-east-1 folder; its key comes back."""
    plant = CorruptObject(DAY, ACCOUNT, REGIONS[0], kind)
    spec = TrailSpec(
        start=DAY,
        days=1,
        accounts=1,
        regions=REGIONS[:1],
        events_per_account_region_day=0,
        noise=False,
        plants=(plant,),
    )
    [key] = generate(spec, folder).corrupt_keys
    with uncounted():
        world.aws.client("s3").put_object(Bucket=world.trail_bucket, Key=key, Body=(folder / key).read_bytes())
    return key


@pytest.mark.parametrize("kind", typing.get_args(CorruptKind))
def test_the_report_goes_out_without_an_unreadable_log_object_and_names_it(
    kind: CorruptKind, fresh: World, tmp_path: Path, reliability: Recorder
) -> None:
    key = corrupt_object(fresh, kind, tmp_path)
    try:
        result = fresh.run(nightly(DAY), f"unreadable-{kind.replace('_', '-')}")
    finally:
        with uncounted():
            fresh.aws.client("s3").delete_object(Bucket=fresh.trail_bucket, Key=key)
    report = json.loads(fresh.text(layout.report_json_key(DAY)) or "null")
    unreadable = (report or {}).get("unreadable")
    reliability.record(
        "hostile records",
        f"unreadable log object: {kind}",
        f"{result.status}; report names {None if unreadable is None else unreadable['count']} unreadable object(s)",
    )
    assert result.status == "SUCCEEDED", (failed_state(result), result.cause)
    uri = f"s3://{fresh.trail_bucket}/{key}"
    assert unreadable is not None and unreadable["count"] == 1 and [o["uri"] for o in unreadable["objects"]] == [uri]
    assert fresh.saved_activity_matches_truth(DAY)  # every other event counted, the unreadable object's none
    [email] = fresh.emails(DAY)
    assert "1 UNREADABLE LOG OBJECT" in email.subject
    assert key.rsplit("/", 1)[-1] in email.text
    listed = json.loads(fresh.text(layout.unreadable_key(DAY)) or "{}")
    assert [(o["bucket"], o["key"]) for o in listed["objects"]] == [(fresh.trail_bucket, key)]
    assert fresh.notifications() == []


def test_a_failure_notification_carries_a_one_line_cause(fresh: World, reliability: Recorder) -> None:
    fresh.fail_lambda("BuildReportFunction", lambda: RuntimeError("the ledger is gone\n  at line 2\n" + "x" * 5_000))
    result = fresh.run(nightly(DAY), "one-line-cause")
    [notification] = fresh.notifications()
    cause = notification.split("Cause: ", 1)[-1]
    reliability.record("hostile records", "a 5 KB multi-line error", f"{result.status}; cause of {len(cause)} chars")
    assert result.status == "FAILED"
    assert "\n" not in cause and len(cause) <= 601 and cause.startswith("the ledger is gone at line 2")
    assert "\n" not in (result.cause or "") and (result.cause or "").startswith("the ledger is gone")
