"""The report's Integrity view: the night's summary.json read and validated, silence graded with the digests,
report.json `integrity`, and the email's Integrity section with alarming findings first (hostile keys inert)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.unit.report.report_kit import row
from trailkeeper.errors import InvalidInput
from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.findings import Finding
from trailkeeper.report import integrity
from trailkeeper.report.daily import report_document
from trailkeeper.report.diff import diff_activity
from trailkeeper.report.render import render_report

DAY = dt.date(2024, 1, 5)
A, B = "111111111111", "222222222222"
HOUR = dt.datetime(2024, 1, 5, 3, tzinfo=dt.UTC)
HOSTILE_KEY = "AWSLogs/111111111111/CloudTrail/us-east-1/2024/01/05/<script>x</script>\x1b[31m\u202e.json.gz"


def pair(account: str, region: str, delivery: str, found: list[Finding] | None = None) -> dict[str, Any]:
    """One pair of summary.json as integrity/chain.py's PairResult.to_json writes it."""
    return {
        "account": account,
        "region": region,
        "hours": 24,
        "since": "2024-01-05T00:00:00Z",
        "until": "2024-01-06T00:00:00Z",
        "digests_verified": 24,
        "empty_digests": 20,
        "logs_verified": 7,
        "log_bytes_verified": 9000,
        "delivery": delivery,
        "newest_digest_end": None,
        "findings": [f.to_json() for f in found or []],
    }


def summary(*pairs: dict[str, Any]) -> dict[str, Any]:
    return {
        "night": DAY.isoformat(),
        "until": "2024-01-06T00:00:00Z",
        "totals": {},
        "unvalidated_batches": [],
        "pairs": list(pairs),
    }


DELETED = Finding(kinds.LOG_DELETED, HOSTILE_KEY, HOUR)
EXPIRED = Finding(kinds.LOG_EXPIRED, "AWSLogs/111111111111/CloudTrail/us-east-1/2024/01/01/old.json.gz", HOUR)
NIGHT = integrity.parse_summary(
    summary(
        pair(A, "us-east-1", "arriving", [EXPIRED, DELETED]),
        pair(B, "eu-west-1", "stopped", [Finding(kinds.DIGEST_SILENCE, "AWSLogs/x", HOUR)]),
    ),
    "test",
)


def render(night: integrity.IntegritySummary | None) -> Any:
    diff = diff_activity([row(account=A, eventname="DeleteTrail")], [[row(account=A)]])
    return render_report(
        diff, report_day=DAY, reconciliation={}, full_result_uri="s3://r/x.csv", title="t", integrity=night
    )


def test_silence_is_quiet_when_digests_arrive_broken_when_they_stopped_unknown_without_data() -> None:
    assert NIGHT.silence_state(A, "us-east-1") == integrity.QUIET
    assert NIGHT.silence_state(B, "eu-west-1") == integrity.BROKEN
    assert NIGHT.silence_state(A, "eu-west-1") == integrity.UNKNOWN
    assert integrity.silence_state(None, A, "us-east-1") == integrity.UNKNOWN


def test_report_json_block_has_per_pair_counts_and_every_finding_with_kind_key_and_hour() -> None:
    block = NIGHT.to_json()
    first = block["pairs"][0]
    assert (first["hours"], first["digests_verified"], first["logs_verified"]) == (24, 24, 7)
    assert {(f["kind"], f["key"], f["hour"]) for f in first["findings"]} == {
        (kinds.LOG_EXPIRED, EXPIRED.key, "2024-01-05T03:00Z"),
        (kinds.LOG_DELETED, HOSTILE_KEY, "2024-01-05T03:00Z"),
    }
    assert block["alarming_findings"] == 2


@pytest.mark.parametrize(
    "broken",
    [
        {"pairs": "no"},
        summary({**pair(A, "us-east-1", "arriving"), "account": "../../etc"}),
        summary({**pair(A, "us-east-1", "arriving"), "delivery": "maybe"}),
        summary({**pair(A, "us-east-1", "arriving"), "hours": -1}),
        summary({**pair(A, "us-east-1", "arriving"), "findings": [{"kind": "made_up", "key": "k", "hour": "h"}]}),
    ],
)
def test_a_malformed_summary_is_one_line_invalid_input(broken: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as raised:
        integrity.parse_summary(broken, "s3://results/integrity/2024-01-05/summary.json")
    assert "\n" not in str(raised.value) and "summary.json" in str(raised.value)


def test_alarming_findings_open_the_email_and_the_integrity_section_lists_every_finding() -> None:
    rendered = render(NIGHT)
    text = rendered.text
    opening = text.index("INTEGRITY ALARM: 2")
    assert opening < text.index("== New activity") < text.index("== Integrity ==")
    assert text.index(kinds.LOG_DELETED, opening) < text.index("== New activity")
    assert kinds.LOG_EXPIRED in text[text.index("== Integrity ==") :]
    assert kinds.LOG_EXPIRED not in text[opening : text.index("== New activity")]  # informational: not an alarm
    assert "2 INTEGRITY FINDINGS" in rendered.subject
    assert "INTEGRITY ALARM: 2" in rendered.html and "<h2>Integrity</h2>" in rendered.html


def test_hostile_keys_are_inert_in_text_and_html() -> None:
    rendered = render(NIGHT)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    for body in (rendered.text, rendered.html):
        assert "\x1b" not in body and "\u202e" not in body


def test_a_day_without_integrity_data_says_so_and_raises_no_alarm() -> None:
    rendered = render(None)
    assert "Not validated for this day" in rendered.text and "INTEGRITY ALARM" not in rendered.text


def test_report_json_grades_silent_pairs_and_an_integrity_alarm_is_never_nothing_new() -> None:
    diff = diff_activity([], [[row(account=A, region="us-east-1"), row(account=B, region="eu-west-1")]])
    document = report_document(DAY, "s", diff, 14, {}, NIGHT)
    assert {(s["account"], s["state"]) for s in document["silent"]} == {(A, "quiet"), (B, "broken")}
    assert document["integrity"]["pairs"][1]["delivery"] == "stopped"
    assert document["nothing_new"] is False
    assert all(s["state"] == "unknown" for s in report_document(DAY, "s", diff, 14, {}, None)["silent"])


def test_the_integrity_section_grades_each_silent_pair_in_text_and_html() -> None:
    diff = diff_activity(
        [row(account=A, region="us-west-2")], [[row(account=A, region="us-east-1"), row(account=B, region="eu-west-1")]]
    )
    rendered = render_report(
        diff, report_day=DAY, reconciliation={}, full_result_uri="s3://r/x.csv", title="t", integrity=NIGHT
    )
    section = rendered.text[rendered.text.index("== Integrity ==") :]
    assert f"{A} us-east-1: quiet: its empty digests keep arriving" in section
    assert f"{B} eu-west-1: broken: its digests stopped" in section
    assert f"<li>{B} eu-west-1: broken: its digests stopped</li>" in rendered.html
