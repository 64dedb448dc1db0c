"""Keys in the results bucket: the one home of every prefix and object name trailkeeper writes there.

Report keys (all dated by the report day D, UTC):
  activity/D.csv              the day's query result, written once (a report may rest on it)
  reports/D/report.json       the day's report as data (README, "report.json"); text, HTML and CSV beside it:
  reports/D/report.txt, report.html, new_activity.csv
  reports/D/sent.json         marker: the email for D went out (or is being sent: a claim)
  ledger/D/keys.csv           baseline ledger after D: every activity key seen in the window, with its last day
  ledger/D/principals.csv     every (account, principal) ever seen, with its first day
  ledger/D.json               the rest of the ledger (account-region pairs, first/last day); written last, so
                              its presence says ledger D is complete
"""

from __future__ import annotations

import datetime as dt

ACTIVITY_PREFIX = "activity/"
REPORTS_PREFIX = "reports/"
LEDGER_PREFIX = "ledger/"


def activity_key(day: dt.date) -> str:
    return f"{ACTIVITY_PREFIX}{day.isoformat()}.csv"


def report_prefix(day: dt.date) -> str:
    return f"{REPORTS_PREFIX}{day.isoformat()}/"


def report_json_key(day: dt.date) -> str:
    return report_prefix(day) + "report.json"


def ledger_keys_key(day: dt.date) -> str:
    return f"{LEDGER_PREFIX}{day.isoformat()}/keys.csv"


def ledger_principals_key(day: dt.date) -> str:
    return f"{LEDGER_PREFIX}{day.isoformat()}/principals.csv"


def ledger_state_key(day: dt.date) -> str:
    return f"{LEDGER_PREFIX}{day.isoformat()}.json"


def ledger_day(key: str) -> dt.date | None:
    """The day of a `ledger/D.json` key, None for any other key."""
    name = key.removeprefix(LEDGER_PREFIX)
    if key == name or not name.endswith(".json") or "/" in name:
        return None
    try:
        day = dt.date.fromisoformat(name.removesuffix(".json"))
    except ValueError:
        return None
    return day if ledger_state_key(day) == key else None
