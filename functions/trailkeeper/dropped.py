"""What the nightly report cannot count, by reason: the one home of the reasons, their bound and their wording.

No CloudTrail record is dropped without a trace (README "Dropped records"). Two places count:
* the daily activity scan itself (sql/daily_activity.sql, filled in by report/query.py) counts the records of the
  report day's folder that no report will ever count: an `eventTime` that is not a 'YYYY-MM-DDTHH:MM:SSZ'
  string, or one outside FOLDER_DAY_BEFORE .. FOLDER_DAY_AFTER of the folder's day;
* the night's integrity validation (integrity/logs.py, which gunzips every log file a digest lists) counts the
  log objects whose JSON is not `{"Records": [...]}`: Athena's CloudTrailInputFormat yields no row for them, so
  no query can count them. When integrity did not validate the night, that count is None: "not counted", never 0.

Each folder is counted once, by the report of the folder's day: the night after day D, D's folder is complete
(folders are delivery days) and its logs are the ones night D's integrity validation reads.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

EVENT_TIME_NOT_TIMESTAMP = "event_time_not_timestamp"
FAR_FROM_FOLDER_DAY = "far_from_folder_day"
NOT_RECORDS_OBJECT = "not_records_object"
# Counted by the activity query (one result row per reason with records), in this order.
QUERY_REASONS = (EVENT_TIME_NOT_TIMESTAMP, FAR_FROM_FOLDER_DAY)
REASONS = (*QUERY_REASONS, NOT_RECORDS_OBJECT)

# Report D reads the folders of D and D+1 and keeps events of D, so a record of folder F is counted by some report
# exactly when its eventTime lies in [F - 1 day, F + 1 day): delivered the day it happened or the next. CloudTrail
# delivers in about 15 minutes on average, not guaranteed (../shared/notes/aws-facts.md, CloudTrail user guide),
# and never before the event: an event of F + 1 or later in folder F, or one delivered more than a day late, is
# far from its folder's day and is counted here rather than lost.
FOLDER_DAY_BEFORE = dt.timedelta(days=1)
FOLDER_DAY_AFTER = dt.timedelta(days=1)

WORDING = {
    EVENT_TIME_NOT_TIMESTAMP: "records whose eventTime is not a YYYY-MM-DDTHH:MM:SSZ timestamp",
    FAR_FROM_FOLDER_DAY: "records whose eventTime is more than a day from their folder's day",
    NOT_RECORDS_OBJECT: 'log files whose JSON is not {"Records": [...]} (read by no query)',
}
NOT_COUNTED = "not counted"

# CloudTrail writes `{"Records":[` first; anything else is decided by parsing the whole document (rare).
_RECORDS_OPENING = re.compile(rb'\s*\{\s*"Records"\s*:\s*\[')
OPENING_BYTES = 64  # what a reader passes as `opening`


def folder_day_bounds(folder_day: dt.date) -> tuple[dt.date, dt.date]:
    """[first, end) of the days an event of `folder_day`'s folder may have happened in and still be counted."""
    return folder_day - FOLDER_DAY_BEFORE, folder_day + FOLDER_DAY_AFTER


def not_records_object(opening: bytes, whole: Callable[[], bytes]) -> bool:
    """Whether a log's uncompressed text is JSON of another shape than `{"Records": [...]}` (NOT_RECORDS_OBJECT).

    `opening` is the first OPENING_BYTES of the text, which decide for every log CloudTrail writes; only when they
    do not is `whole()` parsed. Text that is not JSON at all is not this reason: Athena fails on it instead (the
    unreadable objects, README).
    """
    if _RECORDS_OPENING.match(opening[:OPENING_BYTES]):
        return False
    try:  # only for the odd object: a CloudTrail log never gets here
        document = json.loads(whole())
    except ValueError:
        return False
    return not (isinstance(document, dict) and isinstance(document.get("Records"), list))


@dataclass(frozen=True)
class Dropped:
    """The day's counts by reason; None: not counted (an older result, or a night integrity did not validate)."""

    counts: Mapping[str, int | None]

    @classmethod
    def of(cls, query: Mapping[str, int] | None, not_records_objects: int | None) -> Dropped:
        counts: dict[str, int | None] = {
            reason: (None if query is None else query.get(reason, 0)) for reason in QUERY_REASONS
        }
        counts[NOT_RECORDS_OBJECT] = not_records_objects
        return cls(counts)

    @property
    def total(self) -> int:
        return sum(count or 0 for count in self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """report.json `dropped` and BuildReport's output: {reason: count or null}."""
        return {reason: self.counts.get(reason) for reason in REASONS}

    def lines(self) -> tuple[str, ...]:
        """One line per reason for the email (our own words and numbers: nothing from the bucket)."""
        return tuple(
            f"{WORDING[reason]}: {NOT_COUNTED if count is None else f'{count:,}'}"
            for reason in REASONS
            for count in (self.counts.get(reason),)
        )
