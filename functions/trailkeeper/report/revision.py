"""A revised report: a re-run of a day that finds more events than the saved result (late logs).

CloudTrail delivers most logs within minutes but some much later (docs/aws-facts.md); a night that ran before
they arrived under-counted its day. A re-run (`resend_report`, or a later re-check) whose fresh result holds
more events than the saved one replaces activity/D.csv: the results bucket is versioned, so the first result
stays as a noncurrent version. A re-run that finds the same events (or fewer: logs are never un-delivered, so
fewer means a deletion to investigate, not a correction) keeps the first result. The email then says, in its
subject and first line, that it revises the earlier one (report/render.py puts them there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from trailkeeper.report.activity import ActivityRow

SUBJECT_MARK = "REVISED"


@dataclass(frozen=True)
class Revision:
    events_before: int
    events_now: int

    def as_json(self) -> dict[str, int]:
        return {"events_before": self.events_before, "events_now": self.events_now}


def revision_of(fresh: Iterable[ActivityRow], saved: Iterable[ActivityRow]) -> Revision | None:
    """A Revision when the fresh result counts more events than the saved one; None keeps the saved result."""
    now, before = sum(row.events for row in fresh), sum(row.events for row in saved)
    return Revision(before, now) if now > before else None


def first_line(day: dt.date, revision: Revision) -> str:
    return (
        f"Revised report: logs for {day.isoformat()} arrived after its first report, which counted "
        f"{revision.events_before:,} events; this one counts {revision.events_now:,} and replaces it."
    )
