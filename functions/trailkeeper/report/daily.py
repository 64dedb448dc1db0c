"""The daily report, step by step, on clients passed in: prepare the query, build the report, send it once.

Keys in the results bucket: trailkeeper/layout.py. While an execution sends, reports/D/sent.json holds
{"state": "sending", "execution", "claimed_at"}: a claim that its own retry, or after CLAIM_LIFETIME any
execution, may take over; {"state": "sent", ...} once the email went out.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trailkeeper import aws
from trailkeeper.config import ReportSettings, Settings
from trailkeeper.detections.attention import Attention, attention
from trailkeeper.detections.suppressions import parse_suppressions
from trailkeeper.dropped import Dropped
from trailkeeper.errors import BaselineUnreadable, InvalidInput, QueryResultUnreadable
from trailkeeper.inputs import delivered_by
from trailkeeper.layout import (
    EMAIL_MESSAGE,
    LEDGER_PREFIX,
    NEW_ACTIVITY_CSV,
    REPORT_HTML,
    REPORT_TEXT,
    SENT_MARKER,
    SUPPRESSIONS_KEY,
    activity_key,
    ledger_day,
    ledger_keys_key,
    ledger_principals_key,
    ledger_state_key,
    report_json_key,
    report_key,
    report_prefix,
)
from trailkeeper.logscan import read_unreadable
from trailkeeper.report import integrity
from trailkeeper.report.activity import ActivityRow, parse_activity_csv, parse_activity_result
from trailkeeper.report.diff import ActivityDiff, LedgerState, advance, read_keys, read_principals, write_row
from trailkeeper.report.message import email_message
from trailkeeper.report.query import build_daily_activity_query
from trailkeeper.report.render import render_report
from trailkeeper.report.revision import Revision, revision_of
from trailkeeper.schemes import scheme_for_table

# Lambda's maximum timeout: no SendReport invocation can still hold a claim this old (its owner crashed).
CLAIM_LIFETIME = dt.timedelta(minutes=15)
_CLAIM_TIME = "%Y-%m-%dT%H:%M:%SZ"
REPORT_JSON_VERSION = 1


def prepare_query(report_day: dt.date, resend: bool, settings: Settings, s3: Any, glue: Any) -> dict[str, Any]:
    """The query for D, or `skip` when D's email already went out (a re-run must not email again)."""
    sent = aws.get_text_if_exists(s3, settings.RESULTS_BUCKET, report_key(report_day, SENT_MARKER))
    if sent is not None and not resend and _claim(sent) is None:  # a "sending" claim is no sent email
        return {"report_day": report_day.isoformat(), "skip": True, "reason": "already sent"}
    table = aws.get_table(glue, settings.DATABASE_NAME, settings.TABLE_NAME)
    scheme = scheme_for_table(table, settings)  # a single-account table's account comes from its LOCATION
    sql, parameters = build_daily_activity_query(
        settings.DATABASE_NAME, settings.TABLE_NAME, scheme.keys, report_day, scheme.fixed_account
    )
    return {"report_day": report_day.isoformat(), "skip": False, "query": sql, "parameters": parameters}


