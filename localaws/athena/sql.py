"""Athena (Trino) SELECT statements for DuckDB: parameters, table references, partition predicates, names.

Trino SQL is parsed and transpiled with sqlglot (`read="trino"` -> `dialect="duckdb"`). Around that, this module
does what Athena does before its engine runs:
* binds `ExecutionParameters` positionally into the `?` placeholders (each value must be one SQL literal);
* finds the catalog tables a query reads, and for each reference the WHERE conjuncts that use only partition
  columns: the caller evaluates those against the partition list to read only matching partitions;
* names unaliased output columns like Athena (`_col0`, ...; a column keeps its name);
* expands `UNNEST(array of rows) AS u(a, b, ...)` into one column per field, as Trino does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.dialects.trino import Trino
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import TokenType

from localaws.athena.catalog import DEFAULT_CATALOG, PATH_COLUMN, QueryFailed

# A parameter value must be one literal: Athena substitutes the text, we refuse anything that is not a value.
_LITERALS = (exp.Literal, exp.Boolean, exp.Null, exp.HexString)
_VOLATILE_FUNCTIONS = frozenset({"rand", "random", "uuid", "shuffle", "now"})


def bind_parameters(sql: str, parameters: Sequence[str]) -> str:
    """Replace each `?` placeholder (not those inside strings or comments) by the next parameter's text."""
    try:
        tokens = Trino().tokenize(sql)
    except TokenError as error:
        raise QueryFailed(f"SYNTAX_ERROR: {error}") from error
    placeholders = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    if len(placeholders) != len(parameters):
        raise QueryFailed(
            f"INVALID_PARAMETER_USAGE: Incorrect number of parameters: expected {len(placeholders)} "
            f"but found {len(parameters)}"
        )
    for number, value in enumerate(parameters, start=1):
        _require_literal(number, value)
    bound = sql
    for token, value in reversed(list(zip(placeholders, parameters, strict=True))):
        bound = bound[: token.start] + value + bound[token.end + 1 :]
    return bound


def _require_literal(number: int, value: str) -> None:
    try:
        parsed = sqlglot.parse_one(value, read="trino")
    except (ParseError, TokenError) as error:
        raise QueryFailed(
            f"INVALID_PARAMETER_USAGE: execution parameter {number} is not a literal: {value!r}"
        ) from error
    if isinstance(parsed, exp.Neg):
        parsed = parsed.this  # -5
    elif isinstance(parsed, exp.Cast) and isinstance(parsed.this, exp.Literal) and parsed.this.is_string:
        parsed = parsed.this  # DATE '2024-01-05', TIMESTAMP '...'
    if not isinstance(parsed, _LITERALS):
        raise QueryFailed(f"INVALID_PARAMETER_USAGE: execution parameter {number} is not a literal: {value!r}")


