"""What needs attention first: detection hits, risk order, truncation and the subject, as pure functions.

Risk order of activity rows (most risky first):
  1. rows with a detection hit, by their most severe hit (critical, high, medium, low);
  2. then writes (a row with any non-read-only event), 3. then failures, 4. then reads;
  ties by the row key, so the same input always gives the same order.
Truncation to `ReportMaxRows` drops the lowest-risk rows first and never a row with a detection hit (hits
are few; a report that hides one is the failure issue 15 describes). The subject names the most severe
finding by its catalog title and counts, built only from catalog titles, validated account ids and numbers;
no CloudTrail text can reach an email header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from trailkeeper import allowlist
from trailkeeper.detections.catalog import BY_ID, SEVERITIES, severity_rank
from trailkeeper.detections.evaluate import Hit
from trailkeeper.detections.suppressions import Suppression, SuppressionCount, first_match

# Email subjects: RFC 5322 recommends lines of at most 78 characters; SES takes up to 998. Keep it readable.
SUBJECT_MAX = 200


R = TypeVar("R", bound="RiskRow")


class RiskRow(Protocol):
    """An activity row as the report has it (report.activity.ActivityRow)."""

    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def principal(self) -> str: ...
    @property
    def eventsource(self) -> str: ...
    @property
    def eventname(self) -> str: ...
    @property
    def events(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def writes(self) -> int: ...
    @property
    def hits(self) -> tuple[Hit, ...]: ...


@dataclass(frozen=True)
class AttentionRow:
    """One detection matched by one activity row's events (report.json's `attention`)."""

    rule: str
    severity: str
    title: str
    account: str
    region: str
    principal: str
    eventsource: str
    eventname: str
    events: int
    first_at: str
    escalated: int


@dataclass(frozen=True)
class Attention:
    rows: tuple[AttentionRow, ...]  # unsuppressed hits, most severe first
    suppressed: tuple[SuppressionCount, ...]  # every suppression of the file, with what it suppressed today

    def __post_init__(self) -> None:
        ranks: dict[tuple[str, ...], int] = {}
        for a in self.rows:
            key = (a.account, a.region, a.principal, a.eventsource, a.eventname)
            ranks[key] = min(ranks.get(key, len(SEVERITIES)), severity_rank(a.severity))
        object.__setattr__(self, "_ranks", ranks)

    def rank_of(self, row: RiskRow) -> int | None:
        """The severity rank of the row's most severe unsuppressed hit; None when it has none."""
        ranks: dict[tuple[str, ...], int] = self._ranks  # type: ignore[attr-defined]
        return ranks.get(_key(row))


def attention(rows: Iterable[RiskRow], suppressions: Sequence[Suppression], day: dt.date) -> Attention:
    """Every detection hit of the day's rows, minus those an active suppression matches (counted)."""
    counts = {s.id: [0, 0] for s in suppressions}
    shown = []
    for row in rows:
        values = {
            "account": row.account,
            "region": row.region,
            "principal": row.principal,
            "eventsource": row.eventsource,
            "eventname": row.eventname,
        }
        for hit in row.hits:
            suppression = first_match(suppressions, hit.rule, values, day)
            if suppression is not None:
                counts[suppression.id][0] += 1
                counts[suppression.id][1] += hit.events
                continue
            shown.append(
                AttentionRow(
                    rule=hit.rule,
                    severity=hit.severity,
                    title=hit.title,
                    account=row.account,
                    region=row.region,
                    principal=row.principal,
                    eventsource=row.eventsource,
                    eventname=row.eventname,
                    events=hit.events,
                    first_at=hit.first_at,
                    escalated=hit.escalated,
                )
            )
    shown.sort(
        key=lambda a: (severity_rank(a.severity), a.rule, a.account, a.region, a.principal, a.eventsource, a.eventname)
    )
    suppressed = tuple(
        SuppressionCount(
            id=s.id,
            detection=s.detection,
            reason=s.reason,
            expires=s.expires.isoformat(),
            active=s.active_on(day),
            hits=counts[s.id][0],
            events=counts[s.id][1],
        )
        for s in suppressions
    )
    return Attention(tuple(shown), suppressed)


def _key(row: RiskRow) -> tuple[str, str, str, str, str]:
    return (row.account, row.region, row.principal, row.eventsource, row.eventname)


def risk_key(row: RiskRow, found: Attention) -> tuple[object, ...]:
    """Sort key of one activity row: detections by severity, then writes, then failures, then reads."""
    rank = found.rank_of(row)
    if rank is not None:
        return (0, rank, _key(row))
    if row.writes:
        return (1, 0, _key(row))
    if row.failures:
        return (2, 0, _key(row))
    return (3, 0, _key(row))


def risk_order(rows: Iterable[R], found: Attention) -> list[R]:
    return sorted(rows, key=lambda row: risk_key(row, found))


def truncate(rows: Sequence[R], max_rows: int, found: Attention) -> tuple[list[R], int]:
    """(rows to show, how many were left out): lowest risk dropped first, unsuppressed detection hits never."""
    ordered = risk_order(rows, found)
    flagged = [r for r in ordered if found.rank_of(r) is not None]
    others = [r for r in ordered if found.rank_of(r) is None]
    shown = flagged + others[: max(0, max_rows - len(flagged))]
    return shown, len(ordered) - len(shown)


def subject(
    title: str,
    report_day: dt.date,
    findings: Sequence[AttentionRow],
    *,
    new_rows: int,
    silent: int,
    first_seen_accounts: int,
) -> str:
    """'<title>: <day> - CRITICAL CloudTrail trail changed or stopped in 123456789012 (+3 more findings), ...'.

    `title` is the validated ReportTitle; the finding's title comes from the catalog by id, the account only
    if it is 12 digits; everything else is a number.
    """
    if findings:
        worst = findings[0]
        detection = BY_ID.get(worst.rule)
        name = detection.title if detection is not None else "Unknown detection"
        severity = worst.severity if worst.severity in SEVERITIES else "low"
        where = f" in {worst.account}" if allowlist.ACCOUNT_ID.fullmatch(worst.account) else ""
        more = len(findings) - 1
        finding = f"{severity.upper()} {name}{where}" + (f" (+{more} more finding{'s' * (more != 1)})" if more else "")
    else:
        finding = "no detections"
    accounts = f"{first_seen_accounts} new account{'s' * (first_seen_accounts != 1)}"
    parts = [f"{title}: {report_day.isoformat()} -", f"{finding},", f"{new_rows} new, {silent} silent, {accounts}"]
    text = " ".join(parts)
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"
