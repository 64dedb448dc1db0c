"""The embedded Athena's view of moto's Glue catalog and S3 objects, and the DuckDB views built from them.

What Athena reads for a partitioned table is decided here: only the objects under the LOCATION of a partition
registered in Glue (an unregistered day is invisible), each row carrying that partition's values. Objects are
copied out of moto's S3 backend in-process into a per-query directory, under generated names (never the S3 key,
which may contain `..`), and DuckDB reads them with `read_json(..., records=true)`.
"""

from __future__ import annotations

import json
import re
import zlib
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from moto.glue.models import FakeTable, GlueBackend, glue_backends
from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeKey, S3Backend, s3_backends
from moto.utilities.utils import get_partition

from localaws.athena.hive import (
    HiveType,
    HiveTypeError,
    duckdb_type,
    exposed_value,
    json_key,
    parse_hive_type,
    quote_identifier,
    quote_literal,
)
from localaws.patches.glue import GLUE_PARTITIONS_LOCK

CLOUDTRAIL_INPUT_FORMAT = "com.amazon.emr.cloudtrail.CloudTrailInputFormat"
CLOUDTRAIL_SERDE = "com.amazon.emr.hive.serde.CloudTrailSerde"
DEFAULT_CATALOG = "awsdatacatalog"
PATH_COLUMN = "$path"  # Athena's pseudo-column; its value is the object's s3:// URI
MAX_OBJECT_BYTES = 268_435_456  # DuckDB's default 16 MB per JSON object fails on large CloudTrail files

# Hadoop picks the codec by the file name's suffix; CloudTrail writes gzip. Other codecs are refused, not misread.
_UNSUPPORTED_SUFFIXES = (".bz2", ".snappy", ".lz4", ".deflate", ".lzo", ".zst", ".br")
_S3_LOCATION = re.compile(r"s3[an]?://([^/]+)(?:/(.*))?", re.IGNORECASE)


class QueryFailed(Exception):
    """The query ends FAILED; the message becomes Status.StateChangeReason."""


@dataclass(frozen=True)
class Column:
    name: str  # lower-case, as Athena exposes it
    hive: HiveType


@dataclass(frozen=True)
class Partition:
    values: tuple[str, ...]
    location: str


@dataclass(frozen=True)
class CatalogTable:
    database: str
    name: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...]
    location: str
    partitions: tuple[Partition, ...]

    @property
    def column_names(self) -> frozenset[str]:
        return frozenset(c.name for c in (*self.columns, *self.partition_keys))

    @property
    def partition_key_names(self) -> frozenset[str]:
        return frozenset(k.name for k in self.partition_keys)


@dataclass(frozen=True)
class StagedObject:
    path: Path
    uri: str
    size: int
    partition_values: tuple[str, ...]
    records_object: bool = True  # False: JSON of another shape than {"Records": [...]}, which yields no rows


def glue_backend(account_id: str, region_name: str) -> GlueBackend:
    return glue_backends[account_id][region_name]


def s3_backend(account_id: str, region_name: str) -> S3Backend:
    return s3_backends[account_id][get_partition(region_name)]


def find_table(glue: GlueBackend, database: str, name: str) -> FakeTable | None:
    """Glue lookup as Athena does it: identifiers are case-insensitive (Glue stores them lower-case)."""
    db = glue.databases.get(database) or next(
        (d for key, d in glue.databases.items() if key.lower() == database.lower()), None
    )
    if db is None:
        return None
    table: FakeTable | None = db.tables.get(name) or next(
        (t for key, t in db.tables.items() if key.lower() == name.lower()), None
    )
    return table


