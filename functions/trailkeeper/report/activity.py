"""One day's activity rows, parsed from the Athena CSV result of sql/daily_activity.sql.

The same parser reads today's result and the saved baselines. It is strict on purpose: a baseline
that cannot be parsed raises BaselineUnreadable instead of becoming an empty set, because an empty
baseline would report everything as new (or hide a tampered file). Values are kept exactly as read;
rendering makes them safe, comparing uses the parsed fields, never raw lines.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from trailkeeper.errors import BaselineUnreadable

COLUMNS = (
    "account", "region", "principal", "eventsource", "eventname",
    "events", "failures", "first_at", "sample_source_ips", "sample_user_agents", "sample_sessions",
)
# Only plain ASCII digits: int() would also accept ' 7', '+7', '1_000' and other scripts' digits.
_COUNT = re.compile(r"[0-9]{1,18}")
# Error messages travel to a failure notification: show a little of a bad value, escaped by repr().
_SHOWN_CHARS = 40

ActivityKey = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True)  # slots: a day of an organization is 10^5-10^6 rows in memory
class ActivityRow:
    account: str
    region: str
    principal: str
    eventsource: str
    eventname: str
    events: int
    failures: int  # events with an errorCode or a documented failure outcome (sql/daily_activity.sql)
    first_at: str
    sample_source_ips: str
    sample_user_agents: str
    sample_sessions: str = ""  # role session names (not the principal) and source identities

    @property
    def key(self) -> ActivityKey:
        """What makes activity "the same" from one day to the next."""
        return (self.account, self.region, self.principal, self.eventsource, self.eventname)


def parse_activity_csv(text: str, *, source: str = "activity result") -> list[ActivityRow]:
    """Rows of an Athena CSV (header row, values double-quoted, NULL as empty); `source` names it in errors."""
    # newline="" lets the csv module see quoted line breaks inside values; str.splitlines() would cut
    # a user agent holding '\r\n' (or U+2028) into two forged rows.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            shown = "no header" if header is None else _shown(",".join(header))
            raise BaselineUnreadable(f"{source}: expected header {','.join(COLUMNS)}, found {shown}")
        return [_row(fields, source, number) for number, fields in enumerate(reader, start=1)]
    except csv.Error as error:
        raise BaselineUnreadable(f"{source}: not a readable CSV near line {reader.line_num}: {error}") from error


def _row(fields: list[str], source: str, number: int) -> ActivityRow:
    if len(fields) != len(COLUMNS):
        raise BaselineUnreadable(f"{source} row {number}: {len(fields)} values, expected {len(COLUMNS)}")
    values = dict(zip(COLUMNS, fields, strict=True))
    return ActivityRow(
        account=values["account"],
        region=values["region"],
        principal=values["principal"],
        eventsource=values["eventsource"],
        eventname=values["eventname"],
        events=_count(values, "events", source, number),
        failures=_count(values, "failures", source, number),
        first_at=values["first_at"],
        sample_source_ips=values["sample_source_ips"],
        sample_user_agents=values["sample_user_agents"],
        sample_sessions=values["sample_sessions"],
    )


def _count(values: dict[str, str], column: str, source: str, number: int) -> int:
    raw = values[column]
    if not _COUNT.fullmatch(raw):
        raise BaselineUnreadable(f"{source} row {number}: {column} {_shown(raw)} is not a whole number")
    return int(raw)


def _shown(value: str) -> str:
    return repr(value[:_SHOWN_CHARS] + ("…" if len(value) > _SHOWN_CHARS else ""))