def build_report(
    report_day: dt.date,
    result_location: str,
    reconciliation: dict[str, Any],
    settings: Settings,
    report_settings: ReportSettings,
    s3: Any,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Save D's result once, compare it with the baseline ledger, advance the ledger, render and store.

    `run_id`: the execution; the log objects it left out as unreadable (reports/D/unreadable.json) are named."""
    bucket = settings.RESULTS_BUCKET
    fresh = aws.get_text(s3, bucket, _results_key(result_location, bucket))
    # Never save what cannot be read; a fresh result is no baseline, so its error says so.
    fresh_rows = parse_activity_csv(fresh, source=f"query result {result_location}", unreadable=QueryResultUnreadable)
    saved_key = activity_key(report_day)
    revision: Revision | None = None
    if not aws.put_text_if_absent(s3, bucket, saved_key, fresh, "text/csv"):
        # A re-run keeps the result the first run saved (an earlier report rests on it) unless late logs
        # added events: then a revision replaces it, the first kept as a noncurrent version (report/revision.py).
        saved = aws.get_text(s3, bucket, saved_key)
        revision = revision_of(fresh_rows, parse_activity_csv(saved, source=f"s3://{bucket}/{saved_key}"))
        if revision is None:
            fresh = saved
        else:
            aws.put_text(s3, bucket, saved_key, fresh, "text/csv")
    del fresh_rows
    saved_result = parse_activity_result(fresh, source=f"s3://{bucket}/{saved_key}")
    today = saved_result.rows
    del fresh
    diff = advance_ledger(report_day, today, report_settings.BASELINE_DAYS, bucket, s3)
    # Detections are evaluated on all of today's rows, new or not: an attack repeated two days running is
    # still an attack. A bad suppressions file fails here (ConfigurationError), never "suppress everything".
    suppressions = parse_suppressions(
        aws.get_text_if_exists(s3, bucket, SUPPRESSIONS_KEY), report_day, source=f"s3://{bucket}/{SUPPRESSIONS_KEY}"
    )
    found = attention(today, suppressions, report_day)
    checked = integrity.read_summary(s3, bucket, report_day)  # the night's digest validation, if it ran
    unreadable = read_unreadable(s3, bucket, report_day, run_id)
    dropped = dropped_records(saved_result.dropped, checked)

    rendered = render_report(
        diff,
        report_day=report_day,
        reconciliation=reconciliation,
        max_rows=report_settings.REPORT_MAX_ROWS,
        full_result_uri=f"s3://{bucket}/{report_key(report_day, NEW_ACTIVITY_CSV)}",
        title=report_settings.REPORT_TITLE,
        found=found,
        integrity=checked,
        revision=revision,
        unreadable=unreadable,
        dropped=dropped,
    )
    document = report_document(
        report_day, rendered.subject, diff, report_settings.BASELINE_DAYS, reconciliation, checked, found
    )
    document["revised"] = None if revision is None else revision.as_json()
    document["unreadable"] = None if unreadable is None else unreadable.to_json()
    document["nothing_new"] = document["nothing_new"] and unreadable is None  # uncounted logs are news
    document["dropped"] = dropped.to_json()
    aws.put_text(s3, bucket, report_key(report_day, REPORT_TEXT), rendered.text, "text/plain; charset=utf-8")
    aws.put_text(s3, bucket, report_key(report_day, REPORT_HTML), rendered.html, "text/html; charset=utf-8")
    aws.put_text(s3, bucket, report_key(report_day, NEW_ACTIVITY_CSV), rendered.csv, "text/csv; charset=utf-8")
    message = email_message(
        report_settings.REPORT_SENDER,
        report_settings.REPORT_RECIPIENTS,
        rendered.subject,
        rendered.text,
        rendered.html,
        # The time the day's report became due, not the clock: a re-run of the night writes the same message.
        date=delivered_by(report_day),
    )
    aws.put_bytes(s3, bucket, report_key(report_day, EMAIL_MESSAGE), message, "message/rfc822")
    aws.put_text(s3, bucket, report_json_key(report_day), json.dumps(document, indent=1) + "\n", "application/json")
    return {
        "report_day": report_day.isoformat(),
        "baseline_state": diff.baseline_state,
        "baseline_days": diff.baseline_days,
        "rows": diff.rows_today,
        "events": diff.events_today,
        "no_activity": diff.no_activity,
        "new_rows": len(diff.new_rows),
        "went_silent": len(diff.silent),
        "resumed": len(diff.resumed),
        "first_seen_accounts": len(diff.first_seen_accounts),
        "first_seen_regions": len(diff.first_seen_regions),
        "first_seen_principals": len(diff.first_seen_principals),
        "nothing_new": document["nothing_new"],
        "attention": len(found.rows),
        "suppressed": sum(s.hits for s in found.suppressed),
        "revised": revision is not None,
        "unreadable": 0 if unreadable is None else unreadable.count,
        "integrity_alarming": 0 if checked is None else len(checked.alarming),
        "dropped": dropped.to_json(),
        "location": f"s3://{bucket}/{report_prefix(report_day)}",
    }


def dropped_records(scanned: dict[str, int] | None, checked: integrity.IntegritySummary | None) -> Dropped:
    """The day's dropped records by reason (trailkeeper/dropped.py): the activity scan's counts (None for a result
    saved before version 4), and the log objects of another shape the night's integrity validation read (None
    when it did not validate the night: "not counted", never 0)."""
    return Dropped.of(scanned, None if checked is None else checked.not_records_objects)


def advance_ledger(day: dt.date, today: list[ActivityRow], baseline_days: int, bucket: str, s3: Any) -> ActivityDiff:
    """Compare `today` with the ledger of the latest earlier day and write the ledger of `day`.

    The ledger's large files are streamed through local files (Lambda's /tmp), so memory holds one day's rows
    and the account-region pairs, whatever the window. Ledger D is rebuilt from the previous day's on every
    run of D, never from itself: re-running a day gives the same ledger and the same report.
    """
    earlier = [d for key in aws.list_keys(s3, bucket, LEDGER_PREFIX) if (d := ledger_day(key)) and d < day]
    with tempfile.TemporaryDirectory(prefix="trailkeeper-ledger-") as work:
        folder = Path(work)
        previous: LedgerState | None = None
        inputs = {"keys": folder / "previous-keys.csv", "principals": folder / "previous-principals.csv"}
        for path in inputs.values():
            path.touch()
        if earlier:
            last = max(earlier)
            previous = LedgerState.from_json(
                aws.get_json(s3, bucket, ledger_state_key(last)), f"s3://{bucket}/{ledger_state_key(last)}"
            )
            for name, key in (("keys", ledger_keys_key(last)), ("principals", ledger_principals_key(last))):
                with inputs[name].open("wb") as sink:
                    if not aws.download_if_exists(s3, bucket, key, sink):
                        raise BaselineUnreadable(f"s3://{bucket}/{key} is missing: the ledger of {last} is incomplete")
        outputs = {"keys": folder / "keys.csv", "principals": folder / "principals.csv"}
        with (
            inputs["keys"].open(newline="", encoding="utf-8") as keys_in,
            inputs["principals"].open(newline="", encoding="utf-8") as principals_in,
            outputs["keys"].open("w", newline="", encoding="utf-8") as keys_out,
            outputs["principals"].open("w", newline="", encoding="utf-8") as principals_out,
        ):
            keys_writer, principals_writer = csv.writer(keys_out), csv.writer(principals_out)
            source = previous.day if previous else day
            diff, state = advance(
                day,
                today,
                previous,
                read_keys(keys_in, f"s3://{bucket}/{ledger_keys_key(source)}"),
                read_principals(principals_in, f"s3://{bucket}/{ledger_principals_key(source)}"),
                baseline_days,
                lambda key, seen: write_row(keys_writer, key, seen),
                lambda key, first: write_row(principals_writer, key, first),
            )
        aws.upload_file(s3, bucket, ledger_keys_key(day), str(outputs["keys"]), "text/csv")
        aws.upload_file(s3, bucket, ledger_principals_key(day), str(outputs["principals"]), "text/csv")
    aws.put_json(s3, bucket, ledger_state_key(day), state.to_json())  # last: ledger D is now complete
    return diff


def report_document(
    day: dt.date,
    subject: str,
    diff: ActivityDiff,
    window_days: int,
    reconciliation: dict[str, Any],
    checked: integrity.IntegritySummary | None = None,
    found: Attention | None = None,
) -> dict[str, Any]:
    """report.json: the day's report as data (schema in the README, "report.json")."""
    anomalies = reconciliation.get("anomalies") if isinstance(reconciliation.get("anomalies"), dict) else {}
    return {
        "version": REPORT_JSON_VERSION,
        "report_day": day.isoformat(),
        "subject": subject,
        "baseline": {"state": diff.baseline_state, "days": diff.baseline_days, "window_days": window_days},
        "no_activity": diff.no_activity,
        # VerifyPartitions' alarm when no account was discovered ({reason, detail}), else null.
        "no_data_alarm": reconciliation.get("no_data_alarm")
        if isinstance(reconciliation.get("no_data_alarm"), dict)
        else None,
        # A detection hit or an integrity alarm is news: the email goes out even when SendWhenNothingNew is false.
        "nothing_new": diff.nothing_new
        and not (found and found.rows)
        and not (checked is not None and checked.alarming),
        # The day's detection hits, most severe first, and what each operator suppression did (README).
        "attention": [asdict(a) for a in found.rows] if found else [],
        "suppressed": [asdict(s) for s in found.suppressed] if found else [],
        "totals": {
            "rows": diff.rows_today,
            "events": diff.events_today,
            "accounts": diff.accounts_today,
            "account_regions": diff.regions_today,
        },
        "new_activity": [
            {
                "account": r.account,
                "region": r.region,
                "principal": r.principal,
                "eventsource": r.eventsource,
                "eventname": r.eventname,
                "events": r.events,
                "failures": r.failures,
                "first_at": r.first_at,
                "sample_source_ips": r.sample_source_ips,
                "sample_user_agents": r.sample_user_agents,
                "sample_sessions": r.sample_sessions,
            }
            for r in diff.new_rows
        ],
        "silent": [
            {
                "account": p.account,
                "region": p.region,
                "since": p.since.isoformat(),
                "state": integrity.silence_state(checked, p.account, p.region),
            }
            for p in diff.silent
        ],
        "resumed": [{"account": p.account, "region": p.region, "quiet_days": p.quiet_days} for p in diff.resumed],
        "first_seen": {
            "accounts": list(diff.first_seen_accounts),
            "regions": [list(pair) for pair in diff.first_seen_regions],
            "principals": [list(pair) for pair in diff.first_seen_principals],
        },
        "reconciliation": {"added": reconciliation.get("added"), "anomalies": (anomalies or {}).get("count")},
        "integrity": None if checked is None else checked.to_json(),
    }


def send_report(
    report_day: dt.date,
    resend: bool,
    run_id: str,
    settings: Settings,
    report_settings: ReportSettings,
    s3: Any,
    sesv2: Any,
) -> dict[str, Any]:
    """Email D's stored report exactly once; an SES failure leaves D unsent so a redrive sends it."""
    bucket = settings.RESULTS_BUCKET
    email = json.loads(aws.get_text(s3, bucket, report_json_key(report_day)))
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
        # the message BuildReport stored, byte for byte (report/message.py): what the local run shows is what goes
        message_id = aws.send_raw_email(
            sesv2,
            report_settings.REPORT_SENDER,
            report_settings.REPORT_RECIPIENTS,
            aws.get_bytes(s3, bucket, report_key(report_day, EMAIL_MESSAGE)),
        )
    except Exception:
        aws.delete_object(s3, bucket, marker)  # not sent: a retry or redrive must be able to send it
        raise
    aws.put_text(
        s3,
        bucket,
        marker,
        json.dumps({"state": "sent", "execution": run_id, "message_id": message_id}),
        "application/json",
    )
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
    return location[len(prefix) :]
