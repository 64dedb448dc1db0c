"""Execution input: the only two shapes accepted, checked field by field before anything runs.

Scheduled (EventBridge Scheduler):  {"time": "2024-01-05T02:00:00Z"}
Report re-run for one day:          {"report_date": "2024-01-04", "resend_report": false}
Backfill (operator):                {"start": "2024-01-01", "end": "2024-01-31",
                                     "accounts": [...], "regions": [...], "dry_run": true}
Resume a backfill's unfinished shards:  the same backfill input plus {"resume": "<its execution name>"}
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from trailkeeper import allowlist
from trailkeeper.errors import InvalidInput

# CloudTrail launched in November 2013: nothing can exist before it.
EARLIEST_DAY = dt.date(2013, 11, 1)
# How long after a report day ends before its logs count as delivered. CloudTrail delivers within about
# 15 minutes on average, not guaranteed (docs/aws-facts.md); an hour is four times that and still leaves the
# default schedule (01:30 UTC) half an hour of margin. Logs later than this are late logs: a re-run counts them.
DELIVERY_LAG = dt.timedelta(hours=1)
# A backfill larger than ten years is a typo, not a plan (and an enumeration-cost attack).
MAX_BACKFILL_DAYS = 3_660
MAX_LISTED_ACCOUNTS = 10_000
MAX_LISTED_REGIONS = 64
SCHEDULER_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

NIGHTLY_KEYS = frozenset({"time"})
REPORT_KEYS = frozenset({"report_date", "resend_report"})
BACKFILL_KEYS = frozenset({"start", "end", "accounts", "regions", "dry_run", "resume"})


@dataclass(frozen=True)
class RunRequest:
    """A validated request: which days to reconcile, narrowed how, and which day to report on."""

    mode: Literal["nightly", "backfill"]
    start: dt.date
    end: dt.date
    accounts: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    dry_run: bool = False
    report_day: dt.date | None = None
    resend_report: bool = False  # email the day's report again even if it was sent
    resume: str | None = None  # a backfill's earlier execution whose unfinished shards to run

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "accounts": sorted(self.accounts) if self.accounts is not None else None,
            "regions": sorted(self.regions) if self.regions is not None else None,
            "dry_run": self.dry_run,
            "report_day": self.report_day.isoformat() if self.report_day else None,
            "resend_report": self.resend_report,
            "resume": self.resume,
        }

    @classmethod
    def from_json(cls, data: Any) -> RunRequest:
        """Re-read a request passed between states; it is validated again, never trusted."""
        if not isinstance(data, dict) or data.get("mode") not in {"nightly", "backfill"}:
            raise InvalidInput("request: expected the object ValidateInput produced")
        start, end = _date(data, "start"), _date(data, "end")
        report_day = None if data.get("report_day") is None else _date(data, "report_day")
        return cls(
            mode=data["mode"],
            start=start,
            end=end,
            accounts=_listed(data, "accounts", allowlist.is_account_id, "12-digit account id", MAX_LISTED_ACCOUNTS),
            regions=_listed(data, "regions", allowlist.is_region, "region name", MAX_LISTED_REGIONS),
            dry_run=_bool(data, "dry_run"),
            report_day=report_day,
            resend_report=_bool(data, "resend_report"),
            resume=_execution_name(data, "resume"),
        )


def parse_execution_input(raw: Any, *, lookback_days: int, now: dt.datetime) -> RunRequest:
    """Validate an execution input against the clock `now` (UTC); raise InvalidInput naming the field.

    Every shape is bounded in time: nothing before CloudTrail existed, no scheduled time that is not in the past,
    and no report on a day that has not ended plus the delivery lag (its report would be saved half-empty,
    write-once, and the real night would then find it "already sent").
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(dt.UTC)
    today = now.date()
    if not isinstance(raw, dict):
        raise InvalidInput(f"input: expected a JSON object, got {_type_name(raw)}")
    keys = set(raw)
    if not keys:
        raise InvalidInput("input: empty object; give {'time': ...} or {'start': ..., 'end': ...}")
    if keys & BACKFILL_KEYS and not keys & (NIGHTLY_KEYS | REPORT_KEYS):
        return _backfill(raw, today)
    if keys & NIGHTLY_KEYS and not keys & (REPORT_KEYS | BACKFILL_KEYS):
        _reject_unknown(raw, NIGHTLY_KEYS)
        scheduled = _scheduled_time(raw["time"])
        if scheduled > now:
            raise InvalidInput(f"time: {raw['time']} is not in the past (now {_iso(now)})")
        run_day = scheduled.date()
        if run_day <= EARLIEST_DAY:  # checked before any date arithmetic: year 1 has no day before it
            raise InvalidInput(f"time: {raw['time']} reports on a day before CloudTrail existed ({EARLIEST_DAY})")
        _check_report_day(
            run_day - dt.timedelta(days=1),
            now,
            "time",
            "; schedule the nightly run later after midnight UTC (ScheduleExpression)",
        )
        return _nightly(run_day, lookback_days)
    if keys & REPORT_KEYS and not keys & (NIGHTLY_KEYS | BACKFILL_KEYS):
        _reject_unknown(raw, REPORT_KEYS)
        report_day = _date(raw, "report_date")
        _check_report_day(report_day, now, "report_date", "")
        night = _nightly(report_day + dt.timedelta(days=1), lookback_days)
        return replace(night, resend_report=_bool(raw, "resend_report"))
    unknown = sorted(keys - NIGHTLY_KEYS - REPORT_KEYS - BACKFILL_KEYS)
    if unknown:
        raise InvalidInput(f"{_shown(unknown[0])}: unknown field")
    raise InvalidInput("input: mixes 'time', 'report_date' and backfill fields; give exactly one kind")


