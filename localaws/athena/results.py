"""Query results in Athena's shapes: the CSV file, GetQueryResults rows and ColumnInfo.

Rendering (the same text in the CSV and in GetQueryResults' VarCharValue), following Athena engine v3:
* CSV: a header row, then one line per row; every value double-quoted (`"` doubled inside), NULL as an empty,
  unquoted field; lines end with `\\n`. GetQueryResults: the first row is the header (SELECT only), NULL is `{}`.
* varchar/json: the text; boolean: `true`/`false`; integers and decimals: plain digits (`12.30`, never `1E+1`).
* double/real: Java's Double/Float.toString, as Trino prints them: `0.5`, `1.0`, `1.0E7`, `1.2E-5`, `NaN`.
* date `2024-01-05`; time `10:00:00.000`; timestamp `2024-01-05 10:00:00.000` (milliseconds, truncated);
  timestamp with time zone `2024-01-05 10:00:00.000 UTC`; varbinary: hex bytes separated by spaces.
* array `[a, b]`; map `{k=v, k2=v2}`; row `{field=value, ...}`; inside them NULL is `null`, strings unquoted.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from duckdb.sqltypes import DuckDBPyType


@dataclass(frozen=True)
class AthenaType:
    name: str
    precision: int = 0
    scale: int = 0


@dataclass(frozen=True)
class ResultTable:
    names: list[str]
    types: list[AthenaType]
    rows: list[list[str | None]]
    header: bool = True  # SELECT results start with the column names; DDL results do not


_SIMPLE_TYPES = {
    "varchar": AthenaType("varchar", 2147483647),
    "bigint": AthenaType("bigint", 19),
    "hugeint": AthenaType("bigint", 19),
    "ubigint": AthenaType("bigint", 19),
    "uhugeint": AthenaType("bigint", 19),
    "integer": AthenaType("integer", 10),
    "uinteger": AthenaType("bigint", 19),
    "smallint": AthenaType("smallint", 5),
    "usmallint": AthenaType("integer", 10),
    "tinyint": AthenaType("tinyint", 3),
    "utinyint": AthenaType("smallint", 5),
    "double": AthenaType("double", 17),
    "float": AthenaType("real", 7),
    "boolean": AthenaType("boolean"),
    "date": AthenaType("date"),
    "time": AthenaType("time", 3),
    "timestamp": AthenaType("timestamp", 3),
    "timestamp_s": AthenaType("timestamp", 3),
    "timestamp_ms": AthenaType("timestamp", 3),
    "timestamp_ns": AthenaType("timestamp", 3),
    "timestamp with time zone": AthenaType("timestamp with time zone", 3),
    "list": AthenaType("array"),
    "array": AthenaType("array"),
    "struct": AthenaType("row"),
    "map": AthenaType("map"),
    "blob": AthenaType("varbinary", 2147483647),
    "uuid": AthenaType("uuid"),
    "interval": AthenaType("interval day to second"),
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def athena_type(duck: DuckDBPyType) -> AthenaType:
    text = str(duck)
    if text == "JSON":
        return AthenaType("json")
    decimal = _DECIMAL.fullmatch(text)
    if decimal:
        return AthenaType("decimal", int(decimal.group(1)), int(decimal.group(2)))
    return _SIMPLE_TYPES.get(duck.id, AthenaType("unknown" if text == '"NULL"' else duck.id))


def render(value: Any) -> str | None:
    """One top-level value as Athena writes it; None stays None (NULL)."""
    if value is None:
        return None
    return _text(value, nested=False)


def _text(value: Any, nested: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):  # dt.datetime is a dt.date
        return _temporal_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return " ".join(f"{b:02x}" for b in bytes(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v, nested=True) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_text(k, True)}={_text(v, True)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Athena rendering for {type(value).__name__}")


def _temporal_text(value: dt.date | dt.time | dt.timedelta) -> str:
    if isinstance(value, dt.datetime):
        text = f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond // 1000:03d}"
        if value.tzinfo is not None:
            text += " " + str(getattr(value.tzinfo, "key", None) or value.tzname())  # the zone id, e.g. UTC
        return text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return f"{value:%H:%M:%S}.{value.microsecond // 1000:03d}"
    hours, rest = divmod(value.seconds, 3600)
    return f"{value.days} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{value.microseconds // 1000:03d}"


def java_double(value: float) -> str:
    """Java's Double.toString: plain between 1e-3 and 1e7, else `d.dddE<exp>`; shortest round-trip digits."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)  # Python's shortest repr is plain in this range
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(text) - 1 + exponent}"


def java_float(value: float) -> str:
    """Java's Float.toString: the shortest decimal that reads back as the same 32-bit float."""
    if math.isnan(value) or math.isinf(value) or value == 0:
        return java_double(value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", candidate))[0] == value:
            return java_double(candidate)
    return java_double(value)


def from_duckdb(names: Sequence[str], types: Sequence[DuckDBPyType], rows: Sequence[tuple[Any, ...]]) -> ResultTable:
    athena_types = [athena_type(t) for t in types]
    reals = [i for i, t in enumerate(athena_types) if t.name == "real"]
    rendered = []
    for row in rows:
        texts = [render(v) for v in row]
        for i in reals:  # a REAL arrives as a Python float holding the 32-bit value: print it as Java would
            texts[i] = None if row[i] is None else java_float(row[i])
        rendered.append(texts)
    return ResultTable(list(names), athena_types, rendered)


def csv_bytes(table: ResultTable) -> bytes:
    lines = [",".join(_quote(n) for n in table.names)] if table.header else []
    lines += [",".join("" if v is None else _quote(v) for v in row) for row in table.rows]
    return "".join(line + "\n" for line in lines).encode()


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def text_bytes(lines: Sequence[str]) -> bytes:
    """A DDL result file (QueryID.txt): one line per result row."""
    return "".join(line + "\n" for line in lines).encode()


def result_rows(table: ResultTable) -> list[dict[str, Any]]:
    """GetQueryResults `Rows`: the header row first (SELECT), NULL as an empty Datum."""
    rows = [{"Data": [{"VarCharValue": n} for n in table.names]}] if table.header else []
    rows += [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in table.rows]
    return rows


def column_info(table: ResultTable) -> list[dict[str, Any]]:
    return [
        {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": name,
            "Label": name,
            "Type": t.name,
            "Precision": t.precision,
            "Scale": t.scale,
            "Nullable": "UNKNOWN",
            "CaseSensitive": t.name in ("varchar", "char", "json"),
        }
        for name, t in zip(table.names, table.types, strict=True)
    ]
