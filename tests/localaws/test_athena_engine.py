"""The embedded Athena engine: moto's Athena running SQL on DuckDB over moto's S3 and Glue, as Athena would."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.athena.models import AthenaBackend

from localaws import athena
from localaws.athena.hive import HiveTypeError, parse_hive_type
from localaws.athena.results import java_double, render
from localaws.counters import Counters
from tests.helpers import table_input

REGION = "us-east-1"
TRAIL = "trail-bucket"  # the bucket of table_input()'s LOCATION
RESULTS = "results-bucket"
DATABASE = "trailkeeper"
TABLE = "cloudtrail"
ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"


@dataclass
class Aws:
    s3: Any
    glue: Any
    athena: Any
    counters: Counters

    def run(self, sql: str, parameters: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": DATABASE},
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/athena/"},
            **extra,
        }
        if parameters is not None:
            request["ExecutionParameters"] = parameters
        execution_id = self.athena.start_query_execution(**request)["QueryExecutionId"]
        execution: dict[str, Any] = self.athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        return execution

    def rows(self, sql: str, parameters: list[str] | None = None) -> list[list[str | None]]:
        """The result's data rows (header dropped), NULL as None; fails the test if the query failed."""
        execution = self.run(sql, parameters)
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get("StateChangeReason")
        pages = self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution["QueryExecutionId"])
        rows = [[d.get("VarCharValue") for d in row["Data"]] for page in pages for row in page["ResultSet"]["Rows"]]
        return rows[1:]

    def output(self, execution: dict[str, Any]) -> str:
        location = execution["ResultConfiguration"]["OutputLocation"]
        body: bytes = self.s3.get_object(Bucket=RESULTS, Key=location.removeprefix(f"s3://{RESULTS}/"))["Body"].read()
        return body.decode()

    def put_log(self, account: str, region: str, day: str, records: list[dict[str, Any]], name: str = "a") -> str:
        key = f"{folder(account, region, day)}{account}_CloudTrail_{region}_{day.replace('-', '')}T0000Z_{name}.json.gz"
        self.s3.put_object(Bucket=TRAIL, Key=key, Body=gzip.compress(json.dumps({"Records": records}).encode()))
        return key

    def add_partitions(self, *partitions: tuple[str, str, str]) -> None:
        clauses = "".join(
            f" PARTITION (account='{a}', region='{r}', dt='{d}') LOCATION 's3://{TRAIL}/{folder(a, r, d)}'"
            for a, r, d in partitions
        )
        execution = self.run(f"ALTER TABLE `{DATABASE}`.`{TABLE}` ADD IF NOT EXISTS{clauses}")
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"].get("StateChangeReason")

    def partition_values(self) -> list[list[str]]:
        pages = self.glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=TABLE)
        return sorted(p["Values"] for page in pages for p in page["Partitions"])


def folder(account: str, region: str, day: str) -> str:
    return f"AWSLogs/{account}/CloudTrail/{region}/{day.replace('-', '/')}/"


def record(**fields: Any) -> dict[str, Any]:
    """A CloudTrail record as CloudTrail writes it (camelCase keys); keyword arguments override fields."""
    base: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice",
            "accountId": ACCOUNT,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/Admin", "userName": "Admin"},
                "attributes": {"creationDate": "2024-01-05T09:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": "2024-01-05T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.0",
        "requestParameters": {"bucketName": "data", "key": "a.txt"},
        "responseElements": None,
        "requestID": "REQ1",
        "eventID": "EVENT1",
        "readOnly": True,
        "resources": [{"ARN": "arn:aws:s3:::data", "accountId": ACCOUNT, "type": "AWS::S3::Bucket"}],
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Data",
    }
    base.update(fields)
    return base


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        counters = Counters()
        undo = athena.install(counters)
        try:
            s3 = boto3.client("s3", region_name=REGION)
            glue = boto3.client("glue", region_name=REGION)
            for bucket in (TRAIL, RESULTS):
                s3.create_bucket(Bucket=bucket)
            glue.create_database(DatabaseInput={"Name": DATABASE})
            glue.create_table(DatabaseName=DATABASE, TableInput=table_input())  # the table of template.yaml
            yield Aws(s3, glue, boto3.client("athena", region_name=REGION), counters)
        finally:
            undo()


