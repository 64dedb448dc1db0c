"""Partition schemes: how (account, region, day) maps to a table's partition values and back.

Three schemes are in use and supported, recognised by the table's partition key names:
  trailkeeper         (account, region, dt)               dt = '2024-01-05'   (the template's table)
  aws-organization    (account, region, year, month, day)                     (AWS docs, org trails)
  aws-single-account  (region, year, month, day)          account from the table LOCATION (AWS docs)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trailkeeper import allowlist
from trailkeeper.config import Settings
from trailkeeper.errors import ConfigurationError, UnsupportedPartitionScheme

# (account, region, 'YYYY-MM-DD'): the scheme-independent identity of one partition.
PartitionRef = tuple[str, str, str]

TRAILKEEPER_KEYS = ("account", "region", "dt")
ORGANIZATION_KEYS = ("account", "region", "year", "month", "day")
SINGLE_ACCOUNT_KEYS = ("region", "year", "month", "day")


@dataclass(frozen=True)
class PartitionScheme:
    name: str
    keys: tuple[str, ...]
    fixed_account: str | None = None  # the one account of a single-account table

    def values(self, ref: PartitionRef) -> tuple[str, ...]:
        account, region, day = ref
        if self.keys == TRAILKEEPER_KEYS:
            return (account, region, day)
        year, month, dom = day[0:4], day[5:7], day[8:10]
        if self.keys == ORGANIZATION_KEYS:
            return (account, region, year, month, dom)
        return (region, year, month, dom)

    def ref_from_values(self, values: Sequence[str]) -> PartitionRef | None:
        """The partition a Glue entry stands for, or None if its values are not well formed."""
        if len(values) != len(self.keys):
            return None
        if self.keys == TRAILKEEPER_KEYS:
            account, region, day = values
        elif self.keys == ORGANIZATION_KEYS:
            account, region = values[0], values[1]
            day = f"{values[2]}-{values[3]}-{values[4]}"
        else:
            account, region = self.fixed_account or "", values[0]
            day = f"{values[1]}-{values[2]}-{values[3]}"
        ok = allowlist.is_account_id(account) and allowlist.is_region(region)
        return (account, region, day) if ok and allowlist.parse_iso_date(day) else None

    def glue_expression(self, start: dt.date, end: dt.date) -> str:
        """A GetPartitions Expression selecting the days start..end (inclusive), compact for long ranges."""
        if self.keys == TRAILKEEPER_KEYS:
            return f"dt BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'"
        return " OR ".join(_year_month_day_terms(start, end))


def scheme_for_table(table: dict[str, Any], settings: Settings) -> PartitionScheme:
    """Recognise the scheme from a Glue GetTable `Table`; anything else is a clear start-up error."""
    keys = tuple(str(k.get("Name", "")).lower() for k in table.get("PartitionKeys", []))
    if keys == TRAILKEEPER_KEYS:
        return PartitionScheme("trailkeeper", keys)
    if keys == ORGANIZATION_KEYS:
        return PartitionScheme("aws-organization", keys)
    if keys == SINGLE_ACCOUNT_KEYS:
        location = str(table.get("StorageDescriptor", {}).get("Location", ""))
        return PartitionScheme("aws-single-account", keys, _account_of_location(location, settings))
    supported = ", ".join("(" + ", ".join(k) + ")" for k in (TRAILKEEPER_KEYS, ORGANIZATION_KEYS, SINGLE_ACCOUNT_KEYS))
    hint = ""
    if keys == ("timestamp",):
        hint = " Partition projection tables ignore Glue partitions and need no trailkeeper."
    raise UnsupportedPartitionScheme(
        f"table {table.get('Name')!r} is partitioned by ({', '.join(keys)}); supported: {supported}.{hint}"
    )


def _account_of_location(location: str, settings: Settings) -> str:
    """A single-account table's LOCATION must be s3://<trail bucket>/<logs root><account>/CloudTrail/."""
    expected_start = f"s3://{settings.TRAIL_BUCKET}/{settings.logs_root}"
    rest = location[len(expected_start):] if location.startswith(expected_start) else ""
    account, _, tail = rest.partition("/")
    if not allowlist.is_account_id(account) or tail.rstrip("/") != "CloudTrail":
        raise ConfigurationError(
            f"single-account table LOCATION {location!r} is not {expected_start}<account>/CloudTrail/"
        )
    return account


def _year_month_day_terms(start: dt.date, end: dt.date) -> list[str]:
    """Cover start..end with whole years, whole months and day ranges, so a year is one term, not 366."""
    terms: list[str] = []
    day = start
    while day <= end:
        year_end = dt.date(day.year, 12, 31)
        if day == dt.date(day.year, 1, 1) and year_end <= end:
            terms.append(f"(year = '{day.year:04d}')")
            day = year_end + dt.timedelta(days=1)
            continue
        month_end = _last_day_of_month(day)
        if day.day == 1 and month_end <= end:
            terms.append(f"(year = '{day.year:04d}' AND month = '{day.month:02d}')")
            day = month_end + dt.timedelta(days=1)
            continue
        last = min(month_end, end)
        terms.append(
            f"(year = '{day.year:04d}' AND month = '{day.month:02d}' "
            f"AND day BETWEEN '{day.day:02d}' AND '{last.day:02d}')"
        )
        day = last + dt.timedelta(days=1)
    return terms


def _last_day_of_month(day: dt.date) -> dt.date:
    first_of_next = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first_of_next - dt.timedelta(days=1)
