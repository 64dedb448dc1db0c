"""The nightly evaluation: the daily query's one scan of D and D+1 also says which detections each row hit."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from tests.detections.athena_kit import DATABASE, TABLE, EmbeddedAthena, published_records
from trailkeeper.detections.attention import attention
from trailkeeper.report.activity import parse_activity_csv
from trailkeeper.report.query import build_daily_activity_query

DAY = dt.date(2024, 8, 1)
KEYS = ("account", "region", "dt")


def _load(athena: EmbeddedAthena) -> None:
    """Every published record, re-dated into the report day (late ones delivered in D+1's folder)."""
    records = [
        {**case["record"], "eventTime": f"{DAY.isoformat()}T{10 + n % 12:02d}:00:00Z"}
        for n, case in enumerate(published_records())
    ]
    athena.put_records(DAY, records[::2])
    athena.put_records(DAY + dt.timedelta(days=1), records[1::2])


def test_daily_query_rows_carry_exactly_the_published_hits(embedded_athena: EmbeddedAthena) -> None:
    _load(embedded_athena)
    sql, parameters = build_daily_activity_query(DATABASE, TABLE, KEYS, DAY)

    text, _ = embedded_athena.result_csv(sql, parameters)
    found = attention(parse_activity_csv(text), (), DAY)

    hits = Counter[tuple[str, str]]()
    for row in found.rows:
        hits[(row.rule, row.eventname)] += row.events
    expected = Counter((rule, case["record"]["eventName"]) for case in published_records() for rule in case["matches"])
    assert hits == expected


def test_escalated_hits_carry_the_escalated_severity(embedded_athena: EmbeddedAthena) -> None:
    _load(embedded_athena)
    sql, parameters = build_daily_activity_query(DATABASE, TABLE, KEYS, DAY)

    text, _ = embedded_athena.result_csv(sql, parameters)
    found = attention(parse_activity_csv(text), (), DAY)

    severities = {(a.rule, a.principal, a.eventname, a.severity) for a in found.rows}
    assert ("cloudtrail-tampering", "arn:aws:iam::123456789012:role/tester", "StopLogging", "critical") in severities
    christophe = "arn:aws:iam::229654561268:user/christophe"
    assert ("iam-credentials-created", christophe, "CreateAccessKey", "high") in severities  # for another user
    assert ("iam-credentials-created", christophe, "CreateUser", "medium") in severities
    assert ("console-login-without-mfa", "root", "ConsoleLogin", "critical") in severities
    assert ("console-login-without-mfa", "arn:aws:iam::123456789012:user/tester", "ConsoleLogin", "high") in severities


def test_rows_count_their_writes(embedded_athena: EmbeddedAthena) -> None:
    _load(embedded_athena)
    sql, parameters = build_daily_activity_query(DATABASE, TABLE, KEYS, DAY)

    rows = parse_activity_csv(embedded_athena.result_csv(sql, parameters)[0])

    by_name = {r.eventname: r for r in rows}
    assert by_name["AttachUserPolicy"].writes == 1
    assert by_name["Decrypt"].writes == 0  # readOnly true


def test_detections_add_no_bytes_to_the_daily_scan(embedded_athena: EmbeddedAthena) -> None:
    _load(embedded_athena)
    with_detections = build_daily_activity_query(DATABASE, TABLE, KEYS, DAY)
    without = build_daily_activity_query(DATABASE, TABLE, KEYS, DAY, detections=False)

    _, scanned = embedded_athena.result_csv(*with_detections)
    _, baseline = embedded_athena.result_csv(*without)

    assert 0 < scanned <= 1.05 * baseline


def test_daily_query_with_every_detection_fits_athenas_query_limit_in_the_worst_case() -> None:
    longest = "a" * 255  # the template's DatabaseName/TableName AllowedPattern admits 255 characters
    sql, parameters = build_daily_activity_query(longest, longest, ("account", "region", "year", "month", "day"), DAY)

    bound = sql
    for parameter in parameters:
        bound = bound.replace("?", parameter, 1)
    assert len(bound.encode("utf-8")) <= 262_144  # Athena's QueryString limit (docs/aws-facts.md)
