"""The report email as MIME: multipart/alternative text then HTML, 7-bit clean, only trailkeeper's own headers."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import parse_email
from tests.unit.report.report_kit import hostile_records, row
from trailkeeper.errors import InvalidInput
from trailkeeper.report.diff import diff_activity
from trailkeeper.report.message import email_message
from trailkeeper.report.render import RenderedReport, render_report

DAY = dt.date(2024, 1, 5)
SENT_AT = dt.datetime(2024, 1, 6, 6, 0, tzinfo=dt.UTC)
SENDER = "reports@example.com"
RECIPIENTS = ("security@example.com", "soc@example.com")
HEADERS = ("From", "To", "Subject", "Date", "MIME-Version", "Content-Type")
STRING_FIELDS = ("account", "region", "principal", "eventsource", "eventname", "first_at")
SAMPLES = ("sample_source_ips", "sample_user_agents", "sample_sessions")


def rendered(value: str = "benign", **fields: str) -> RenderedReport:
    new = row(**{**dict.fromkeys(STRING_FIELDS + SAMPLES, value), **fields})
    diff = diff_activity([new], [[row(account=value, region="eu-west-1")]])
    anomalies = {"count": 1, "sample": [{"kind": "unexpected-prefix", "key": value}]}
    return render_report(
        diff,
        report_day=DAY,
        reconciliation={"added": 1, "anomalies": anomalies},
        full_result_uri="s3://results-bucket/reports/2024-01-05/new_activity.csv",
        title="trailkeeper",
    )


def message(report: RenderedReport) -> bytes:
    return email_message(SENDER, RECIPIENTS, report.subject, report.text, report.html, date=SENT_AT)


def test_the_email_is_the_text_twin_then_the_html_with_the_views_subject() -> None:
    report = rendered()
    sent = parse_email(message(report))
    assert sent.subject == report.subject and sent.to == RECIPIENTS
    assert (sent.text, sent.html) == (report.text, report.html)
    parts = [line for line in message(report).decode().splitlines() if line.startswith("Content-Type:")]
    assert parts[1:] == ['Content-Type: text/plain; charset="utf-8"', 'Content-Type: text/html; charset="utf-8"']


@pytest.mark.parametrize("record", hostile_records(), ids=lambda r: r["id"])
def test_a_hostile_value_adds_no_header_and_never_reaches_one(record: dict[str, str]) -> None:
    raw = message(rendered(record["value"]))
    sent = parse_email(raw)
    assert sent.headers == HEADERS
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "Bcc" not in head and "attacker" not in head and "evil" not in head


@pytest.mark.parametrize("field", ["subject", "sender", "recipient"])
@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_a_header_value_with_a_line_break_is_refused(field: str, newline: str) -> None:
    hostile = f"x@example.com{newline}Bcc: attacker@evil.example"
    values = {"subject": "trailkeeper: 2024-01-05", "sender": SENDER, "recipient": RECIPIENTS[0], field: hostile}
    with pytest.raises(InvalidInput, match="line break"):
        email_message(values["sender"], (values["recipient"],), values["subject"], "text", "<p>html</p>", date=SENT_AT)


def test_the_raw_message_is_7_bit_with_lines_smtp_and_ses_accept() -> None:
    # worst case: every value at the sanitiser's cap, the widest the HTML table gets, and non-ASCII text
    report = rendered("é…" * 500)
    raw = message(report)
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78  # RFC 5322 2.1.1; SES refuses more than 1,000
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line endings only
    assert parse_email(raw).html == report.html
