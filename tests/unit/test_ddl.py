"""DDL: statements rebuilt from validated parts, within the byte limit, in the fewest statements."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import make_settings
from tests.sqlcheck import parse_add_partitions
from trailkeeper.ddl import pack_statements, statement_header
from trailkeeper.planner import ClauseBuilder, ExistingIndex, Window
from trailkeeper.schemes import TRAILKEEPER_KEYS, PartitionScheme

SCHEME = PartitionScheme("trailkeeper", TRAILKEEPER_KEYS)
HEADER = statement_header("trailkeeper", "cloudtrail")
DAY = Window(dt.date(2024, 1, 5), dt.date(2024, 1, 5))


def clauses_for(accounts: int) -> list[str]:
    pairs = [(f"{100000000000 + n:012d}", "eu-west-1") for n in range(accounts)]
    builder = ClauseBuilder(SCHEME, make_settings(), DAY)
    return list(builder.missing_clauses(pairs, ExistingIndex(SCHEME, DAY)))


def test_an_ordinary_night_is_one_statement() -> None:
    clauses = clauses_for(20 * 5)
    assert len(list(pack_statements(HEADER, clauses, make_settings().MAX_STATEMENT_BYTES))) == 1


def test_statements_respect_the_byte_limit_and_keep_every_partition_once() -> None:
    clauses = clauses_for(3_000)
    statements = list(pack_statements(HEADER, clauses, 20_000))
    assert all(len(s.encode()) <= 20_000 for s in statements)
    parsed = [p for s in statements for p in parse_add_partitions(s).partitions]
    assert [(p.values["account"], p.location) for p in parsed] == [
        (
            f"{100000000000 + n:012d}",
            f"s3://trail-bucket/AWSLogs/o-exampleorg1/{100000000000 + n:012d}/CloudTrail/eu-west-1/2024/01/05/",
        )
        for n in range(3_000)
    ]


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=400),
    limit=st.integers(min_value=400, max_value=5_000),
)
def test_every_closed_statement_wastes_less_than_one_clause(sizes: list[int], limit: int) -> None:
    clauses = [" " + "x" * (size - 1) for size in sizes]
    statements = list(pack_statements(HEADER, clauses, limit))
    room = limit - len(HEADER.encode())
    assert all(len(s.encode()) <= limit for s in statements)
    assert "".join(s[len(HEADER) :] for s in statements) == "".join(clauses)
    assert all(len(s.encode()) - len(HEADER.encode()) > room - max(sizes) for s in statements[:-1])


def test_statement_count_is_within_one_of_the_minimum_for_real_clauses() -> None:
    limit = make_settings().MAX_STATEMENT_BYTES
    clauses = clauses_for(50_000)
    minimum = math.ceil(sum(len(c.encode()) for c in clauses) / (limit - len(HEADER.encode())))
    assert len(list(pack_statements(HEADER, clauses, limit))) <= minimum + 1


def test_multi_byte_characters_are_counted_as_bytes() -> None:
    clauses = [" é" * 100] * 10  # 300 bytes but 200 characters each
    statements = list(pack_statements(HEADER, clauses, len(HEADER.encode()) + 650))
    assert [len(s[len(HEADER) :].encode()) for s in statements] == [600] * 5


def test_a_clause_larger_than_the_limit_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        list(pack_statements(HEADER, [" " + "x" * 2_000], 1_024))
