"""Risk order, truncation by ReportMaxRows, and the subject: pure functions of the day's rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trailkeeper.detections.attention import attention, risk_order, subject, truncate
from trailkeeper.detections.catalog import BY_ID
from trailkeeper.detections.evaluate import Hit, parse_hits

DAY = dt.date(2024, 8, 2)


@dataclass(frozen=True)
class Row:
    eventname: str
    account: str = "307578594326"
    region: str = "us-east-1"
    principal: str = "arn:aws:iam::307578594326:user/christophe"
    eventsource: str = "s3.amazonaws.com"
    events: int = 1
    failures: int = 0
    writes: int = 0
    hits: tuple[Hit, ...] = ()


def _hit(rule: str, escalated: int = 0) -> tuple[Hit, ...]:
    return (Hit(rule, 1, escalated, "2024-08-02T08:30:00Z"),)


# The night: alphabetical order put a CopyObject first and cut a root sign-in into "and 9 more".
ROWS = [
    Row("CopyObject", writes=1),
    Row("GetObject"),
    Row("ListBuckets", failures=1),
    Row("ConsoleLogin", eventsource="signin.amazonaws.com", principal="root", hits=_hit("root-activity")),
    Row("StopLogging", eventsource="cloudtrail.amazonaws.com", hits=_hit("cloudtrail-tampering", escalated=1)),
    Row("CreateAccessKey", eventsource="iam.amazonaws.com", hits=_hit("iam-credentials-created")),
    Row(
        "LeaveOrganization",
        eventsource="organizations.amazonaws.com",
        failures=1,
        hits=_hit("organizations-change", 1) + _hit("unauthorized-api-calls"),
    ),
]


def test_rows_are_ordered_detections_by_severity_then_writes_failures_reads() -> None:
    found = attention(ROWS, (), DAY)

    ordered = [r.eventname for r in risk_order(ROWS, found)]

    # critical (ties by key: cloudtrail, organizations), high (root), medium, then write, failure, read
    assert ordered == [
        "StopLogging",
        "LeaveOrganization",
        "ConsoleLogin",
        "CreateAccessKey",
        "CopyObject",
        "ListBuckets",
        "GetObject",
    ]


def test_truncation_drops_the_lowest_risk_first() -> None:
    shown, left_out = truncate(ROWS, 6, attention(ROWS, (), DAY))

    assert [r.eventname for r in shown][-1] == "ListBuckets"
    assert left_out == 1  # the read went


def test_truncation_never_drops_a_detection_hit_even_below_the_limit() -> None:
    shown, left_out = truncate(ROWS, 2, attention(ROWS, (), DAY))

    assert {r.eventname for r in shown} == {"LeaveOrganization", "StopLogging", "ConsoleLogin", "CreateAccessKey"}
    assert left_out == 3


def test_attention_lists_each_hit_most_severe_first_with_its_catalog_title() -> None:
    found = attention(ROWS, (), DAY)

    assert [(a.rule, a.severity) for a in found.rows] == [
        ("cloudtrail-tampering", "critical"),
        ("organizations-change", "critical"),
        ("root-activity", "high"),
        ("iam-credentials-created", "medium"),
        ("unauthorized-api-calls", "low"),
    ]
    assert found.rows[0].title == BY_ID["cloudtrail-tampering"].title


def test_subject_names_the_most_severe_finding_and_the_counts() -> None:
    found = attention(ROWS, (), DAY)

    text = subject("trailkeeper", DAY, found.rows, new_rows=7, silent=1, first_seen_accounts=1)

    assert text == (
        "trailkeeper: 2024-08-02 - CRITICAL CloudTrail trail changed or stopped in 307578594326 "
        "(+4 more findings), 7 new, 1 silent, 1 new account"
    )


def test_subject_carries_no_cloudtrail_text() -> None:
    hostile = Row(
        "Evil\r\nBcc: x@evil.example", account="12345\r\nX: y", principal="<script>", hits=_hit("root-activity")
    )
    found = attention([hostile], (), DAY)

    text = subject("trailkeeper", DAY, found.rows, new_rows=1, silent=0, first_seen_accounts=0)

    assert text == "trailkeeper: 2024-08-02 - HIGH Root user activity, 1 new, 0 silent, 0 new accounts"


def test_subject_without_detections_says_so() -> None:
    text = subject("trailkeeper", DAY, (), new_rows=0, silent=0, first_seen_accounts=0)

    assert text == "trailkeeper: 2024-08-02 - no detections, 0 new, 0 silent, 0 new accounts"


def test_detections_value_parses_to_hits_most_severe_first() -> None:
    hits = parse_hits("root-activity:2:0:2024-08-02T01:00:00Z cloudtrail-tampering:1:1:2024-08-02T02:00:00Z")

    assert [(h.rule, h.severity, h.events) for h in hits] == [
        ("cloudtrail-tampering", "critical", 1),
        ("root-activity", "high", 2),
    ]