# --- DDL -------------------------------------------------------------------------------------------------------


def test_add_partition_registers_it_in_glue_with_its_location(aws: Aws) -> None:
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    partition = aws.glue.get_partition(
        DatabaseName=DATABASE, TableName=TABLE, PartitionValues=[ACCOUNT, REGION, "2024-01-05"]
    )["Partition"]
    assert partition["StorageDescriptor"]["Location"] == f"s3://{TRAIL}/{folder(ACCOUNT, REGION, '2024-01-05')}"


def test_ddl_reports_statement_type_ddl_and_a_txt_output_location(aws: Aws) -> None:
    sql = f"ALTER TABLE {TABLE} ADD PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-05')"

    execution = aws.run(sql)

    assert execution["StatementType"] == "DDL"
    assert execution["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{RESULTS}/athena/{execution['QueryExecutionId']}.txt"
    )


def test_add_partition_if_not_exists_is_idempotent(aws: Aws) -> None:
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"), (ACCOUNT, REGION, "2024-01-06"))

    assert aws.partition_values() == [[ACCOUNT, REGION, "2024-01-05"], [ACCOUNT, REGION, "2024-01-06"]]


def test_add_existing_partition_without_if_not_exists_fails_and_adds_nothing(aws: Aws) -> None:
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(
        f"ALTER TABLE {TABLE} ADD PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-06') "
        f"PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-05')"
    )

    assert execution["Status"]["State"] == "FAILED"
    assert "Partition already exists" in execution["Status"]["StateChangeReason"]
    assert aws.partition_values() == [[ACCOUNT, REGION, "2024-01-05"]]


def test_add_partition_with_keys_other_than_the_tables_fails(aws: Aws) -> None:
    execution = aws.run(f"ALTER TABLE {TABLE} ADD PARTITION (account='{ACCOUNT}', dt='2024-01-05')")

    assert execution["Status"]["State"] == "FAILED"
    assert "does not match the partition keys" in execution["Status"]["StateChangeReason"]
    assert aws.partition_values() == []


@pytest.mark.parametrize(
    "tail",
    [
        "LOCATION 's3://trail-bucket/x/'; DROP TABLE cloudtrail",
        "LOCATION 's3://trail-bucket/x\\' LOCATION \\'s3://evil/'",
        "LOCATION s3://trail-bucket/x/",
        "LOCATION 's3://trail-bucket/x/' OR 1=1",
    ],
)
def test_ddl_with_unexpected_text_fails_without_touching_the_catalog(aws: Aws, tail: str) -> None:
    sql = f"ALTER TABLE {TABLE} ADD PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-05') {tail}"

    execution = aws.run(sql)

    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith("SYNTAX_ERROR")
    assert aws.partition_values() == []


def test_drop_partition_removes_it_from_glue(aws: Aws) -> None:
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"), (ACCOUNT, REGION, "2024-01-06"))

    execution = aws.run(f"ALTER TABLE {TABLE} DROP PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-05')")

    assert execution["Status"]["State"] == "SUCCEEDED"
    assert aws.partition_values() == [[ACCOUNT, REGION, "2024-01-06"]]


def test_set_location_points_a_partition_at_another_folder_and_athena_reads_that_folder(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    spec = f"PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-05')"
    elsewhere = f"s3://{TRAIL}/{folder(ACCOUNT, REGION, '2024-01-06')}"
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))
    count = f"SELECT count(*) AS n FROM {TABLE} WHERE dt = '2024-01-05'"
    assert aws.rows(count) == [["1"]]

    hidden = aws.run(f"ALTER TABLE `{DATABASE}`.`{TABLE}` {spec} SET LOCATION '{elsewhere}'")
    assert hidden["Status"]["State"] == "SUCCEEDED", hidden["Status"].get("StateChangeReason")
    assert aws.rows(count) == [["0"]]
    [partition] = aws.glue.get_partitions(DatabaseName=DATABASE, TableName=TABLE)["Partitions"]
    assert partition["StorageDescriptor"]["Location"] == elsewhere
    assert partition["StorageDescriptor"]["SerdeInfo"]  # only the LOCATION changed

    home = f"s3://{TRAIL}/{folder(ACCOUNT, REGION, '2024-01-05')}"
    repaired = aws.run(f"ALTER TABLE {TABLE} {spec} SET LOCATION '{home}'")
    assert repaired["Status"]["State"] == "SUCCEEDED"
    assert aws.rows(count) == [["1"]]