def _nightly(run_day: dt.date, lookback_days: int) -> RunRequest:
    """LookbackDays days ending yesterday, plus today and tomorrow (logs are queryable as they land).

    Yesterday is the report day, whose query reads its partitions and today's: the window holds both even
    with LookbackDays=0, so they are always registered and verified. Nothing before CloudTrail existed.
    """
    return RunRequest(
        mode="nightly",
        start=max(EARLIEST_DAY, run_day - dt.timedelta(days=max(lookback_days, 1))),
        end=run_day + dt.timedelta(days=1),
        report_day=run_day - dt.timedelta(days=1),
    )


def delivered_by(report_day: dt.date) -> dt.datetime:
    """When the report day's logs count as delivered: the day's end plus CloudTrail's delivery lag."""
    return dt.datetime.combine(report_day + dt.timedelta(days=1), dt.time(), dt.UTC) + DELIVERY_LAG


def _check_report_day(report_day: dt.date, now: dt.datetime, field: str, hint: str) -> None:
    """A report day is reportable once it has ended plus the delivery lag, and not before CloudTrail existed."""
    if report_day < EARLIEST_DAY:
        raise InvalidInput(f"{field}: report day {report_day} is before CloudTrail existed ({EARLIEST_DAY})")
    if report_day >= now.date():  # checked before any date arithmetic: 9999-12-31 has no day after it
        raise InvalidInput(f"{field}: report day {report_day} has not ended (today is {now.date()} UTC)")
    due = delivered_by(report_day)
    if now < due:
        raise InvalidInput(
            f"{field}: report day {report_day} has not ended plus CloudTrail's delivery lag "
            f"({_hours(DELIVERY_LAG)}) until {_iso(due)} (now {_iso(now)}){hint}"
        )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


