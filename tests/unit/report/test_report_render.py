"""The report renderers: hostile CloudTrail values stay inert in subject, HTML, text and CSV; caps are exact."""

from __future__ import annotations

import datetime as dt
import html
import unicodedata
from typing import Any

import pytest

from tests.helpers import OUR_ATTRIBUTES, OUR_TAGS, HtmlTags
from tests.unit.report.report_kit import hostile_records, parse_csv, row
from trailkeeper import sanitise
from trailkeeper.report.activity import COLUMNS_V3, ActivityRow
from trailkeeper.report.diff import TOP_ROWS, ActivityDiff, diff_activity
from trailkeeper.report.render import RenderedReport, render_report
from trailkeeper.sanitise import FORMULA_STARTS

DAY = dt.date(2024, 1, 5)
URI = "s3://results-bucket/daily/2024-01-05/result.csv"
RECONCILIATION = {"added": 4, "anomalies": {"count": 0, "sample": []}}
B = "222222222222"
STRING_FIELDS = (
    "account",
    "region",
    "principal",
    "eventsource",
    "eventname",
    "first_at",
    "sample_source_ips",
    "sample_user_agents",
    "sample_sessions",
)


def render(diff: ActivityDiff, **overrides: Any) -> RenderedReport:
    options: dict[str, Any] = {
        "report_day": DAY,
        "reconciliation": RECONCILIATION,
        "full_result_uri": URI,
        "title": "Trailkeeper daily",
    }
    return render_report(diff, **{**options, **overrides})


def hostile_row(value: str) -> ActivityRow:
    return row(**dict.fromkeys(STRING_FIELDS, value))


def render_hostile(value: str) -> RenderedReport:
    """The value in every string field of a new row, a silent pair, a first-seen region and an anomaly key."""
    diff = diff_activity([hostile_row(value)], [[row(account=value, region="eu-west-1")]])
    anomalies = {"count": 1, "sample": [{"kind": "unexpected-prefix", "key": value}]}
    return render(diff, reconciliation={"added": 1, "anomalies": anomalies})


def tags_and_attributes(document: str) -> tuple[set[str], set[str]]:
    parser = HtmlTags()
    parser.feed(document)
    return parser.tags, parser.attributes


HOSTILE = pytest.mark.parametrize("record", hostile_records(), ids=lambda r: r["id"])


# ---- inert everywhere ------------------------------------------------------------------------------


@pytest.mark.parametrize("record", hostile_records("html"), ids=lambda r: r["id"])
def test_markup_appears_only_escaped_in_html(record: dict[str, str]) -> None:
    report = render_hostile(record["value"])
    assert "<img" not in report.html
    assert "<a " not in report.html and "<a href" not in report.html
    assert html.escape(record["value"], quote=True) in report.html


@HOSTILE
def test_hostile_value_adds_no_tag_or_attribute_to_html(record: dict[str, str]) -> None:
    tags, attributes = tags_and_attributes(render_hostile(record["value"]).html)
    assert tags <= OUR_TAGS
    assert attributes <= OUR_ATTRIBUTES


@HOSTILE
def test_hostile_value_is_shown_escaped_in_html(record: dict[str, str]) -> None:
    assert sanitise.html(record["value"]) in render_hostile(record["value"]).html


@HOSTILE
def test_subject_is_built_from_counts_only(record: dict[str, str]) -> None:
    hostile = render_hostile(record["value"]).subject
    benign = render_hostile("benign-value").subject
    assert hostile == benign
    assert "\r" not in hostile and "\n" not in hostile


def test_title_cannot_break_the_subject_line() -> None:
    subject = render(diff_activity([row()], [[row()]]), title="Daily\r\nBcc: attacker@evil.example").subject
    assert "\r" not in subject and "\n" not in subject


@pytest.mark.parametrize("record", hostile_records("header"), ids=lambda r: r["id"])
def test_no_text_line_starts_with_an_injected_header(record: dict[str, str]) -> None:
    lines = render_hostile(record["value"]).text.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("Bcc:")]