def test_set_location_of_a_partition_that_does_not_exist_fails(aws: Aws) -> None:
    execution = aws.run(
        f"ALTER TABLE {TABLE} PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-05') "
        f"SET LOCATION 's3://{TRAIL}/x/'"
    )

    assert execution["Status"]["State"] == "FAILED"
    assert "Partition not found" in execution["Status"]["StateChangeReason"]
    assert aws.partition_values() == []


@pytest.mark.parametrize(
    "tail",
    [
        "SET LOCATION s3://trail-bucket/x/",
        "SET LOCATION 's3://x/' PURGE",
        "SET LOCATION",
        "LOCATION 's3://trail-bucket/x/'",
    ],
)
def test_set_location_with_unexpected_text_fails_as_a_syntax_error(aws: Aws, tail: str) -> None:
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    spec = f"PARTITION (account='{ACCOUNT}', region='{REGION}', dt='2024-01-05')"
    execution = aws.run(f"ALTER TABLE {TABLE} {spec} {tail}")

    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith("SYNTAX_ERROR")


def test_set_location_without_a_partition_moves_the_table(aws: Aws) -> None:
    execution = aws.run(f"ALTER TABLE {TABLE} SET LOCATION 's3://{TRAIL}/elsewhere/'")

    assert execution["Status"]["State"] == "SUCCEEDED"
    table = aws.glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{TRAIL}/elsewhere/"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["account", "region", "dt"]


def test_show_partitions_lists_registered_partitions_without_a_header(aws: Aws) -> None:
    aws.add_partitions((ACCOUNT, REGION, "2024-01-06"), (ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(f"SHOW PARTITIONS {DATABASE}.{TABLE}")
    results = aws.athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])

    lines = [f"account={ACCOUNT}/region={REGION}/dt=2024-01-05", f"account={ACCOUNT}/region={REGION}/dt=2024-01-06"]
    assert [row["Data"][0]["VarCharValue"] for row in results["ResultSet"]["Rows"]] == lines
    assert aws.output(execution) == "".join(f"{line}\n" for line in lines)


def test_a_thousand_partition_alter_registers_every_partition(aws: Aws) -> None:
    start = dt.date(2021, 1, 1)
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range(1000)]

    aws.add_partitions(*((ACCOUNT, REGION, day) for day in days))

    assert len(aws.partition_values()) == 1000


def test_other_ddl_fails_as_not_supported(aws: Aws) -> None:
    execution = aws.run("CREATE EXTERNAL TABLE x (a string) LOCATION 's3://trail-bucket/'")

    assert execution["Status"]["State"] == "FAILED"
    assert "not supported by the embedded engine" in execution["Status"]["StateChangeReason"]


# --- SELECT: what is read ------------------------------------------------------------------------------------------


def test_select_sees_only_objects_of_registered_partitions(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(eventID="registered")])
    aws.put_log(ACCOUNT, REGION, "2024-01-06", [record(eventID="unregistered")])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    assert aws.rows(f"SELECT eventid FROM {TABLE}") == [["registered"]]


