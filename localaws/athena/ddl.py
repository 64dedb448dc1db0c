"""The Hive DDL the embedded Athena runs against moto's Glue catalog.

    ALTER TABLE [db.]table ADD [IF NOT EXISTS] PARTITION (k='v', ...) [LOCATION 's3://...'] [PARTITION ...]...
    ALTER TABLE [db.]table DROP [IF EXISTS] PARTITION (k='v', ...) [, PARTITION (...)]... [PURGE]
    ALTER TABLE [db.]table [PARTITION (k='v', ...)] SET LOCATION 's3://...'
    SHOW PARTITIONS [db.]table

SET LOCATION is Athena's `ALTER TABLE SET LOCATION` (Athena user guide, alter-table-set-location.html): one
partition, named by its full spec, or the table itself; a partition that does not exist fails the query.

sqlglot 30.30 parses `ADD PARTITION` only as an opaque Command, so this is a strict tokenizer and a grammar
that consumes every character: anything it does not expect (a stray quote, a backslash escape, a second
statement, injected keywords) fails the query with a SYNTAX_ERROR instead of being half-understood.
"""

from __future__ import annotations

import contextlib
import copy
import re
from dataclasses import dataclass
from typing import Any

from moto.glue.exceptions import PartitionAlreadyExistsException, PartitionNotFoundException
from moto.glue.models import FakeTable, GlueBackend

from localaws.athena.catalog import QueryFailed, find_table
from localaws.patches.glue import GLUE_PARTITIONS_LOCK

