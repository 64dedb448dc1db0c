"""Shared by the report tests: run the daily activity SQL on DuckDB as Athena would, build rows, load threats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import sqlglot

from tests.helpers import FIXTURES
from trailkeeper.report.activity import COLUMNS, COLUMNS_V1, ActivityRow
from trailkeeper.report.query import build_daily_activity_query

DATABASE, TABLE = "trailkeeper", "cloudtrail"
ACCOUNT = "111111111111"
REGION = "us-east-1"

# The AWS-documented CloudTrail columns the query reads, in the Athena table's lower-case shapes.
_COLUMNS_DDL = """
    useridentity STRUCT(
        type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, invokedby VARCHAR, username VARCHAR,
        sessioncontext STRUCT(sessionissuer STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR))
    ),
    eventtime VARCHAR, eventsource VARCHAR, eventname VARCHAR, awsregion VARCHAR,
    sourceipaddress VARCHAR, useragent VARCHAR, errorcode VARCHAR, recipientaccountid VARCHAR,
    readonly VARCHAR, eventtype VARCHAR, errormessage VARCHAR, requestparameters VARCHAR,
    responseelements VARCHAR, additionaleventdata VARCHAR, serviceeventdetails VARCHAR
"""
# The columns each Event fills (the detections' other columns stay NULL, as in a record without them).
_INSERTED = ("useridentity, eventtime, eventsource, eventname, awsregion, sourceipaddress, useragent, errorcode, "
             "recipientaccountid")


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


def substitute_parameters(sql: str, params: list[str]) -> str:
    """What Athena does with ExecutionParameters: each `?`, in order, replaced by its literal text."""
    pieces = sql.split("?")
    assert len(pieces) - 1 == len(params), "one parameter per placeholder"
    return pieces[0] + "".join(param + piece for param, piece in zip(params, pieces[1:], strict=True))


def to_duckdb(sql: str) -> str:
    return sqlglot.parse_one(sql, read="trino").sql(dialect="duckdb")


def run_daily_activity(
    events: list[Event], report_day: dt.date, partition_keys: tuple[str, ...] = ("account", "region", "dt")
) -> list[tuple[Any, ...]]:
    """Load `events` into an in-memory table partitioned by `partition_keys`; run the report query for the day."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"CREATE SCHEMA {DATABASE}")
        partitions = ", ".join(f'"{key}" VARCHAR' for key in partition_keys)
        con.execute(f"CREATE TABLE {DATABASE}.{TABLE} ({_COLUMNS_DDL}, {partitions})")
        for e in events:
            con.execute(
                f"INSERT INTO {DATABASE}.{TABLE} ({_INSERTED}, {', '.join(partition_keys)}) "
                f"VALUES ({', '.join('?' for _ in range(9 + len(partition_keys)))})",
                [_identity(e), e.eventtime, e.eventsource, e.eventname, e.region, e.sourceip, e.useragent,
                 e.errorcode, e.account, *_partition_values(e, partition_keys)],
            )
        sql, params = build_daily_activity_query(DATABASE, TABLE, partition_keys, report_day)
        return con.execute(to_duckdb(substitute_parameters(sql, params))).fetchall()
    finally:
        con.close()


def _identity(e: Event) -> dict[str, Any]:
    return {
        "type": e.identity_type, "principalid": "AIDAEXAMPLE", "arn": e.arn, "accountid": e.account,
        "invokedby": e.invokedby, "username": None,
        "sessioncontext": {"sessionissuer": {"type": "Role", "principalid": "AROAEXAMPLE", "arn": e.issuer_arn}},
    }


def _partition_values(e: Event, keys: tuple[str, ...]) -> list[str]:
    year, month, day = e.folder.split("-")
    by_key = {"account": e.account, "region": e.region, "dt": e.folder, "year": year, "month": month, "day": day}
    return [by_key[key] for key in keys]


def athena_csv(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    """An Athena result file: header row, every value double-quoted, NULL written as nothing.

    Without `header`, rows of version 1's width get version 1's header (a result saved before detections).
    """
    if header is None:
        header = COLUMNS_V1 if rows and len(rows[0]) == len(COLUMNS_V1) else COLUMNS
    lines = [",".join(f'"{name}"' for name in header)]
    for values in rows:
        lines.append(",".join("" if v is None else '"' + str(v).replace('"', '""') + '"' for v in values))
    return "\n".join(lines) + "\n"


_BASE_ROW = ActivityRow(
    account=ACCOUNT, region=REGION, principal=f"arn:aws:iam::{ACCOUNT}:user/alice",
    eventsource="iam.amazonaws.com", eventname="ListUsers", events=1, errors=0,
    first_seen="2024-01-05T10:00:00Z", sample_source_ips="192.0.2.1", sample_user_agents="aws-cli/2.15",
)


def row(**fields: Any) -> ActivityRow:
    return replace(_BASE_ROW, **fields)


def hostile_records(threat: str | None = None) -> list[dict[str, str]]:
    records: list[dict[str, str]] = json.loads((FIXTURES / "hostile_records.json").read_text())["records"]
    return [r for r in records if threat is None or r["threat"] == threat]


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))
