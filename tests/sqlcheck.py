"""An independent, strict reader of the ADD PARTITION statements trailkeeper generates (the test oracle).

It walks sqlglot's Hive tokens against the exact grammar
  ALTER TABLE `db`.`table` ADD IF NOT EXISTS (PARTITION (k = 'v', ...) LOCATION '...')+
and fails on anything else, so injected text cannot hide in a statement that still "looks right".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot.dialects.hive import Hive
from sqlglot.tokens import Token


@dataclass(frozen=True)
class AddedPartition:
    values: dict[str, str]
    location: str


@dataclass(frozen=True)
class AddPartitions:
    database: str
    table: str
    partitions: list[AddedPartition]


class _Reader:
    def __init__(self, sql: str) -> None:
        self.tokens: list[Token] = Hive().tokenize(sql)
        self.at = 0

    def take(self, kind: str, text: str | None = None) -> str:
        if self.at >= len(self.tokens):
            raise AssertionError(f"statement ended early; expected {text or kind}")
        token = self.tokens[self.at]
        if token.token_type.name != kind or (text is not None and token.text.upper() != text):
            got = f"{token.token_type.name} {token.text!r}"
            raise AssertionError(f"token {self.at}: expected {text or kind}, got {got}")
        self.at += 1
        return token.text

    def done(self) -> bool:
        return self.at == len(self.tokens)


def parse_add_partitions(sql: str) -> AddPartitions:
    r = _Reader(sql)
    r.take("ALTER")
    r.take("TABLE")
    database = r.take("IDENTIFIER")
    r.take("DOT")
    table = r.take("IDENTIFIER")
    for word in ("ADD", "IF"):
        r.take("VAR", word)
    r.take("NOT")
    r.take("EXISTS")
    partitions = []
    while True:
        r.take("PARTITION")
        r.take("L_PAREN")
        values: dict[str, str] = {}
        while True:
            key = r.take("VAR")
            r.take("EQ")
            values[key] = r.take("STRING")
            if r.tokens[r.at].token_type.name == "R_PAREN":
                break
            r.take("COMMA")
        r.take("R_PAREN")
        r.take("VAR", "LOCATION")
        partitions.append(AddedPartition(values, r.take("STRING")))
        if r.done():
            return AddPartitions(database, table, partitions)