_TOKEN = re.compile(
    r"""(?P<space>\s+|--[^\n]*)
      |(?P<quoted>`(?:[^`]|``)+`)
      |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<number>[0-9]+)
      |(?P<string>'[^'\\]*')
      |(?P<punct>[(),=.;])""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # quoted, word, number, string, punct, end
    text: str
    position: int


@dataclass(frozen=True)
class PartitionClause:
    spec: tuple[tuple[str, str], ...]  # (key as written, value)
    location: str | None


@dataclass(frozen=True)
class AddPartitions:
    database: str | None
    table: str
    if_not_exists: bool
    partitions: tuple[PartitionClause, ...]


@dataclass(frozen=True)
class DropPartitions:
    database: str | None
    table: str
    if_exists: bool
    specs: tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True)
class ShowPartitions:
    database: str | None
    table: str


@dataclass(frozen=True)
class SetLocation:
    database: str | None
    table: str
    spec: tuple[tuple[str, str], ...] | None  # None: the table's own LOCATION
    location: str


Statement = AddPartitions | DropPartitions | ShowPartitions | SetLocation


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        if match is None:
            raise QueryFailed(f"SYNTAX_ERROR: {_where(sql, position)}: unexpected character {sql[position]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(sql)))
    return tokens


def _where(sql: str, position: int) -> str:
    line = sql.count("\n", 0, position) + 1
    column = position - (sql.rfind("\n", 0, position) + 1) + 1
    return f"line {line}:{column}"


class _Parser:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = tokenize(sql)
        self.index = 0

    def fail(self, expected: str) -> QueryFailed:
        token = self.tokens[self.index]
        found = repr(token.text) if token.kind != "end" else "end of statement"
        return QueryFailed(f"SYNTAX_ERROR: {_where(self.sql, token.position)}: expected {expected}, found {found}")

    def keyword(self, *words: str) -> bool:
        """Consume the keywords if they come next (case-insensitive, never a quoted identifier)."""
        tokens = self.tokens[self.index : self.index + len(words)]
        if len(tokens) == len(words) and all(
            t.kind == "word" and t.text.upper() == w for t, w in zip(tokens, words, strict=True)
        ):
            self.index += len(words)
            return True
        return False

    def expect_keyword(self, *words: str) -> None:
        if not self.keyword(*words):
            raise self.fail(" ".join(words))

    def punct(self, text: str) -> bool:
        token = self.tokens[self.index]
        if token.kind == "punct" and token.text == text:
            self.index += 1
            return True
        return False

    def expect_punct(self, text: str) -> None:
        if not self.punct(text):
            raise self.fail(repr(text))

    def identifier(self) -> str:
        token = self.tokens[self.index]
        if token.kind == "word":
            self.index += 1
            return token.text
        if token.kind == "quoted":
            self.index += 1
            return token.text[1:-1].replace("``", "`")
        raise self.fail("an identifier")

    def table_name(self) -> tuple[str | None, str]:
        first = self.identifier()
        if self.punct("."):
            return first, self.identifier()
        return None, first

    def value(self) -> str:
        token = self.tokens[self.index]
        if token.kind == "string":
            self.index += 1
            return token.text[1:-1]
        if token.kind == "number":
            self.index += 1
            return token.text
        raise self.fail("a quoted partition value")

    def spec(self) -> tuple[tuple[str, str], ...]:
        self.expect_punct("(")
        pairs = []
        while True:
            key = self.identifier()
            self.expect_punct("=")
            pairs.append((key, self.value()))
            if self.punct(")"):
                return tuple(pairs)
            self.expect_punct(",")

    def end(self) -> None:
        self.punct(";")
        if self.tokens[self.index].kind != "end":
            raise self.fail("end of statement")

    def statement(self) -> Statement:
        if self.keyword("SHOW", "PARTITIONS"):
            database, table = self.table_name()
            self.end()
            return ShowPartitions(database, table)
        self.expect_keyword("ALTER", "TABLE")
        database, table = self.table_name()
        if self.keyword("ADD"):
            if_not_exists = self.keyword("IF", "NOT", "EXISTS")
            clauses = []
            while self.keyword("PARTITION"):
                spec = self.spec()
                location = None
                if self.keyword("LOCATION"):
                    location = self.value() if self.tokens[self.index].kind == "string" else None
                    if location is None:
                        raise self.fail("a quoted LOCATION")
                clauses.append(PartitionClause(spec, location))
            if not clauses:
                raise self.fail("PARTITION")
            self.end()
            return AddPartitions(database, table, if_not_exists, tuple(clauses))
        if self.keyword("DROP"):
            if_exists = self.keyword("IF", "EXISTS")
            self.expect_keyword("PARTITION")
            specs = [self.spec()]
            while self.punct(","):
                self.expect_keyword("PARTITION")
                specs.append(self.spec())
            self.keyword("PURGE")
            self.end()
            return DropPartitions(database, table, if_exists, tuple(specs))
        partition = self.spec() if self.keyword("PARTITION") else None
        if self.keyword("SET", "LOCATION"):
            if self.tokens[self.index].kind != "string":
                raise self.fail("a quoted LOCATION")
            location = self.value()
            self.end()
            return SetLocation(database, table, partition, location)
        raise self.fail(
            "SET LOCATION"
            if partition is not None
            else "ADD PARTITION, DROP PARTITION or SET LOCATION (other ALTER TABLE forms are not supported by the "
            "embedded engine)"
        )


def parse(sql: str) -> Statement:
    return _Parser(sql).statement()


def run(statement: Statement, glue: GlueBackend, default_database: str) -> list[str]:
    """Apply the statement to the Glue catalog; returns the result lines (SHOW PARTITIONS), else []."""
    with GLUE_PARTITIONS_LOCK:  # one statement at a time, like the metastore's own transaction
        return _run(statement, glue, default_database)


def _run(statement: Statement, glue: GlueBackend, default_database: str) -> list[str]:
    database = (statement.database or default_database).lower()
    table = find_table(glue, database, statement.table)
    if table is None:
        raise QueryFailed(f"FAILED: SemanticException [Error 10001]: Table not found {database}.{statement.table}")
    definition: dict[str, Any] = table.as_dict()  # the current version
    keys = [str(k["Name"]).lower() for k in definition.get("PartitionKeys") or []]
    if not keys:
        raise QueryFailed(f"FAILED: SemanticException table {database}.{table.name} is not partitioned")
    if isinstance(statement, ShowPartitions):
        return sorted(
            "/".join(f"{k}={_escape_path(v)}" for k, v in zip(keys, p.values, strict=False))
            for p in table.partitions.values()
        )
    if isinstance(statement, AddPartitions):
        _add(statement, table, definition, keys)
    elif isinstance(statement, SetLocation):
        _set_location(statement, table, definition, keys)
    else:
        _drop(statement, table, keys)
    return []


def _set_location(statement: SetLocation, table: FakeTable, definition: dict[str, Any], keys: list[str]) -> None:
    """Only the LOCATION changes; the rest of the partition's (or table's) StorageDescriptor is kept."""
    if statement.spec is None:
        descriptor = {**(definition.get("StorageDescriptor") or {}), "Location": statement.location}
        table.update({**_table_input(definition), "StorageDescriptor": descriptor})
        return
    values = _full_spec(statement.spec, keys)
    try:
        partition = table.get_partition(list(values))  # type: ignore[arg-type]  # moto annotates values as str
    except PartitionNotFoundException as error:
        raise QueryFailed(
            f"FAILED: SemanticException [Error 10006]: Partition not found {_describe_spec(statement.spec)}"
        ) from error
    current = copy.deepcopy(partition.partition_input)
    current["StorageDescriptor"] = {**(current.get("StorageDescriptor") or {}), "Location": statement.location}
    table.update_partition(list(values), current)  # type: ignore[arg-type]


def _table_input(definition: dict[str, Any]) -> dict[str, Any]:
    """A TableInput from GetTable's Table: the fields UpdateTable accepts."""
    accepted = (
        "Name",
        "Description",
        "Owner",
        "Retention",
        "StorageDescriptor",
        "PartitionKeys",
        "TableType",
        "Parameters",
        "ViewOriginalText",
        "ViewExpandedText",
        "TargetTable",
    )
    return {k: copy.deepcopy(v) for k, v in definition.items() if k in accepted}