def test_rows_carry_the_values_of_their_partition(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    assert aws.rows(f"SELECT account, region, dt FROM {TABLE}") == [[ACCOUNT, REGION, "2024-01-05"]]


def test_partition_filter_reads_only_matching_partitions(aws: Aws) -> None:
    days = ["2024-01-04", "2024-01-05", "2024-01-06", "2024-01-07"]
    keys = {(a, d): aws.put_log(a, REGION, d, [record(eventID=d)]) for a in (ACCOUNT, OTHER_ACCOUNT) for d in days}
    aws.add_partitions(*((a, REGION, d) for a, d in keys))

    rows = aws.rows(f"SELECT eventid FROM {TABLE} WHERE dt IN ('2024-01-05', '2024-01-06') AND account = '{ACCOUNT}'")

    stats = aws.counters.queries[-1]
    wanted = [keys[(ACCOUNT, "2024-01-05")], keys[(ACCOUNT, "2024-01-06")]]
    assert sorted(rows) == [["2024-01-05"], ["2024-01-06"]]
    assert (stats.partitions_read, stats.objects_read) == (2, 2)
    assert stats.bytes_read == sum(aws.s3.head_object(Bucket=TRAIL, Key=k)["ContentLength"] for k in wanted)


def test_outer_joined_table_is_not_pruned(aws: Aws) -> None:
    for day in ("2024-01-05", "2024-01-06"):
        aws.put_log(ACCOUNT, REGION, day, [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"), (ACCOUNT, REGION, "2024-01-06"))

    rows = aws.rows(
        f"SELECT count(*) FROM (VALUES 1) AS v(x) LEFT JOIN {TABLE} t ON true WHERE t.dt = '2024-01-07' OR t.dt IS NULL"
    )

    assert rows == [["0"]]


def test_filter_on_a_data_column_reads_every_registered_partition(aws: Aws) -> None:
    for day in ("2024-01-05", "2024-01-06"):
        aws.put_log(ACCOUNT, REGION, day, [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"), (ACCOUNT, REGION, "2024-01-06"))

    aws.rows(f"SELECT eventid FROM {TABLE} WHERE eventtime >= '2024-01-05'")

    assert aws.counters.queries[-1].partitions_read == 2


def test_data_scanned_is_the_size_of_the_objects_read(aws: Aws) -> None:
    key = aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(f"SELECT count(*) FROM {TABLE}")

    assert execution["Statistics"]["DataScannedInBytes"] == aws.s3.head_object(Bucket=TRAIL, Key=key)["ContentLength"]


def test_hidden_objects_and_folder_markers_under_a_location_are_not_read(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(eventID="visible")])
    prefix = folder(ACCOUNT, REGION, "2024-01-05")
    aws.s3.put_object(Bucket=TRAIL, Key=f"{prefix}_SUCCESS", Body=b"not json")
    aws.s3.put_object(Bucket=TRAIL, Key=f"{prefix}.hidden.json.gz", Body=b"not gzip")
    aws.s3.put_object(Bucket=TRAIL, Key=prefix, Body=b"")
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    assert aws.rows(f"SELECT eventid FROM {TABLE}") == [["visible"]]


def test_location_is_a_folder_not_a_key_prefix(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(eventID="day-05")])
    aws.put_log(ACCOUNT, REGION, "2024-01-15", [record(eventID="day-15")])
    location = f"s3://{TRAIL}/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2024/01/05"  # no trailing slash
    aws.run(f"ALTER TABLE {TABLE} ADD PARTITION (account='{ACCOUNT}', region='{REGION}', dt='x') LOCATION '{location}'")

    assert aws.rows(f"SELECT eventid FROM {TABLE}") == [["day-05"]]


READABLE = json.dumps({"Records": [{"eventVersion": "1.09", "eventName": "x"}]}).encode()
UNREADABLE = {
    "truncated": (gzip.compress(READABLE)[:-12], "HIVE_CURSOR_ERROR", "Unexpected end of input stream"),
    "not-gzip": (b"this is not gzip", "HIVE_CURSOR_ERROR", "Not in GZIP format"),
    "extra-garbage": (gzip.compress(READABLE) + b"garbage", "HIVE_CURSOR_ERROR", "data after the end of the gzip"),
    "invalid-utf8": (gzip.compress(READABLE.replace(b'"x"', b'"\xc3\x28"')), "HIVE_CURSOR_ERROR", "Invalid UTF-8"),
    "lone-surrogate": (gzip.compress(READABLE.replace(b'"x"', b'"\\udc80"')), "HIVE_BAD_DATA", "lone surrogate"),
    "not-json": (gzip.compress(b"{not json"), "HIVE_CURSOR_ERROR", "not a valid JSON Object"),
}


@pytest.mark.parametrize(("body", "code", "reason"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_corrupt_object_fails_the_query_as_athena_does_naming_its_s3_uri(
    aws: Aws, body: bytes, code: str, reason: str
) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()], name="good")
    key = f"{folder(ACCOUNT, REGION, '2024-01-05')}bad.json.gz"
    aws.s3.put_object(Bucket=TRAIL, Key=key, Body=body)
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(f"SELECT count(*) FROM {TABLE}")

    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith(f"{code}: s3://{TRAIL}/{key}: ")
    assert reason in execution["Status"]["StateChangeReason"]
    assert aws.counters.queries[-1].state == "FAILED"


@pytest.mark.parametrize("kind", UNREADABLE)
def test_a_query_fails_on_a_corrupt_object_every_time_wherever_it_is_listed(aws: Aws, kind: str) -> None:
    """DuckDB reads files in parallel and accepts some bodies Athena refuses: the engine checks every object
    itself, in listing order, so the outcome (and the object named) never depends on thread timing."""
    day = folder(ACCOUNT, REGION, "2024-01-05")
    for name in ("a", "c", "e", "g"):
        aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()], name=name)
    aws.s3.put_object(Bucket=TRAIL, Key=f"{day}d.json.gz", Body=UNREADABLE[kind][0])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    reasons = {aws.run(f"SELECT eventname FROM {TABLE}")["Status"].get("StateChangeReason") for _ in range(5)}

    [reason] = reasons
    assert f"s3://{TRAIL}/{day}d.json.gz" in reason


def test_path_is_the_s3_uri_of_each_rows_object(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(eventID="one"), record(eventID="two")], name="first")
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f'SELECT eventid, "$path" FROM {TABLE} ORDER BY eventid')

    uri = f"s3://{TRAIL}/{folder(ACCOUNT, REGION, '2024-01-05')}"
    assert [row[0] for row in rows] == ["one", "two"] and all(row[1].startswith(uri) for row in rows)


