"""The catalog as SQL: the nightly evaluation's fragments of the daily query, drill-downs, and hit parsing.

The nightly evaluation runs inside the daily query's single scan of D and D+1 (no second scan, no second
query): the per-event CTE gains one boolean column per detection (and one per escalation), and the grouped
SELECT gains one column, `detections`, that lists for each row the detections its events matched:

    <id>:<events>:<escalated events>:<first event time>[ <id>:...]

in catalog order. Every part is a catalog id, a count or an event time reduced to [0-9TZ:.-] by the query
itself, so a token can be parsed strictly and no CloudTrail text can forge one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trailkeeper import allowlist
from trailkeeper.detections.catalog import BY_ID, CATALOG, Detection, severity_rank
from trailkeeper.detections.conditions import to_sql
from trailkeeper.errors import BaselineUnreadable

# Placeholders of sql/daily_activity.sql filled from the catalog.
EVENT_FLAGS_PLACEHOLDER = "{detection_flags}"
DETECTIONS_PLACEHOLDER = "{detections_column}"
FLAG_NAMES_PLACEHOLDER = "{detection_flag_names}"
DETECTIONS_COLUMN = "detections"

_TOKEN = re.compile(r"([a-z][a-z0-9]*(?:-[a-z0-9]+)*):([0-9]{1,18}):([0-9]{1,18}):([0-9TZ:.\-]{0,40})")
_TIME_KEEP = "[^0-9TZ:.-]"


# A `detections` value that is not a list of tokens the query writes: the result is unreadable (errors.py).
DetectionsUnreadable = BaselineUnreadable


@dataclass(frozen=True)
class Hit:
    """One detection matched by some of one activity row's events."""

    rule: str
    events: int
    escalated: int
    first_at: str

    @property
    def detection(self) -> Detection | None:
        return BY_ID.get(self.rule)

    @property
    def severity(self) -> str:
        detection = self.detection
        if detection is None:
            return "low"  # an id a newer catalog removed (an old saved result): shown, never dropped
        if self.escalated and detection.escalation is not None:
            return detection.escalation.severity
        return detection.severity

    @property
    def title(self) -> str:
        detection = self.detection
        return detection.title if detection is not None else self.rule


def _flag(detection: Detection) -> str:
    return "d_" + detection.id.replace("-", "_")


def _escalated_flag(detection: Detection) -> str:
    return "e_" + detection.id.replace("-", "_")


def event_flag_columns(catalog: tuple[Detection, ...] = CATALOG) -> str:
    """`<predicate> AS d_<id>, ...` for the per-event CTE (each predicate is never NULL)."""
    columns = []
    for detection in catalog:
        condition = to_sql(detection.condition)
        columns.append(f"({condition}) AS {_flag(detection)}")
        escalated = "false"
        if detection.escalation is not None:
            escalated = f"({condition}) AND ({to_sql(detection.escalation.condition)})"
        columns.append(f"({escalated}) AS {_escalated_flag(detection)}")
    return ",\n        ".join(columns)


def event_flag_names(catalog: tuple[Detection, ...] = CATALOG) -> str:
    """`, d_<id>, e_<id>, ...`: carries the flags through a later CTE of the query that re-selects columns."""
    return "".join(f", {_flag(d)}, {_escalated_flag(d)}" for d in catalog)


def detections_column(catalog: tuple[Detection, ...] = CATALOG) -> str:
    """The grouped SELECT's `detections` expression over the CTE's flag columns ('' when nothing matched)."""
    tokens = []
    for detection in catalog:
        flag, escalated = _flag(detection), _escalated_flag(detection)
        tokens.append(
            f"CASE WHEN count_if({flag}) > 0 THEN '{detection.id}:' || CAST(count_if({flag}) AS varchar) || ':' "
            f"|| CAST(count_if({escalated}) AS varchar) || ':' "
            f"|| regexp_replace(coalesce(min(CASE WHEN {flag} THEN eventtime END), ''), '{_TIME_KEEP}', '') END"
        )
    return "coalesce(concat_ws(' ', " + ", ".join(tokens) + "), '')"


def parse_hits(value: str) -> tuple[Hit, ...]:
    """The hits of one row's `detections` value; a malformed value is an error, never "no hits"."""
    if value == "":
        return ()
    hits = []
    for token in value.split(" "):
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise DetectionsUnreadable(f"detections token {token[:60]!r} is not <id>:<events>:<escalated>:<time>")
        rule, events, escalated, first_at = match.groups()
        if int(escalated) > int(events) or int(events) == 0:
            raise DetectionsUnreadable(f"detections token {token!r}: counts are inconsistent")
        hits.append(Hit(rule, int(events), int(escalated), first_at))
    return tuple(sorted(hits, key=lambda h: (severity_rank(h.severity), h.rule)))


def format_hits(hits: tuple[Hit, ...]) -> str:
    """The `detections` value of `hits`, as the query writes it (catalog order): parse_hits reads it back."""
    order = {d.id: i for i, d in enumerate(CATALOG)}
    ordered = sorted(hits, key=lambda h: (order.get(h.rule, len(order)), h.rule))
    return " ".join(f"{h.rule}:{h.events}:{h.escalated}:{h.first_at}" for h in ordered)


def drilldown_query(detection: Detection, database: str, table: str, days: int = 7) -> str:
    """Every event of the last `days` delivery days that matches `detection`, newest first.

    For a saved (named) query: no parameters, the window is relative to the day it runs. The partition
    predicate is on `dt` (the template's table); Athena prunes on it.
    """
    if not (1 <= days <= 90):
        raise ValueError("a drill-down reads 1 to 90 days")
    for name in (database, table):
        if not allowlist.GLUE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a Glue name")
    return (
        "SELECT eventtime, account, awsregion, useridentity.type AS identity_type, useridentity.arn AS arn,\n"
        "       sourceipaddress, eventsource, eventname, errorcode, requestparameters\n"
        f'FROM "{database}"."{table}"\n'
        f"WHERE dt >= date_format(current_date - INTERVAL '{days}' DAY, '%Y-%m-%d')\n"
        f"  AND ({to_sql(detection.condition)})\n"
        "ORDER BY eventtime DESC\n"
        "LIMIT 1000\n"
    )
