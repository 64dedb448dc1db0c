"""The daily report, step by step, on clients passed in: prepare the query, build the report, send it once.

Keys in the results bucket (all dated by the report day D, UTC; trailkeeper.layout builds them):
  activity/D.csv            the day's query result, written once; tomorrow's baseline
  reports/D/report.txt      plain-text report      reports/D/report.html   HTML report
  reports/D/new_activity.csv  new rows for people (formula cells neutralised)
  reports/D/email.json      subject and counts of the rendered report
  reports/D/sent.json       marker: the email for D went out (MessageId); absent until it did. While an
                            execution sends, it holds {"state": "sending", "execution", "claimed_at"}: a claim
                            that its own retry, or after CLAIM_LIFETIME any execution, may take over.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from trailkeeper import aws
from trailkeeper.config import ReportSettings, Settings
from trailkeeper.errors import InvalidInput
from trailkeeper.layout import (
    EMAIL_JSON,
    NEW_ACTIVITY_CSV,
    REPORT_HTML,
    REPORT_TEXT,
    SENT_MARKER,
    activity_key,
    report_key,
    report_prefix,
)
from trailkeeper.report.activity import parse_activity_csv
from trailkeeper.report.diff import diff_activity
from trailkeeper.report.query import build_daily_activity_query
from trailkeeper.report.render import render_report

# Lambda's maximum timeout: no SendReport invocation can still hold a claim this old (its owner crashed).
CLAIM_LIFETIME = dt.timedelta(minutes=15)
_CLAIM_TIME = "%Y-%m-%dT%H:%M:%SZ"


def prepare_query(report_day: dt.date, resend: bool, settings: Settings, s3: Any, glue: Any) -> dict[str, Any]:
    """The query for D, or `skip` when D's email already went out (a re-run must not email again)."""
    sent = aws.get_text_if_exists(s3, settings.RESULTS_BUCKET, report_key(report_day, SENT_MARKER))
    if sent is not None and not resend and _claim(sent) is None:  # a "sending" claim is no sent email
        return {"report_day": report_day.isoformat(), "skip": True, "reason": "already sent"}
    table = aws.get_table(glue, settings.DATABASE_NAME, settings.TABLE_NAME)
    keys = tuple(str(k["Name"]).lower() for k in table.get("PartitionKeys", []))
    sql, parameters = build_daily_activity_query(settings.DATABASE_NAME, settings.TABLE_NAME, keys, report_day)
    return {"report_day": report_day.isoformat(), "skip": False, "query": sql, "parameters": parameters}


def build_report(
    report_day: dt.date,
    result_location: str,
    reconciliation: dict[str, Any],
    settings: Settings,
    report_settings: ReportSettings,
    s3: Any,
) -> dict[str, Any]:
    """Save D's result once, diff it against the baseline days, render and store the report."""
    bucket = settings.RESULTS_BUCKET
    fresh = aws.get_text(s3, bucket, _results_key(result_location, bucket))
    parse_activity_csv(fresh, source=f"query result {result_location}")  # never save what cannot be read
    saved_key = activity_key(report_day)
    if not aws.put_text_if_absent(s3, bucket, saved_key, fresh, "text/csv"):
        # A re-run keeps the result the first run saved: an earlier report may rest on it.
        fresh = aws.get_text(s3, bucket, saved_key)
    today = parse_activity_csv(fresh, source=f"s3://{bucket}/{saved_key}")

    baselines = []
    for days_back in range(1, report_settings.BASELINE_DAYS + 1):
        key = activity_key(report_day - dt.timedelta(days=days_back))
        text = aws.get_text_if_exists(s3, bucket, key)
        if text is not None:
            baselines.append(parse_activity_csv(text, source=f"baseline s3://{bucket}/{key}"))
    diff = diff_activity(today, baselines or None)

    rendered = render_report(
        diff, report_day=report_day, reconciliation=reconciliation, max_rows=report_settings.REPORT_MAX_ROWS,
        full_result_uri=f"s3://{bucket}/{report_key(report_day, NEW_ACTIVITY_CSV)}",
        title=report_settings.REPORT_TITLE,
    )
    summary = {
        "report_day": report_day.isoformat(),
        "baseline_state": diff.baseline_state,
        "baseline_days": diff.baseline_days,
        "rows": diff.rows_today,
        "new_rows": len(diff.new_rows),
        "went_silent": len(diff.went_silent),
        "first_seen_accounts": len(diff.first_seen_accounts),
        "first_seen_regions": len(diff.first_seen_regions),
        "nothing_new": diff.nothing_new,
        "location": f"s3://{bucket}/{report_prefix(report_day)}",
    }
    aws.put_text(s3, bucket, report_key(report_day, REPORT_TEXT), rendered.text, "text/plain; charset=utf-8")
    aws.put_text(s3, bucket, report_key(report_day, REPORT_HTML), rendered.html, "text/html; charset=utf-8")
    aws.put_text(s3, bucket, report_key(report_day, NEW_ACTIVITY_CSV), rendered.csv, "text/csv; charset=utf-8")
    aws.put_json(s3, bucket, report_key(report_day, EMAIL_JSON), {"subject": rendered.subject, **summary})
    return summary


