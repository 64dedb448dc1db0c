"""The results bucket's layout: the one home of every key and prefix trailkeeper writes or reads there.

  runs/<run>/                      one execution's reconciliation (a nightly run, or a backfill)
    plan.json, statements/<i>.sql  the plan and its ALTER TABLE statements (a nightly run, or one shard)
    backfill.json                  a backfill's request and shard count
    shards.json                    a backfill's shards, the Distributed Map's items (written by PlanShards)
    shards/<id>/                   one shard's plan.json and statements/<i>.sql
    outcomes/<id>.json             a finished shard's counts: the file that marks it done
    failures/<id>.json             why a shard failed (written by the ASL's RecordShardFailure)
    summary.json                   a backfill's totals
    log-scan/items.json            the day's partition LOCATIONs in batches, the ScanLogs Map's items (PlanLogScan)
    log-scan/<batch>.json          one batch's counts and unreadable objects (ScanLogBatch)
  map-runs/                        the Distributed Map's own result writer (ResultWriter, in the ASL)
  athena/                          Athena's raw query results (the workgroup's OutputLocation, in the template)
  activity/D.csv                   day D's query result, written once (a report may rest on it); a re-run
                                   finding more events revises it, the first kept as a noncurrent version
  ledger/D/keys.csv                the baseline ledger after D: every activity key seen in the window, last day
  ledger/D/principals.csv          every (account, principal) ever seen, with its first day
  ledger/D.json                    the rest (account-region pairs, first/last day); written last: ledger D complete
  reports/D/report.json            day D's report as data (README, "report.json"), with its detection hits
                                   (`attention`) and what each suppression did (`suppressed`); the email's subject
  reports/D/report.txt, report.html, new_activity.csv, sent.json   day D's report and email marker
  reports/D/email.eml              the MIME message SendReport sends, exactly (report/message.py)
  reports/D/unreadable.json        the log objects the day's query could not read and excluded, and the
                                   execution that excluded them (ExcludeUnreadableLogs; README "Unreadable logs")
  integrity/anchors/<account>/<region>.json   the last verified digest of each chain of the pair (the anchor)
  integrity/<night>/pairs.json     the night's integrity batches (the ValidateIntegrity Map's items)
  integrity/<night>/batches/<b>.json  one batch's per-pair results
  integrity/<night>/summary.json   the night's integrity summary for the report (README "Integrity")
  config/suppressions.json         the operator's detection suppressions (detections/suppressions.py documents
                                   the format); written by the operator, only read by trailkeeper, never expired

Run ids and shard ids are checked against their allow-lists before they become part of a key.
The template's lifecycle rules and IAM resources name the same top-level prefixes (a test compares them).
"""

from __future__ import annotations

import datetime as dt
import re

from trailkeeper import allowlist
from trailkeeper.errors import InvalidInput

RUNS_PREFIX = "runs/"
MAP_RUNS_PREFIX = "map-runs/"
ATHENA_RESULTS_PREFIX = "athena/"
ACTIVITY_PREFIX = "activity/"
REPORTS_PREFIX = "reports/"
LEDGER_PREFIX = "ledger/"
INTEGRITY_PREFIX = "integrity/"
TOP_LEVEL_PREFIXES = (
    RUNS_PREFIX,
    MAP_RUNS_PREFIX,
    ATHENA_RESULTS_PREFIX,
    ACTIVITY_PREFIX,
    REPORTS_PREFIX,
    LEDGER_PREFIX,
    INTEGRITY_PREFIX,
)

REPORT_JSON = "report.json"
UNREADABLE_JSON = "unreadable.json"
REPORT_TEXT = "report.txt"
REPORT_HTML = "report.html"
NEW_ACTIVITY_CSV = "new_activity.csv"
SENT_MARKER = "sent.json"
EMAIL_MESSAGE = "email.eml"
CONFIG_PREFIX = "config/"
SUPPRESSIONS_KEY = f"{CONFIG_PREFIX}suppressions.json"
# What a person reads of day D's report (the local runner copies these out of the bucket).
REPORT_FILES = (REPORT_JSON, REPORT_TEXT, REPORT_HTML, NEW_ACTIVITY_CSV, EMAIL_MESSAGE)

_REPORT_DAY_PREFIX = re.compile(re.escape(REPORTS_PREFIX) + r"([0-9]{4}-[0-9]{2}-[0-9]{2})/")


# ------------------------------------------------------------------------------------------------ runs/


def run_prefix(run_id: str) -> str:
    if not isinstance(run_id, str) or not allowlist.EXECUTION_NAME.fullmatch(run_id):
        raise InvalidInput(f"run: {run_id!r} is not an execution name")
    return f"{RUNS_PREFIX}{run_id}/"


def shard_prefix(run_id: str, shard: str | None) -> str:
    """Where one reconciliation writes: runs/<run>/ for a nightly run, runs/<run>/shards/<id>/ for a shard."""
    if shard is None:
        return run_prefix(run_id)
    return f"{run_prefix(run_id)}shards/{_shard_id(shard)}/"


def plan_key(prefix: str) -> str:
    """A reconciliation's plan, under its shard_prefix."""
    return f"{prefix}plan.json"


def statements_prefix(prefix: str) -> str:
    """A reconciliation's statements folder, under its shard_prefix."""
    return f"{prefix}statements/"


def statement_key(statements: str, index: int) -> str:
    """Statement `index` under a statements_prefix (the ASL's AddPartitions Map reads <prefix><i>.sql)."""
    return f"{statements}{index}.sql"


