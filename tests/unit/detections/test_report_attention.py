"""The report with detections: attention first, risk order, and every CloudTrail value escaped."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest

from tests.helpers import HtmlTags
from tests.unit.report.report_kit import hostile_records, row
from trailkeeper.detections.attention import attention
from trailkeeper.detections.evaluate import Hit
from trailkeeper.report.activity import ActivityRow
from trailkeeper.report.diff import diff_activity
from trailkeeper.report.render import RenderedReport, render_report

DAY = dt.date(2024, 1, 5)
HIT = (Hit("cloudtrail-tampering", 1, 1, "2024-01-05T03:00:00Z"),)


def _render(rows: list[ActivityRow], max_rows: int = 200) -> RenderedReport:
    diff = diff_activity(rows, [[]])
    return render_report(
        diff,
        report_day=DAY,
        reconciliation={},
        max_rows=max_rows,
        full_result_uri="s3://r/x.csv",
        title="trailkeeper",
        found=attention(rows, (), DAY),
    )


def test_attention_section_precedes_the_activity_table() -> None:
    rows = [row(eventname="AListing"), row(eventname="StopLogging", eventsource="cloudtrail.amazonaws.com", hits=HIT)]

    html = _render(rows).html

    assert html.index('class="attention"') < html.index("<table")


def test_new_activity_is_in_risk_order_and_a_hit_survives_max_rows() -> None:
    rows = [row(eventname=f"Get{i:02d}") for i in range(5)] + [
        row(eventname="StopLogging", eventsource="cloudtrail.amazonaws.com", hits=HIT)
    ]

    text = _render(rows, max_rows=1).text

    new_section = text[text.index("== New activity") :]
    assert "StopLogging" in new_section and "Get00" not in new_section
    assert "and 5 more new activity rows" in text


def test_each_account_and_principal_heading_appears_once_where_its_riskiest_row_is() -> None:
    a, b = "111111111111", "222222222222"
    alice, bob = f"arn:aws:iam::{a}:user/alice", f"arn:aws:iam::{a}:user/bob"
    # risk order interleaves them: a/alice's hit, a/bob's write, b's write, then a/alice's read
    rows = [
        row(account=a, principal=alice, eventname="ListUsers"),
        row(account=b, principal=f"arn:aws:iam::{b}:user/carol", eventname="CreateUser", writes=1),
        row(account=a, principal=bob, eventname="AttachUserPolicy", writes=1),
        row(account=a, principal=alice, eventsource="cloudtrail.amazonaws.com", eventname="StopLogging", hits=HIT),
    ]

    rendered = _render(rows)

    new = rendered.text[rendered.text.index("== New activity") : rendered.text.index("== Integrity")]
    headings = [line.strip() for line in new.splitlines() if line.lstrip().startswith(("Account ", "Principal "))]
    assert headings == [
        f"Account {a}",
        f"Principal {alice}",
        f"Principal {bob}",
        f"Account {b}",
        f"Principal arn:aws:iam::{b}:user/carol",
    ]
    assert new.index("StopLogging") < new.index("ListUsers") < new.index("AttachUserPolicy") < new.index("CreateUser")
    html = rendered.html[rendered.html.index("<table") :]
    assert (html.count('<tr class="account">'), html.count('<tr class="principal">')) == (2, 3)
    assert (
        html.index("StopLogging") < html.index("ListUsers") < html.index("AttachUserPolicy") < html.index("CreateUser")
    )


@pytest.mark.parametrize("record", hostile_records(), ids=lambda r: r["id"])
def test_every_cloudtrail_value_in_the_attention_section_is_escaped(record: dict[str, str]) -> None:
    hostile = record["value"]
    rows = [replace(row(hits=HIT), principal=hostile, eventname=hostile, region=hostile)]

    rendered = _render(rows)

    start = rendered.html.index('class="attention"')
    attention_html = rendered.html[start : rendered.html.index("<h2>", start)]  # up to the next section
    tags = HtmlTags()
    tags.feed(attention_html)
    assert tags.tags <= {"h2", "ul", "li"}
    assert tags.attributes <= {"class", "style"}  # no tag came from CloudTrail
    assert hostile not in rendered.subject
    assert "\r" not in rendered.subject and "\n" not in rendered.subject


def test_the_text_twin_has_the_html_sections_in_the_same_order() -> None:
    b, c = "222222222222", "333333333333"
    # yesterday b was quiet after c and a were seen; today a new row, c silent, b back, eu-west-1 first seen
    rows = [row(), row(account=b), row(region="eu-west-1", hits=HIT)]
    diff = diff_activity(rows, [[row()], [row(), row(account=b), row(account=c)]])
    rendered = render_report(
        diff,
        report_day=DAY,
        reconciliation={},
        full_result_uri="s3://r/x.csv",
        title="t",
        found=attention(rows, (), DAY),
    )

    def heading(title: str) -> str:
        return re.split(r":| \(", title, maxsplit=1)[0]

    text = [heading(h) for h in re.findall(r"^== (.*) ==$", rendered.text, flags=re.M)]
    html = [heading(h) for h in re.findall(r"<h2[^>]*>(.*?)</h2>", rendered.html)]
    assert text == html
    assert text == [
        "Needs attention",
        "First seen",
        "Silent",
        "Resumed logging",
        "New activity",
        "Integrity",
        "Reconciliation",
    ]
