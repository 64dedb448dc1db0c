"""The deployment's configuration, read once from the environment into a frozen object.

Field names are the environment variable names set by template.yaml, so a reader can grep one
for the other. Anything unusable fails at start-up with ConfigurationError, not at 3 a.m. in SQL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from trailkeeper import allowlist
from trailkeeper.errors import ConfigurationError

ATHENA_QUERY_LIMIT_BYTES = 262_144
STATE_PAYLOAD_LIMIT_BYTES = 262_144  # Step Functions, each state's input and each task's raw output
# A statement is a task output twice: the s3:getObject that loads it and the athena .sync that runs it,
# whose output is the whole GetQueryExecution response (it repeats the query). Overflowing either is
# States.DataLimitExceeded, which no Catch sees (docs/aws-facts.md). The cap leaves room for the largest
# response the service models allow plus headroom (tests/unit/test_payload_limits.py computes it).
MAX_STATEMENT_BYTES_CAP = 232 * 1_024  # 237,568
DEFAULT_MAX_STATEMENT_BYTES = MAX_STATEMENT_BYTES_CAP
# Athena allows about 20 active DDL queries per account, queued ones included.
ATHENA_ACTIVE_DDL_LIMIT = 20
MIN_STATEMENT_BYTES = 1_024


@dataclass(frozen=True)
class Settings:
    TRAIL_BUCKET: str
    TRAIL_PREFIX: str
    ORGANIZATION_ID: str | None
    ACCOUNT_ALLOWLIST: frozenset[str] | None
    REGION_ALLOWLIST: frozenset[str] | None
    DATABASE_NAME: str
    TABLE_NAME: str
    RESULTS_BUCKET: str
    LOOKBACK_DAYS: int
    MAX_STATEMENT_BYTES: int
    ATHENA_DDL_CONCURRENCY: int = 5
    BACKFILL_SHARD_PARTITIONS: int = 200_000
    BACKFILL_SHARD_CONCURRENCY: int = 2

    @property
    def logs_root(self) -> str:
        """Key prefix under which account folders sit: `[prefix/]AWSLogs/[o-org/]`."""
        parts = [self.TRAIL_PREFIX] if self.TRAIL_PREFIX else []
        parts.append("AWSLogs")
        if self.ORGANIZATION_ID:
            parts.append(self.ORGANIZATION_ID)
        return "/".join(parts) + "/"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            TRAIL_BUCKET=_bucket(env, "TRAIL_BUCKET"),
            TRAIL_PREFIX=_prefix(env.get("TRAIL_PREFIX", "")),
            ORGANIZATION_ID=_organization_id(env.get("ORGANIZATION_ID", "")),
            ACCOUNT_ALLOWLIST=_allowlist(env, "ACCOUNT_ALLOWLIST", allowlist.is_account_id, "12-digit account id"),
            REGION_ALLOWLIST=_allowlist(env, "REGION_ALLOWLIST", allowlist.is_region, "region name"),
            DATABASE_NAME=_glue_name(env, "DATABASE_NAME"),
            TABLE_NAME=_glue_name(env, "TABLE_NAME"),
            RESULTS_BUCKET=_bucket(env, "RESULTS_BUCKET"),
            LOOKBACK_DAYS=_int(env, "LOOKBACK_DAYS", default=3, low=0, high=90),
            MAX_STATEMENT_BYTES=_int(
                env,
                "MAX_STATEMENT_BYTES",
                default=DEFAULT_MAX_STATEMENT_BYTES,
                low=MIN_STATEMENT_BYTES,
                high=MAX_STATEMENT_BYTES_CAP,
            ),
            ATHENA_DDL_CONCURRENCY=_int(env, "ATHENA_DDL_CONCURRENCY", default=5, low=1, high=ATHENA_ACTIVE_DDL_LIMIT),
            BACKFILL_SHARD_PARTITIONS=_int(env, "BACKFILL_SHARD_PARTITIONS", default=200_000, low=100, high=1_000_000),
            BACKFILL_SHARD_CONCURRENCY=_int(
                env, "BACKFILL_SHARD_CONCURRENCY", default=2, low=1, high=ATHENA_ACTIVE_DDL_LIMIT
            ),
        )

    def __post_init__(self) -> None:
        # Shards run side by side, each with its own DDL Map: together they must stay inside Athena's limit.
        if self.ATHENA_DDL_CONCURRENCY * self.BACKFILL_SHARD_CONCURRENCY > ATHENA_ACTIVE_DDL_LIMIT:
            raise ConfigurationError(
                f"ATHENA_DDL_CONCURRENCY={self.ATHENA_DDL_CONCURRENCY} x BACKFILL_SHARD_CONCURRENCY="
                f"{self.BACKFILL_SHARD_CONCURRENCY} DDL queries at once exceeds Athena's "
                f"{ATHENA_ACTIVE_DDL_LIMIT} active DDL queries per account"
            )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _bucket(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name)
    if not allowlist.BUCKET.fullmatch(value):
        raise ConfigurationError(f"{name}={value!r} is not a usable S3 bucket name")
    return value


def _glue_name(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name)
    if not allowlist.GLUE_NAME.fullmatch(value):
        raise ConfigurationError(f"{name}={value!r} must be lower-case letters, digits and underscores")
    return value


def _prefix(value: str) -> str:
    if not allowlist.is_prefix(value):
        raise ConfigurationError(
            f"TRAIL_PREFIX={value!r} must be '/'-separated segments of letters, digits, '.', '_' or '-', "
            "without leading, trailing or doubled '/'"
        )
    return value


def _organization_id(value: str) -> str | None:
    if value == "":
        return None
    if not allowlist.ORGANIZATION_ID.fullmatch(value):
        raise ConfigurationError(f"ORGANIZATION_ID={value!r} is not an organization id like o-a1b2c3d4e5")
    return value


def _allowlist(env: Mapping[str, str], name: str, valid: object, what: str) -> frozenset[str] | None:
    """Absent means 'no restriction'. Present but empty fails closed: it never means 'all'."""
    if name not in env:
        return None
    items = [item.strip() for item in env[name].split(",") if item.strip()]
    if not items:
        raise ConfigurationError(f"{name} is set but lists nothing; remove it to allow all, or list values")
    bad = [item for item in items if not valid(item)]  # type: ignore[operator]
    if bad:
        raise ConfigurationError(f"{name} has values that are not a {what}: {bad[:5]!r}")
    return frozenset(items)


def _int(env: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise ConfigurationError(f"{name}={raw!r} is not a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={value} is outside {low}..{high}")
    return value


# One mailbox: local part and domain of plain characters. No display names, commas, spaces or line
# breaks, so one configured value can never smuggle a second recipient or a header.
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+")
TITLE = re.compile(r"[A-Za-z0-9 ._()-]{1,60}")
SES_MAX_RECIPIENTS = 50


@dataclass(frozen=True)
class ReportSettings:
    """Configuration of the daily report; read only by the report functions."""

    REPORT_SENDER: str
    REPORT_RECIPIENTS: tuple[str, ...]
    REPORT_TITLE: str
    BASELINE_DAYS: int
    REPORT_MAX_ROWS: int
    SEND_WHEN_NOTHING_NEW: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReportSettings:
        env = os.environ if environ is None else environ
        sender = _required(env, "REPORT_SENDER")
        if not EMAIL.fullmatch(sender):
            raise ConfigurationError(f"REPORT_SENDER={sender!r} is not a plain email address")
        recipients = tuple(r.strip() for r in env.get("REPORT_RECIPIENTS", "").split(",") if r.strip())
        if not recipients:
            raise ConfigurationError("REPORT_RECIPIENTS lists nobody")
        if len(recipients) > SES_MAX_RECIPIENTS:
            raise ConfigurationError(f"REPORT_RECIPIENTS lists {len(recipients)}; SES takes at most 50 per message")
        bad = [r for r in recipients if not EMAIL.fullmatch(r)]
        if bad:
            raise ConfigurationError(f"REPORT_RECIPIENTS has values that are not plain email addresses: {bad[:3]!r}")
        title = env.get("REPORT_TITLE", "trailkeeper")
        if not TITLE.fullmatch(title):
            raise ConfigurationError(f"REPORT_TITLE={title!r} must be 1-60 letters, digits, spaces or ._()-")
        send_when_nothing_new = env.get("SEND_WHEN_NOTHING_NEW", "true")
        if send_when_nothing_new not in {"true", "false"}:
            raise ConfigurationError(f"SEND_WHEN_NOTHING_NEW={send_when_nothing_new!r} must be true or false")
        return cls(
            REPORT_SENDER=sender,
            REPORT_RECIPIENTS=recipients,
            REPORT_TITLE=title,
            BASELINE_DAYS=_int(env, "BASELINE_DAYS", default=14, low=1, high=90),
            REPORT_MAX_ROWS=_int(env, "REPORT_MAX_ROWS", default=200, low=1, high=2_000),
            SEND_WHEN_NOTHING_NEW=send_when_nothing_new == "true",
        )
