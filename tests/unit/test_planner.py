"""Planner: existing partitions as bitmaps, missing clauses from validated fragments, for every scheme."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import make_settings
from tests.sqlcheck import parse_add_partitions
from trailkeeper.ddl import statement_header
from trailkeeper.planner import ClauseBuilder, ExistingIndex, Window
from trailkeeper.schemes import ORGANIZATION_KEYS, SINGLE_ACCOUNT_KEYS, TRAILKEEPER_KEYS, PartitionScheme

A1, A2 = "111111111111", "222222222222"
WINDOW = Window(dt.date(2024, 2, 28), dt.date(2024, 3, 1))
TRAILKEEPER = PartitionScheme("trailkeeper", TRAILKEEPER_KEYS)
ORGANIZATION = PartitionScheme("aws-organization", ORGANIZATION_KEYS)
SINGLE = PartitionScheme("aws-single-account", SINGLE_ACCOUNT_KEYS, fixed_account=A1)
HEADER = statement_header("trailkeeper", "cloudtrail")


def parsed(builder: ClauseBuilder, pairs: list[tuple[str, str]], existing: ExistingIndex) -> list[dict[str, str]]:
    clauses = "".join(builder.missing_clauses(pairs, existing))
    return [p.values | {"location": p.location} for p in parse_add_partitions(HEADER + clauses).partitions]


def test_window_counts_a_leap_day() -> None:
    assert len(WINDOW) == 3 and WINDOW.days[1] == dt.date(2024, 2, 29)


def test_existing_index_marks_days_per_pair() -> None:
    index = ExistingIndex(TRAILKEEPER, WINDOW)
    index.add([A1, "us-east-1", "2024-02-29"])
    assert [index.has((A1, "us-east-1"), i) for i in range(3)] == [False, True, False]
    assert not index.has((A2, "us-east-1"), 1)


def test_existing_index_of_a_shard_keeps_only_its_own_pairs() -> None:
    index = ExistingIndex(TRAILKEEPER, WINDOW, only=frozenset({(A1, "us-east-1")}))
    index.add([A1, "us-east-1", "2024-02-29"])
    index.add([A2, "us-east-1", "2024-02-29"])
    assert (set(index.bitmaps), index.ignored) == ({(A1, "us-east-1")}, 1)


@pytest.mark.parametrize(
    "values",
    [
        [A1, "us-east-1", "2024-03-02"],
        [A1, "us-east-1", "2024-02-30"],
        ["1111", "us-east-1", "2024-02-29"],
        [A1, "US-EAST-1", "2024-02-29"],
        [A1, "us-east-1"],
    ],
    ids=["outside window", "impossible day", "short account", "upper-case region", "too few values"],
)
def test_existing_index_ignores_entries_it_cannot_trust(values: list[str]) -> None:
    index = ExistingIndex(TRAILKEEPER, WINDOW)
    index.add(values)
    assert (index.bitmaps, index.ignored) == ({}, 1)


def test_trailkeeper_clauses_parse_back_to_missing_days_and_their_folders() -> None:
    existing = ExistingIndex(TRAILKEEPER, WINDOW)
    existing.add([A1, "us-east-1", "2024-02-29"])
    builder = ClauseBuilder(TRAILKEEPER, make_settings(TRAIL_PREFIX="org/logs"), WINDOW)
    root = f"s3://trail-bucket/org/logs/AWSLogs/o-exampleorg1/{A1}/CloudTrail/us-east-1/"
    assert parsed(builder, [(A1, "us-east-1")], existing) == [
        {"account": A1, "region": "us-east-1", "dt": "2024-02-28", "location": f"{root}2024/02/28/"},
        {"account": A1, "region": "us-east-1", "dt": "2024-03-01", "location": f"{root}2024/03/01/"},
    ]


def test_organization_clauses_name_year_month_day() -> None:
    existing = ExistingIndex(ORGANIZATION, WINDOW)
    for day in ("28", "29"):
        existing.add([A1, "eu-west-1", "2024", "02", day])
    builder = ClauseBuilder(ORGANIZATION, make_settings(), WINDOW)
    assert parsed(builder, [(A1, "eu-west-1")], existing) == [
        {
            "account": A1,
            "region": "eu-west-1",
            "year": "2024",
            "month": "03",
            "day": "01",
            "location": f"s3://trail-bucket/AWSLogs/o-exampleorg1/{A1}/CloudTrail/eu-west-1/2024/03/01/",
        }
    ]


def test_single_account_clauses_omit_the_account_and_keep_its_folder() -> None:
    existing = ExistingIndex(SINGLE, WINDOW)
    existing.add(["eu-west-1", "2024", "02", "28"])
    existing.add(["eu-west-1", "2024", "02", "29"])
    builder = ClauseBuilder(SINGLE, make_settings(ORGANIZATION_ID=""), WINDOW)
    assert parsed(builder, [(A1, "eu-west-1")], existing) == [
        {
            "region": "eu-west-1",
            "year": "2024",
            "month": "03",
            "day": "01",
            "location": f"s3://trail-bucket/AWSLogs/{A1}/CloudTrail/eu-west-1/2024/03/01/",
        }
    ]


@pytest.mark.parametrize(
    "pair",
    [
        (A1, "us-east-1') LOCATION 's3://evil/'--"),
        ("1111111111'1", "us-east-1"),
        (A1, "us-east-1 "),
    ],
    ids=["sql in region", "quote in account", "trailing space"],
)
def test_unvalidated_pairs_never_become_ddl(pair: tuple[str, str]) -> None:
    builder = ClauseBuilder(TRAILKEEPER, make_settings(), WINDOW)
    with pytest.raises(ValueError, match="unvalidated"):
        list(builder.missing_clauses([pair], ExistingIndex(TRAILKEEPER, WINDOW)))


def test_single_account_table_refuses_another_account() -> None:
    builder = ClauseBuilder(SINGLE, make_settings(ORGANIZATION_ID=""), WINDOW)
    with pytest.raises(ValueError, match="single-account"):
        list(builder.missing_clauses([(A2, "us-east-1")], ExistingIndex(SINGLE, WINDOW)))


def test_clause_bytes_is_the_length_of_each_days_clause() -> None:
    builder = ClauseBuilder(TRAILKEEPER, make_settings(), WINDOW)
    clauses = list(builder.missing_clauses([(A1, "eu-west-1")], ExistingIndex(TRAILKEEPER, WINDOW)))
    assert [len(c) for c in clauses] == [builder.clause_bytes((A1, "eu-west-1"))] * len(WINDOW)