def test_an_object_excluded_by_its_path_is_never_opened(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(eventID="kept")], name="good")
    key = f"{folder(ACCOUNT, REGION, '2024-01-05')}bad.json.gz"
    aws.s3.put_object(Bucket=TRAIL, Key=key, Body=UNREADABLE["truncated"][0])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT eventid FROM {TABLE} WHERE dt = '2024-01-05' AND \"$path\" NOT IN ('s3://{TRAIL}/{key}')")

    assert rows == [["kept"]]
    assert aws.counters.queries[-1].objects_read == 1


@pytest.mark.parametrize(
    "document",
    [
        [record()],
        [{"Records": [record()]}],
        {"records": [record()]},
        {"Records": None},
        {"Records": record()},
        {"Records": "x"},
        {},
    ],
    ids=["top-level array", "array of records objects", "lower-case records", "null", "object", "string", "empty"],
)
def test_json_of_another_shape_than_a_records_object_yields_no_rows_like_cloudtrailinputformat(
    aws: Aws, document: Any
) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(eventID="good")], name="good")
    key = f"{folder(ACCOUNT, REGION, '2024-01-05')}odd.json.gz"
    aws.s3.put_object(Bucket=TRAIL, Key=key, Body=gzip.compress(json.dumps(document).encode()))
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    assert aws.rows(f"SELECT eventid FROM {TABLE}") == [["good"]]


def test_a_records_object_whose_records_key_is_not_first_is_still_read(aws: Aws) -> None:
    key = f"{folder(ACCOUNT, REGION, '2024-01-05')}late-key.json.gz"
    document = {"note": "x", "Records": [record(eventID="read")]}
    aws.s3.put_object(Bucket=TRAIL, Key=key, Body=gzip.compress(json.dumps(document, indent=2).encode()))
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    assert aws.rows(f"SELECT eventid FROM {TABLE}") == [["read"]]


# --- SELECT: SQL -----------------------------------------------------------------------------------------------


def test_execution_parameters_bind_positionally(aws: Aws) -> None:
    for day in ("2024-01-05", "2024-01-06"):
        aws.put_log(ACCOUNT, REGION, day, [record(eventID=day)])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"), (ACCOUNT, REGION, "2024-01-06"))

    rows = aws.rows(f"SELECT eventid FROM {TABLE} WHERE dt = ? AND account = ?", ["'2024-01-06'", f"'{ACCOUNT}'"])

    assert rows == [["2024-01-06"]]
    assert aws.counters.queries[-1].partitions_read == 1


def test_wrong_number_of_execution_parameters_fails(aws: Aws) -> None:
    execution = aws.run(f"SELECT eventid FROM {TABLE} WHERE dt = ? AND account = ?", ["'2024-01-06'"])

    assert execution["Status"]["State"] == "FAILED"
    assert "Incorrect number of parameters: expected 2 but found 1" in execution["Status"]["StateChangeReason"]


