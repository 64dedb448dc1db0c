"""A small condition language over the CloudTrail table's columns, compiled to one Trino SQL predicate.

Conditions are data (the catalog writes them, tests read them); `to_sql` is the only way they become SQL,
for the nightly evaluation and for the drill-down queries alike. The SQL text is rebuilt from validated
parts only: a field is one of the allow-listed column expressions below (JSON paths are checked against a
strict pattern), and every literal is checked against a strict character class with no quote, backslash or
LIKE wildcard in it. Nothing is escaped, because nothing that needs escaping is accepted.

Every compiled predicate is never NULL: a missing value is read as '' (coalesce), so `NOT`, `<>` and the
count_if over it behave the same on every engine. CloudTrail writes absent fields as JSON null or leaves
them out; both read as '' here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# The table's columns (template.yaml, CloudTrailTable) a condition may read, by the name conditions use.
COLUMNS: dict[str, str] = {
    "eventsource": "eventsource",
    "eventname": "eventname",
    "eventtype": "eventtype",
    "errorcode": "errorcode",
    "errormessage": "errormessage",
    "sourceipaddress": "sourceipaddress",
    "useragent": "useragent",
    "readonly": "readonly",
    "recipientaccountid": "recipientaccountid",
    "useridentity.type": "useridentity.type",
    "useridentity.arn": "useridentity.arn",
    "useridentity.username": "useridentity.username",
    "useridentity.invokedby": "useridentity.invokedby",
    "useridentity.accountid": "useridentity.accountid",
    "useridentity.sessioncontext.sessionissuer.arn": "useridentity.sessioncontext.sessionissuer.arn",
}
# The table's JSON-text columns a condition may look into with json_extract_scalar.
JSON_COLUMNS = frozenset({"requestparameters", "responseelements", "additionaleventdata", "serviceeventdetails"})
# '$.a.b', '$.eventSelectors[0].includeManagementEvents': names and small indexes, nothing else.
_JSON_PATH = re.compile(r"\$(\.[A-Za-z][A-Za-z0-9]{0,63}(\[[0-9]\])?){1,6}")
# A literal of the catalog: what CloudTrail values it compares with look like (names, ARNs, CIDRs, codes).
_LITERAL = re.compile(r"[A-Za-z0-9 .:/@+=,*-]{0,200}")
# LIKE patterns are built from literals that also hold no LIKE wildcard ('%', '_') nor '*'.
_LIKE_SAFE = re.compile(r"[A-Za-z0-9 .:/@+=,-]{1,200}")


class ConditionError(ValueError):
    """A condition names a field that is not allowed or holds a literal outside the strict pattern."""


@dataclass(frozen=True)
class Field:
    """One allow-listed column expression (a name of COLUMNS)."""

    name: str

    def sql(self) -> str:
        if self.name not in COLUMNS:
            raise ConditionError(f"field {self.name!r} is not one of the allowed columns {sorted(COLUMNS)}")
        return COLUMNS[self.name]


@dataclass(frozen=True)
class Json:
    """json_extract_scalar(column, path) on one of the JSON-text columns."""

    column: str
    path: str

    def sql(self) -> str:
        if self.column not in JSON_COLUMNS:
            raise ConditionError(f"JSON column {self.column!r} is not one of {sorted(JSON_COLUMNS)}")
        if not _JSON_PATH.fullmatch(self.path):
            raise ConditionError(f"JSON path {self.path!r} is not of the form $.name[.name...] (index 0-9 allowed)")
        return f"json_extract_scalar({self.column}, '{self.path}')"


Operand = Field | Json


@dataclass(frozen=True)
class Equals:
    operand: Operand
    value: str


@dataclass(frozen=True)
class In:
    operand: Operand
    values: tuple[str, ...]


@dataclass(frozen=True)
class Prefix:
    operand: Operand
    value: str


@dataclass(frozen=True)
class Suffix:
    operand: Operand
    value: str


@dataclass(frozen=True)
class Same:
    """Two operands hold the same value (both missing counts as the same)."""

    left: Operand
    right: Operand


@dataclass(frozen=True)
class Absent:
    """The value is missing, null or empty."""

    operand: Operand


@dataclass(frozen=True)
class All:
    terms: tuple[Condition, ...]


@dataclass(frozen=True)
class Any_:
    terms: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    term: Condition


Condition = Equals | In | Prefix | Suffix | Same | Absent | All | Any_ | Not


# Short constructors, so the catalog reads like the rule it states.
def field(name: str) -> Field:
    return Field(name)


def json(column: str, path: str) -> Json:
    return Json(column, path)


def eq(operand: Operand | str, value: str) -> Equals:
    return Equals(_operand(operand), value)


def one_of(operand: Operand | str, *values: str) -> In:
    return In(_operand(operand), tuple(values))


def starts(operand: Operand | str, value: str) -> Prefix:
    return Prefix(_operand(operand), value)


def ends(operand: Operand | str, value: str) -> Suffix:
    return Suffix(_operand(operand), value)


def same(left: Operand | str, right: Operand | str) -> Same:
    return Same(_operand(left), _operand(right))


def absent(operand: Operand | str) -> Absent:
    return Absent(_operand(operand))


def present(operand: Operand | str) -> Not:
    return Not(Absent(_operand(operand)))


def all_of(*terms: Condition) -> All:
    return All(tuple(terms))


def any_of(*terms: Condition) -> Any_:
    return Any_(tuple(terms))


def not_(term: Condition) -> Not:
    return Not(term)


def _operand(operand: Operand | str) -> Operand:
    return Field(operand) if isinstance(operand, str) else operand


def to_sql(condition: Condition) -> str:
    """The condition as one never-NULL Trino boolean expression, from validated parts only."""
    if leaf := _LEAVES.get(type(condition)):
        operand, argument = _split(condition)
        return leaf.sql.format(a=_value(operand), b=leaf.argument.sql(argument))
    if isinstance(condition, All | Any_):
        if not condition.terms:
            raise ConditionError("an All/Any condition needs at least one term")
        separator = f" {_JUNCTIONS[type(condition)].sql} "
        return "(" + separator.join(f"({to_sql(term)})" for term in condition.terms) + ")"
    if isinstance(condition, Not):
        return f"NOT ({to_sql(condition.term)})"
    raise ConditionError(f"not a condition: {condition!r}")


def describe(condition: Condition) -> str:
    """The condition for people (README, drill-down descriptions): the same logic, without the coalesce."""
    match condition:
        case Not(Equals(operand, value)):
            return f"{_name(operand)} != {value}"
        case Not(Absent(operand)):
            return f"{_name(operand)} present"
        case Not(term):
            return f"not ({describe(term)})"
    if leaf := _LEAVES.get(type(condition)):
        operand, argument = _split(condition)
        return leaf.text.format(a=_name(operand), b=leaf.argument.text(argument))
    if isinstance(condition, All | Any_):
        return f" {_JUNCTIONS[type(condition)].text} ".join(_grouped(term) for term in condition.terms)
    raise ConditionError(f"not a condition: {condition!r}")


def _grouped(condition: Condition) -> str:
    text = describe(condition)
    return f"({text})" if isinstance(condition, All | Any_) else text


def fields_read(condition: Condition) -> Iterator[Operand]:
    """Every operand the condition reads (for checks such as "eventSource is always pinned")."""
    if type(condition) in _LEAVES:
        operand, argument = _split(condition)
        yield operand
        if isinstance(argument, Field | Json):  # Same: the argument is a second operand
            yield argument
    elif isinstance(condition, All | Any_):
        for term in condition.terms:
            yield from fields_read(term)
    elif isinstance(condition, Not):
        yield from fields_read(condition.term)


def pinned_values(condition: Condition, name: str) -> frozenset[str] | None:
    """The values field `name` must take for the condition to hold, if a top-level conjunct pins it."""
    for term in _conjuncts(condition):
        if isinstance(term, Equals) and term.operand == Field(name):
            return frozenset({term.value})
        if isinstance(term, In) and term.operand == Field(name):
            return frozenset(term.values)
    return None


def _conjuncts(condition: Condition) -> Iterator[Condition]:
    if isinstance(condition, All):
        for term in condition.terms:
            yield from _conjuncts(term)
    else:
        yield condition


def _value(operand: Operand) -> str:
    return f"coalesce({operand.sql()}, '')"


def _literal(value: str) -> str:
    if not isinstance(value, str) or not _LITERAL.fullmatch(value):
        raise ConditionError(f"literal {value!r} is outside the catalog's strict pattern {_LITERAL.pattern}")
    return f"'{value}'"


def _like_safe(value: str) -> str:
    if not isinstance(value, str) or not _LIKE_SAFE.fullmatch(value):
        raise ConditionError(f"prefix/suffix {value!r} must match {_LIKE_SAFE.pattern} (no LIKE wildcards)")
    return value


def _literals(values: tuple[str, ...]) -> str:
    if not values:
        raise ConditionError("an IN condition needs at least one value")
    return ", ".join(_literal(v) for v in values)


def _name(operand: Operand) -> str:
    return operand.name if isinstance(operand, Field) else f"{operand.column}{operand.path[1:]}"


def _split(condition: Condition) -> tuple[Operand, Any]:
    """A leaf condition's operand and its argument (None for Absent): its fields in the order it matches on."""
    operand, *argument = (getattr(condition, name) for name in condition.__match_args__)
    return operand, argument[0] if argument else None