def backfill_key(run_id: str) -> str:
    """A backfill's request and shard count (what a resume checks it against)."""
    return f"{run_prefix(run_id)}backfill.json"


def shards_key(run_id: str) -> str:
    """A backfill's shards, the Distributed Map's items (written by PlanShards)."""
    return f"{run_prefix(run_id)}shards.json"


def summary_key(run_id: str) -> str:
    """A backfill's totals over its shards."""
    return f"{run_prefix(run_id)}summary.json"


def outcomes_prefix(run_id: str) -> str:
    """Finished shards' counts, one file each. One flat folder, so listing it shows which shards are done."""
    return f"{run_prefix(run_id)}outcomes/"


def failures_prefix(run_id: str) -> str:
    """Why shards failed: each child execution's Error and Cause (written by the ASL's RecordShardFailure)."""
    return f"{run_prefix(run_id)}failures/"


def outcome_key(run_id: str, shard: str) -> str:
    return f"{outcomes_prefix(run_id)}{_shard_id(shard)}.json"


def failure_key(run_id: str, shard: str) -> str:
    return f"{failures_prefix(run_id)}{_shard_id(shard)}.json"


def _shard_id(shard: str) -> str:
    if not isinstance(shard, str) or not allowlist.SHARD_ID.fullmatch(shard):
        raise InvalidInput(f"shard: {shard!r} is not a shard id")
    return shard


# ------------------------------------------------------------------------------------------------ activity/, reports/


def activity_key(day: dt.date) -> str:
    return f"{ACTIVITY_PREFIX}{day.isoformat()}.csv"


def report_prefix(day: dt.date) -> str:
    return f"{REPORTS_PREFIX}{day.isoformat()}/"


def report_key(day: dt.date, name: str) -> str:
    """One of day D's report files (REPORT_TEXT, ..., SENT_MARKER)."""
    return report_prefix(day) + name


def report_day(prefix: str) -> dt.date | None:
    """The day D of a `reports/D/` prefix (as ListObjectsV2 returns it with Delimiter="/"), else None."""
    match = _REPORT_DAY_PREFIX.fullmatch(prefix)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def report_json_key(day: dt.date) -> str:
    return report_key(day, REPORT_JSON)


# ------------------------------------------------------------------------------------------------ ledger/


def ledger_keys_key(day: dt.date) -> str:
    return f"{LEDGER_PREFIX}{day.isoformat()}/keys.csv"


def ledger_principals_key(day: dt.date) -> str:
    return f"{LEDGER_PREFIX}{day.isoformat()}/principals.csv"


def ledger_state_key(day: dt.date) -> str:
    return f"{LEDGER_PREFIX}{day.isoformat()}.json"


def ledger_day(key: str) -> dt.date | None:
    """The day of a `ledger/D.json` key (the marker of a complete ledger), None for any other key."""
    name = key.removeprefix(LEDGER_PREFIX)
    if key == name or not name.endswith(".json") or "/" in name:
        return None
    try:
        day = dt.date.fromisoformat(name.removesuffix(".json"))
    except ValueError:
        return None
    return day if ledger_state_key(day) == key else None


# ------------------------------------------------------------------------------------------------ integrity/

_BATCH = re.compile(r"\d{1,6}")


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what}: {value!r} is not well-formed")
    return value


def integrity_anchor_key(account: str, region: str) -> str:
    return (
        f"{INTEGRITY_PREFIX}anchors/{_checked(allowlist.ACCOUNT_ID, account, 'account')}/"
        f"{_checked(allowlist.REGION, region, 'region')}.json"
    )


def integrity_night_prefix(night: dt.date) -> str:
    return f"{INTEGRITY_PREFIX}{night.isoformat()}/"


def integrity_pairs_key(night: dt.date) -> str:
    return f"{integrity_night_prefix(night)}pairs.json"


def integrity_batches_prefix(night: dt.date) -> str:
    return f"{integrity_night_prefix(night)}batches/"


def integrity_batch_key(night: dt.date, batch: str) -> str:
    return f"{integrity_batches_prefix(night)}{_checked(_BATCH, batch, 'batch')}.json"


def integrity_summary_key(night: dt.date) -> str:
    return f"{integrity_night_prefix(night)}summary.json"


# ------------------------------------------------------------------------------------------------ unreadable logs

_SCAN_BATCH = re.compile(r"[0-9]{1,6}")


def log_scan_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}log-scan/"


def log_scan_items_key(run_id: str) -> str:
    """The ScanLogs Map's items: batches of the report day's partition LOCATIONs (written by PlanLogScan)."""
    return f"{log_scan_prefix(run_id)}items.json"


def log_scan_batch_key(run_id: str, batch: int) -> str:
    """One batch's counts and unreadable objects (written by ScanLogBatch)."""
    return f"{log_scan_prefix(run_id)}{_checked(_SCAN_BATCH, str(batch), 'batch')}.json"


def log_scan_batch(key: str, run_id: str) -> int | None:
    """The batch number of a `log_scan_batch_key`, None for any other key (the items file among them)."""
    name = key.removeprefix(log_scan_prefix(run_id)).removesuffix(".json")
    if not key.endswith(".json") or not _SCAN_BATCH.fullmatch(name) or log_scan_batch_key(run_id, int(name)) != key:
        return None
    return int(name)


def unreadable_key(day: dt.date) -> str:
    return report_key(day, UNREADABLE_JSON)