def test_execution_parameter_that_is_not_a_literal_fails(aws: Aws) -> None:
    execution = aws.run(f"SELECT eventid FROM {TABLE} WHERE dt = ?", ["'2024-01-06' OR 1=1"])

    assert execution["Status"]["State"] == "FAILED"
    assert "is not a literal" in execution["Status"]["StateChangeReason"]


def test_question_mark_inside_a_string_is_not_a_parameter(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(userAgent="?")])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT count(*) FROM {TABLE} WHERE useragent = '?' AND dt = ?", ["'2024-01-05'"])

    assert rows == [["1"]]


def test_json_extract_scalar_reads_request_parameters(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(requestParameters={"bucketName": "secret-data"})])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT json_extract_scalar(requestparameters, '$.bucketName') AS bucket FROM {TABLE}")

    assert rows == [["secret-data"]]


def test_nested_session_issuer_arn_is_readable(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT useridentity.sessioncontext.sessionissuer.arn FROM {TABLE}")

    assert rows == [[f"arn:aws:iam::{ACCOUNT}:role/Admin"]]


def test_unnest_of_an_array_of_rows_gives_one_column_per_field(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT u.type, u.arn FROM {TABLE} CROSS JOIN UNNEST(resources) AS u(arn, accountid, type)")

    assert rows == [["AWS::S3::Bucket", "arn:aws:s3:::data"]]


def test_resource_arns_are_read_from_camel_case_keys(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT resources[1].arn, resources[1].accountid FROM {TABLE}")

    assert rows == [["arn:aws:s3:::data", ACCOUNT]]


def test_columns_used_only_inside_a_lambda_are_read(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT transform(resources, x -> x.type) AS types FROM {TABLE}")

    assert rows == [["[AWS::S3::Bucket]"]]


def test_select_star_exposes_catalog_columns_then_partition_keys(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(f"SELECT * FROM {TABLE}")

    names = [c["Name"] for c in (*table_input()["StorageDescriptor"]["Columns"], *table_input()["PartitionKeys"])]
    assert aws.output(execution).splitlines()[0] == ",".join(f'"{name}"' for name in names)


def test_table_without_partitions_returns_no_rows(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])

    assert aws.rows(f"SELECT count(*) FROM {TABLE}") == [["0"]]


def test_unaliased_expressions_are_named_like_athena(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(f"SELECT eventName, count(*), useridentity.arn FROM {TABLE} GROUP BY 1, 3")
    results = aws.athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])

    names = [c["Name"] for c in results["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    assert names == ["eventName", "_col1", "arn"]


def test_syntax_error_fails_the_query(aws: Aws) -> None:
    execution = aws.run(f"SELECT eventid FROM {TABLE} WHERE (")

    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith("SYNTAX_ERROR")


def test_unknown_column_fails_the_query_naming_the_column(aws: Aws) -> None:
    execution = aws.run(f"SELECT no_such_column FROM {TABLE}")

    assert execution["Status"]["State"] == "FAILED"
    assert "no_such_column" in execution["Status"]["StateChangeReason"]


def test_unknown_table_fails_the_query(aws: Aws) -> None:
    execution = aws.run("SELECT 1 FROM no_such_table")

    assert execution["Status"]["State"] == "FAILED"
    assert "TABLE_NOT_FOUND" in execution["Status"]["StateChangeReason"]


# --- results ---------------------------------------------------------------------------------------------------


def test_csv_output_has_a_header_quoted_values_and_empty_nulls(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(userAgent='say "hi"', errorCode=None)])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(f"SELECT useragent, errorcode, 1 AS one FROM {TABLE}")

    assert execution["ResultConfiguration"]["OutputLocation"].endswith(f"/{execution['QueryExecutionId']}.csv")
    assert aws.output(execution) == '"useragent","errorcode","one"\n"say ""hi""",,"1"\n'


def test_nested_values_are_rendered_like_athena(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record()])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    rows = aws.rows(f"SELECT resources, useridentity.sessioncontext.attributes FROM {TABLE}")

    assert rows == [
        [
            f"[{{arn=arn:aws:s3:::data, accountid={ACCOUNT}, type=AWS::S3::Bucket}}]",
            "{mfaauthenticated=false, creationdate=2024-01-05T09:00:00Z}",
        ]
    ]


def test_get_query_results_pages_with_the_header_first(aws: Aws) -> None:
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(eventID=f"e{n}") for n in range(5)])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))
    execution = aws.run(f"SELECT eventid FROM {TABLE} ORDER BY eventid")

    first = aws.athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"], MaxResults=4)
    second = aws.athena.get_query_results(
        QueryExecutionId=execution["QueryExecutionId"], MaxResults=4, NextToken=first["NextToken"]
    )

    values = [row["Data"][0]["VarCharValue"] for page in (first, second) for row in page["ResultSet"]["Rows"]]
    assert values == ["eventid", "e0", "e1", "e2", "e3", "e4"]
    assert "NextToken" not in second