def send_report(
    report_day: dt.date, resend: bool, run_id: str, settings: Settings, report_settings: ReportSettings,
    s3: Any, sesv2: Any,
) -> dict[str, Any]:
    """Email D's stored report exactly once; an SES failure leaves D unsent so a redrive sends it."""
    bucket = settings.RESULTS_BUCKET
    email = json.loads(aws.get_text(s3, bucket, report_key(report_day, EMAIL_JSON)))
    if email["nothing_new"] and not report_settings.SEND_WHEN_NOTHING_NEW:
        return {"sent": False, "reason": "nothing new (SendWhenNothingNew is false)"}
    marker = report_key(report_day, SENT_MARKER)
    now = dt.datetime.now(dt.UTC)
    claim = json.dumps({"state": "sending", "execution": run_id, "claimed_at": now.strftime(_CLAIM_TIME)})
    if resend:
        aws.put_text(s3, bucket, marker, claim, "application/json")
    elif not aws.put_text_if_absent(s3, bucket, marker, claim, "application/json"):
        held = _claim(aws.get_text(s3, bucket, marker))
        if held is None:
            return {"sent": False, "reason": "already sent"}
        owner, claimed_at = held
        if owner != run_id and claimed_at is not None and now - claimed_at < CLAIM_LIFETIME:
            return {"sent": False, "reason": f"being sent by execution {owner}"}
        # This execution's own earlier attempt (a Retry after its release failed) or a crashed owner's claim:
        # take it over rather than leave the day silently unsent. At least once: never zero emails.
        aws.put_text(s3, bucket, marker, claim, "application/json")
    try:
        message_id = aws.send_email(
            sesv2, report_settings.REPORT_SENDER, report_settings.REPORT_RECIPIENTS, email["subject"],
            aws.get_text(s3, bucket, report_key(report_day, REPORT_TEXT)),
            aws.get_text(s3, bucket, report_key(report_day, REPORT_HTML)),
        )
    except Exception:
        aws.delete_object(s3, bucket, marker)  # not sent: a retry or redrive must be able to send it
        raise
    aws.put_text(s3, bucket, marker, json.dumps({"state": "sent", "execution": run_id, "message_id": message_id}),
                 "application/json")
    return {"sent": True, "message_id": message_id, "recipients": len(report_settings.REPORT_RECIPIENTS)}


def _claim(marker: str) -> tuple[str, dt.datetime | None] | None:
    """(owner, claimed at) of a "sending" claim; None for anything else (sent, or unreadable: never re-sent)."""
    try:
        held = json.loads(marker)
    except ValueError:
        return None
    if not isinstance(held, dict) or held.get("state") != "sending":
        return None
    try:
        claimed_at = dt.datetime.strptime(str(held.get("claimed_at")), _CLAIM_TIME).replace(tzinfo=dt.UTC)
    except ValueError:
        claimed_at = None  # a claim without a time (older versions) cannot prove its owner is alive
    return str(held.get("execution")), claimed_at


def _results_key(location: str, bucket: str) -> str:
    """The key of an Athena OutputLocation, which must lie in our own results bucket."""
    prefix = f"s3://{bucket}/"
    if not location.startswith(prefix) or not location.endswith(".csv"):
        raise InvalidInput(f"result location {location!r} is not a CSV in s3://{bucket}/")
    return location[len(prefix):]


