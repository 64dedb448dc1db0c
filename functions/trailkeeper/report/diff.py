"""What is new on the report day: today's rows against a bounded ledger of the previous days.

Decisions (also in the README, "The baseline window"):
- "New" is a row of the day whose key (account, region, principal, eventsource, eventname) was not seen on
  any of the previous `BaselineDays` days; counts, failures and samples never make a row new.
- "First seen" (accounts, account-regions, and (account, principal)) means never seen since trailkeeper
  started keeping the ledger: those parts of the ledger are never pruned.
- "Silent since S": an (account, region) pair that logged before and has no event today, S being its first
  quiet day; reported every day until it logs again, then "resumed after N quiet days" once.
- No previous ledger, or none within the window, is the "established" state: nothing is new, silent or
  first seen, because nothing was compared; the report shows counts and a short top list instead.
- Zero events on the day across the organization is `no_activity`, an alarm state, never "nothing new".

Scale (1,000 accounts, 10^5-10^6 rows a day): only the day's rows are held in memory. The ledger's large
parts (keys last seen in the window, principals ever seen) are sorted files read and written as streams in
one merge pass; the pairs part is bounded by accounts x regions. The ledger of day D is computed from the
ledger of the latest earlier day, never from itself, so a re-run of D computes the same ledger again.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from trailkeeper.errors import BaselineUnreadable
from trailkeeper.report.activity import MAX_CELL_CHARS, ActivityKey, ActivityRow, read_csv_cells_up_to

BaselineState = Literal["compared", "established"]
AccountRegion = tuple[str, str]
AccountPrincipal = tuple[str, str]
TOP_ROWS = 10
KEY_FIELDS = 5
LEDGER_VERSION = 1


@dataclass(frozen=True)
class Silent:
    account: str
    region: str
    since: dt.date  # the first day without events


@dataclass(frozen=True)
class Resumed:
    account: str
    region: str
    quiet_days: int


@dataclass(frozen=True)
class ActivityDiff:
    baseline_state: BaselineState
    baseline_days: int  # days of the window the ledger covered
    new_rows: tuple[ActivityRow, ...]
    silent: tuple[Silent, ...]
    resumed: tuple[Resumed, ...]
    first_seen_accounts: tuple[str, ...]
    first_seen_regions: tuple[AccountRegion, ...]
    first_seen_principals: tuple[AccountPrincipal, ...]
    rows_today: int
    events_today: int
    accounts_today: int
    regions_today: int  # distinct (account, region) pairs with events
    top_today: tuple[ActivityRow, ...]  # the busiest rows of the day, for the "established" message

    @property
    def no_activity(self) -> bool:
        """Not one event in the whole organization on the day: an alarm state (a stopped trail, a wrong id)."""
        return self.events_today == 0

    @property
    def nothing_new(self) -> bool:
        """A compared day with activity and without new rows, silent, resumed or first-seen anything."""
        return (
            self.baseline_state == "compared"
            and not self.no_activity
            and not (
                self.new_rows
                or self.silent
                or self.resumed
                or self.first_seen_accounts
                or self.first_seen_regions
                or self.first_seen_principals
            )
        )


@dataclass
class LedgerState:
    """The small part of a ledger: when it started and every account-region pair's first and last day."""

    day: dt.date
    started: dt.date
    pairs: dict[AccountRegion, tuple[dt.date, dt.date]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": LEDGER_VERSION,
            "day": self.day.isoformat(),
            "started": self.started.isoformat(),
            "pairs": [
                [a, r, first.isoformat(), last.isoformat()] for (a, r), (first, last) in sorted(self.pairs.items())
            ],
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> LedgerState:
        try:
            if data["version"] != LEDGER_VERSION:
                raise ValueError(f"version {data['version']!r}")
            pairs = {
                (str(a), str(r)): (dt.date.fromisoformat(first), dt.date.fromisoformat(last))
                for a, r, first, last in data["pairs"]
            }
            return cls(dt.date.fromisoformat(data["day"]), dt.date.fromisoformat(data["started"]), pairs)
        except (KeyError, TypeError, ValueError) as error:
            raise BaselineUnreadable(f"{source}: not a trailkeeper ledger ({type(error).__name__}: {error})") from error


def read_keys(lines: Iterable[str], source: str) -> Iterator[tuple[ActivityKey, dt.date]]:
    """(key, last day seen) from a ledger keys file, checking the order the merge relies on."""
    return _sorted_rows(lines, source, KEY_FIELDS)  # type: ignore[return-value]


def read_principals(lines: Iterable[str], source: str) -> Iterator[tuple[AccountPrincipal, dt.date]]:
    """((account, principal), first day seen) from a ledger principals file, in order."""
    return _sorted_rows(lines, source, 2)  # type: ignore[return-value]


def _sorted_rows(lines: Iterable[str], source: str, width: int) -> Iterator[tuple[tuple[str, ...], dt.date]]:
    previous: tuple[str, ...] | None = None
    read_csv_cells_up_to(MAX_CELL_CHARS)  # ledger cells are activity values (report/activity.py)
    reader = csv.reader(lines, strict=True)
    try:
        for number, fields in enumerate(reader, start=1):
            if len(fields) != width + 1:
                raise BaselineUnreadable(f"{source} row {number}: {len(fields)} values, expected {width + 1}")
            key = tuple(fields[:width])
            if previous is not None and key <= previous:
                raise BaselineUnreadable(f"{source} row {number}: out of order (not written by trailkeeper)")
            try:
                day = dt.date.fromisoformat(fields[width])
            except ValueError as error:
                raise BaselineUnreadable(f"{source} row {number}: {fields[width][:12]!r} is not a day") from error
            previous = key
            yield key, day
    except csv.Error as error:
        raise BaselineUnreadable(f"{source}: not a readable CSV near line {reader.line_num}: {error}") from error


def write_row(writer: Any, key: tuple[str, ...], day: dt.date) -> None:
    writer.writerow([*key, day.isoformat()])


def advance(
    day: dt.date,
    today: list[ActivityRow],
    previous: LedgerState | None,
    previous_keys: Iterable[tuple[ActivityKey, dt.date]],
    previous_principals: Iterable[tuple[AccountPrincipal, dt.date]],
    baseline_days: int,
    write_key: Callable[[ActivityKey, dt.date], None],
    write_principal: Callable[[AccountPrincipal, dt.date], None],
) -> tuple[ActivityDiff, LedgerState]:
    """Compare day `day` with the ledger of an earlier day; write the ledger of `day` (in key order)."""
    if previous is not None and previous.day >= day:
        raise ValueError(f"the ledger of {day} is computed from an earlier day's, not {previous.day}")
    window_start = day - dt.timedelta(days=baseline_days)  # the window is window_start .. day - 1
    compared = previous is not None and previous.day >= window_start
    rows = sorted(today, key=lambda row: row.key)
    active_pairs = _pairs(rows)

    new_keys = _merge_keys(rows, previous_keys, window_start, day, write_key)
    principals_today = sorted({(row.account, row.principal) for row in rows if row.events > 0})
    new_principals = _merge_principals(principals_today, previous_principals, day, write_principal)

    known = previous.pairs if previous is not None else {}
    state = LedgerState(day, previous.started if previous is not None else day, dict(known))
    for pair in active_pairs:
        first, _ = known.get(pair, (day, day))
        state.pairs[pair] = (first, day)
    known_accounts = {account for account, _ in known}
    accounts_today = {account for account, _ in active_pairs}

    diff = ActivityDiff(
        baseline_state="compared" if compared else "established",
        baseline_days=min(baseline_days, (day - state.started).days) if compared else 0,
        new_rows=(),
        silent=(),
        resumed=(),
        first_seen_accounts=(),
        first_seen_regions=(),
        first_seen_principals=(),
        rows_today=len(rows),
        events_today=sum(row.events for row in rows),
        accounts_today=len(accounts_today),
        regions_today=len(active_pairs),
        top_today=tuple(sorted(rows, key=lambda row: (-row.events, row.key))[:TOP_ROWS]),
    )
    if not compared:
        return diff, state
    new_rows = [row for row in rows if row.key in new_keys]
    new_rows.sort(key=lambda row: (row.account, row.principal, row.eventsource, row.eventname, row.region))
    silent = tuple(
        Silent(a, r, last + dt.timedelta(days=1))
        for (a, r), (_, last) in sorted(known.items())
        if (a, r) not in active_pairs
    )
    resumed = tuple(
        Resumed(a, r, (day - known[(a, r)][1]).days - 1)
        for a, r in sorted(active_pairs)
        if (a, r) in known and (day - known[(a, r)][1]).days > 1
    )
    return replace(
        diff,
        new_rows=tuple(new_rows),
        silent=silent,
        resumed=resumed,
        first_seen_accounts=tuple(sorted(accounts_today - known_accounts)),
        first_seen_regions=tuple(sorted(active_pairs - set(known))),
        first_seen_principals=tuple(new_principals),
    ), state


def _merge_keys(
    rows: list[ActivityRow],
    previous_keys: Iterable[tuple[ActivityKey, dt.date]],
    window_start: dt.date,
    day: dt.date,
    write_key: Callable[[ActivityKey, dt.date], None],
) -> set[ActivityKey]:
    """One pass over the previous ledger's keys and today's (both in key order): returns today's keys not seen
    in the window, writes every key whose last day is inside the next day's window."""
    keep_from = window_start + dt.timedelta(days=1)  # the next day's window starts here
    new: set[ActivityKey] = set()
    pending: tuple[ActivityKey, dt.date] | None = None
    merged = heapq.merge(  # equal keys: the previous ledger's first (heapq.merge keeps the iterables' order)
        ((key, seen, False) for key, seen in previous_keys),
        ((row.key, day, True) for row in rows),
        key=lambda item: item[0],
    )
    for key, seen, is_today in merged:
        if pending is not None and pending[0] == key:
            if pending[1] < window_start:  # seen, but before the window
                new.add(key)
            pending = (key, day)
            continue
        if pending is not None and pending[1] >= keep_from:
            write_key(*pending)
        if is_today:
            new.add(key)
        pending = (key, seen)
    if pending is not None and pending[1] >= keep_from:
        write_key(*pending)
    return new


def _merge_principals(
    today: list[AccountPrincipal],
    previous_principals: Iterable[tuple[AccountPrincipal, dt.date]],
    day: dt.date,
    write_principal: Callable[[AccountPrincipal, dt.date], None],
) -> list[AccountPrincipal]:
    """Today's (account, principal) pairs never seen before; writes every pair ever seen with its first day."""
    new: list[AccountPrincipal] = []
    pending: tuple[AccountPrincipal, dt.date] | None = None
    merged = heapq.merge(
        ((key, first, False) for key, first in previous_principals),
        ((key, day, True) for key in today),
        key=lambda item: item[0],
    )
    for key, first, is_today in merged:
        if pending is not None and pending[0] == key:
            continue  # known: its first day stays
        if pending is not None:
            write_principal(*pending)
        if is_today:
            new.append(key)
        pending = (key, first)
    if pending is not None:
        write_principal(*pending)
    return new


def _pairs(rows: Iterable[ActivityRow]) -> set[AccountRegion]:
    return {(row.account, row.region) for row in rows if row.events > 0}


def diff_activity(
    today: list[ActivityRow], baseline: list[list[ActivityRow]] | None, *, day: dt.date = dt.date(2024, 1, 5)
) -> ActivityDiff:
    """The diff of `today` against the given previous days (most recent first), through an in-memory ledger:
    for renderers and tests that start from rows rather than from S3."""
    if not baseline:
        return advance(day, today, None, (), (), 1, _ignore, _ignore)[0]
    state: LedgerState | None = None
    keys: list[tuple[ActivityKey, dt.date]] = []
    principals: list[tuple[AccountPrincipal, dt.date]] = []
    days = len(baseline)
    for back, rows in reversed(list(enumerate(baseline, start=1))):
        next_keys: list[tuple[ActivityKey, dt.date]] = []
        next_principals: list[tuple[AccountPrincipal, dt.date]] = []
        _, state = advance(
            day - dt.timedelta(days=back),
            rows,
            state,
            keys,
            principals,
            days,
            _appender(next_keys),
            _appender(next_principals),
        )
        keys, principals = next_keys, next_principals
    return advance(day, today, state, keys, principals, days, _ignore, _ignore)[0]


def _ignore(key: tuple[str, ...], day: dt.date) -> None:
    return None


def _appender(items: list[Any]) -> Callable[[Any, dt.date], None]:
    return lambda key, day: items.append((key, day))