@dataclass(frozen=True)
class _Argument:
    """How a leaf's second part becomes SQL (checked, or refused with ConditionError) and words."""

    sql: Callable[[Any], str]
    text: Callable[[Any], str]


_NO_ARGUMENT = _Argument(lambda _: "", lambda _: "")


@dataclass(frozen=True)
class _Leaf:
    """A leaf condition's SQL and words: `{a}` is its operand, `{b}` its argument as `argument` makes it."""

    sql: str
    text: str
    argument: _Argument = _NO_ARGUMENT


@dataclass(frozen=True)
class _Junction:
    sql: str
    text: str


_LITERAL_ARGUMENT = _Argument(_literal, str)
_LIKE_ARGUMENT = _Argument(_like_safe, str)
# The compile table, one row per leaf condition: `{a}` is always an allow-listed operand, `{b}` a checked
# literal or another such operand; the templates are the only other SQL text.
_LEAVES: dict[type, _Leaf] = {
    Equals: _Leaf("{a} = {b}", "{a} = {b}", _LITERAL_ARGUMENT),
    In: _Leaf("{a} IN ({b})", "{a} in ({b})", _Argument(_literals, ", ".join)),
    Prefix: _Leaf("{a} LIKE '{b}%'", "{a} starts with {b}", _LIKE_ARGUMENT),
    Suffix: _Leaf("{a} LIKE '%{b}'", "{a} ends with {b}", _LIKE_ARGUMENT),
    Same: _Leaf("{a} = {b}", "{a} = {b}", _Argument(_value, _name)),
    Absent: _Leaf("{a} = ''", "no {a}"),
}
_JUNCTIONS: dict[type, _Junction] = {All: _Junction("AND", "and"), Any_: _Junction("OR", "or")}
