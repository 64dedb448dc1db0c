"""The condition compiler: SQL only from allow-listed fields and strictly checked literals."""

from __future__ import annotations

import pytest
import sqlglot

from trailkeeper.detections.conditions import (
    ConditionError,
    absent,
    all_of,
    ends,
    eq,
    json,
    not_,
    one_of,
    starts,
    to_sql,
)


def test_compiled_condition_is_one_trino_boolean_expression() -> None:
    sql = to_sql(all_of(eq("eventsource", "iam.amazonaws.com"), not_(absent(json("requestparameters", "$.a.b")))))

    assert sqlglot.parse_one(f"SELECT 1 WHERE {sql}", read="trino") is not None
    assert sql.count("coalesce(") == 2  # every operand read as '' when missing: never NULL


@pytest.mark.parametrize(
    "literal",
    ["it's", "a\\b", "x' OR '1'='1", "line\nbreak", "é", "a" * 201, ";"],
)
def test_literal_outside_the_strict_pattern_is_refused(literal: str) -> None:
    with pytest.raises(ConditionError):
        to_sql(eq("eventname", literal))


@pytest.mark.parametrize("pattern", ["100%", "a_b", "*x", ""])
def test_prefix_or_suffix_with_a_like_wildcard_is_refused(pattern: str) -> None:
    with pytest.raises(ConditionError):
        to_sql(starts("errorcode", pattern))
    with pytest.raises(ConditionError):
        to_sql(ends("errorcode", pattern))


@pytest.mark.parametrize("name", ["eventName", "useridentity", "1=1", "errorcode; DROP TABLE x"])
def test_field_not_in_the_allow_list_is_refused(name: str) -> None:
    with pytest.raises(ConditionError, match="not one of the allowed columns"):
        to_sql(eq(name, "x"))


@pytest.mark.parametrize("path", ["$", "$.a'", "a.b", "$.a[10]", "$..a", "$.a.b.c.d.e.f.g", "$['a']"])
def test_json_path_outside_the_strict_form_is_refused(path: str) -> None:
    with pytest.raises(ConditionError, match="JSON path"):
        to_sql(eq(json("requestparameters", path), "x"))


def test_json_column_not_in_the_allow_list_is_refused() -> None:
    with pytest.raises(ConditionError, match="JSON column"):
        to_sql(eq(json("useragent", "$.a"), "x"))


def test_empty_in_list_is_refused() -> None:
    with pytest.raises(ConditionError):
        to_sql(one_of("eventname"))