def test_results_of_a_failed_query_are_refused(aws: Aws) -> None:
    execution = aws.run("SELECT 1 FROM no_such_table")

    with pytest.raises(aws.athena.exceptions.InvalidRequestException, match="Final query state: FAILED"):
        aws.athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])


def test_result_csv_parses_back_with_the_csv_module(aws: Aws) -> None:
    agent = 'x",\r\n=HYPERLINK("https://evil")'
    aws.put_log(ACCOUNT, REGION, "2024-01-05", [record(userAgent=agent)])
    aws.add_partitions((ACCOUNT, REGION, "2024-01-05"))

    execution = aws.run(f"SELECT useragent FROM {TABLE}")

    assert list(csv.reader(io.StringIO(aws.output(execution), newline=""))) == [["useragent"], [agent]]


# --- API behaviour -----------------------------------------------------------------------------------------------


def test_enforcing_workgroup_output_location_wins_over_the_request(aws: Aws) -> None:
    aws.athena.create_work_group(
        Name="trailkeeper",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/workgroup/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )

    execution = aws.run("SELECT 1", WorkGroup="trailkeeper")

    assert execution["WorkGroup"] == "trailkeeper"
    assert execution["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{RESULTS}/workgroup/{execution['QueryExecutionId']}.csv"
    )


def test_start_without_any_output_location_is_rejected(aws: Aws) -> None:
    with pytest.raises(aws.athena.exceptions.InvalidRequestException, match="No output location provided"):
        aws.athena.start_query_execution(QueryString="SELECT 1")


def test_repeated_client_request_token_returns_the_same_execution(aws: Aws) -> None:
    request = {
        "QueryString": "SELECT 1",
        "ResultConfiguration": {"OutputLocation": f"s3://{RESULTS}/athena/"},
        "ClientRequestToken": "t" * 32,
    }

    first = aws.athena.start_query_execution(**request)["QueryExecutionId"]
    second = aws.athena.start_query_execution(**request)["QueryExecutionId"]

    assert first == second
    assert len(aws.counters.queries) == 1


def test_stopping_a_finished_query_leaves_it_succeeded(aws: Aws) -> None:
    execution_id = aws.run("SELECT 1")["QueryExecutionId"]

    aws.athena.stop_query_execution(QueryExecutionId=execution_id)

    assert aws.athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]["State"] == (
        "SUCCEEDED"
    )


def test_undo_restores_motos_athena() -> None:
    original = AthenaBackend.start_query_execution
    undo = athena.install(Counters())

    undo()

    assert AthenaBackend.start_query_execution is original


# --- pure helpers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.5, "0.5"), (1.0, "1.0"), (1e7, "1.0E7"), (12345678.9, "1.23456789E7"), (1.2e-5, "1.2E-5"), (-0.0, "-0.0")],
)
def test_doubles_render_like_java(value: float, text: str) -> None:
    assert java_double(value) == text


def test_timestamps_render_with_milliseconds_and_zone() -> None:
    moment = dt.datetime(2024, 1, 5, 10, 0, 0, 123456, tzinfo=dt.UTC)

    assert render(moment.replace(tzinfo=None)) == "2024-01-05 10:00:00.123"
    assert render(moment) == "2024-01-05 10:00:00.123 UTC"


def test_hive_type_with_unknown_token_is_rejected() -> None:
    with pytest.raises(HiveTypeError):
        parse_hive_type("struct<a:string;b:string>")
