"""What is new on the report day, compared with the union of the previous days' results.

Decisions (also in the README):
- "New" is a row of the day whose key (account, region, principal, eventsource, eventname) is absent
  from every baseline day; counts, errors and samples never make a row new.
- "First seen" compares against the same baseline union, widened by `known_accounts`/`known_regions`
  when the caller has a longer memory (for example the accounts the catalog already has partitions for).
  So with one baseline day, an account idle yesterday and active today is "first seen" again.
- "Went silent" is an (account, region) pair with events in the baseline union and none today. With
  BaselineDays = N, a stopped trail is therefore reported on each of the N following days.
- A missing baseline (None, or no day available) is the "established" state: nothing is new, silent or
  first seen, because nothing was compared; the report shows counts and a short top list instead.
  A baseline day with zero rows is a real, empty day and is compared against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from trailkeeper.report.activity import ActivityKey, ActivityRow

BaselineState = Literal["compared", "established"]
AccountRegion = tuple[str, str]
TOP_ROWS = 10


@dataclass(frozen=True)
class ActivityDiff:
    baseline_state: BaselineState
    new_rows: tuple[ActivityRow, ...]
    went_silent: tuple[AccountRegion, ...]
    first_seen_accounts: tuple[str, ...]
    first_seen_regions: tuple[AccountRegion, ...]
    rows_today: int
    events_today: int
    accounts_today: int
    regions_today: int  # distinct (account, region) pairs with events
    baseline_days: int
    top_today: tuple[ActivityRow, ...]  # the busiest rows of the day, for the "established" message

    @property
    def nothing_new(self) -> bool:
        """A compared day without new rows, silent pairs or first-seen accounts/regions."""
        return self.baseline_state == "compared" and not (
            self.new_rows or self.went_silent or self.first_seen_accounts or self.first_seen_regions
        )


def diff_activity(
    today: list[ActivityRow],
    baseline: list[list[ActivityRow]] | None,
    *,
    known_accounts: set[str] | None = None,
    known_regions: set[tuple[str, str]] | None = None,
) -> ActivityDiff:
    pairs_today = _pairs(today)
    accounts_today = {account for account, _ in pairs_today}
    established = ActivityDiff(
        baseline_state="established",
        new_rows=(),
        went_silent=(),
        first_seen_accounts=(),
        first_seen_regions=(),
        rows_today=len(today),
        events_today=sum(row.events for row in today),
        accounts_today=len(accounts_today),
        regions_today=len(pairs_today),
        baseline_days=0,
        top_today=tuple(sorted(today, key=lambda row: (-row.events, row.key))[:TOP_ROWS]),
    )
    if not baseline:
        return established

    seen_rows = [row for day in baseline for row in day]
    seen_keys: set[ActivityKey] = {row.key for row in seen_rows}
    seen_pairs = _pairs(seen_rows)
    known_pairs = seen_pairs | (known_regions or set())
    known = {account for account, _ in seen_pairs} | (known_accounts or set())
    new_rows = sorted(
        (row for row in today if row.key not in seen_keys),
        key=lambda row: (row.account, row.principal, row.eventsource, row.eventname, row.region),
    )
    return replace(
        established,
        baseline_state="compared",
        new_rows=tuple(new_rows),
        went_silent=tuple(sorted(seen_pairs - pairs_today)),
        first_seen_accounts=tuple(sorted(accounts_today - known)),
        first_seen_regions=tuple(sorted(pairs_today - known_pairs)),
        baseline_days=len(baseline),
    )


def _pairs(rows: Iterable[ActivityRow]) -> set[AccountRegion]:
    return {(row.account, row.region) for row in rows if row.events > 0}