def load_table(table: FakeTable) -> CatalogTable:
    """The catalog entry as the engine needs it; FAILED if it is not a CloudTrail table this engine can read."""
    definition: dict[str, Any] = table.as_dict()  # the current version
    descriptor = definition.get("StorageDescriptor") or {}
    qualified = f"{table.database_name}.{table.name}"
    serde = str((descriptor.get("SerdeInfo") or {}).get("SerializationLibrary", ""))
    input_format = str(descriptor.get("InputFormat", ""))
    if input_format != CLOUDTRAIL_INPUT_FORMAT and serde != CLOUDTRAIL_SERDE:
        raise QueryFailed(
            f"NOT_SUPPORTED: table {qualified} (InputFormat {input_format or '-'}, SerDe {serde or '-'}) is not a "
            "CloudTrail table; only CloudTrailInputFormat/CloudTrailSerde tables are supported by the embedded engine"
        )
    parameters = definition.get("Parameters") or {}
    if str(parameters.get("projection.enabled", "")).lower() == "true":
        raise QueryFailed(f"NOT_SUPPORTED: partition projection ({qualified}) is not supported by the embedded engine")
    try:
        columns = tuple(_column(c) for c in descriptor.get("Columns") or [])
        keys = tuple(_column(c) for c in definition.get("PartitionKeys") or [])
    except HiveTypeError as error:
        raise QueryFailed(f"HIVE_INVALID_METADATA: table {qualified}: {error}") from error
    with GLUE_PARTITIONS_LOCK:
        partitions = tuple(
            Partition(
                tuple(str(v) for v in p.values),
                str((p.partition_input.get("StorageDescriptor") or {}).get("Location", "")),
            )
            for p in table.partitions.values()
        )
    malformed = next((p for p in partitions if len(p.values) != len(keys)), None)
    if malformed is not None:
        raise QueryFailed(
            f"HIVE_METASTORE_ERROR: partition {list(malformed.values)} of {qualified} does not have one value per "
            f"partition key ({', '.join(k.name for k in keys)})"
        )
    return CatalogTable(table.database_name, table.name, columns, keys, str(descriptor.get("Location", "")), partitions)


def _column(entry: dict[str, Any]) -> Column:
    return Column(str(entry["Name"]).lower(), parse_hive_type(str(entry["Type"])))


def split_location(location: str) -> tuple[str, str]:
    """`s3://bucket/a/b/` -> ("bucket", "a/b/"): the key prefix a LOCATION stands for.

    A LOCATION is a folder, so a missing trailing slash is added. Athena collapses empty path segments
    (`a//b` reads `a/b/`, docs.aws.amazon.com/athena/latest/ug/tables-location-format.html), so do we.
    """
    match = _S3_LOCATION.fullmatch(location.strip())
    if not match:
        raise QueryFailed(f"HIVE_PATH_ERROR: {location!r} is not an s3:// location")
    prefix = re.sub(r"/{2,}", "/", match.group(2) or "").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return match.group(1), prefix


class ObjectLister:
    """Lists S3 objects the way Athena reads a LOCATION; bucket listings are sorted once per query."""

    def __init__(self, s3: S3Backend) -> None:
        self.s3 = s3
        self._sorted_names: dict[str, list[str]] = {}

    def visible(self, location: str) -> list[tuple[str, FakeKey]]:
        """Every object below the LOCATION prefix, sub-folders included, except folder markers, empty objects and
        hidden names (a path segment starting with `_` or `.`, which Hadoop's input formats skip)."""
        bucket_name, prefix = split_location(location)
        try:
            bucket = self.s3.get_bucket(bucket_name)
        except MissingBucket as error:
            raise QueryFailed(f"HIVE_PATH_ERROR: cannot list {location}: the bucket does not exist") from error
        names = self._sorted_names.get(bucket_name)
        if names is None:
            names = self._sorted_names[bucket_name] = sorted(dict.keys(bucket.keys))
        found: list[tuple[str, FakeKey]] = []
        for name in names[bisect_left(names, prefix) :]:
            if not name.startswith(prefix):
                break
            relative = name[len(prefix) :]
            if relative.endswith("/") or any(segment[:1] in ("_", ".") for segment in relative.split("/")):
                continue
            key = bucket.keys.get(name)
            if isinstance(key, FakeKey) and key.size > 0:  # a delete marker is not a FakeKey
                found.append((f"s3://{bucket_name}/{name}", key))
        return found


def stage(objects: Sequence[tuple[str, FakeKey, tuple[str, ...]]], directory: Path) -> list[StagedObject]:
    """Copy objects out of moto's S3 into `directory` under generated names, decoded and checked (readable_json).

    Every object is checked here, in listing order, before DuckDB reads any: DuckDB reads files in parallel
    and stops at the first error it meets, and it accepts some bodies Athena refuses (a lone surrogate
    escape, data after the gzip stream), so whether and where a query failed depended on thread timing.
    """
    staged = []
    for index, (uri, key, values) in enumerate(objects):
        if uri.endswith(_UNSUPPORTED_SUFFIXES):
            raise QueryFailed(f"HIVE_CURSOR_ERROR: {uri}: this compression is not supported by the embedded engine")
        path = directory / f"{index:07d}.json"
        data = readable_json(uri, key.value)  # decoded: DuckDB reads plain JSON
        path.write_bytes(data)
        staged.append(StagedObject(path, uri, key.size, values, is_records_object(data)))
    return staged


