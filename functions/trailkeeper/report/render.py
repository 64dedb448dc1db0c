"""The report email: subject, HTML, plain-text twin and new_activity.csv, from an ActivityDiff.

Every CloudTrail-derived value (and every S3 key from the reconciliation) is attacker-controlled text
(docs/threat-model.md), so:
- the subject is built from the configured title, the date and counts only;
- every value goes through trailkeeper.sanitise for its medium: text (control and format characters out,
  shortened visibly), HTML (the same, then escaped), CSV cell (the same characters out, formula starts
  neutralised; the csv module does the quoting);
- lists are capped ("and N more", with the S3 location of the full result), so thousands of distinct
  rows cannot bury a real one or push the email past SES limits.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trailkeeper import sanitise
from trailkeeper.detections.attention import Attention, truncate
from trailkeeper.detections.attention import subject as attention_subject
from trailkeeper.detections.evaluate import format_hits
from trailkeeper.report.activity import COLUMNS, ActivityRow
from trailkeeper.report.diff import ActivityDiff, Resumed, Silent
from trailkeeper.report.integrity import IntegritySummary, opening_html, opening_text, section_html, section_text

MAX_TITLE_CHARS = 80
_ALARM_REASON = re.compile(r"[a-z_]{1,40}")
_CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"
ANOMALY_SAMPLE = 5
EMPTY = "(none)"


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
) -> RenderedReport:
    """Render one day's report.

    `reconciliation` is the VerifyPartitions summary: `added` (partitions added tonight) and
    `anomalies` = {`count`, `sample`: [{`kind`, `key`}]}; a missing field is shown as "not reported".
    `found` (the day's detection hits and suppressions) puts "Needs attention" first, orders new activity by
    risk, truncates it lowest risk first (never a hit) and makes the subject name the most severe finding.
    """
    if max_rows < 0:
        raise ValueError(f"max_rows must be 0 or more, not {max_rows}")
    recon = _Reconciliation.read(reconciliation)
    view = _View(diff, report_day, recon, max_rows, full_result_uri, title, found, integrity)
    return RenderedReport(
        subject=view.subject(), text=view.text(), html=view.html(), csv=new_activity_csv(diff.new_rows)
    )


def new_activity_csv(rows: Iterable[ActivityRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
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


# Mail clients drop <style> blocks (Gmail, Outlook), so the styles sit on the elements. Only trailkeeper's own
# markup can match these tags: every value from CloudTrail was escaped before it was joined in.
_INLINE_STYLES = (
    ("<table>", '<table style="border-collapse:collapse">'),
    ('<tr class="account"><th colspan="9">', f'<tr class="account"><th colspan="9" style="{_CELL};background:#eee">'),
    (
        '<tr class="principal"><td colspan="9">',
        f'<tr class="principal"><td colspan="9" style="{_CELL};background:#f7f7f7;font-weight:bold">',
    ),
    ("<th>", f'<th style="{_CELL}">'),
    ("<td>", f'<td style="{_CELL}">'),
    ('<li class="critical">', '<li class="critical" style="color:#b00020;font-weight:bold">'),
    ('<li class="high">', '<li class="high" style="color:#b00020">'),
    ('<h2 class="attention">', '<h2 class="attention" style="color:#b00020">'),
)


def _inline_styles(document: str) -> str:
    for tag, styled in _INLINE_STYLES:
        document = document.replace(tag, styled)
    return document


def _t(value: str) -> str:
    """A value for the text twin."""
    return sanitise.text(value) or EMPTY


def _h(value: str) -> str:
    """A value for the HTML body."""
    return sanitise.html(value) or EMPTY


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


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {words or word + 's'}"


@dataclass(frozen=True)
class _View:
    diff: ActivityDiff
    day: dt.date
    recon: _Reconciliation
    max_rows: int
    full_result_uri: str
    title: str
    found: Attention | None = None
    integrity: IntegritySummary | None = None  # the night's integrity validation (report/integrity.py)

    # ---- shared wording -------------------------------------------------------------------------
    def subject(self) -> str:
        diff = self.diff
        if self.found is not None and self.found.rows:
            return attention_subject(
                sanitise.text(self.title, MAX_TITLE_CHARS) or "trailkeeper",
                self.day,
                self.found.rows,
                new_rows=len(diff.new_rows),
                silent=len(diff.silent),
                first_seen_accounts=len(diff.first_seen_accounts),
            )
        head = f"{sanitise.text(self.title, MAX_TITLE_CHARS) or 'trailkeeper'}: {self.day.isoformat()}"
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

    def more_line(self, hidden: int, what: str) -> str:
        return f"… and {hidden:,} more {what}; the full result is at {sanitise.text(self.full_result_uri, 1024)}"

    def no_activity_line(self) -> str:
        return (
            f"ALARM: not one CloudTrail event on {self.day.isoformat()} in any account or region. The trail may "
            f"have stopped, its logs may not be delivered, or the configuration (organization id, allow-lists) "
            f"matches nothing. This is not a quiet day."
        )

    def no_data_line(self, value: Callable[[str], str]) -> str:
        assert self.recon.no_data is not None
        reason, detail = self.recon.no_data
        return (
            f"ALARM: the reconciliation discovered no account ({reason}): {value(detail)}. Nothing is being "
            f"watched until the configuration or the bucket is fixed."
        )

    def nothing_new_line(self) -> str:
        return (
            f"Nothing new on {self.day.isoformat()}: every activity row ({self.diff.rows_today:,}) was already "
            f"in the baseline, and no account, region or principal went silent or appeared for the first time."
        )

    def established_line(self) -> str:
        return (
            f"Baseline established: no previous result was available to compare with, so nothing is "
            f"reported as new for {self.day.isoformat()}. Today's result becomes the next baseline."
        )

    def silent_line(self, pair: Silent, value: Callable[[str], str]) -> str:
        quiet = (self.day - pair.since).days + 1
        return (
            f"{value(pair.account)} {value(pair.region)}: silent since {pair.since.isoformat()} "
            f"({_plural(quiet, 'day')} without events) - stopped logging?"
        )

    def resumed_line(self, pair: Resumed, value: Callable[[str], str]) -> str:
        return f"{value(pair.account)} {value(pair.region)}: resumed after {_plural(pair.quiet_days, 'quiet day')}"

    def capped(self, items: Sequence[Any]) -> tuple[Sequence[Any], int]:
        return items[: self.max_rows], max(0, len(items) - self.max_rows)

    def new_rows_shown(self) -> tuple[Sequence[ActivityRow], int]:
        """New rows to show: in risk order and cut lowest risk first when detections ran, else as they are."""
        if self.found is None:
            return self.capped(self.diff.new_rows)
        return truncate(self.diff.new_rows, self.max_rows, self.found)

    def attention_lines(self, value: Callable[[str], str]) -> list[tuple[str, str]]:
        """(severity, line) per detection hit, most severe first; `value` makes CloudTrail text safe."""
        assert self.found is not None
        new = {row.key for row in self.diff.new_rows}
        lines = []
        for a in self.found.rows:
            first = " (new today)" if (a.account, a.region, a.principal, a.eventsource, a.eventname) in new else ""
            lines.append(
                (
                    a.severity,
                    (
                        f"{a.severity.upper()} {a.title} [{a.rule}]: {value(a.account)} {value(a.region)} "
                        f"{value(a.principal)} {value(a.eventsource)} {value(a.eventname)}: "
                        f"{_plural(a.events, 'event')}, first at {value(a.first_at)}{first}"
                    ),
                )
            )
        return lines

    def suppressed_line(self) -> str | None:
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

    # ---- text ---------------------------------------------------------------------------------------
    def text(self) -> str:
        d = self.diff
        lines = [
            sanitise.text(self.title, MAX_TITLE_CHARS) or "trailkeeper",
            f"Daily activity report for {self.day.isoformat()} (UTC)",
            "",
            self.baseline_line(),
            self.totals_line(),
            "",
        ]
        if self.recon.no_data:
            lines += ["== NO DATA (alarm) ==", self.no_data_line(_t), ""]
        lines += opening_text(self.integrity, self.max_rows)  # alarming integrity findings come first
        if d.no_activity:
            lines += ["== NO ACTIVITY (alarm) ==", self.no_activity_line(), ""]
        lines += self._text_attention()
        if d.baseline_state == "established":
            lines += ["== Baseline established ==", self.established_line(), ""]
            lines += self._text_top()
        elif d.nothing_new:
            lines += [self.nothing_new_line(), ""]
        else:
            lines += self._text_first_seen() + self._text_silent() + self._text_new()
        lines += section_text(self.integrity, self.max_rows, [(p.account, p.region) for p in d.silent])
        lines += self._text_reconciliation()
        lines += [f"Full result: {sanitise.text(self.full_result_uri, 1024)}", ""]
        return "\n".join(lines)

    def _text_attention(self) -> list[str]:
        if self.found is None:
            return []
        hits = self.attention_lines(_t)
        lines = [f"== Needs attention: {_plural(len(hits), 'detection hit')} =="]
        lines += [f"  {line}" for _, line in hits] or ["  No detection matched."]
        suppressed = self.suppressed_line()
        if suppressed:
            lines.append(f"  {_t(suppressed)}")
        return [*lines, ""]

    def _text_new(self) -> list[str]:
        rows, hidden = self.new_rows_shown()
        lines = [f"== New activity: {_plural(len(self.diff.new_rows), 'row')} =="]
        if not rows and not hidden:
            lines.append("No new activity rows.")
        for account, by_account in itertools.groupby(rows, key=lambda r: r.account):
            lines.append(f"Account {_t(account)}")
            for principal, group in itertools.groupby(by_account, key=lambda r: r.principal):
                lines.append(f"  Principal {_t(principal)}")
                for row in group:
                    lines += [
                        f"    - {_t(row.region)} {_t(row.eventsource)} {_t(row.eventname)}: "
                        f"{_plural(row.events, 'event')}, {_plural(row.failures, 'failure')}, "
                        f"first at {_t(row.first_at)}",
                        f"      source IPs: {_t(row.sample_source_ips)}",
                        f"      user agents: {_t(row.sample_user_agents)}",
                    ]
                    if row.sample_sessions:
                        lines.append(f"      sessions: {_t(row.sample_sessions)}")
        if hidden:
            lines.append(self.more_line(hidden, "new activity rows"))
        return [*lines, ""]

    def _text_silent(self) -> list[str]:
        lines: list[str] = []
        if self.diff.silent:
            pairs, hidden = self.capped(self.diff.silent)
            lines += [f"== Silent (stopped logging?): {len(self.diff.silent):,} =="]
            lines += [f"  {self.silent_line(pair, _t)}" for pair in pairs]
            if hidden:
                lines.append(self.more_line(hidden, "silent account-regions"))
            lines.append("")
        if self.diff.resumed:
            resumed, hidden = self.capped(self.diff.resumed)
            lines += [f"== Resumed logging: {len(self.diff.resumed):,} =="]
            lines += [f"  {self.resumed_line(pair, _t)}" for pair in resumed]
            if hidden:
                lines.append(self.more_line(hidden, "resumed account-regions"))
            lines.append("")
        return lines

    def _text_first_seen(self) -> list[str]:
        accounts, regions = self.diff.first_seen_accounts, self.diff.first_seen_regions
        principals = self.diff.first_seen_principals
        if not (accounts or regions or principals):
            return []
        lines = ["== First seen =="]
        if accounts:
            shown, hidden = self.capped(accounts)
            lines.append(f"  Accounts ({len(accounts):,}): {', '.join(_t(a) for a in shown)}")
            if hidden:
                lines.append(self.more_line(hidden, "first-seen accounts"))
        if regions:
            shown, hidden = self.capped(regions)
            lines.append(f"  Regions ({len(regions):,}):")
            for account, pairs in itertools.groupby(shown, key=lambda pair: pair[0]):
                lines.append(f"    {_t(account)}: {', '.join(_t(region) for _, region in pairs)}")
            if hidden:
                lines.append(self.more_line(hidden, "first-seen regions"))
        if principals:
            shown, hidden = self.capped(principals)
            lines.append(f"  Principals ({len(principals):,}):")
            lines += [f"    {_t(account)}: {_t(principal)}" for account, principal in shown]
            if hidden:
                lines.append(self.more_line(hidden, "first-seen principals"))
        return [*lines, ""]

    def _text_top(self) -> list[str]:
        if not self.diff.top_today:
            return ["No activity today.", ""]
        lines = [f"Busiest {len(self.diff.top_today)} activity rows today:"]
        lines += [
            f"  - {_t(r.account)} {_t(r.region)} {_t(r.principal)} {_t(r.eventsource)} {_t(r.eventname)}: "
            f"{_plural(r.events, 'event')}"
            for r in self.diff.top_today
        ]
        return [*lines, ""]

    def _text_reconciliation(self) -> list[str]:
        lines = [
            "== Reconciliation ==",
            f"  Partitions added: {_shown(self.recon.added)}",
            f"  Bucket anomalies (unexpected keys, ignored): {_shown(self.recon.anomaly_count)}",
        ]
        lines += [f"    - {_t(kind)}: {_t(key)}" for kind, key in self.recon.anomaly_sample]
        return [*lines, ""]

    # ---- HTML ---------------------------------------------------------------------------------------
    def html(self) -> str:
        d = self.diff
        title = sanitise.html(self.title, MAX_TITLE_CHARS) or "trailkeeper"
        parts = [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8">',
            f"<title>{title}</title>",
            "</head><body>",
            f"<h1>{title}</h1>",
            f"<p>Daily activity report for {self.day.isoformat()} (UTC)</p>",
            f"<p>{html.escape(self.baseline_line())}<br>{html.escape(self.totals_line())}</p>",
        ]
        if self.recon.no_data:
            parts += ["<h2>NO DATA (alarm)</h2>", f"<p>{self.no_data_line(_h)}</p>"]
        parts += opening_html(self.integrity, self.max_rows)  # alarming integrity findings come first
        if d.no_activity:
            parts += ["<h2>NO ACTIVITY (alarm)</h2>", f"<p>{html.escape(self.no_activity_line())}</p>"]
        parts += self._html_attention()
        if d.baseline_state == "established":
            parts += ["<h2>Baseline established</h2>", f"<p>{html.escape(self.established_line())}</p>"]
            parts += self._html_top()
        elif d.nothing_new:
            parts.append(f"<p>{html.escape(self.nothing_new_line())}</p>")
        else:
            parts += self._html_first_seen() + self._html_silent() + self._html_new()
        parts += section_html(self.integrity, self.max_rows, [(p.account, p.region) for p in d.silent])
        parts += self._html_reconciliation()
        parts += [
            f"<p>Full result: <code>{sanitise.html(self.full_result_uri, 1024)}</code></p>",
            "</body></html>",
            "",
        ]
        return _inline_styles("\n".join(parts))

    def _html_more(self, hidden: int, what: str) -> str:
        return f"<p>{html.escape(self.more_line(hidden, what), quote=True)}</p>"

    def _html_attention(self) -> list[str]:
        if self.found is None:
            return []
        hits = self.attention_lines(_h)
        parts = [f'<h2 class="attention">Needs attention: {_plural(len(hits), "detection hit")}</h2>']
        if hits:
            parts.append("<ul>" + "".join(f'<li class="{severity}">{line}</li>' for severity, line in hits) + "</ul>")
        else:
            parts.append("<p>No detection matched.</p>")
        suppressed = self.suppressed_line()
        if suppressed:
            parts.append(f"<p>{_h(suppressed)}</p>")
        return parts

    def _html_new(self) -> list[str]:
        rows, hidden = self.new_rows_shown()
        parts = [f"<h2>New activity: {_plural(len(self.diff.new_rows), 'row')}</h2>"]
        if rows:
            parts.append(
                "<table><thead><tr><th>Region</th><th>Event source</th><th>Event name</th><th>Events</th>"
                "<th>Failures</th><th>First at (UTC)</th><th>Source IPs (sample)</th>"
                "<th>User agents (sample)</th><th>Sessions (sample)</th></tr></thead><tbody>"
            )
            for account, by_account in itertools.groupby(rows, key=lambda r: r.account):
                parts.append(f'<tr class="account"><th colspan="9">Account {_h(account)}</th></tr>')
                for principal, group in itertools.groupby(by_account, key=lambda r: r.principal):
                    parts.append(f'<tr class="principal"><td colspan="9">{_h(principal)}</td></tr>')
                    parts += [
                        f"<tr><td>{_h(r.region)}</td><td>{_h(r.eventsource)}</td><td>{_h(r.eventname)}</td>"
                        f"<td>{r.events:,}</td><td>{r.failures:,}</td><td>{_h(r.first_at)}</td>"
                        f"<td>{_h(r.sample_source_ips)}</td><td>{_h(r.sample_user_agents)}</td>"
                        f"<td>{_h(r.sample_sessions)}</td></tr>"
                        for r in group
                    ]
            parts.append("</tbody></table>")
        elif not hidden:
            parts.append("<p>No new activity rows.</p>")
        if hidden:
            parts.append(self._html_more(hidden, "new activity rows"))
        return parts

    def _html_silent(self) -> list[str]:
        parts: list[str] = []
        if self.diff.silent:
            pairs, hidden = self.capped(self.diff.silent)
            parts += [f"<h2>Silent (stopped logging?): {len(self.diff.silent):,}</h2><ul>"]
            parts += [f"<li>{html.escape(self.silent_line(pair, _t))}</li>" for pair in pairs]
            parts.append("</ul>")
            if hidden:
                parts.append(self._html_more(hidden, "silent account-regions"))
        if self.diff.resumed:
            resumed, hidden = self.capped(self.diff.resumed)
            parts += [f"<h2>Resumed logging: {len(self.diff.resumed):,}</h2><ul>"]
            parts += [f"<li>{html.escape(self.resumed_line(pair, _t))}</li>" for pair in resumed]
            parts.append("</ul>")
            if hidden:
                parts.append(self._html_more(hidden, "resumed account-regions"))
        return parts

    def _html_first_seen(self) -> list[str]:
        accounts, regions = self.diff.first_seen_accounts, self.diff.first_seen_regions
        principals = self.diff.first_seen_principals
        if not (accounts or regions or principals):
            return []
        parts = ["<h2>First seen</h2>"]
        if accounts:
            shown, hidden = self.capped(accounts)
            parts.append(f"<p>Accounts ({len(accounts):,}): {', '.join(_h(a) for a in shown)}</p>")
            if hidden:
                parts.append(self._html_more(hidden, "first-seen accounts"))
        if regions:
            shown, hidden = self.capped(regions)
            parts.append(f"<p>Regions ({len(regions):,}):</p><ul>")
            for account, pairs in itertools.groupby(shown, key=lambda pair: pair[0]):
                parts.append(f"<li>{_h(account)}: {', '.join(_h(region) for _, region in pairs)}</li>")
            parts.append("</ul>")
            if hidden:
                parts.append(self._html_more(hidden, "first-seen regions"))
        if principals:
            shown, hidden = self.capped(principals)
            parts.append(f"<p>Principals ({len(principals):,}):</p><ul>")
            parts += [f"<li>{_h(account)}: {_h(principal)}</li>" for account, principal in shown]
            parts.append("</ul>")
            if hidden:
                parts.append(self._html_more(hidden, "first-seen principals"))
        return parts

    def _html_top(self) -> list[str]:
        if not self.diff.top_today:
            return ["<p>No activity today.</p>"]
        parts = [
            f"<p>Busiest {len(self.diff.top_today)} activity rows today:</p>",
            "<table><thead><tr><th>Account</th><th>Region</th><th>Principal</th><th>Event source</th>"
            "<th>Event name</th><th>Events</th></tr></thead><tbody>",
        ]
        parts += [
            f"<tr><td>{_h(r.account)}</td><td>{_h(r.region)}</td><td>{_h(r.principal)}</td>"
            f"<td>{_h(r.eventsource)}</td><td>{_h(r.eventname)}</td><td>{r.events:,}</td></tr>"
            for r in self.diff.top_today
        ]
        parts.append("</tbody></table>")
        return parts

    def _html_reconciliation(self) -> list[str]:
        parts = [
            "<h2>Reconciliation</h2><ul>",
            f"<li>Partitions added: {_shown(self.recon.added)}</li>",
            f"<li>Bucket anomalies (unexpected keys, ignored): {_shown(self.recon.anomaly_count)}",
        ]
        if self.recon.anomaly_sample:
            parts.append("<ul>")
            parts += [f"<li>{_h(kind)}: <code>{_h(key)}</code></li>" for kind, key in self.recon.anomaly_sample]
            parts.append("</ul>")
        parts.append("</li></ul>")
        return parts
