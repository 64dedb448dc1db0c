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
from collections.abc import Iterator
from dataclasses import dataclass

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
    match condition:
        case Equals(operand, value):
            return f"{_value(operand)} = {_literal(value)}"
        case In(operand, values):
            if not values:
                raise ConditionError("an IN condition needs at least one value")
            return f"{_value(operand)} IN ({', '.join(_literal(v) for v in values)})"
        case Prefix(operand, value):
            return f"{_value(operand)} LIKE '{_like_safe(value)}%'"
        case Suffix(operand, value):
            return f"{_value(operand)} LIKE '%{_like_safe(value)}'"
        case Same(left, right):
            return f"{_value(left)} = {_value(right)}"
        case Absent(operand):
            return f"{_value(operand)} = ''"
        case All(terms):
            return _join(" AND ", terms)
        case Any_(terms):
            return _join(" OR ", terms)
        case Not(term):
            return f"NOT ({to_sql(term)})"
    raise ConditionError(f"not a condition: {condition!r}")


def describe(condition: Condition) -> str:
    """The condition for people (README, drill-down descriptions): the same logic, without the coalesce."""

    def name(operand: Operand) -> str:
        return operand.name if isinstance(operand, Field) else f"{operand.column}{operand.path[1:]}"

    match condition:
        case Equals(operand, value):
            return f"{name(operand)} = {value}"
        case In(operand, values):
            return f"{name(operand)} in ({', '.join(values)})"
        case Prefix(operand, value):
            return f"{name(operand)} starts with {value}"
        case Suffix(operand, value):
            return f"{name(operand)} ends with {value}"
        case Same(left, right):
            return f"{name(left)} = {name(right)}"
        case Absent(operand):
            return f"no {name(operand)}"
        case All(terms):
            return " and ".join(_grouped(t) for t in terms)
        case Any_(terms):
            return " or ".join(_grouped(t) for t in terms)
        case Not(Equals(operand, value)):
            return f"{name(operand)} != {value}"
        case Not(Absent(operand)):
            return f"{name(operand)} present"
        case Not(term):
            return f"not ({describe(term)})"
    raise ConditionError(f"not a condition: {condition!r}")


def _grouped(condition: Condition) -> str:
    text = describe(condition)
    return f"({text})" if isinstance(condition, All | Any_) else text


def fields_read(condition: Condition) -> Iterator[Operand]:
    """Every operand the condition reads (for checks such as "eventSource is always pinned")."""
    match condition:
        case Equals(operand, _) | In(operand, _) | Prefix(operand, _) | Suffix(operand, _) | Absent(operand):
            yield operand
        case Same(left, right):
            yield left
            yield right
        case All(terms) | Any_(terms):
            for term in terms:
                yield from fields_read(term)
        case Not(term):
            yield from fields_read(term)


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


def _join(separator: str, terms: tuple[Condition, ...]) -> str:
    if not terms:
        raise ConditionError("an All/Any condition needs at least one term")
    return "(" + separator.join(f"({to_sql(term)})" for term in terms) + ")"


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
