"""DDL: statements rebuilt from validated parts, within the byte limit, in the fewest statements."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import make_settings
from tests.sqlcheck import parse_add_partitions
from trailkeeper.ddl import pack_statements, partition_clause, partition_location, statement_header
from trailkeeper.schemes import ORGANIZATION_KEYS, PartitionScheme

SCHEME = PartitionScheme("trailkeeper", ("account", "region", "dt"))
HEADER = statement_header("trailkeeper", "cloudtrail")


def refs(count: int) -> list[tuple[str, str, str]]:
    return [(f"{100000000000 + n:012d}", "eu-west-1", "2024-01-05") for n in range(count)]


def test_clause_parses_back_to_exactly_its_partition_and_location() -> None:
    settings = make_settings(TRAIL_PREFIX="org/logs")
    ref = ("111111111111", "us-east-1", "2024-02-29")
    statement = parse_add_partitions(HEADER + partition_clause(SCHEME, settings, ref))
    assert (statement.database, statement.table) == ("trailkeeper", "cloudtrail")
    [added] = statement.partitions
    assert added.values == {"account": "111111111111", "region": "us-east-1", "dt": "2024-02-29"}
    assert added.location == "s3://trail-bucket/org/logs/AWSLogs/o-exampleorg1/111111111111/CloudTrail/us-east-1/2024/02/29/"


def test_organization_scheme_clause_names_year_month_day() -> None:
    ref = ("111111111111", "us-east-1", "2024-02-29")
    clause = partition_clause(PartitionScheme("org", ORGANIZATION_KEYS), make_settings(), ref)
    [added] = parse_add_partitions(HEADER + clause).partitions
    assert added.values == {"account": ref[0], "region": ref[1], "year": "2024", "month": "02", "day": "29"}


@pytest.mark.parametrize("ref", [
    ("111111111111", "us-east-1') LOCATION 's3://evil/'--", "2024-01-01"),
    ("1111111111'1", "us-east-1", "2024-01-01"),
    ("111111111111", "us-east-1", "2024-01-01' OR '1'='1"),
    ("111111111111", "us-east-1", "2024-02-30"),
], ids=["region", "account", "day injection", "impossible day"])
def test_unvalidated_values_never_become_ddl(ref: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="unvalidated"):
        partition_clause(SCHEME, make_settings(), ref)


def test_single_account_clause_refuses_another_account() -> None:
    scheme = PartitionScheme("single", ("region", "year", "month", "day"), fixed_account="111111111111")
    with pytest.raises(ValueError, match="does not belong"):
        partition_clause(scheme, make_settings(), ("222222222222", "us-east-1", "2024-01-01"))


def test_an_ordinary_night_is_one_statement() -> None:
    settings = make_settings()
    clauses = [partition_clause(SCHEME, settings, ref) for ref in refs(20 * 5)]
    assert len(list(pack_statements(HEADER, clauses, settings.MAX_STATEMENT_BYTES))) == 1


def test_statements_respect_the_byte_limit_and_keep_every_partition_once() -> None:
    settings = make_settings()
    wanted = refs(3_000)
    clauses = [partition_clause(SCHEME, settings, ref) for ref in wanted]
    statements = list(pack_statements(HEADER, clauses, 20_000))
    assert all(len(s.encode()) <= 20_000 for s in statements)
    parsed = [p for s in statements for p in parse_add_partitions(s).partitions]
    assert [(p.values["account"], p.values["region"], p.values["dt"]) for p in parsed] == wanted
    assert {p.location for p in parsed} == {partition_location(settings, ref) for ref in wanted}


@given(sizes=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=400),
       limit=st.integers(min_value=400, max_value=5_000))
def test_every_closed_statement_wastes_less_than_one_clause(sizes: list[int], limit: int) -> None:
    clauses = [" " + "x" * (size - 1) for size in sizes]
    statements = list(pack_statements(HEADER, clauses, limit))
    room = limit - len(HEADER.encode())
    assert all(len(s.encode()) <= limit for s in statements)
    assert "".join(s[len(HEADER):] for s in statements) == "".join(clauses)
    assert all(len(s.encode()) - len(HEADER.encode()) > room - max(sizes) for s in statements[:-1])


def test_statement_count_is_within_one_of_the_minimum_for_real_clauses() -> None:
    settings = make_settings()
    clauses = [partition_clause(SCHEME, settings, ref) for ref in refs(50_000)]
    room = settings.MAX_STATEMENT_BYTES - len(HEADER.encode())
    minimum = math.ceil(sum(len(c.encode()) for c in clauses) / room)
    assert len(list(pack_statements(HEADER, clauses, settings.MAX_STATEMENT_BYTES))) <= minimum + 1


def test_multi_byte_characters_are_counted_as_bytes() -> None:
    clauses = [" é" * 100] * 10  # 300 bytes but 200 characters each
    statements = list(pack_statements(HEADER, clauses, len(HEADER.encode()) + 650))
    assert [len(s[len(HEADER):].encode()) for s in statements] == [600] * 5


def test_a_clause_larger_than_the_limit_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        list(pack_statements(HEADER, [" " + "x" * 2_000], 1_024))