@HOSTILE
def test_text_has_no_control_character_but_its_own_line_breaks(record: dict[str, str]) -> None:
    text = render_hostile(record["value"]).text
    assert {ch for ch in text if unicodedata.category(ch) in {"Cc", "Zl", "Zp"}} <= {"\n"}


@pytest.mark.parametrize("record", hostile_records("bidi"), ids=lambda r: r["id"])
def test_bidi_and_format_characters_are_stripped_from_text_and_html(record: dict[str, str]) -> None:
    report = render_hostile(record["value"])
    for document in (report.text, report.html):
        assert not [ch for ch in document if unicodedata.category(ch) == "Cf"]


@pytest.mark.parametrize("record", hostile_records("formula"), ids=lambda r: r["id"])
def test_formula_cells_are_neutralised_in_csv(record: dict[str, str]) -> None:
    header, data = parse_csv(render_hostile(record["value"]).csv)
    cells = dict(zip(header, data, strict=True))
    assert {cells[field] for field in STRING_FIELDS} == {"'" + sanitise.inert(record["value"])}


@pytest.mark.parametrize("record", hostile_records("bidi") + hostile_records("control"), ids=lambda r: r["id"])
def test_csv_text_values_lose_bidi_zero_width_and_control_characters(record: dict[str, str]) -> None:
    _, data = parse_csv(render_hostile(record["value"]).csv)
    assert not [ch for cell in data for ch in cell if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}]
    assert sanitise.inert(record["value"]) in data


@pytest.mark.parametrize(
    "value",
    [
        " =1+1",
        "\u00a0=1+1",
        "\ufeff=1+1",
        "\u3000@SUM(1+1)",
        "\t \u00a0+cmd|' /C calc'!A0",
        '＝HYPERLINK("https://evil")',
        "＋cmd|' /C calc'!A0",
        "－2+3",
        "＠SUM(1+1)",
        " ＝1+1",
    ],
    ids=[
        "space",
        "nbsp",
        "bom",
        "ideographic space",
        "tab nbsp plus",
        "fullwidth equals",
        "fullwidth plus",
        "fullwidth minus",
        "fullwidth at",
        "space fullwidth equals",
    ],
)
def test_a_formula_after_leading_white_space_or_in_fullwidth_form_is_neutralised(value: str) -> None:
    header, data = parse_csv(render_hostile(value).csv)
    cells = dict(zip(header, data, strict=True))
    assert {cells[field] for field in STRING_FIELDS} == {"'" + sanitise.inert(value)}


@HOSTILE
def test_no_csv_cell_starts_like_a_formula(record: dict[str, str]) -> None:
    _, *rows = parse_csv(render_hostile(record["value"]).csv)
    assert rows
    assert not [cell for cells in rows for cell in cells if cell.startswith(FORMULA_STARTS)]


def test_plain_csv_values_are_kept_as_they_are() -> None:
    _, data = parse_csv(render(diff_activity([row(events=7, failures=2)], [[]])).csv)
    assert data == [
        row().account,
        row().region,
        row().principal,
        "iam.amazonaws.com",
        "ListUsers",
        "7",
        "2",
        row().first_at,
        row().sample_source_ips,
        row().sample_user_agents,
        row().sample_sessions,
        "0",
        "",
    ]


# ---- shape, caps and totals ------------------------------------------------------------------------


def test_csv_header_is_the_report_columns() -> None:
    header, *_ = parse_csv(render(diff_activity([row()], [[]])).csv)
    assert tuple(header) == COLUMNS_V3


def new_rows(count: int) -> list[ActivityRow]:
    return [row(eventname=f"Call{n:04d}") for n in range(count)]