# ------------------------------------------------------------------------------------------------ unreadable objects
# Athena's wording for an object its CloudTrail SerDe cannot read (docs.aws.amazon.com/athena/latest/ug/
# troubleshooting-athena.html, "HIVE_CURSOR_ERROR" and "HIVE_BAD_DATA"); real Athena often leaves out the
# object, so trailkeeper never relies on the URI in the message (it scans the objects itself).
_LONE_SURROGATE = re.compile(  # an unescaped \\u escape of a high surrogate without its low one, or the reverse
    r"(?<!\\)(?:\\\\)*\\u(?:d[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2}\\u)d[c-f][0-9a-f]{2})",
    re.IGNORECASE,
)


def readable_json(uri: str, body: bytes) -> bytes:
    """The JSON text of a log object (gunzipped when its name ends in .gz, as Hadoop picks the codec), or
    QueryFailed as Athena fails on it: an incomplete or trailing-garbage gzip stream, bytes that are not
    UTF-8, a lone surrogate escape (`"\\udc80"`, which no UTF-8 text can hold), or text that is not JSON."""
    data = _gunzip(uri, body) if uri.endswith(".gz") else body
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise QueryFailed(
            f"HIVE_CURSOR_ERROR: {uri}: Row is not a valid JSON Object - JsonParseException: Invalid UTF-8 "
            f"start byte 0x{data[error.start]:02x} at byte {error.start}"
        ) from error
    if "\\u" in text and (surrogate := _lone_surrogate(text)) is not None:
        raise QueryFailed(
            f"HIVE_BAD_DATA: {uri}: Error parsing field value: lone surrogate escape {surrogate} is not a character"
        )
    try:
        json.loads(text)
    except ValueError as error:
        raise QueryFailed(
            f"HIVE_CURSOR_ERROR: {uri}: Row is not a valid JSON Object - JSONException: {error}"
        ) from error
    return data


def _gunzip(uri: str, body: bytes) -> bytes:
    """Every gzip member of `body`; CloudTrail writes one. A stream cut short, or anything after a member that is
    not another whole member, is refused (Python's gzip module ignores trailing zero bytes; we do not)."""
    parts: list[bytes] = []
    rest = body
    while rest:
        if rest[:2] != b"\x1f\x8b":
            what = "Not in GZIP format" if not parts else "Not in GZIP format: data after the end of the gzip stream"
            raise QueryFailed(f"HIVE_CURSOR_ERROR: {uri}: {what}")
        member = zlib.decompressobj(wbits=31)
        try:
            parts.append(member.decompress(rest))
        except zlib.error as error:
            raise QueryFailed(f"HIVE_CURSOR_ERROR: {uri}: Corrupt GZIP trailer or data ({error})") from error
        if not member.eof:
            raise QueryFailed(f"HIVE_CURSOR_ERROR: {uri}: Unexpected end of input stream")
        rest = member.unused_data
    return b"".join(parts)


def _lone_surrogate(text: str) -> str | None:
    match = _LONE_SURROGATE.search(text)
    return None if match is None else "\\" + match.group(0).lstrip("\\")


# CloudTrailInputFormat serves the records of a document's top-level "Records" array and skips any other document
# (a top-level array, `records`, "Records" null or not an array): no row, no error. The AWS CloudTrail SerDe
# documentation describes only the {"Records": [...]} shape; Trino's port of the input format (trinodb/trino
# #24479) reads `node.get("Records").elements()` and skips a document that has none. CloudTrail writes
# `{"Records":[` first, so the opening bytes decide for its logs; only another opening is parsed whole.
_RECORDS_OPENING = re.compile(rb'\s*\{\s*"Records"\s*:\s*\[')
_OPENING_BYTES = 64


def is_records_object(text: bytes) -> bool:
    """False only for JSON of another shape; `text` is what readable_json returned (decoded, valid JSON)."""
    if _RECORDS_OPENING.match(text[:_OPENING_BYTES]):
        return True
    document = json.loads(text)
    return isinstance(document, dict) and isinstance(document.get("Records"), list)


def create_partition_table(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    table: CatalogTable,
    id_column: tuple[str, str],
    ids: Sequence[object],
    values: Sequence[Sequence[str]],
) -> None:
    """Table `name`: a row per item, its `id_column` (name, DuckDB type) from `ids`, then one column per
    partition key, Glue's string value cast to the key's declared type. The query's view and partition pruning
    both read a partition's values from such a table, so a value means the same to both."""
    key_columns = "".join(
        f", CAST(unnest(?::VARCHAR[]) AS {duckdb_type(k.hive)}) AS {quote_identifier(k.name)}"
        for k in table.partition_keys
    )
    column, column_type = id_column
    conn.execute(
        f"CREATE TABLE {name} AS SELECT unnest(?::{column_type}[]) AS {column}{key_columns}",
        [list(ids), *([row[i] for row in values] for i in range(len(table.partition_keys)))],
    )