def parse_select(sql: str) -> exp.Query:
    """The one query in `sql`; FAILED for syntax errors, several statements or non-queries."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = f"line {first.get('line')}:{first.get('col')}: " if first else ""
        raise QueryFailed(f"SYNTAX_ERROR: {where}{first.get('description', str(error))}") from error
    except TokenError as error:
        raise QueryFailed(f"SYNTAX_ERROR: {error}") from error
    if len(statements) != 1:
        raise QueryFailed("SYNTAX_ERROR: only one sql statement is allowed")
    statement = statements[0]
    if isinstance(statement, exp.Subquery):
        statement = statement.unnest()
    if not isinstance(statement, exp.Query):
        raise QueryFailed(f"NOT_SUPPORTED: {statement.key.upper()} is not supported by the embedded engine")
    return statement


@dataclass
class TableReference:
    """One mention of a catalog table in the query (a self-join has two)."""

    node: exp.Table
    database: str
    name: str
    partition_conjuncts: list[exp.Expr] = field(default_factory=list)
    # Conjuncts on `"$path"` (and partition columns): Trino prunes the files of a split on them, so an object
    # the query excludes by its path is never opened (an unreadable one cannot fail the query).
    file_conjuncts: list[exp.Expr] = field(default_factory=list)
    conjuncts_known: bool = False  # False: the reference's scope was not analysed, read every partition

    @property
    def key(self) -> tuple[str, str]:
        return self.database, self.name


def table_references(tree: exp.Query, default_database: str) -> list[TableReference]:
    """Every base table the query reads (CTE names excluded), resolved to (database, table)."""
    references: dict[int, TableReference] = {}
    for scope in traverse_scope(tree):
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and id(source) not in references:
                references[id(source)] = _reference(source, default_database)
    return list(references.values())


def _reference(node: exp.Table, default_database: str) -> TableReference:
    if not isinstance(node.this, exp.Identifier):
        raise QueryFailed(f"NOT_SUPPORTED: {node.sql(dialect='trino')} is not supported by the embedded engine")
    catalog = node.catalog
    if catalog and catalog.lower() != DEFAULT_CATALOG:
        raise QueryFailed(f"CATALOG_NOT_FOUND: Catalog '{catalog}' does not exist")
    return TableReference(node, (node.db or default_database).lower(), node.name.lower())


def attach_partition_conjuncts(
    tree: exp.Query, references: Sequence[TableReference], columns: dict[int, tuple[frozenset[str], frozenset[str]]]
) -> None:
    """For each reference, the WHERE conjuncts of its scope that read only that table's partition columns.

    `columns[id(node)]` = (all column names, partition key names) of the referenced table. A conjunct is kept
    only when every column in it certainly resolves to this table; anything doubtful is left out, which
    only costs reading more partitions (the full WHERE still runs on the rows).
    """
    by_node = {id(r.node): r for r in references}
    for scope in traverse_scope(tree):
        where = scope.expression.args.get("where") if isinstance(scope.expression, exp.Select) else None
        conjuncts = list(_conjuncts(where.this)) if where is not None else []
        if any(join.side or join.kind == "OUTER" for join in scope.expression.args.get("joins") or []):
            conjuncts = []  # a pruned table on an outer join's null side would add null-extended rows
        for alias, source in scope.sources.items():
            reference = by_node.get(id(source))
            # A table is also a source of scopes nested in its SELECT (UNNEST); its own SELECT owns the WHERE.
            if reference is None or reference.node.parent_select is not scope.expression:
                continue
            reference.conjuncts_known = True
            reference.partition_conjuncts = [
                c for c in conjuncts if _reads_only_partitions(c, alias, reference.node, scope, columns)
            ]
            reference.file_conjuncts = [
                c
                for c in conjuncts
                if c not in reference.partition_conjuncts
                and _reads_only_partitions(c, alias, reference.node, scope, columns, extra=frozenset({PATH_COLUMN}))
            ]


def _conjuncts(condition: exp.Expr) -> Iterator[exp.Expr]:
    if isinstance(condition, exp.And):
        yield from _conjuncts(condition.this)
        yield from _conjuncts(condition.expression)
    elif isinstance(condition, exp.Paren) and isinstance(condition.this, exp.And):
        yield from _conjuncts(condition.this)
    else:
        yield condition


def _reads_only_partitions(
    conjunct: exp.Expr,
    alias: str,
    source: exp.Table,
    scope: Scope,
    columns: dict[int, tuple[frozenset[str], frozenset[str]]],
    extra: frozenset[str] = frozenset(),
) -> bool:
    if conjunct.find(exp.Subquery, exp.Select, exp.AggFunc, exp.Window, exp.Rand, exp.Placeholder) is not None:
        return False
    if any(f.name.lower() in _VOLATILE_FUNCTIONS for f in conjunct.find_all(exp.Anonymous)):
        return False
    column_nodes = list(conjunct.find_all(exp.Column))
    if not column_nodes:
        return False
    partition_keys = columns[id(source)][1] | extra
    for column in column_nodes:
        if column.args.get("db") or column.args.get("catalog") or column.name.lower() not in partition_keys:
            return False
        if column.table:
            if column.table.lower() != alias.lower():
                return False
        elif not _unambiguous(column.name.lower(), source, scope, columns):
            return False
    return True


def _unambiguous(
    name: str, source: exp.Table, scope: Scope, columns: dict[int, tuple[frozenset[str], frozenset[str]]]
) -> bool:
    """True if no other source of the scope may also have a column `name`."""
    for other in scope.sources.values():
        if other is source:
            continue
        names = _source_columns(other, columns)
        if names is None or name in names:
            return False
    return True


def _source_columns(
    source: exp.Table | Scope, columns: dict[int, tuple[frozenset[str], frozenset[str]]]
) -> frozenset[str] | None:
    if isinstance(source, exp.Table):
        known = columns.get(id(source))
        return known[0] if known else None
    expression = source.expression
    if isinstance(expression, exp.Unnest):
        alias = expression.args.get("alias")
        names = [c.name.lower() for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
        return frozenset(names) if names else None
    if isinstance(expression, exp.Query) and not any(isinstance(s, exp.Star) for s in expression.selects):
        return frozenset(n.lower() for n in expression.named_selects)
    return None


def referenced_names(tree: exp.Query) -> frozenset[str] | None:
    """Every identifier in the query, lower-cased: a superset of the columns it reads; None if it selects `*`."""
    for star in tree.find_all(exp.Star):  # `*` or `t.*` in a select list, not count(*)
        parent = star.parent.parent if isinstance(star.parent, exp.Column) else star.parent
        if isinstance(parent, exp.Select):
            return None
    return frozenset(identifier.name.lower() for identifier in tree.find_all(exp.Identifier))


def partition_filter_sql(conjuncts: Sequence[exp.Expr]) -> str:
    """The conjuncts as one DuckDB condition over unqualified partition columns."""
    parts = []
    for conjunct in conjuncts:
        copy = conjunct.copy()
        for column in copy.find_all(exp.Column):
            column.set("table", None)
        parts.append(f"({copy.sql(dialect='duckdb')})")
    return " AND ".join(parts)


def point_at_views(references: Sequence[TableReference]) -> None:
    """Make each reference name the DuckDB view `"<database>"."<table>"` (the catalog prefix is dropped)."""
    for reference in references:
        reference.node.set("catalog", None)
        reference.node.set("db", exp.to_identifier(reference.database, quoted=True))
        reference.node.set("this", exp.to_identifier(reference.name, quoted=True))


def name_outputs(tree: exp.Query) -> None:
    """Name outputs as Athena does: a column or field reference by its last name part, spelled as written in the
    query (docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html); other unaliased
    expressions `_col<position>`. (DuckDB would say `count_star()`, and lower-case plain column names.)"""
    select: exp.Expr = tree
    while isinstance(select, (exp.SetOperation, exp.Subquery)):
        select = select.args["this"]  # the leftmost SELECT names a UNION's columns
    if not isinstance(select, exp.Select):
        return
    for position, projection in enumerate(list(select.expressions)):
        if isinstance(projection, (exp.Alias, exp.Star)) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)  # t.*
        ):
            continue
        name = projection.name if isinstance(projection, (exp.Column, exp.Dot)) else f"_col{position}"
        projection.replace(exp.alias_(projection.copy(), name, quoted=True))


def expand_row_unnests(tree: exp.Query) -> None:
    """`UNNEST(array_of_rows) AS u(a, b, c)`: Trino gives one column per ROW field, DuckDB one struct column.
    Rewrite it as a LATERAL subquery taking the fields by position. (One array, several column aliases, no
    WITH ORDINALITY; Trino would zip several arrays instead, which DuckDB's UNNEST does too.)"""
    for unnest in list(tree.find_all(exp.Unnest)):
        alias = unnest.args.get("alias")
        if (
            not isinstance(unnest.parent, (exp.Join, exp.From))
            or len(unnest.expressions) != 1
            or not isinstance(alias, exp.TableAlias)
            or len(alias.columns) < 2
            or unnest.args.get("offset")
        ):
            continue
        fields = ", ".join(
            f"struct_extract_at(__row, {position}) AS {exp.to_identifier(column.name, quoted=True).sql('duckdb')}"
            for position, column in enumerate(alias.columns, start=1)
        )
        array = unnest.expressions[0].sql(dialect="duckdb")
        name = exp.to_identifier(alias.name, quoted=True).sql("duckdb")
        rows = f"(SELECT {fields} FROM (SELECT unnest({array}) AS __row))"
        query = sqlglot.parse_one(f"SELECT 1 FROM __x CROSS JOIN LATERAL {rows} AS {name}", read="duckdb")
        lateral = query.args["joins"][0].this
        unnest.replace(lateral)


def to_duckdb(tree: exp.Query) -> str:
    return tree.sql(dialect="duckdb")