def _backfill(raw: dict[str, Any], today: dt.date) -> RunRequest:
    _reject_unknown(raw, BACKFILL_KEYS)
    for required in ("start", "end"):
        if required not in raw:
            raise InvalidInput(f"{required}: required for a backfill")
    start, end = _date(raw, "start"), _date(raw, "end")
    if start > end:
        raise InvalidInput(f"start: {start} is after end {end}")
    if start < EARLIEST_DAY:
        raise InvalidInput(f"start: {start} is before CloudTrail existed ({EARLIEST_DAY})")
    _check_not_future(end, today + dt.timedelta(days=1), "end")
    if (end - start).days + 1 > MAX_BACKFILL_DAYS:
        raise InvalidInput(f"end: the range spans more than {MAX_BACKFILL_DAYS} days; split the backfill")
    return RunRequest(
        mode="backfill",
        start=start,
        end=end,
        accounts=_listed(raw, "accounts", allowlist.is_account_id, "12-digit account id", MAX_LISTED_ACCOUNTS),
        regions=_listed(raw, "regions", allowlist.is_region, "region name", MAX_LISTED_REGIONS),
        dry_run=_bool(raw, "dry_run"),
        resume=_execution_name(raw, "resume"),
    )


def check_execution_name(name: Any) -> str:
    """The execution's own name, refused at the first state unless every later reader accepts it.

    Step Functions accepts far more (1-80 characters, most of Unicode, '.', '!', '@', ...), but the run's
    S3 keys, a later resume and CloudWatch logging need 1-80 letters, digits, _ or - (the set Step Functions
    itself names for logging). Refusing here fails the execution before anything is written.
    """
    if not isinstance(name, str) or allowlist.EXECUTION_NAME.fullmatch(name) is None:
        raise InvalidInput(
            f"execution name: {_shown(name)} is accepted by Step Functions but trailkeeper keeps a run's files "
            "under its name: start it with a name of 1-80 letters, digits, _ or -"
        )
    return name


def _execution_name(raw: dict[str, Any], field: str) -> str | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or allowlist.EXECUTION_NAME.fullmatch(value) is None:
        raise InvalidInput(f"{field}: {_shown(value)} is not an execution name (1-80 letters, digits, _ or -)")
    return value


def _scheduled_time(value: Any) -> dt.datetime:
    if not isinstance(value, str) or SCHEDULER_TIME.fullmatch(value) is None:
        raise InvalidInput(f"time: {_shown(value)} is not a UTC timestamp like 2024-01-05T02:00:00Z")
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInput(f"time: {_shown(value)} is not a real date and time") from None


def _date(raw: dict[str, Any], field: str) -> dt.date:
    value = raw.get(field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected a date string YYYY-MM-DD, got {_type_name(value)}")
    if allowlist.ISO_DATE.fullmatch(value) is None:
        raise InvalidInput(f"{field}: {_shown(value)} is not in the format YYYY-MM-DD")
    day = allowlist.parse_iso_date(value)
    if day is None:
        raise InvalidInput(f"{field}: {_shown(value)} is not a real calendar date")
    return day


def _check_not_future(day: dt.date, latest: dt.date, field: str) -> None:
    if day > latest:
        raise InvalidInput(f"{field}: {day} is in the future (latest allowed {latest})")


def _bool(raw: dict[str, Any], field: str) -> bool:
    value = raw.get(field, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{field}: expected true or false, got {_type_name(value)}")
    return value


def _listed(raw: dict[str, Any], field: str, valid: Any, what: str, limit: int) -> frozenset[str] | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput(f"{field}: expected a list of strings, got {_type_name(value)}")
    if not value:
        raise InvalidInput(f"{field}: empty list; omit the field to include all")
    if len(value) > limit:
        raise InvalidInput(f"{field}: more than {limit} entries")
    for item in value:
        if not valid(item):
            raise InvalidInput(f"{field}: {_shown(item)} is not a {what}")
    return frozenset(value)


def _reject_unknown(raw: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(f"{_shown(unknown[0])}: unknown field")


def _type_name(value: Any) -> str:
    return (
        "null"
        if value is None
        else {
            bool: "a boolean",
            int: "a number",
            float: "a number",
            str: "a string",
            list: "a list",
            dict: "an object",
        }.get(type(value), type(value).__name__)
    )


def _shown(value: Any) -> str:
    """A value quoted for an error message, cut short: messages end up in logs and notifications."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
