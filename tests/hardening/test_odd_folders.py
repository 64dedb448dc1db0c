"""Names CloudTrail never writes below a region folder (day folders that are not calendar dates, odd months and
years, stray files, a control character that only EncodingType=url carries) in a deployed stack's night: every one
is a bucket anomaly in the execution's output and the report (keys sanitised), none is read, nothing crashes.

S3 keys are UTF-8 (S3 user guide, "Naming Amazon S3 objects"): a non-UTF-8 name cannot be in a bucket at all, so
its nearest S3 forms are planted instead: a control character and a literal percent-encoded byte.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hardening.harness import World, running_world
from tests.hardening.reliability import Recorder
from trailgen.generator import TrailSpec, account_id, odd_date_folder_keys
from trailkeeper import layout, sanitise

# No noise (digests, Config, folder markers): the date-folder anomalies alone fill the report's sample.
BASE_SPEC = TrailSpec(start=dt.date(2024, 2, 27), days=6, accounts=1, regions=("us-east-1",), noise=False)
ACCOUNT, REGION = account_id(0), "us-east-1"
PLANTS = sorted(plant.key for plant in odd_date_folder_keys(BASE_SPEC, ACCOUNT, REGION))
SPEC = dataclasses.replace(BASE_SPEC, plants=odd_date_folder_keys(BASE_SPEC, ACCOUNT, REGION))
NIGHT = {"time": "2024-03-02T01:30:00Z"}  # window 2024-02-28 .. 2024-03-03: February and March of 2024
REPORT_DAY = dt.date(2024, 3, 1)
REGION_FOLDER = f"{SPEC.logs_root}{ACCOUNT}/CloudTrail/{REGION}/"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


@pytest.fixture(scope="module")
def odd_night(world: World) -> dict[str, Any]:
    world.reset()
    result = world.run(NIGHT, "odd-folders")
    assert result.status == "SUCCEEDED", result.cause
    return {"output": result.output or {}, "report": world.text(layout.report_key(REPORT_DAY, layout.REPORT_TEXT))}


def test_every_odd_date_folder_name_is_really_in_the_trail_bucket(world: World) -> None:
    """Guards the test below: a plant that never reached the bucket would be 'reported' vacuously."""
    s3 = world.aws.client("s3")
    listed = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=world.trail_bucket, Prefix=REGION_FOLDER)
        for o in page.get("Contents", [])
    }
    assert set(PLANTS) <= listed


@pytest.mark.parametrize("key", PLANTS, ids=lambda key: repr(key[len(REGION_FOLDER) :].rsplit("/", 1)[0]))
def test_a_date_folder_name_cloudtrail_never_writes_is_a_bucket_anomaly_of_the_night(
    key: str, odd_night: dict[str, Any], reliability: Recorder
) -> None:
    output = odd_night["output"]
    # The anomaly names the odd level: the stray file itself, or the folder up to the odd segment.
    reported = [
        a
        for a in output["anomalies"]["sample"]
        if key.startswith(a["key"]) and len(a["key"]) > len(REGION_FOLDER) and a["kind"].startswith("unexpected_")
    ]
    reliability.record(
        "hostile keys",
        f"date folder {key[len(REGION_FOLDER) :].rsplit('/', 1)[0]!r}",
        f"{'reported as anomaly' if reported else 'NOT reported'}",
    )
    assert reported
    kind = "unexpected_object" if reported[0]["key"] == key else "unexpected_folder"
    assert reported[0]["kind"] == kind


def test_the_night_lists_each_date_level_once_and_its_report_shows_the_anomalies_sanitised(
    odd_night: dict[str, Any],
) -> None:
    output, report = odd_night["output"], odd_night["report"] or ""
    assert output["date_listings"] == 1 + 1 + 2  # the region, 2024, 2024/02 and 2024/03
    assert output["anomalies"]["count"] == len(PLANTS)
    assert f"Bucket anomalies (unexpected keys, ignored): {len(PLANTS)}" in report
    shown = [a["key"] for a in output["anomalies"]["sample"] if sanitise.text(a["key"]) in report]
    assert any("\x01" in key for key in shown) and "\x01" not in report  # shown, its control character gone