def create_view(
    conn: duckdb.DuckDBPyConnection,
    table: CatalogTable,
    staged: Sequence[StagedObject],
    n: int,
    used: frozenset[str] | None,
) -> None:
    """`"<database>"."<table>"`: one row per CloudTrail record of the staged files, columns as in the catalog.

    `used`: the names the query may refer to (None: all). Only those data columns are read and exposed, which
    halves a full scan (the JSON reader builds only the declared fields); a column the analysis missed
    would make the query fail loudly ("not found"), never read as NULL.
    """
    columns = [c for c in table.columns if used is None or c.name in used] or list(table.columns[:1])
    record = HiveType("struct", children=tuple((c.name, c.hive) for c in columns))
    record_type = duckdb_type(record, json_keys=True)
    files = f"__files_{n}"
    create_partition_table(
        conn, files, table, ("__path", "VARCHAR"), [str(s.path) for s in staged], [s.partition_values for s in staged]
    )
    add_path_column(conn, files, ("__path", "VARCHAR"), [str(s.path) for s in staged], [s.uri for s in staged])
    read = [s for s in staged if s.records_object]  # the others yield no rows (is_records_object)
    if read:
        paths = ", ".join(quote_literal(str(s.path)) for s in read)
        reader = (
            f"SELECT unnest(Records) AS __rec, filename AS __file FROM read_json([{paths}], "
            f"columns={{'Records': {quote_literal(record_type + '[]')}}}, records=true, format='auto', "
            f"compression='auto', filename=true, maximum_object_size={MAX_OBJECT_BYTES})"
        )
    else:
        reader = f"SELECT CAST(NULL AS {record_type}) AS __rec, CAST(NULL AS VARCHAR) AS __file WHERE false"
    values = [
        exposed_value(f"struct_extract(__j.__rec, {quote_literal(json_key((), c.name))})", c.hive, (c.name,))
        + f" AS {quote_identifier(c.name)}"
        for c in columns
    ]
    values += [f"__f.{quote_identifier(k.name)} AS {quote_identifier(k.name)}" for k in table.partition_keys]
    if used is not None and PATH_COLUMN in used:  # a hidden column, as in Athena: never part of `SELECT *`
        values.append(f"__f.{quote_identifier(PATH_COLUMN)} AS {quote_identifier(PATH_COLUMN)}")
    schema = quote_identifier(table.database)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(
        f"CREATE VIEW {schema}.{quote_identifier(table.name)} AS SELECT {', '.join(values)} "
        f"FROM ({reader}) AS __j JOIN {files} AS __f ON __j.__file = __f.__path"
    )


def add_path_column(
    conn: duckdb.DuckDBPyConnection, table: str, join: tuple[str, str], keys: Sequence[object], uris: Sequence[str]
) -> None:
    """Athena's `"$path"` pseudo-column on `table`: the s3:// URI of the object a row was read from
    (docs.aws.amazon.com/athena/latest/ug/select.html, "Getting the file locations for source data in Amazon S3"),
    set where `table`'s column join[0] (of DuckDB type join[1]) equals keys[i] to uris[i]."""
    column = quote_identifier(PATH_COLUMN)
    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR")
    if keys:
        name, kind = join
        conn.execute(
            f"UPDATE {table} SET {column} = __m.uri FROM (SELECT unnest(?::{kind}[]) AS key, "
            f"unnest(?::VARCHAR[]) AS uri) AS __m WHERE {table}.{name} = __m.key",
            [list(keys), list(uris)],
        )


def put_result(account_id: str, region_name: str, location: str, body: bytes) -> None:
    """Write a result file where Athena would; FAILED (as in Athena) if the bucket is missing."""
    bucket, key = split_object_uri(location)
    try:
        s3_backend(account_id, region_name).put_object(bucket_name=bucket, key_name=key, value=body)
    except MissingBucket as error:
        raise QueryFailed(f"Unable to verify/create output bucket {bucket}") from error


def split_object_uri(uri: str) -> tuple[str, str]:
    match = _S3_LOCATION.fullmatch(uri)
    if not match or not match.group(2):
        raise QueryFailed(f"{uri!r} is not an s3:// object location")
    return match.group(1), match.group(2)
