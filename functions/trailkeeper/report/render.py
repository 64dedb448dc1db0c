"""The report email: subject, HTML, plain-text twin and new_activity.csv, from an ActivityDiff.

`_View` is the one home of what the email shows (sections, order, wording, caps); the Jinja2 templates in
report/templates/ only lay it out, one block per section: report.html (autoescaped, styles inline for mail
clients, tables, no scripts, no remote content) and report.txt, its twin in the same order.

Every CloudTrail-derived value (and every S3 key from the reconciliation) is attacker-controlled text
(docs/threat-model.md), so:
- the subject is built from the configured title, the date and counts only;
- the view hands each value to the templates as report.medium.Untrusted, which trailkeeper.sanitise renders
  for the medium: text (control and format characters out, shortened visibly), HTML (the same, then escaped);
  the CSV cell has its own rule (the same characters out, formula starts neutralised; the csv module quotes);
- lists are capped ("and N more", with the S3 location of the full result), so thousands of distinct
  rows cannot bury a real one or push the email past SES limits.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from trailkeeper import sanitise
from trailkeeper.detections.attention import Attention, truncate
from trailkeeper.detections.attention import subject as attention_subject
from trailkeeper.detections.evaluate import format_hits
from trailkeeper.dropped import Dropped
from trailkeeper.logscan import Unreadable
from trailkeeper.report.activity import COLUMNS_V3, ActivityRow
from trailkeeper.report.diff import ActivityDiff, Resumed, Silent
from trailkeeper.report.integrity import IntegrityOpening, IntegritySection, IntegritySummary
from trailkeeper.report.integrity import opening as integrity_opening
from trailkeeper.report.integrity import section as integrity_section
from trailkeeper.report.medium import Line, Untrusted, joined, line
from trailkeeper.report.revision import SUBJECT_MARK, Revision, first_line

MAX_TITLE_CHARS = 80
_ALARM_REASON = re.compile(r"[a-z_]{1,40}")
ANOMALY_SAMPLE = 5
MAX_URI_CHARS = 1024

# HTML autoescaped (MarkupSafe; values render through report.medium), text not; a missing name is an error.
_TEMPLATES = Environment(
    loader=PackageLoader("trailkeeper.report", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), disabled_extensions=("txt",), default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_TEMPLATES.filters["number"] = "{:,}".format


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html: str
    csv: str  # new_activity.csv: every new row, not capped


def render_report(
    diff: ActivityDiff,
    *,
    report_day: dt.date,
    reconciliation: Mapping[str, Any],
    max_rows: int = 200,
    full_result_uri: str,
    title: str,
    found: Attention | None = None,
    integrity: IntegritySummary | None = None,
    revision: Revision | None = None,
    dropped: Dropped | None = None,
    unreadable: Unreadable | None = None,
) -> RenderedReport:
    """Render one day's report.

    `reconciliation` is the VerifyPartitions summary: `added` (partitions added tonight) and
    `anomalies` = {`count`, `sample`: [{`kind`, `key`}]}; a missing field is shown as "not reported".
    `found` (the day's detection hits and suppressions) puts "Needs attention" first, orders new activity by
    risk, truncates it lowest risk first (never a hit) and makes the subject name the most severe finding.
    `revision` (a re-run that found late logs) marks the subject and opens the body with what it revises.
    `dropped` (trailkeeper/dropped.py): what no query could count, by reason, in its own section.
    `unreadable` (log objects the query could not read and left out) is counted in the subject and listed.
    """
    if max_rows < 0:
        raise ValueError(f"max_rows must be 0 or more, not {max_rows}")
    recon = _Reconciliation.read(reconciliation)
    view = _View(
        diff, report_day, recon, max_rows, full_result_uri, title, found, integrity, revision, dropped, unreadable
    )
    return RenderedReport(
        subject=view.subject(),
        text=_TEMPLATES.get_template("report.txt").render(view=view),
        html=_TEMPLATES.get_template("report.html").render(view=view),
        csv=new_activity_csv(diff.new_rows),
    )


def new_activity_csv(rows: Iterable[ActivityRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS_V3)  # the activity columns: new_activity.csv holds no dropped-records rows
    for row in rows:
        cell = sanitise.csv_cell
        writer.writerow(
            [
                cell(row.account),
                cell(row.region),
                cell(row.principal),
                cell(row.eventsource),
                cell(row.eventname),
                row.events,
                row.failures,
                cell(row.first_at),
                cell(row.sample_source_ips),
                cell(row.sample_user_agents),
                cell(row.sample_sessions),
                row.writes,
                format_hits(row.hits),
            ]
        )
    return buffer.getvalue()


@dataclass(frozen=True)
class _Reconciliation:
    added: int | None
    anomaly_count: int | None
    anomaly_sample: tuple[tuple[str, str], ...]
    # VerifyPartitions' no_data_alarm (no account discovered): (reason, detail), else None. The reason is
    # trailkeeper's own word, checked before it reaches the subject; the detail names S3 keys (escaped).
    no_data: tuple[str, str] | None = None

    @classmethod
    def read(cls, summary: Mapping[str, Any]) -> _Reconciliation:
        anomalies = summary.get("anomalies")
        anomalies = anomalies if isinstance(anomalies, Mapping) else {}
        sample = anomalies.get("sample")
        items = sample if isinstance(sample, list) else []
        return cls(
            added=_count_or_none(summary.get("added")),
            anomaly_count=_count_or_none(anomalies.get("count")),
            anomaly_sample=tuple(
                (str(item.get("kind", "")), str(item.get("key", "")))
                for item in items[:ANOMALY_SAMPLE]
                if isinstance(item, Mapping)
            ),
            no_data=_no_data(summary.get("no_data_alarm")),
        )


def _no_data(alarm: object) -> tuple[str, str] | None:
    if not isinstance(alarm, Mapping):
        return None
    reason = str(alarm.get("reason", ""))
    return (reason if _ALARM_REASON.fullmatch(reason) else "unknown"), str(alarm.get("detail", ""))


def _count_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _shown(value: int | None) -> str:
    return "not reported" if value is None else f"{value:,}"


def _grouped(rows: Iterable[ActivityRow], key: Callable[[ActivityRow], str]) -> list[tuple[str, list[ActivityRow]]]:
    """`rows` by `key`, the groups in the order of their first row, each group's rows in their order."""
    groups: dict[str, list[ActivityRow]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return list(groups.items())


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {words or word + 's'}"


@dataclass(frozen=True)
class _Shown:
    """An activity row as the email shows it."""

    account: Untrusted
    region: Untrusted
    principal: Untrusted
    eventsource: Untrusted
    eventname: Untrusted
    events: str
    failures: str
    events_words: str
    failures_words: str
    first_at: Untrusted
    sample_source_ips: Untrusted
    sample_user_agents: Untrusted
    sample_sessions: Untrusted
    has_sessions: bool  # the text twin leaves out an empty session sample

    @classmethod
    def of(cls, r: ActivityRow) -> _Shown:
        return cls(
            account=Untrusted(r.account),
            region=Untrusted(r.region),
            principal=Untrusted(r.principal),
            eventsource=Untrusted(r.eventsource),
            eventname=Untrusted(r.eventname),
            events=f"{r.events:,}",
            failures=f"{r.failures:,}",
            events_words=_plural(r.events, "event"),
            failures_words=_plural(r.failures, "failure"),
            first_at=Untrusted(r.first_at),
            sample_source_ips=Untrusted(r.sample_source_ips),
            sample_user_agents=Untrusted(r.sample_user_agents),
            sample_sessions=Untrusted(r.sample_sessions),
            has_sessions=bool(r.sample_sessions),
        )


@dataclass(frozen=True)
class _Principal:
    principal: Untrusted
    rows: tuple[_Shown, ...]


@dataclass(frozen=True)
class _Account:
    account: Untrusted
    principals: tuple[_Principal, ...]


@dataclass(frozen=True)
class _NewActivity:
    count: str  # "N rows", every new row
    accounts: tuple[_Account, ...]  # the rows shown, by account then principal
    more: Line | None


@dataclass(frozen=True)
class _Capped:
    """A capped list: its total, the items shown and the "and N more" line."""

    count: str
    items: tuple[Any, ...]
    more: Line | None


@dataclass(frozen=True)
class _FirstSeen:
    accounts: _Capped | None  # items: Untrusted account ids
    regions: _Capped | None  # items: (account, Line of its regions)
    principals: _Capped | None  # items: (account, principal)


@dataclass(frozen=True)
class _NeedsAttention:
    count: str  # "N detection hits"
    hits: tuple[tuple[str, Line], ...]  # (severity, line), most severe first
    suppressed: Untrusted | None


@dataclass(frozen=True)
class _Reconciled:
    added: str
    anomalies: str
    sample: tuple[tuple[Untrusted, Untrusted], ...]  # (kind, key)


@dataclass(frozen=True)
class _UnreadableSection:
    count: str
    objects: tuple[Line, ...]  # "<s3 uri> (<reason>)"
    more: Line | None
    listed: Untrusted  # reports/D/unreadable.json, which lists them all


@dataclass(frozen=True)
class _View:
    diff: ActivityDiff
    day: dt.date
    recon: _Reconciliation
    max_rows: int
    full_result_uri: str
    configured_title: str
    found: Attention | None = None
    integrity: IntegritySummary | None = None  # the night's integrity validation (report/integrity.py)
    revision: Revision | None = None  # a re-run's revision of the day's first report (report/revision.py)
    dropped: Dropped | None = None  # records no query counted, by reason (trailkeeper/dropped.py)
    unreadable: Unreadable | None = None  # log objects the query left out (trailkeeper/logscan.py)

    # ---- the subject (never CloudTrail text) ----------------------------------------------------
    def subject(self) -> str:
        unmarked = self._subject()
        if self.unreadable is not None:
            unmarked += f" ({_plural(self.unreadable.count, 'UNREADABLE LOG OBJECT')} not counted)"
        return unmarked if self.revision is None else f"{SUBJECT_MARK} {unmarked}"

    def unreadable_section(self) -> _UnreadableSection | None:
        """The log objects the day's query could not read: named (S3 keys are attacker-influenced), capped."""
        if self.unreadable is None:
            return None
        shown, _ = self.capped(self.unreadable.objects)
        hidden = self.unreadable.count - len(shown)
        return _UnreadableSection(
            count=f"{self.unreadable.count:,}",
            objects=tuple(line("{} ({})", Untrusted(uri, None), reason) for uri, reason in shown),
            more=line(f"… and {hidden:,} more") if hidden > 0 else None,
            listed=Untrusted(self.unreadable.location, None),
        )

    def _subject(self) -> str:
        diff = self.diff
        if self.found is not None and self.found.rows:
            return attention_subject(
                sanitise.text(self.configured_title, MAX_TITLE_CHARS) or "trailkeeper",
                self.day,
                self.found.rows,
                new_rows=len(diff.new_rows),
                silent=len(diff.silent),
                first_seen_accounts=len(diff.first_seen_accounts),
            )
        head = f"{sanitise.text(self.configured_title, MAX_TITLE_CHARS) or 'trailkeeper'}: {self.day.isoformat()}"
        if self.recon.no_data:
            parts = [f"NO DATA: no account discovered, {self.recon.no_data[0]} (alarm)"]
        elif diff.no_activity:
            parts = ["NO ACTIVITY in any account (alarm)"]
        elif diff.baseline_state == "established":
            parts = [f"baseline established, {_plural(diff.rows_today, 'activity row')}"]
        elif diff.nothing_new:
            parts = ["nothing new"]
        else:
            parts = [f"{len(diff.new_rows):,} new"]
            if diff.silent:
                parts.append(f"{len(diff.silent):,} silent")
            if diff.resumed:
                parts.append(f"{len(diff.resumed):,} resumed")
            if diff.first_seen_principals:
                parts.append(_plural(len(diff.first_seen_principals), "first-seen principal"))
            if diff.first_seen_accounts:
                parts.append(_plural(len(diff.first_seen_accounts), "first-seen account"))
            if diff.first_seen_regions:
                parts.append(_plural(len(diff.first_seen_regions), "first-seen region"))
        if self.recon.anomaly_count:
            parts.append(_plural(self.recon.anomaly_count, "bucket anomaly", "bucket anomalies"))
        if self.integrity is not None and self.integrity.alarming:
            parts.insert(0, _plural(len(self.integrity.alarming), "INTEGRITY FINDING", "INTEGRITY FINDINGS"))
        return f"{head} - {', '.join(parts)}"

    # ---- the body, section by section, in the order the templates show them ----------------------
    def revised(self) -> str | None:
        return None if self.revision is None else first_line(self.day, self.revision)

    @property
    def title(self) -> Untrusted:
        return Untrusted(self.configured_title, MAX_TITLE_CHARS, empty="trailkeeper")

    @property
    def day_iso(self) -> str:
        return self.day.isoformat()

    def baseline_line(self) -> str:
        if self.diff.baseline_state == "established":
            return "Baseline: none available; established today."
        if self.diff.baseline_days == 1:
            return "Baseline: the previous day."
        return f"Baseline: the previous {self.diff.baseline_days:,} days."

    def totals_line(self) -> str:
        d = self.diff
        return (
            f"Today: {_plural(d.rows_today, 'activity row')}, {_plural(d.events_today, 'event')}, "
            f"{_plural(d.accounts_today, 'account')}, {_plural(d.regions_today, 'account-region')}."
        )

    def no_data(self) -> Line | None:
        if not self.recon.no_data:
            return None
        reason, detail = self.recon.no_data
        return line(
            f"ALARM: the reconciliation discovered no account ({reason}): {{}}. Nothing is being "
            f"watched until the configuration or the bucket is fixed.",
            Untrusted(detail),
        )

    def integrity_opening(self) -> IntegrityOpening | None:
        """Alarming integrity findings, which come first."""
        return integrity_opening(self.integrity, self.max_rows)

    def no_activity(self) -> str | None:
        if not self.diff.no_activity:
            return None
        return (
            f"ALARM: not one CloudTrail event on {self.day.isoformat()} in any account or region. The trail may "
            f"have stopped, its logs may not be delivered, or the configuration (organization id, allow-lists) "
            f"matches nothing. This is not a quiet day."
        )

    def attention(self) -> _NeedsAttention | None:
        """Detection hits, most severe first (None when detections did not run)."""
        if self.found is None:
            return None
        hits = self.attention_lines()
        suppressed = self.suppressed_line()
        return _NeedsAttention(
            _plural(len(hits), "detection hit"), tuple(hits), None if suppressed is None else Untrusted(suppressed)
        )

    def attention_lines(self) -> list[tuple[str, Line]]:
        """(severity, line) per detection hit, most severe first."""
        assert self.found is not None
        new = {row.key for row in self.diff.new_rows}
        lines = []
        for a in self.found.rows:
            first = " (new today)" if (a.account, a.region, a.principal, a.eventsource, a.eventname) in new else ""
            values = (a.account, a.region, a.principal, a.eventsource, a.eventname, a.first_at)
            lines.append(
                (
                    a.severity,
                    line(
                        "{} {} [{}]: {} {} {} {} {}: {}, first at {}{}",
                        a.severity.upper(),  # the catalog's words, escaped as trailkeeper's own
                        a.title,
                        a.rule,
                        *(Untrusted(value) for value in values[:5]),
                        _plural(a.events, "event"),
                        Untrusted(values[5]),
                        first,
                    ),
                )
            )
        return lines

    def suppressed_line(self) -> str | None:
        """The suppressions that applied or expired (the operator's file: shown as untrusted text)."""
        assert self.found is not None
        used = [s for s in self.found.suppressed if s.hits]
        expired = [s for s in self.found.suppressed if not s.active]
        if not used and not expired:
            return None
        parts = [
            f"{s.id} ({_plural(s.hits, 'hit')}, {_plural(s.events, 'event')}, until {s.expires}): {s.reason}"
            for s in used
        ]
        parts += [f"{s.id} expired on {s.expires}, no longer applied" for s in expired]
        return "Suppressed: " + "; ".join(parts)

    @property
    def body(self) -> str:
        """What the middle of the email is: "established", "nothing new" or "changes"."""
        if self.diff.baseline_state == "established":
            return "established"
        return "nothing new" if self.diff.nothing_new else "changes"

    def established_line(self) -> str:
        return (
            f"Baseline established: no previous result was available to compare with, so nothing is "
            f"reported as new for {self.day.isoformat()}. Today's result becomes the next baseline."
        )

    def top_today(self) -> tuple[_Shown, ...]:
        return tuple(_Shown.of(r) for r in self.diff.top_today)

    def nothing_new_line(self) -> str:
        return (
            f"Nothing new on {self.day.isoformat()}: every activity row ({self.diff.rows_today:,}) was already "
            f"in the baseline, and no account, region or principal went silent or appeared for the first time."
        )

    def first_seen(self) -> _FirstSeen | None:
        accounts, regions = self.diff.first_seen_accounts, self.diff.first_seen_regions
        principals = self.diff.first_seen_principals
        if not (accounts or regions or principals):
            return None
        by_account = None
        if regions:
            shown, hidden = self.capped(regions)
            by_account = _Capped(
                f"{len(regions):,}",
                tuple(
                    (Untrusted(account), joined([Untrusted(region) for _, region in pairs]))
                    for account, pairs in itertools.groupby(shown, key=lambda pair: pair[0])
                ),
                self.more_line(hidden, "first-seen regions"),
            )
        return _FirstSeen(
            accounts=self.capped_values(accounts, "first-seen accounts", Untrusted) if accounts else None,
            regions=by_account,
            principals=self.capped_values(
                principals, "first-seen principals", lambda pair: (Untrusted(pair[0]), Untrusted(pair[1]))
            )
            if principals
            else None,
        )

    def silent(self) -> _Capped | None:
        if not self.diff.silent:
            return None
        return self.capped_values(self.diff.silent, "silent account-regions", self.silent_line)

    def silent_line(self, pair: Silent) -> Line:
        quiet = (self.day - pair.since).days + 1
        return line(
            f"{{}} {{}}: silent since {pair.since.isoformat()} ({_plural(quiet, 'day')} without events) - "
            f"stopped logging?",
            Untrusted(pair.account),
            Untrusted(pair.region),
        )

    def resumed(self) -> _Capped | None:
        if not self.diff.resumed:
            return None
        return self.capped_values(self.diff.resumed, "resumed account-regions", self.resumed_line)

    def resumed_line(self, pair: Resumed) -> Line:
        return line(
            f"{{}} {{}}: resumed after {_plural(pair.quiet_days, 'quiet day')}",
            Untrusted(pair.account),
            Untrusted(pair.region),
        )

    def new_activity(self) -> _NewActivity:
        """The new rows shown, under one heading per account and per principal: in risk order the rows of
        accounts interleave, so each account (and each principal in it) sits where its riskiest row is, and its
        rows keep their order (risk order, or as they are without detections) under it."""
        rows, hidden = self.new_rows_shown()
        accounts = tuple(
            _Account(
                Untrusted(account),
                tuple(
                    _Principal(Untrusted(principal), tuple(_Shown.of(r) for r in group))
                    for principal, group in _grouped(by_account, lambda r: r.principal)
                ),
            )
            for account, by_account in _grouped(rows, lambda r: r.account)
        )
        more = self.more_line(hidden, "new activity rows")
        return _NewActivity(_plural(len(self.diff.new_rows), "row"), accounts, more)

    def new_rows_shown(self) -> tuple[Sequence[ActivityRow], int]:
        """New rows to show: in risk order and cut lowest risk first when detections ran, else as they are."""
        if self.found is None:
            return self.capped(self.diff.new_rows)
        return truncate(self.diff.new_rows, self.max_rows, self.found)

    def integrity_section(self) -> IntegritySection:
        return integrity_section(self.integrity, self.max_rows, [(p.account, p.region) for p in self.diff.silent])

    def dropped_lines(self) -> tuple[str, ...]:
        """The Dropped records section: trailkeeper's wording and counts only (none when there are no counts)."""
        return () if self.dropped is None else self.dropped.lines()

    def reconciliation(self) -> _Reconciled:
        return _Reconciled(
            _shown(self.recon.added),
            _shown(self.recon.anomaly_count),
            tuple((Untrusted(kind), Untrusted(key)) for kind, key in self.recon.anomaly_sample),
        )

    @property
    def full_result(self) -> Untrusted:
        return Untrusted(self.full_result_uri, MAX_URI_CHARS, empty="")

    # ---- caps ---------------------------------------------------------------------------------------
    def capped(self, items: Sequence[Any]) -> tuple[Sequence[Any], int]:
        return items[: self.max_rows], max(0, len(items) - self.max_rows)

    def capped_values(self, items: Sequence[Any], what: str, shown: Any) -> _Capped:
        kept, hidden = self.capped(items)
        return _Capped(f"{len(items):,}", tuple(shown(item) for item in kept), self.more_line(hidden, what))

    def more_line(self, hidden: int, what: str) -> Line | None:
        if not hidden:
            return None
        return line(f"… and {hidden:,} more {what}; the full result is at {{}}", self.full_result)
