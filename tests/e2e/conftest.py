from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from localaws.local_run import LOCAL_PARAMETERS, detect_layout
from localaws.runtime import EmbeddedAws
from tests import helpers
from tests.helpers import SentEmail

Partition = tuple[str, str, str]


@contextmanager
def running_stack(logs: Path, **params: str) -> Iterator[EmbeddedAws]:
    """The template's stack on the embedded runtime, with the trail bucket holding everything under logs."""
    with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs), **params}) as aws:
        aws.upload_directory(logs, aws.parameters["TrailBucketName"])
        yield aws


@pytest.fixture
def stack() -> Callable[..., AbstractContextManager[EmbeddedAws]]:
    return running_stack


def catalog(aws: EmbeddedAws) -> dict[Partition, str]:
    """Every partition of the table -> its LOCATION."""
    glue = aws.client("glue")
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=aws.parameters["DatabaseName"], TableName=aws.parameters["TableName"]
    )
    return {
        (p["Values"][0], p["Values"][1], p["Values"][2]): p["StorageDescriptor"]["Location"]
        for page in pages
        for p in page["Partitions"]
    }


def days(first: dt.date, last: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def results_text(aws: EmbeddedAws, key: str) -> str | None:
    s3 = aws.client("s3")
    try:
        body: bytes = s3.get_object(Bucket=aws.physical["ResultsBucket"], Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return body.decode()


def athena_rows(aws: EmbeddedAws, sql: str) -> list[list[str]]:
    """Run one SELECT in the project's WorkGroup; data rows as strings (header dropped)."""
    athena = aws.client("athena")
    query_id = athena.start_query_execution(QueryString=sql, WorkGroup=aws.physical["AthenaWorkGroup"])[
        "QueryExecutionId"
    ]
    state = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
    assert state["State"] == "SUCCEEDED", state
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"][1:]
    return [[cell.get("VarCharValue", "") for cell in row["Data"]] for row in rows]


def sent_emails(aws: EmbeddedAws) -> list[SentEmail]:
    return helpers.sent_emails()
