"""Issue 12, "a report day can be frozen or lost": no single record may stop a day's report.

Through real executions on the embedded runtime. Each test fails without its fix: a user agent longer than the
csv module's 131,072-character limit stopped BuildReport with `BaselineUnreadable` for the fresh result, and the
next night then "established" a baseline — a two-day blind spot from one record; and a log delivered after the
night ran was never counted, even on `resend_report` (the first saved result was kept forever).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from localaws.patches.core import uncounted
from tests.hardening.harness import World, running_world
from tests.hardening.reliability import Recorder
from trailgen.generator import HostileRecord, TrailSpec, account_id, generate
from trailkeeper import layout
from trailkeeper.report.activity import MAX_CELL_CHARS, VALUE_CHARS

ACCOUNT = account_id(0)
BEFORE, DAY, AFTER = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
LONG_AGENT = "long-agent/" + "A" * (2 * 131_072)  # twice the csv module's default field limit
SPEC = TrailSpec(
    start=BEFORE,
    days=3,
    accounts=1,
    regions=("us-east-1",),
    events_per_account_region_day=2,
    plants=(HostileRecord(DAY, ACCOUNT, "us-east-1", "userAgent", LONG_AGENT),),
)


def nightly(day: dt.date) -> dict[str, str]:
    return {"time": f"{day + dt.timedelta(days=1)}T01:30:00Z"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


def test_a_field_longer_than_the_csv_limit_neither_stops_the_report_nor_resets_the_baseline(
    fresh: World, tmp_path: Path, reliability: Recorder
) -> None:
    results = {day: fresh.run(nightly(day), f"long-field-{day}") for day in (BEFORE, DAY, AFTER)}
    after = results[AFTER]
    baseline = (after.output or {}).get("report", {}).get("baseline_state")
    reliability.record(
        "hostile records",
        f"a {len(LONG_AGENT):,}-character user agent",
        f"{', '.join(r.status for r in results.values())}; next night's baseline {baseline}",
    )
    assert [r.status for r in results.values()] == ["SUCCEEDED"] * 3, [r.cause for r in results.values()]
    saved = fresh.text(layout.activity_key(DAY)) or ""
    cells = [cell for row in csv.reader(io.StringIO(saved, newline="")) for cell in row]
    assert max(map(len, cells)) <= MAX_CELL_CHARS
    assert any(LONG_AGENT[:VALUE_CHARS] in cell and LONG_AGENT[: VALUE_CHARS + 1] not in cell for cell in cells)
    assert baseline == "compared" and len(fresh.emails()) == 3


def test_late_logs_make_a_re_run_record_a_revision_and_say_so_and_a_same_data_re_run_keeps_it(
    fresh: World, tmp_path: Path, reliability: Recorder
) -> None:
    first = fresh.run(nightly(DAY), "late-first-night")
    assert first.status == "SUCCEEDED", first.cause
    late = generate(
        TrailSpec(
            start=DAY, days=1, accounts=1, regions=("us-east-1",), events_per_account_region_day=3, noise=False, seed=99
        ),
        tmp_path,
    )
    s3 = fresh.aws.client("s3")
    # Another object name than any the night saw: CloudTrail names each object with a unique suffix.
    late_keys = {key: key.replace(".json.gz", "late.json.gz") for key in late.log_keys}
    with uncounted():
        for key, name in late_keys.items():
            s3.put_object(Bucket=fresh.trail_bucket, Key=name, Body=(tmp_path / key).read_bytes())
    try:
        rerun = {"report_date": DAY.isoformat(), "resend_report": True}
        revised, again = fresh.run(rerun, "late-re-run"), fresh.run(rerun, "late-same-data")
    finally:
        with uncounted():
            for name in late_keys.values():
                s3.delete_object(Bucket=fresh.trail_bucket, Key=name)
    flags = [(r.output or {}).get("report", {}).get("revised") for r in (first, revised, again)]
    reliability.record(
        "hostile records",
        "logs delivered after the night ran, then the day re-run twice",
        f"{', '.join(r.status for r in (first, revised, again))}; revised {flags}",
    )
    assert [r.status for r in (revised, again)] == ["SUCCEEDED"] * 2, [revised.cause, again.cause]
    assert flags == [False, True, False]
    subjects = [email.subject for email in fresh.emails(DAY)]
    # The mark is on the email that brings the new events; a resend of unchanged data is an ordinary resend.
    assert [subject.startswith("REVISED ") for subject in subjects] == [False, True, False]
    versions = s3.list_object_versions(Bucket=fresh.results_bucket, Prefix=layout.activity_key(DAY))["Versions"]
    assert len(versions) == 2  # the first result kept, the revision current; the same-data re-run wrote nothing
