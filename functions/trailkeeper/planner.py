"""The pure, streaming heart of planning: expected − existing, turned straight into DDL clauses.

Built for organization-scale backfills (1,000 accounts × 20 regions × 366 days = 7.32 M partitions):
existing partitions are held as one bitmap over the window's days per (account, region), never as
millions of tuples, and clauses are assembled from fragments validated once per pair and per day,
then streamed into statements, so memory is bounded by the number of pairs, not partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from trailkeeper import allowlist
from trailkeeper.config import Settings
from trailkeeper.schemes import ORGANIZATION_KEYS, TRAILKEEPER_KEYS, PartitionScheme

Pair = tuple[str, str]  # (account, region), both validated
LocationOf = Callable[[Pair, int], str]  # the LOCATION a (pair, day index) partition must have


@dataclass(frozen=True)
class Drift:
    """A partition that exists with a LOCATION other than its folder: its folder's logs are invisible to Athena."""

    pair: Pair
    day_index: int
    location: str


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(len(self))]

    def __len__(self) -> int:
        return (self.end - self.start).days + 1


@dataclass
class ExistingIndex:
    """Which (pair, day) partitions Glue has, for one window and scheme; one bitmap per pair."""

    scheme: PartitionScheme
    window: Window
    only: frozenset[Pair] | None = None  # keep these pairs alone (a shard's); None keeps every valid pair
    location_of: LocationOf | None = None  # set: LOCATIONs are compared too, mismatches kept in `drifted`
    bitmaps: dict[Pair, bytearray] = field(default_factory=dict)
    drifted: list[Drift] = field(default_factory=list)
    ignored: int = 0  # Glue entries that are malformed, outside the window or of other pairs
    _day_index: dict[tuple[str, ...], int] = field(default_factory=dict)
    _valid_pairs: dict[Pair, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, day in enumerate(self.window.days):
            iso = day.isoformat()
            key = (iso,) if self.scheme.keys == TRAILKEEPER_KEYS else (iso[0:4], iso[5:7], iso[8:10])
            self._day_index[key] = i

    def add(self, values: Sequence[str], location: str | None = None) -> None:
        keys = self.scheme.keys
        day: tuple[str, ...]
        if len(values) != len(keys):
            self.ignored += 1
            return
        if keys == TRAILKEEPER_KEYS:
            pair, day = (values[0], values[1]), (values[2],)
        elif keys == ORGANIZATION_KEYS:
            pair, day = (values[0], values[1]), (values[2], values[3], values[4])
        else:
            pair, day = (self.scheme.fixed_account or "", values[0]), (values[1], values[2], values[3])
        index = self._day_index.get(day)
        if index is None or not self._is_valid(pair):
            self.ignored += 1
            return
        bitmap = self.bitmaps.get(pair)
        if bitmap is None:
            bitmap = self.bitmaps[pair] = bytearray(len(self.window))
        bitmap[index] = 1
        if location is not None and self.location_of is not None:
            expected = self.location_of(pair, index)
            # A LOCATION is a folder: Athena reads `.../09` as `.../09/`, so only the trailing slash may differ.
            if location != expected and location != expected[:-1]:
                self.drifted.append(Drift(pair, index, location))

    def missing_days(self, pair: Pair) -> int:
        bitmap = self.bitmaps.get(pair)
        return len(self.window) - (sum(bitmap) if bitmap is not None else 0)

    def has(self, pair: Pair, day_index: int) -> bool:
        bitmap = self.bitmaps.get(pair)
        return bitmap is not None and bitmap[day_index] == 1

    def _is_valid(self, pair: Pair) -> bool:
        valid = self._valid_pairs.get(pair)
        if valid is None:
            valid = self._valid_pairs[pair] = (self.only is None or pair in self.only) and (
                allowlist.is_account_id(pair[0]) and allowlist.is_region(pair[1])
            )
        return valid


class ClauseBuilder:
    """` PARTITION (...) LOCATION '...'` clauses from fragments validated once per pair and per day."""

    def __init__(self, scheme: PartitionScheme, settings: Settings, window: Window) -> None:
        self.scheme = scheme
        self.bucket_root = f"s3://{settings.TRAIL_BUCKET}/{settings.logs_root}"
        if not (allowlist.BUCKET.fullmatch(settings.TRAIL_BUCKET) and allowlist.is_prefix(settings.logs_root[:-1])):
            raise ValueError("trail bucket or key prefix failed validation")
        self.day_values: list[str] = []
        self.day_paths: list[str] = []
        self.day_folders: list[str] = []  # `YYYY/MM/DD/`: the end of a partition's LOCATION
        self.window = window
        self._folders: dict[Pair, str] = {}
        for day in window.days:
            y, m, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"
            dt_value = f"dt='{y}-{m}-{d}'" if scheme.keys == TRAILKEEPER_KEYS else f"year='{y}', month='{m}', day='{d}'"
            self.day_values.append(dt_value)
            self.day_paths.append(f"{y}/{m}/{d}/'")
            self.day_folders.append(f"{y}/{m}/{d}/")

    def pair_fragments(self, pair: Pair) -> tuple[str, str]:
        account, region = pair
        if not (allowlist.is_account_id(account) and allowlist.is_region(region)):
            raise ValueError(f"refusing to build DDL for an unvalidated partition {pair!r}")
        if self.scheme.fixed_account is not None and account != self.scheme.fixed_account:
            raise ValueError(f"account {account} is not the single-account table's {self.scheme.fixed_account}")
        if self.scheme.fixed_account:
            head = f" PARTITION (region='{region}', "
        else:
            head = f" PARTITION (account='{account}', region='{region}', "
        return head, f") LOCATION '{self.bucket_root}{account}/CloudTrail/{region}/"

    def location(self, pair: Pair, day_index: int) -> str:
        """The one LOCATION the (pair, day) partition may have: its CloudTrail folder."""
        folder = self._folders.get(pair)
        if folder is None:
            folder = self._folders[pair] = self.pair_fragments(pair)[1].removeprefix(") LOCATION '")
        return folder + self.day_folders[day_index]

    def relocation_clause(self, drift: Drift) -> str:
        """` PARTITION (...) SET LOCATION '<its folder>'`, rebuilt from validated parts like the ADD clauses."""
        head, location = self.pair_fragments(drift.pair)
        return f"{head}{self.day_values[drift.day_index]}) SET{location[1:]}{self.day_paths[drift.day_index]}"

    def describe(self, drift: Drift) -> str:
        """`<account>/<region>/<day>` of a drifted partition, for anomalies and errors."""
        return f"{drift.pair[0]}/{drift.pair[1]}/{self.window.days[drift.day_index].isoformat()}"

    def clause_bytes(self, pair: Pair) -> int:
        """Length of one day's clause for the pair: the same every day, as dates are fixed-width."""
        head, location = self.pair_fragments(pair)
        return len(head) + len(self.day_values[0]) + len(location) + len(self.day_paths[0])

    def missing_clauses(self, pairs: Iterable[Pair], existing: ExistingIndex) -> Iterator[str]:
        """Clauses for every (pair, day) of the window that `existing` lacks, in (pair, day) order."""
        day_values, day_paths = self.day_values, self.day_paths
        for pair in pairs:
            head, location = self.pair_fragments(pair)
            bitmap = existing.bitmaps.get(pair) or bytearray(len(day_values))
            for i, present in enumerate(bitmap):
                if not present:
                    yield f"{head}{day_values[i]}{location}{day_paths[i]}"
