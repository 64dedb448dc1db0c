"""The daily activity query: the versioned SQL file, filled with validated identifiers and parameters.

Athena binds `?` ExecutionParameters by substituting them literally into the text, so each parameter
is itself an SQL literal ('2024-01-05'). Every literal here is printed from a `datetime.date`, and the
only identifiers put into the text are Glue names that passed the allow-list; nothing is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache
from importlib import resources

from trailkeeper import allowlist, dropped
from trailkeeper.detections.evaluate import (
    DETECTIONS_PLACEHOLDER,
    EVENT_FLAGS_PLACEHOLDER,
    FLAG_NAMES_PLACEHOLDER,
    detections_column,
    event_flag_columns,
    event_flag_names,
)
from trailkeeper.errors import ConfigurationError, UnsupportedPartitionScheme
from trailkeeper.report.activity import VALUE_CHARS
from trailkeeper.schemes import ORGANIZATION_KEYS, SINGLE_ACCOUNT_KEYS, TRAILKEEPER_KEYS

SQL_FILE = "daily_activity.sql"
ACCOUNT_PLACEHOLDER = "{account}"
TABLE_PLACEHOLDER = "{table}"
FILTER_PLACEHOLDER = "{partition_filter}"
VALUE_CHARS_PLACEHOLDER = "{value_chars}"  # every text value's cap, as often as the SQL cuts one
FOLDER_DAY_PLACEHOLDER = "{folder_day_filter}"  # the report day's own folder: the one whose drops it counts
# The reasons' names come from their one home (trailkeeper/dropped.py); report/activity.py reads them back.
DROPPED_PLACEHOLDERS = {
    "{dropped_not_timestamp}": dropped.EVENT_TIME_NOT_TIMESTAMP,
    "{dropped_far_from_folder_day}": dropped.FAR_FROM_FOLDER_DAY,
}


def build_daily_activity_query(
    database: str,
    table: str,
    partition_keys: tuple[str, ...],
    report_day: dt.date,
    fixed_account: str | None = None,
    *,
    detections: bool = True,
    excluded: Sequence[tuple[str, str]] = (),
) -> tuple[str, list[str]]:
    """(sql, execution_parameters) reading the partitions of `report_day` and the next day only.

    The parameters are in the order of the `?` in the text: the day kept, the report day's folder and the bounds
    of its dropped records (trailkeeper/dropped.py), then the partition values of the two days read.
    Every row's account is the partition's: the `account` partition key, or for a single-account table
    (no account key) `fixed_account`, the account its LOCATION names (schemes.scheme_for_table).
    `detections=False` leaves the catalog out (its `detections` column is then always ''): the benchmark's
    baseline for "the detections cost no extra scan". `excluded`: (bucket, key) of log objects the query must
    not read (unreadable ones, exclusion_filter).
    """
    for what, name in (("database", database), ("table", table)):
        if not allowlist.GLUE_NAME.fullmatch(name):
            raise ConfigurationError(f"{what} {name!r} must be lower-case letters, digits and underscores")
    # datetime is a subclass of date, and its isoformat() would not be a day.
    if type(report_day) is not dt.date:
        raise TypeError(f"report_day must be a datetime.date, not {type(report_day).__name__}")
    days = (report_day, report_day + dt.timedelta(days=1))
    partition_filter, partition_params = _partition_filter(partition_keys, days)
    folder_day_filter, folder_day_params = _partition_filter(partition_keys, days[:1])
    if excluded:
        partition_filter = f"({partition_filter}) AND {exclusion_filter(excluded)}"
    sql = (
        _template()
        .replace(FOLDER_DAY_PLACEHOLDER, folder_day_filter)
        .replace(ACCOUNT_PLACEHOLDER, _account_expression(partition_keys, fixed_account))
        .replace(TABLE_PLACEHOLDER, f'"{database}"."{table}"')
        .replace(FILTER_PLACEHOLDER, partition_filter)
        .replace(EVENT_FLAGS_PLACEHOLDER, ",\n        " + event_flag_columns() if detections else "")
        .replace(FLAG_NAMES_PLACEHOLDER, event_flag_names() if detections else "")
        .replace(DETECTIONS_PLACEHOLDER, detections_column() if detections else "''")
        .replace(VALUE_CHARS_PLACEHOLDER, str(VALUE_CHARS))
    )
    for placeholder, reason in DROPPED_PLACEHOLDERS.items():
        sql = sql.replace(placeholder, reason)
    bounds = dropped.folder_day_bounds(report_day)
    return sql, [
        *(_literal(day.isoformat()) for day in days),
        *folder_day_params,
        *(_literal(day.isoformat()) for day in bounds),
        *partition_params,
    ]


# Athena's query string limit is 262,144 bytes (docs/aws-facts.md); the query also travels in the
# state payload (262,144 bytes, the .sync output repeats it), so the exclusion gets a quarter of either.
MAX_EXCLUSION_BYTES = 65_536


def excludable(bucket: str, key: str) -> bool:
    """Whether an object can be named in an exclusion: its bucket and key pass their allow-lists."""
    return allowlist.BUCKET.fullmatch(bucket) is not None and allowlist.LOG_OBJECT_KEY.fullmatch(key) is not None


def exclusion_filter(excluded: Sequence[tuple[str, str]]) -> str:
    """`"$path" NOT IN ('s3://bucket/key', ...)`: Athena's pseudo-column naming each row's object. Each literal is
    printed from a bucket and key that passed their allow-lists (no quote can be in either); anything else,
    or more than MAX_EXCLUSION_BYTES of literals, is refused rather than escaped or cut."""
    literals = []
    for bucket, key in sorted(set(excluded)):
        if not excludable(bucket, key):
            raise ValueError(f"refusing to exclude s3://{bucket}/{key!r}: not an allow-listed bucket and log key")
        literals.append(f"'s3://{bucket}/{key}'")
    if not literals:
        raise ValueError("an exclusion needs at least one object")
    text = '"$path" NOT IN (' + ", ".join(literals) + ")"
    if len(text.encode()) > MAX_EXCLUSION_BYTES:
        raise ValueError(f"an exclusion of {len(literals)} objects is longer than {MAX_EXCLUSION_BYTES:,} bytes")
    return text


def _account_expression(partition_keys: tuple[str, ...], fixed_account: str | None) -> str:
    if "account" in (key.lower() for key in partition_keys):
        return '"account"'
    if fixed_account is None or not allowlist.is_account_id(fixed_account):
        raise ConfigurationError(
            f"a table without an account partition key needs the 12-digit account of its LOCATION, "
            f"not {fixed_account!r}"
        )
    return _literal(fixed_account)


def _partition_filter(partition_keys: tuple[str, ...], days: tuple[dt.date, ...]) -> tuple[str, list[str]]:
    keys = tuple(key.lower() for key in partition_keys)
    if keys == TRAILKEEPER_KEYS:
        return '"dt" IN (' + ", ".join("?" for _ in days) + ")", [_literal(day.isoformat()) for day in days]
    if keys in (ORGANIZATION_KEYS, SINGLE_ACCOUNT_KEYS):
        # One conjunction per day: correct across month and year ends, and Athena prunes on each.
        terms = ['("year" = ? AND "month" = ? AND "day" = ?)' for _ in days]
        params = [
            _literal(value) for day in days for value in (f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}")
        ]
        return " OR ".join(terms), params
    raise UnsupportedPartitionScheme(
        f"the daily activity query supports partition keys {TRAILKEEPER_KEYS}, {ORGANIZATION_KEYS} or "
        f"{SINGLE_ACCOUNT_KEYS}; the table has {keys}"
    )


def _literal(value: str) -> str:
    # Only ever called with digits and '-' printed from a date; checked so a future caller cannot slip.
    if not all(ch.isascii() and (ch.isdigit() or ch == "-") for ch in value):
        raise ValueError(f"refusing to make an SQL literal of {value!r}")
    return f"'{value}'"


@cache
def _template() -> str:
    text = resources.files("trailkeeper").joinpath("sql", SQL_FILE).read_text(encoding="utf-8")
    for placeholder in (
        ACCOUNT_PLACEHOLDER,
        TABLE_PLACEHOLDER,
        FILTER_PLACEHOLDER,
        EVENT_FLAGS_PLACEHOLDER,
        FLAG_NAMES_PLACEHOLDER,
        DETECTIONS_PLACEHOLDER,
        FOLDER_DAY_PLACEHOLDER,
        *DROPPED_PLACEHOLDERS,
    ):
        if text.count(placeholder) != 1:
            raise RuntimeError(f"sql/{SQL_FILE} must contain {placeholder} exactly once")
    if VALUE_CHARS_PLACEHOLDER not in text:
        raise RuntimeError(f"sql/{SQL_FILE} must cut text values to {VALUE_CHARS_PLACEHOLDER} characters")
    # The file's comments document it; the statement Athena receives is the SQL alone (a leading
    # comment can confuse statement-type detection, and no comment can then hold a stray `?`).
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip() + "\n"
