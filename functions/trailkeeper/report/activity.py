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

from trailkeeper import dropped
from trailkeeper.detections.evaluate import Hit, parse_hits
from trailkeeper.errors import BaselineUnreadable, TrailkeeperError

# Version 2 of sql/daily_activity.sql: results saved before the detections still read (as rows without hits).
COLUMNS_V2 = (
    "account",
    "region",
    "principal",
    "eventsource",
    "eventname",
    "events",
    "failures",
    "first_at",
    "sample_source_ips",
    "sample_user_agents",
    "sample_sessions",
)
COLUMNS_V3 = (*COLUMNS_V2, "writes", "detections")
# Version 4 adds `dropped`: '' on activity rows; on a dropped-records row (every key column '') the reason, with
# its count in `events` (trailkeeper/dropped.py). Results of versions 2 and 3 read with no dropped counts (None).
COLUMNS = (*COLUMNS_V3, "dropped")
_HEADERS = (COLUMNS, COLUMNS_V3, COLUMNS_V2)
_KEY_COLUMNS = ("account", "region", "principal", "eventsource", "eventname")
# The query cuts every text value to VALUE_CHARS characters (sql/daily_activity.sql, filled in by
# report/query.py), so one attacker-long CloudTrail field cannot make a cell the csv module refuses
# (its default limit is 131,072 characters). The widest cell is a sample column: SAMPLES values joined
# by SAMPLE_SEPARATOR. Readers of activity results and of the ledger use MAX_CELL_CHARS as their limit.
VALUE_CHARS = 1024
SAMPLES = 3
SAMPLE_SEPARATOR = " | "
MAX_CELL_CHARS = SAMPLES * VALUE_CHARS + (SAMPLES - 1) * len(SAMPLE_SEPARATOR)
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
    writes: int = 0  # events of the row that were not read-only
    hits: tuple[Hit, ...] = ()  # the detections its events matched, most severe first

    @property
    def key(self) -> ActivityKey:
        """What makes activity "the same" from one day to the next."""
        return (self.account, self.region, self.principal, self.eventsource, self.eventname)


@dataclass(frozen=True)
class ActivityResult:
    rows: list[ActivityRow]
    dropped: dict[str, int] | None  # records the scan dropped, by reason; None for a result of version 2 or 3


def parse_activity_csv(
    text: str, *, source: str = "activity result", unreadable: type[TrailkeeperError] = BaselineUnreadable
) -> list[ActivityRow]:
    """Rows of an Athena CSV (header row, values double-quoted, NULL as empty); `source` names it in errors.

    `unreadable` is the error raised for a file that cannot be read: BaselineUnreadable for saved results,
    QueryResultUnreadable for the query's fresh result (a fresh result is no baseline).
    """
    return parse_activity_result(text, source=source, unreadable=unreadable).rows


def parse_activity_result(
    text: str, *, source: str = "activity result", unreadable: type[TrailkeeperError] = BaselineUnreadable
) -> ActivityResult:
    """The activity rows and the dropped-records counts of a result (parse_activity_csv's rules)."""
    read_csv_cells_up_to(MAX_CELL_CHARS)
    # newline="" lets the csv module see quoted line breaks inside values; str.splitlines() would cut
    # a user agent holding '\r\n' (or U+2028) into two forged rows.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or tuple(header) not in _HEADERS:
            shown = "no header" if header is None else _shown(",".join(header))
            raise unreadable(f"{source}: expected header {','.join(COLUMNS)}, found {shown}")
        columns = tuple(header)
        rows: list[ActivityRow] = []
        counts: dict[str, int] | None = {} if columns == COLUMNS else None
        for number, fields in enumerate(reader, start=1):
            if counts is not None and len(fields) == len(columns) and fields[-1] != "":
                _dropped_row(dict(zip(columns, fields, strict=True)), counts, source, number, unreadable)
            else:
                rows.append(_row(fields, columns, source, number, unreadable))
        return ActivityResult(rows, counts)
    except csv.Error as error:
        raise unreadable(f"{source}: not a readable CSV near line {reader.line_num}: {error}") from error


def _row(
    fields: list[str], columns: tuple[str, ...], source: str, number: int, unreadable: type[TrailkeeperError]
) -> ActivityRow:
    if len(fields) != len(columns):
        raise unreadable(f"{source} row {number}: {len(fields)} values, expected {len(columns)}")
    values = dict(zip(columns, fields, strict=True))
    try:
        hits = parse_hits(values.get("detections", ""))
    except BaselineUnreadable as error:
        raise unreadable(f"{source} row {number}: {error}") from error
    return ActivityRow(
        account=values["account"],
        region=values["region"],
        principal=values["principal"],
        eventsource=values["eventsource"],
        eventname=values["eventname"],
        events=_count(values, "events", source, number, unreadable),
        failures=_count(values, "failures", source, number, unreadable),
        first_at=values["first_at"],
        sample_source_ips=values["sample_source_ips"],
        sample_user_agents=values["sample_user_agents"],
        sample_sessions=values["sample_sessions"],
        writes=_count(values, "writes", source, number, unreadable) if "writes" in values else 0,
        hits=hits,
    )


def _dropped_row(
    values: dict[str, str], counts: dict[str, int], source: str, number: int, unreadable: type[TrailkeeperError]
) -> None:
    reason = values["dropped"]
    if reason not in dropped.QUERY_REASONS or reason in counts or any(values[c] for c in _KEY_COLUMNS):
        raise unreadable(f"{source} row {number}: dropped {_shown(reason)} is not one reason's row")
    counts[reason] = _count(values, "events", source, number, unreadable)


def _count(values: dict[str, str], column: str, source: str, number: int, unreadable: type[TrailkeeperError]) -> int:
    raw = values[column]
    if not _COUNT.fullmatch(raw):
        raise unreadable(f"{source} row {number}: {column} {_shown(raw)} is not a whole number")
    return int(raw)


def _shown(value: str) -> str:
    return repr(value[:_SHOWN_CHARS] + ("…" if len(value) > _SHOWN_CHARS else ""))


def read_csv_cells_up_to(chars: int) -> None:
    """Let the csv module read cells of `chars` characters: it only ever raises the process-wide limit."""
    if csv.field_size_limit() < chars:
        csv.field_size_limit(chars)