def _add(statement: AddPartitions, table: FakeTable, definition: dict[str, Any], keys: list[str]) -> None:
    """All or nothing, like the metastore's add_partitions: validate every clause, then create them."""
    descriptor = definition.get("StorageDescriptor") or {}
    to_create: dict[tuple[str, ...], str] = {}
    for clause in statement.partitions:
        values = _full_spec(clause.spec, keys)
        location = clause.location or _default_location(str(descriptor.get("Location", "")), keys, values)
        exists = values in to_create or _exists(table, values)
        if exists and not statement.if_not_exists:
            raise QueryFailed(f"FAILED: AlreadyExistsException: Partition already exists: {_describe(keys, values)}")
        if not exists:
            to_create[values] = location
    # A new partition gets a copy of the table's StorageDescriptor (as Athena does); one copy is shared.
    shared = copy.deepcopy(descriptor)
    for values, location in to_create.items():
        try:
            table.create_partition({"Values": list(values), "StorageDescriptor": {**shared, "Location": location}})
        except PartitionAlreadyExistsException as error:  # created concurrently since the check
            raise QueryFailed(
                f"FAILED: AlreadyExistsException: Partition already exists: {_describe(keys, values)}"
            ) from error


def _drop(statement: DropPartitions, table: FakeTable, keys: list[str]) -> None:
    """Hive semantics: a spec may name a subset of the keys and then drops every partition it matches."""
    doomed: list[list[str]] = []
    for spec in statement.specs:
        wanted = _partial_spec(spec, keys)
        matches = [
            list(p.values) for p in table.partitions.values() if all(p.values[i] == v for i, v in wanted.items())
        ]
        if not matches and not statement.if_exists:
            raise QueryFailed(f"FAILED: SemanticException [Error 10006]: Partition not found {_describe_spec(spec)}")
        doomed.extend(m for m in matches if m not in doomed)
    for values in doomed:
        with contextlib.suppress(PartitionNotFoundException):  # dropped concurrently: the outcome is the same
            table.delete_partition(values)  # type: ignore[arg-type]  # moto annotates values as int


def _full_spec(spec: tuple[tuple[str, str], ...], keys: list[str]) -> tuple[str, ...]:
    given = _spec_dict(spec)
    if set(given) != set(keys):
        missing = [k for k in keys if k not in given]
        extra = [k for k in given if k not in keys]
        detail = f"missing {missing}" if missing else f"non-partition columns {extra}"
        raise QueryFailed(
            f"FAILED: ValidationFailureSemanticException: partition spec {_describe_spec(spec)} does not match the "
            f"partition keys ({', '.join(keys)}): {detail}"
        )
    return tuple(given[k] for k in keys)


def _partial_spec(spec: tuple[tuple[str, str], ...], keys: list[str]) -> dict[int, str]:
    given = _spec_dict(spec)
    extra = [k for k in given if k not in keys]
    if extra:
        raise QueryFailed(
            f"FAILED: ValidationFailureSemanticException: partition spec {_describe_spec(spec)} contains "
            f"non-partition columns {extra}"
        )
    return {keys.index(k): v for k, v in given.items()}


def _spec_dict(spec: tuple[tuple[str, str], ...]) -> dict[str, str]:
    given: dict[str, str] = {}
    for key, value in spec:
        if key.lower() in given:
            raise QueryFailed(f"FAILED: SemanticException: duplicate partition key {key!r} in {_describe_spec(spec)}")
        given[key.lower()] = value
    return given


def _exists(table: FakeTable, values: tuple[str, ...]) -> bool:
    try:
        table.get_partition(list(values))  # type: ignore[arg-type]  # moto annotates values as str
    except PartitionNotFoundException:
        return False
    return True


def _default_location(table_location: str, keys: list[str], values: tuple[str, ...]) -> str:
    """Hive's default partition folder: <table location>/k1=v1/k2=v2/."""
    folders = "/".join(f"{k}={_escape_path(v)}" for k, v in zip(keys, values, strict=True))
    return f"{table_location.rstrip('/')}/{folders}/"


def _escape_path(value: str) -> str:
    """Hive's FileUtils.escapePathName: control characters and `"#%'*/:=?\\{[]^` become %XX."""
    return "".join(f"%{ord(ch):02X}" if ord(ch) < 0x20 or ch in "\"#%'*/:=?\\\x7f{[]^" else ch for ch in value)


def _describe(keys: list[str], values: tuple[str, ...]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) + "}"


def _describe_spec(spec: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in spec) + "}"