def test_new_rows_are_capped_with_the_exact_remainder_and_full_result_location() -> None:
    report = render(diff_activity(new_rows(250), [[]]), max_rows=200)
    assert report.html.count("<tr><td style=") == 200
    assert len([line for line in report.text.splitlines() if line.startswith("    - ")]) == 200
    for document in (report.text, report.html):
        assert f"and 50 more new activity rows; the full result is at {URI}" in document


def test_csv_keeps_every_new_row_beyond_the_cap() -> None:
    _, *data = parse_csv(render(diff_activity(new_rows(250), [[]]), max_rows=200).csv)
    assert len(data) == 250


def test_no_remainder_line_when_every_row_fits() -> None:
    report = render(diff_activity(new_rows(200), [[]]), max_rows=200)
    assert "more new activity rows" not in report.text and "more new activity rows" not in report.html


def test_totals_are_exact_in_subject_and_section_heading() -> None:
    report = render(diff_activity([*new_rows(250), row()], [[row()]]), max_rows=10)
    assert report.subject == "Trailkeeper daily: 2024-01-05 - 250 new"
    assert "== New activity: 250 rows ==" in report.text
    assert "Today: 251 activity rows, 251 events, 1 account, 1 account-region." in report.text


def test_long_values_are_shortened_visibly() -> None:
    text = render(diff_activity([row(sample_user_agents="x" * 500)], [[]])).text
    assert "x" * 120 + "…" in text
    assert "x" * 121 not in text


def test_html_groups_rows_by_account_then_principal() -> None:
    today = [
        row(account=account, principal=principal, eventname=name)
        for account in ("111111111111", B)
        for principal in ("p-one", "p-two")
        for name in ("A", "B")
    ]
    report = render(diff_activity(today, [[]]))
    assert report.html.count('<tr class="account">') == 2
    assert report.html.count('<tr class="principal">') == 4
    first, second = report.html.index("Account 111111111111"), report.html.index(f"Account {B}")
    assert first < report.html.index("p-two", first) < second


def test_silent_pair_is_reported_with_its_first_quiet_day() -> None:
    report = render(diff_activity([row()], [[row(), row(account=B)]]))
    assert report.subject == "Trailkeeper daily: 2024-01-05 - 0 new, 1 silent"
    for document in (report.text, report.html):
        assert f"{B} us-east-1: silent since 2024-01-05 (1 day without events) - stopped logging?" in document


def test_a_day_without_events_says_alarm_in_subject_text_and_html() -> None:
    report = render(diff_activity([], [[row()]]))
    assert report.subject.startswith("Trailkeeper daily: 2024-01-05 - NO ACTIVITY")
    assert "NO ACTIVITY (alarm)" in report.text and "NO ACTIVITY (alarm)" in report.html


NO_DATA = {
    "reason": "other_trail_layout",
    "detail": "no account folders under s3://trail/AWSLogs/o-1/, but another trail's logs at <b>k</b>",
}


def test_no_account_discovered_says_no_data_alarm_in_subject_text_and_html() -> None:
    report = render(diff_activity([], [[row()]]), reconciliation={**RECONCILIATION, "no_data_alarm": NO_DATA})
    assert report.subject.startswith(
        "Trailkeeper daily: 2024-01-05 - NO DATA: no account discovered, other_trail_layout (alarm)"
    )
    assert "== NO DATA (alarm) ==" in report.text and "<h2>NO DATA (alarm)</h2>" in report.html
    assert "logs at &lt;b&gt;k&lt;/b&gt;" in report.html and "<b>" not in report.html
    assert report.html.index("NO DATA (alarm)") < report.html.index("NO ACTIVITY (alarm)")


def test_a_no_data_reason_outside_trailkeepers_words_never_reaches_the_subject() -> None:
    alarm = {"reason": "Bcc: x@example.com", "detail": ""}
    report = render(diff_activity([], [[row()]]), reconciliation={**RECONCILIATION, "no_data_alarm": alarm})
    assert "NO DATA: no account discovered, unknown (alarm)" in report.subject and "Bcc" not in report.subject


