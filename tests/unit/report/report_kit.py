"""Shared by the report tests: run the daily activity SQL on DuckDB as Athena would, build rows, load threats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from localaws.athena.catalog import PATH_COLUMN, CatalogTable, Column, StagedObject, create_view
from localaws.athena.hive import parse_hive_type
from tests.helpers import FIXTURES, table_input
from trailkeeper.report.activity import COLUMNS, COLUMNS_V2, COLUMNS_V3, ActivityRow
from trailkeeper.report.query import build_daily_activity_query

DATABASE, TABLE = "trailkeeper", "cloudtrail"
ACCOUNT = "111111111111"
REGION = "us-east-1"


@dataclass(frozen=True)
class Event:
    """One CloudTrail record and the delivery-day folder (partition) it was found in."""

    folder: str  # 'YYYY-MM-DD' of the S3 folder = delivery day
    eventtime: str
    identity_type: str | None = "IAMUser"
    arn: str | None = f"arn:aws:iam::{ACCOUNT}:user/alice"
    invokedby: str | None = None
    issuer_arn: str | None = None
    account: str = ACCOUNT
    region: str = REGION
    eventsource: str = "iam.amazonaws.com"
    eventname: str = "ListUsers"
    errorcode: str | None = None
    sourceip: str | None = "192.0.2.1"
    useragent: str | None = "aws-cli/2.15"


def event(folder: str, eventtime: str, **fields: Any) -> Event:
    return Event(folder, eventtime, **fields)


def record_of(e: Event) -> dict[str, Any]:
    """The CloudTrail record an Event stands for (JSON spellings, as CloudTrail writes them)."""
    identity: dict[str, Any] = {
        "type": e.identity_type,
        "principalId": "AIDAEXAMPLE",
        "arn": e.arn,
        "accountId": e.account,
        "invokedBy": e.invokedby,
    }
    if e.issuer_arn is not None:
        identity["sessionContext"] = {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": e.issuer_arn}
        }
    return {
        "userIdentity": identity,
        "eventTime": e.eventtime,
        "eventSource": e.eventsource,
        "eventName": e.eventname,
        "awsRegion": e.region,
        "sourceIPAddress": e.sourceip,
        "userAgent": e.useragent,
        "errorCode": e.errorcode,
        "recipientAccountId": e.account,
    }


@dataclass(frozen=True)
class Found:
    """A published (or synthetic) record in the partition folder it was found in."""

    folder: str
    account: str  # the partition's account (the log folder's)
    region: str
    record: dict[str, Any]


def substitute_parameters(sql: str, params: list[str]) -> str:
    """What Athena does with ExecutionParameters: each `?`, in order, replaced by its literal text."""
    pieces = sql.split("?")
    assert len(pieces) - 1 == len(params), "one parameter per placeholder"
    return pieces[0] + "".join(param + piece for param, piece in zip(params, pieces[1:], strict=True))


def to_duckdb(sql: str) -> str:
    return sqlglot.parse_one(sql, read="trino").sql(dialect="duckdb")


def run_daily_activity(
    events: list[Event],
    report_day: dt.date,
    partition_keys: tuple[str, ...] = ("account", "region", "dt"),
    fixed_account: str | None = ACCOUNT,
) -> list[tuple[Any, ...]]:
    """Run the report query for the day over `events` in a table partitioned by `partition_keys`."""
    found = [Found(e.folder, e.account, e.region, record_of(e)) for e in events]
    return run_records(found, report_day, partition_keys, fixed_account)


def run_records(
    found: list[Found],
    report_day: dt.date,
    partition_keys: tuple[str, ...] = ("account", "region", "dt"),
    fixed_account: str | None = ACCOUNT,
    excluded: tuple[tuple[str, str], ...] = (),
) -> list[tuple[Any, ...]]:
    """The report query on DuckDB over records read as Athena reads them: the template's columns, CloudTrail's
    JSON spellings (the embedded runtime's reader, localaws/athena/catalog.create_view), one file per record,
    record i in s3://trail/<i>; `excluded` (bucket, key) objects left out by the query's `"$path"` filter."""
    storage = table_input()["StorageDescriptor"]
    columns = tuple(Column(c["Name"], parse_hive_type(c["Type"])) for c in storage["Columns"])
    keys = tuple(Column(k, parse_hive_type("string")) for k in partition_keys)
    table = CatalogTable(DATABASE, TABLE, columns, keys, storage["Location"], ())
    con = duckdb.connect(":memory:")
    with tempfile.TemporaryDirectory() as directory:
        staged = []
        for number, item in enumerate(found):
            path = Path(directory) / f"{number:05d}.json"
            path.write_text(json.dumps({"Records": [item.record]}))
            staged.append(
                StagedObject(
                    path, f"s3://trail/{number}", path.stat().st_size, tuple(_partition_values(item, partition_keys))
                )
            )
        try:
            # "$path" is a hidden column: the view has it only for a query that names it
            used = None if not excluded else frozenset({*(c.name for c in (*columns, *keys)), PATH_COLUMN})
            create_view(con, table, staged, 0, used)
            sql, params = build_daily_activity_query(
                DATABASE, TABLE, partition_keys, report_day, fixed_account, excluded=excluded
            )
            return con.execute(to_duckdb(substitute_parameters(sql, params))).fetchall()
        finally:
            con.close()


def _partition_values(item: Found, keys: tuple[str, ...]) -> list[str]:
    year, month, day = item.folder.split("-")
    by_key = {
        "account": item.account,
        "region": item.region,
        "dt": item.folder,
        "year": year,
        "month": month,
        "day": day,
    }
    return [by_key[key] for key in keys]


def athena_csv(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    """An Athena result file: header row, every value double-quoted, NULL written as nothing.

    Without `header`, rows of version 2's or 3's width get that version's header (a result saved before
    detections, or before the dropped counts).
    """
    if header is None:
        header = next((h for h in (COLUMNS_V2, COLUMNS_V3) if rows and len(rows[0]) == len(h)), COLUMNS)
    lines = [",".join(f'"{name}"' for name in header)]
    for values in rows:
        lines.append(",".join("" if v is None else '"' + str(v).replace('"', '""') + '"' for v in values))
    return "\n".join(lines) + "\n"


_BASE_ROW = ActivityRow(
    account=ACCOUNT,
    region=REGION,
    principal=f"arn:aws:iam::{ACCOUNT}:user/alice",
    eventsource="iam.amazonaws.com",
    eventname="ListUsers",
    events=1,
    failures=0,
    first_at="2024-01-05T10:00:00Z",
    sample_source_ips="192.0.2.1",
    sample_user_agents="aws-cli/2.15",
)


def row(**fields: Any) -> ActivityRow:
    return replace(_BASE_ROW, **fields)


def hostile_records(threat: str | None = None) -> list[dict[str, str]]:
    records: list[dict[str, str]] = json.loads((FIXTURES / "hostile_records.json").read_text())["records"]
    return [r for r in records if threat is None or r["threat"] == threat]


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))
