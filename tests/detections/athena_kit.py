"""The embedded Athena (moto + DuckDB via localaws) with the template's table, for detection SQL on real records."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localaws import athena
from localaws.counters import Counters
from tests.helpers import FIXTURES, table_input

REGION = "us-east-1"
TRAIL = "trail-bucket"  # the bucket of table_input()'s LOCATION
RESULTS = "results-bucket"
DATABASE = "trailkeeper"
TABLE = "cloudtrail"
ACCOUNT = "111122223333"


@cache
def published_records() -> list[dict[str, Any]]:
    """tests/fixtures/detections/published_records.json: each case cites its source."""
    cases: list[dict[str, Any]] = json.loads((FIXTURES / "detections" / "published_records.json").read_text())[
        "records"
    ]
    return cases


@dataclass
class EmbeddedAthena:
    s3: Any
    glue: Any
    athena: Any

    def rows(self, sql: str, parameters: list[str] | None = None) -> list[list[str | None]]:
        """The result's data rows (header dropped), NULL as None; fails the test if the query failed."""
        execution_id = self._succeeded(sql, parameters)["QueryExecutionId"]
        pages = self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
        rows = [[d.get("VarCharValue") for d in row["Data"]] for page in pages for row in page["ResultSet"]["Rows"]]
        return rows[1:]

    def result_csv(self, sql: str, parameters: list[str] | None = None) -> tuple[str, int]:
        """(the query's CSV result file as Athena writes it, bytes scanned); fails the test if the query failed."""
        execution = self._succeeded(sql, parameters)
        key = execution["ResultConfiguration"]["OutputLocation"].removeprefix(f"s3://{RESULTS}/")
        body: bytes = self.s3.get_object(Bucket=RESULTS, Key=key)["Body"].read()
        return body.decode("utf-8"), int(execution["Statistics"]["DataScannedInBytes"])

    def bytes_scanned(self, sql: str, parameters: list[str] | None = None) -> int:
        return int(self._succeeded(sql, parameters)["Statistics"]["DataScannedInBytes"])

    def _succeeded(self, sql: str, parameters: list[str] | None) -> dict[str, Any]:
        """The finished query's QueryExecution; fails the test if the query failed."""
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": DATABASE},
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/athena/"},
        }
        if parameters:
            request["ExecutionParameters"] = parameters
        execution_id = self.athena.start_query_execution(**request)["QueryExecutionId"]
        execution: dict[str, Any] = self.athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get("StateChangeReason")
        return execution

    def put_records(
        self, day: dt.date, records: list[dict[str, Any]], account: str = ACCOUNT, region: str = REGION
    ) -> None:
        """One log file of `records` in the (account, region, day) folder, and its partition registered."""
        folder = f"AWSLogs/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"
        key = f"{folder}{account}_CloudTrail_{region}_{day:%Y%m%d}T0000Z_{len(records)}.json.gz"
        self.s3.put_object(Bucket=TRAIL, Key=key, Body=gzip.compress(json.dumps({"Records": records}).encode()))
        sql = (
            f"ALTER TABLE `{DATABASE}`.`{TABLE}` ADD IF NOT EXISTS PARTITION "
            f"(account='{account}', region='{region}', dt='{day.isoformat()}') LOCATION 's3://{TRAIL}/{folder}'"
        )
        execution_id = self.athena.start_query_execution(
            QueryString=sql, ResultConfiguration={"OutputLocation": f"s3://{RESULTS}/athena/"}
        )["QueryExecutionId"]
        state = self.athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]["State"]
        assert state == "SUCCEEDED"


@pytest.fixture
def embedded_athena(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedAthena]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        undo = athena.install(Counters())
        try:
            s3 = boto3.client("s3", region_name=REGION)
            glue = boto3.client("glue", region_name=REGION)
            for bucket in (TRAIL, RESULTS):
                s3.create_bucket(Bucket=bucket)
            glue.create_database(DatabaseInput={"Name": DATABASE})
            glue.create_table(DatabaseName=DATABASE, TableInput=table_input())  # the table of template.yaml
            yield EmbeddedAthena(s3, glue, boto3.client("athena", region_name=REGION))
        finally:
            undo()
