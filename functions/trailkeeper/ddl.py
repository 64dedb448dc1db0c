"""ALTER TABLE ... ADD IF NOT EXISTS PARTITION statements, rebuilt from validated parts and packed tight.

Athena DDL takes no parameters, so nothing is escaped: every value is checked against its allow-list
before it becomes SQL (names here, partition values in planner.ClauseBuilder), and the text is
assembled from those values alone. Statements are packed greedily; each is at most `limit` UTF-8 bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from trailkeeper import allowlist


def table_reference(database: str, table: str) -> str:
    """`ALTER TABLE `db`.`table``, from validated names: the start of every statement trailkeeper writes."""
    for name in (database, table):
        if not allowlist.GLUE_NAME.fullmatch(name):
            raise ValueError(f"not a Glue name: {name!r}")
    return f"ALTER TABLE `{database}`.`{table}`"


def statement_header(database: str, table: str) -> str:
    return f"{table_reference(database, table)} ADD IF NOT EXISTS"


def relocation_statements(database: str, table: str, clauses: Iterable[str]) -> Iterator[str]:
    """One `ALTER TABLE ... PARTITION (...) SET LOCATION '...'` per clause: Athena sets one partition at a time."""
    reference = table_reference(database, table)
    for clause in clauses:
        yield f"{reference}{clause}"


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
