"""ALTER TABLE ... ADD IF NOT EXISTS PARTITION statements, rebuilt from validated parts and packed tight.

Athena DDL takes no parameters, so nothing is escaped: every value is checked against its allow-list
here, at the last step before it becomes SQL, and the text is assembled from those values alone.
Statements are packed greedily in a deterministic order; each is at most `limit` UTF-8 bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from trailkeeper import allowlist
from trailkeeper.config import Settings
from trailkeeper.schemes import PartitionRef, PartitionScheme


def statement_header(database: str, table: str) -> str:
    for name in (database, table):
        if not allowlist.GLUE_NAME.fullmatch(name):
            raise ValueError(f"not a Glue name: {name!r}")
    return f"ALTER TABLE `{database}`.`{table}` ADD IF NOT EXISTS"


def partition_location(settings: Settings, ref: PartitionRef) -> str:
    account, region, day = ref
    return (
        f"s3://{settings.TRAIL_BUCKET}/{settings.logs_root}{account}/CloudTrail/{region}/"
        f"{day[0:4]}/{day[5:7]}/{day[8:10]}/"
    )


def partition_clause(scheme: PartitionScheme, settings: Settings, ref: PartitionRef) -> str:
    """` PARTITION (k='v', ...) LOCATION 's3://...'` for one validated partition (leading space included)."""
    account, region, day = ref
    if not (allowlist.is_account_id(account) and allowlist.is_region(region) and allowlist.parse_iso_date(day)):
        raise ValueError(f"refusing to build DDL for an unvalidated partition {ref!r}")
    if scheme.fixed_account is not None and account != scheme.fixed_account:
        raise ValueError(f"account {account} does not belong to single-account table of {scheme.fixed_account}")
    pairs = ", ".join(f"{key}='{value}'" for key, value in zip(scheme.keys, scheme.values(ref), strict=True))
    return f" PARTITION ({pairs}) LOCATION '{partition_location(settings, ref)}'"


def pack_statements(header: str, clauses: Iterable[str], limit: int) -> Iterator[str]:
    """Greedy next-fit: append clauses until the next would pass `limit` bytes, then start a new statement.

    With clauses tiny next to the limit (~210 B vs 262,144 B) each full statement wastes less than one
    clause, so the count stays within one of ceil(total clause bytes / (limit - header bytes)).
    """
    header_bytes = len(header.encode())
    parts: list[str] = []
    size = header_bytes
    for clause in clauses:
        clause_bytes = len(clause.encode())
        if header_bytes + clause_bytes > limit:
            raise ValueError(f"one partition clause ({clause_bytes} bytes) does not fit a {limit}-byte statement")
        if size + clause_bytes > limit:
            yield header + "".join(parts)
            parts, size = [], header_bytes
        parts.append(clause)
        size += clause_bytes
    if parts:
        yield header + "".join(parts)
