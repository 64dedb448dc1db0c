"""Partition schemes: how (account, region, day) maps to a table's partition values and back.

Three schemes are in use and supported, recognised by the table's partition key names:
  trailkeeper         (account, region, dt)               dt = '2024-01-05'   (the template's table)
  aws-organization    (account, region, year, month, day)                     (AWS docs, org trails)
  aws-single-account  (region, year, month, day)          account from the table LOCATION (AWS docs)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from trailkeeper import allowlist
from trailkeeper.config import Settings
from trailkeeper.errors import ConfigurationError, UnsupportedPartitionScheme

TRAILKEEPER_KEYS = ("account", "region", "dt")
ORGANIZATION_KEYS = ("account", "region", "year", "month", "day")
SINGLE_ACCOUNT_KEYS = ("region", "year", "month", "day")


@dataclass(frozen=True)
class PartitionScheme:
    name: str
    keys: tuple[str, ...]
    fixed_account: str | None = None  # the one account of a single-account table

    def glue_expression(self, start: dt.date, end: dt.date, accounts: tuple[str, str] | None = None) -> str:
        """A GetPartitions Expression selecting the days start..end (inclusive), compact for long ranges, and
        the accounts first..last when given (a shard's account group is a range of sorted ids)."""
        if self.keys == TRAILKEEPER_KEYS:
            days = f"dt BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'"
        else:
            days = " OR ".join(_year_month_day_terms(start, end))
        if accounts is None or self.fixed_account is not None:
            return days
        first, last = accounts
        if not (allowlist.is_account_id(first) and allowlist.is_account_id(last)):
            raise ValueError(f"refusing an expression over unvalidated accounts {accounts!r}")
        return f"account BETWEEN '{first}' AND '{last}' AND ({days})"


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
    rest = location[len(expected_start) :] if location.startswith(expected_start) else ""
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