def test_first_seen_and_silent_pairs_come_before_new_activity() -> None:
    report = render(diff_activity([row(), row(account=B, eventname="New")], [[row(), row(region="eu-west-1")]]))
    for document, heading in ((report.text, "== "), (report.html, "<h2>")):
        first_seen, silent = document.index(f"{heading}First seen"), document.index(f"{heading}Silent")
        assert first_seen < silent < document.index(f"{heading}New activity")


def test_html_is_styled_inline_for_mail_clients_without_scripts_or_remote_content() -> None:
    today = [row(account=account, eventname=name) for account in ("111111111111", B) for name in ("A", "B")]
    document = render(diff_activity(today, [[]])).html
    assert "<style" not in document and "<script" not in document and "src=" not in document
    assert "<td>" not in document and "<th>" not in document and "<table>" not in document
    assert '<table style="border-collapse:collapse">' in document and '<td style="border:1px solid' in document


def test_first_seen_lists_accounts_and_regions() -> None:
    report = render(diff_activity([row(), row(region="ap-south-1"), row(account=B)], [[row()]]))
    assert "Accounts (1): 222222222222" in report.text
    assert "111111111111: ap-south-1" in report.text and f"{B}: us-east-1" in report.text
    assert report.subject.endswith("1 first-seen account, 2 first-seen regions")


def test_nothing_new_body_is_short() -> None:
    report = render(diff_activity([row()], [[row()]]))
    assert report.subject == "Trailkeeper daily: 2024-01-05 - nothing new"
    assert "Nothing new on 2024-01-05" in report.text
    assert "== New activity" not in report.text and "<table" not in report.html
    assert len(report.text.splitlines()) < 20


def test_missing_baseline_body_says_established_with_counts_and_a_short_top_list() -> None:
    report = render(diff_activity(new_rows(30), None))
    assert report.subject == "Trailkeeper daily: 2024-01-05 - baseline established, 30 activity rows"
    assert "Baseline established" in report.text and "Today: 30 activity rows" in report.text
    assert len([line for line in report.text.splitlines() if line.startswith("  - ")]) == TOP_ROWS
    assert report.html.count("<tr><td style=") == TOP_ROWS
    assert "== New activity" not in report.text


def test_missing_baseline_csv_has_no_new_rows() -> None:
    assert parse_csv(render(diff_activity(new_rows(30), None)).csv) == [list(COLUMNS_V3)]


def test_reconciliation_summary_shows_partitions_added_and_anomalies() -> None:
    anomalies = {"count": 7, "sample": [{"kind": "bad-region", "key": "AWSLogs/1/CloudTrail/US-EAST-1/"}]}
    report = render(diff_activity([row()], [[row()]]), reconciliation={"added": 12, "anomalies": anomalies})
    assert "Partitions added: 12" in report.text
    assert "Bucket anomalies (unexpected keys, ignored): 7" in report.text
    assert "bad-region: AWSLogs/1/CloudTrail/US-EAST-1/" in report.text
    assert report.subject == "Trailkeeper daily: 2024-01-05 - nothing new, 7 bucket anomalies"


def test_missing_reconciliation_figures_are_shown_as_not_reported() -> None:
    report = render(diff_activity([row()], [[row()]]), reconciliation={})
    assert "Partitions added: not reported" in report.text
    assert "Bucket anomalies (unexpected keys, ignored): not reported" in report.text


def test_negative_max_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        render(diff_activity([row()], None), max_rows=-1)


def test_the_html_is_the_same_without_markupsafes_compiled_speedups(monkeypatch: pytest.MonkeyPatch) -> None:
    # Lambda loads MarkupSafe's arm64 C extension; where it cannot, MarkupSafe falls back to its pure-Python escape.
    import markupsafe
    from markupsafe import _native

    values = [record["value"] for record in hostile_records()]
    compiled = [render_hostile(value).html for value in values]
    monkeypatch.setattr(markupsafe, "_escape_inner", _native._escape_inner)
    assert [render_hostile(value).html for value in values] == compiled
