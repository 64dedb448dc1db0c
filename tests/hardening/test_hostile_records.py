"""Attacker-written CloudTrail values end inert in every report output (unreadable logs: test_unreadable_logs.py).

Every value of tests/fixtures/hostile_records.json is planted (generator HostileRecord) as the userAgent of an
event on the report day, the field that reaches the report. Routine activity is switched off so each
(account, region) row carries only planted agents, at most three per region (the query samples three), and the
previous day is empty: every hostile row is new and rendered. The `userIdentity.arn` values are also planted
where they really arrive, as a role session name.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hardening.harness import World, running_world
from tests.hardening.reliability import Recorder
from tests.helpers import FIXTURES, OUR_ATTRIBUTES, OUR_TAGS, HtmlTags
from trailgen.generator import HostileRecord, TrailSpec, account_id
from trailkeeper import layout

RECORDS: list[dict[str, str]] = json.loads((FIXTURES / "hostile_records.json").read_text())["records"]
BY_ID = {record["id"]: record for record in RECORDS}
REGION_NAMES = (
    "us-east-1",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "sa-east-1",
    "ca-central-1",
    "us-west-2",
    "ap-northeast-1",
    "eu-north-1",
    "ap-south-1",
)
DAY, BEFORE = dt.date(2024, 3, 2), dt.date(2024, 3, 1)
ACCOUNT = account_id(0)
ROW_CHARS = 110  # the renderer shows 120 characters of a cell: keep each row's sampled agents whole


def packed(values: list[str]) -> list[list[str]]:
    """Values grouped into rows of at most three (the query's sample) whose joined text fits ROW_CHARS."""
    rows: list[list[str]] = []
    for value in sorted(values, key=len, reverse=True):
        fits = [r for r in rows if len(r) < 3 and len(" | ".join([*r, value])) <= ROW_CHARS]
        if fits:
            fits[0].append(value)
        else:
            rows.append([value])
    return rows


ROWS = packed([r["value"] for r in RECORDS])
REGIONS = REGION_NAMES[: len(ROWS) + 1]
SESSION_REGION = REGIONS[-1]  # the session-name plants: a row of their own
PLANTS = (
    *(
        HostileRecord(DAY, ACCOUNT, region, "userAgent", value)
        for region, row in zip(REGIONS, ROWS, strict=False)
        for value in row
    ),
    *(
        HostileRecord(DAY, ACCOUNT, SESSION_REGION, "roleSessionName", r["value"].rsplit("/", 1)[-1])
        for r in RECORDS
        if r["field"] == "userIdentity.arn"
    ),
)
SPEC = TrailSpec(start=BEFORE, days=2, accounts=1, regions=REGIONS, events_per_account_region_day=0, plants=PLANTS)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def nightly(day: dt.date) -> dict[str, str]:
    return {"time": f"{day + dt.timedelta(days=1)}T01:30:00Z"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    assert len(ROWS) < len(REGION_NAMES), "one region per row of planted agents, plus one for session names"
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


@pytest.fixture(scope="module")
def report(world: World) -> dict[str, Any]:
    """Nights BEFORE (an empty day: the baseline) and DAY (every hostile row new); DAY's outputs."""
    world.reset()
    for day in (BEFORE, DAY):
        result = world.run(nightly(day), f"records-{day}")
        assert result.status == "SUCCEEDED", result.cause
    [email] = world.emails(DAY)
    files = {name: world.text(layout.report_key(DAY, name)) or "" for name in layout.REPORT_FILES}
    return {
        **files,
        "subject": email.subject,
        "recipients": email.recipients,
        "headers": email.headers,
        "html_sent": email.html,
        "activity": world.text(layout.activity_key(DAY)) or "",
        "output": result.output,
    }


def inert_text(value: str) -> str:
    """What the text part may show of a value: control, line-separator and format characters never survive."""
    return "".join(
        " " if unicodedata.category(c) in {"Cc", "Zl", "Zp"} else "" if unicodedata.category(c) == "Cf" else c
        for c in value
    )


def test_every_hostile_value_reached_the_saved_result(report: dict[str, Any]) -> None:
    """Guards the rendering tests: a value lost before rendering would be 'inert' vacuously."""
    activity = report["activity"]
    cells = [cell for row in csv.reader(io.StringIO(activity, newline="")) for cell in row]
    assert all(any(r["value"] in cell for cell in cells) for r in RECORDS)
    assert report["output"]["report"]["new_rows"] == len(REGIONS)  # one new row per region


@pytest.mark.parametrize("record_id", sorted(BY_ID))
def test_a_hostile_value_is_inert_in_the_html_text_csv_and_subject(
    record_id: str, report: dict[str, Any], reliability: Recorder
) -> None:
    value = BY_ID[record_id]["value"]
    shown = inert_text(value)
    rendered_in_html = html.escape(shown, quote=True) in report["report.html"]
    csv_cells = [cell for row in csv.reader(io.StringIO(report["new_activity.csv"], newline="")) for cell in row]
    # the row's sampled agents, and for a planted session name its sampled sessions too (values that differ
    # only in control characters show alike: "\t=1" and "\r=1")
    cells = [c for c in csv_cells if shown in c.removeprefix("'").split(" | ")]
    reliability.record(
        "hostile records",
        f"{record_id} ({BY_ID[record_id]['threat']})",
        "escaped/stripped/neutralised" if rendered_in_html else "NOT RENDERED",
    )
    assert rendered_in_html and value not in report["report.html"].replace(html.escape(value, quote=True), "")
    assert shown in report["report.txt"] and (value == shown or value not in report["report.txt"])
    assert cells and not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert value not in report["subject"]


def test_the_html_holds_only_the_renderers_own_tags_and_attributes(report: dict[str, Any]) -> None:
    for page in (report["report.html"], report["html_sent"]):
        parsed = HtmlTags()
        parsed.feed(page)
        assert parsed.tags <= OUR_TAGS
        assert parsed.attributes <= OUR_ATTRIBUTES


def test_the_text_part_has_no_control_or_bidi_characters_and_no_forged_header_line(report: dict[str, Any]) -> None:
    text = report["report.txt"]
    forbidden = [c for c in text if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]
    assert forbidden == []
    assert [line for line in text.split("\n") if line.lstrip().lower().startswith("bcc:")] == []


def test_new_activity_csv_values_have_no_control_or_bidi_characters(report: dict[str, Any]) -> None:
    cells = [cell for row in csv.reader(io.StringIO(report["new_activity.csv"], newline="")) for cell in row]
    assert [c for cell in cells for c in cell if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}] == []


def test_the_subject_and_recipients_come_from_configuration_and_counts_only(report: dict[str, Any]) -> None:
    assert re.fullmatch(r"trailkeeper: 2024-03-02 - [0-9a-z ,-]+", report["subject"]), report["subject"]
    assert report["recipients"] == ("security-team@example.com",)
    assert report["headers"] == ("From", "To", "Subject", "Date", "MIME-Version", "Content-Type")  # none forged


def test_formula_looking_cells_of_new_activity_csv_start_with_a_quote(report: dict[str, Any]) -> None:
    rows = list(csv.reader(io.StringIO(report["new_activity.csv"], newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert any(cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) for cell in cells)
    assert [cell for cell in cells if cell.startswith(FORMULA_STARTS)] == []
