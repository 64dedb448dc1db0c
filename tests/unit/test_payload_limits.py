"""A maximal ALTER TABLE statement fits every Step Functions payload it travels in, with headroom.

Step Functions checks a task's raw output against 262,144 bytes *before* ResultSelector, and
States.DataLimitExceeded is not caught by States.ALL (docs/aws-facts.md): no NotifyFailure, no shard failure
record. A statement travels in two task outputs: the aws-sdk s3:getObject that loads it (Body) and the
athena:startQueryExecution.sync that runs it, whose output is the GetQueryExecution response, repeating Query.

Both outputs are built here from botocore's own service models, every optional member present: strings at
the model's maximum length (or its pattern's), enums at their longest value, numbers at their widest. Where
the model gives no bound, ALLOWANCES says what is assumed and why; a member that is neither bounded nor listed
fails the test, so a new field in a future botocore model is a decision, not a silent miss.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import botocore.session
import pytest

from tests.helpers import asl, template
from trailkeeper.config import MAX_STATEMENT_BYTES_CAP, STATE_PAYLOAD_LIMIT_BYTES
from trailkeeper.logscan import PARTITIONS_PER_BATCH, listing_root, scan_items
from trailkeeper.report.query import MAX_EXCLUSION_BYTES, build_daily_activity_query

HEADROOM_BYTES = 4_096  # kept free below the limit for what this model cannot see
S3_URI = len("s3://") + 63 + len("/") + 1_024  # bucket names <= 63 bytes, keys <= 1,024 bytes (S3 docs)
KMS_KEY_ARN = 2_048  # the models' KmsKey / SSEKMSKeyId ARNs: "Maximum length of 2048" (S3, Athena docs)
# Members without a bound in the model: (shape name, member) -> bytes assumed, and why.
ALLOWANCES: dict[tuple[str, str], int] = {
    # Athena GetQueryExecution
    ("ResultConfiguration", "OutputLocation"): S3_URI,
    ("QueryExecutionStatistics", "DataManifestLocation"): S3_URI,
    ("EncryptionConfiguration", "KmsKey"): KMS_KEY_ARN,
    ("QueryExecutionStatus", "StateChangeReason"): 4_096,  # free text; absent on SUCCEEDED, allowed anyway
    ("AthenaError", "ErrorMessage"): 4_096,  # only on FAILED, whose output is an error, not a payload
    ("QueryExecution", "SubstatementType"): 128,  # e.g. ALTER_TABLE_ADD_PARTITION
    # S3 GetObject: every member is a response header; user metadata is at most 2 KB (S3 docs)
    ("GetObjectOutput", "Metadata"): 2_048,
    ("GetObjectOutput", "SSEKMSKeyId"): KMS_KEY_ARN,
    ("GetObjectOutput", "WebsiteRedirectLocation"): 2_048,  # S3 docs: at most 2 KB
    ("GetObjectOutput", "Expiration"): 512,  # expiry-date="<RFC 1123 date>", rule-id="<= 255 chars>"
    ("GetObjectOutput", "Restore"): 128,  # ongoing-request="false", expiry-date="<RFC 1123 date>"
    ("GetObjectOutput", "ContentType"): 256,  # RFC 6838: type/subtype of <= 127 chars each
    ("GetObjectOutput", "ContentRange"): 64,  # bytes <first>-<last>/<length>, three 64-bit numbers
    ("GetObjectOutput", "ETag"): 128,  # quoted MD5 hex, or hex-<part count> for multipart uploads
    ("GetObjectOutput", "VersionId"): 1_024,  # documented as opaque; bounded like a key, generously
}
# Headers-sized members of GetObject not worth a line each: checksums (base64 of <= 64 bytes), cache and
# content headers of objects this stack writes itself (PlanPartitions sets none of them).
SHORT_HEADER = 256
TIMESTAMP = len('"2026-12-31T23:59:59.999999+00:00"') - 2  # the longer of ISO text and epoch milliseconds
# What Step Functions may add around an optimized integration's response (HTTP metadata), generously.
SDK_ENVELOPE = {
    "SdkHttpMetadata": {
        "AllHttpHeaders": {
            h: ["x" * 64]
            for h in (
                "x-amzn-RequestId",
                "Content-Length",
                "Date",
                "Content-Type",
                "Connection",
                "x-amz-id-2",
                "x-amz-request-id",
                "Server",
            )
        },
        "HttpHeaders": {
            h: "x" * 64
            for h in (
                "x-amzn-RequestId",
                "Content-Length",
                "Date",
                "Content-Type",
                "Connection",
                "x-amz-id-2",
                "x-amz-request-id",
                "Server",
            )
        },
        "HttpStatusCode": 200,
    },
    "SdkResponseMetadata": {"RequestId": "x" * 64},
}
_PATTERN_LENGTH = re.compile(r"\{(?:\d+,)?(\d+)\}\$?$")
_SESSION = botocore.session.get_session()


def _string(shape: Any, owner: str, member: str) -> str:
    if shape.enum:
        return max(shape.enum, key=len)
    if "max" in shape.metadata:
        return "x" * int(shape.metadata["max"])
    pattern = _PATTERN_LENGTH.search(shape.metadata.get("pattern", ""))
    if pattern:
        return "x" * int(pattern.group(1))
    if (owner, member) in ALLOWANCES:
        return "x" * ALLOWANCES[(owner, member)]
    if owner == "GetObjectOutput":
        return "x" * SHORT_HEADER
    raise AssertionError(f"{owner}.{member} has no bound in the model and no allowance here: decide one")


def worst_case(shape: Any, overrides: dict[str, Any], owner: str = "", member: str = "") -> Any:
    """The largest JSON value the shape can take; `overrides` fixes members by name (what this stack sends)."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: overrides[name] if name in overrides else worst_case(child, overrides, shape.name, name)
            for name, child in shape.members.items()
        }
    if kind == "string":
        return _string(shape, owner, member)
    if kind == "map":
        return {"x": "x" * ALLOWANCES[(owner, member)]}  # one entry holding the whole allowance
    if kind == "list":
        raise AssertionError(f"{owner}.{member}: a list is only sized by what this stack sends (overrides)")
    if kind in ("integer", "long"):
        return int(shape.metadata.get("max", -(2**63)))
    if kind == "double":
        return -1.7976931348623157e308
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return "x" * TIMESTAMP
    raise AssertionError(f"{owner}.{member}: unexpected shape type {kind}")


def payload_bytes(value: Any) -> int:
    """Step Functions measures payloads as UTF-8 JSON text."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def maximal_statement() -> str:
    """A statement of MAX_STATEMENT_BYTES_CAP bytes, of the characters the planner writes."""
    header = "ALTER TABLE `trailkeeper`.`cloudtrail` ADD IF NOT EXISTS"
    clause = (
        " PARTITION (account='111122223333', region='us-east-1', dt='2024-01-01') LOCATION "
        "'s3://trail-bucket/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2024/01/01/'"
    )
    text = header + clause * ((MAX_STATEMENT_BYTES_CAP - len(header)) // len(clause))
    return text + " " * (MAX_STATEMENT_BYTES_CAP - len(text))


def get_query_execution_output(query: str) -> dict[str, Any]:
    """What an athena:startQueryExecution.sync task outputs: GetQueryExecution's response, every member set."""
    athena = _SESSION.get_service_model("athena")
    shape = athena.operation_model("GetQueryExecution").output_shape
    # The DDL tasks pass no ExecutionParameters (the ASL, checked below); the member is then absent.
    output: dict[str, Any] = worst_case(shape, {"Query": query, "ExecutionParameters": None})
    del output["QueryExecution"]["ExecutionParameters"]
    return {**output, **SDK_ENVELOPE}


def get_object_output(body: str) -> dict[str, Any]:
    """What an aws-sdk:s3:getObject task outputs: the response's members, Body as text."""
    s3 = _SESSION.get_service_model("s3")
    return {**worst_case(s3.operation_model("GetObject").output_shape, {"Body": body}), **SDK_ENVELOPE}


def statement_tasks() -> dict[str, dict[str, Any]]:
    """Every Task of the ASL (Map item processors included) that loads or runs an ALTER TABLE statement."""
    found: dict[str, dict[str, Any]] = {}

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            for nested in ("ItemProcessor", "Iterator"):
                if nested in state:
                    walk(state[nested]["States"])
            if state.get("Type") == "Task" and "statement" in json.dumps(state.get("Parameters", {})) + json.dumps(
                state.get("ResultPath", "")
            ):
                found[name] = state

    walk(asl()["States"])
    return found


def test_the_template_caps_max_statement_bytes_at_the_cap_the_planner_enforces() -> None:
    parameter = template()["Parameters"]["MaxStatementBytes"]
    assert parameter["MaxValue"] == MAX_STATEMENT_BYTES_CAP
    assert parameter["Default"] <= MAX_STATEMENT_BYTES_CAP


def test_the_statement_tasks_are_the_loads_and_the_runs_and_pass_no_execution_parameters() -> None:
    tasks = statement_tasks()
    resources = sorted(task["Resource"].rsplit(":::", 1)[1] for task in tasks.values())
    assert resources == ["athena:startQueryExecution.sync"] * 2 + ["aws-sdk:s3:getObject"] * 2, tasks
    for task in tasks.values():
        assert "ExecutionParameters" not in json.dumps(task["Parameters"])


def test_a_maximal_statement_run_by_athena_sync_fits_the_task_output_limit_with_headroom() -> None:
    statement = maximal_statement()
    assert len(statement.encode()) == MAX_STATEMENT_BYTES_CAP
    size = payload_bytes(get_query_execution_output(statement))
    assert size <= STATE_PAYLOAD_LIMIT_BYTES - HEADROOM_BYTES, (size, STATE_PAYLOAD_LIMIT_BYTES - size)


def test_a_maximal_statement_loaded_by_s3_get_object_fits_the_task_output_limit_with_headroom() -> None:
    size = payload_bytes(get_object_output(maximal_statement()))
    assert size <= STATE_PAYLOAD_LIMIT_BYTES - HEADROOM_BYTES, (size, STATE_PAYLOAD_LIMIT_BYTES - size)


def test_the_loaded_statement_as_the_next_state_input_fits_too() -> None:
    state_input = {"key": "x" * 1_024, "statement": {"sql": maximal_statement()}}
    assert payload_bytes(state_input) <= STATE_PAYLOAD_LIMIT_BYTES - HEADROOM_BYTES


@pytest.mark.parametrize("statement_bytes", [262_144, 261_120])
def test_the_old_limits_would_have_overflowed_the_athena_output(statement_bytes: int) -> None:
    """The model catches the issue's case: at Athena's own limit, or 1 KiB under it, the output overflows."""
    assert payload_bytes(get_query_execution_output("x" * statement_bytes)) > STATE_PAYLOAD_LIMIT_BYTES


def test_every_unbounded_member_is_sized_by_an_allowance_that_is_used() -> None:
    """An allowance for a member the model no longer has is stale: the table stays the model's."""
    models = {"athena": "GetQueryExecution", "s3": "GetObject"}
    members: set[tuple[str, str]] = set()

    def walk(shape: Any) -> None:
        if shape.type_name == "structure":
            for name, child in shape.members.items():
                members.add((shape.name, name))
                walk(child)

    for service, operation in models.items():
        walk(_SESSION.get_service_model(service).operation_model(operation).output_shape)
    assert set(ALLOWANCES) <= members


# ---- unreadable logs (issue 12) ---------------------------------------------------------------------------------

ATHENA_QUERY_STRING_LIMIT = 262_144  # bytes, not adjustable (docs/aws-facts.md)


def test_a_maximal_excluding_query_fits_athena_and_the_sync_task_output_with_headroom() -> None:
    key = "AWSLogs/" + "k" * (1_024 - len("AWSLogs/") - 6)
    literal = len(f"'s3://{'b' * 63}/{key}000000', ")
    count = MAX_EXCLUSION_BYTES // literal
    excluded = [("b" * 63, f"{key}{i:06d}") for i in range(count)]
    day = dt.date(2024, 12, 31)
    keys = ("account", "region", "year", "month", "day")  # the longest partition filter
    query, _ = build_daily_activity_query("trailkeeper", "cloudtrail", keys, day, excluded=excluded)
    assert len(query.encode()) <= ATHENA_QUERY_STRING_LIMIT - HEADROOM_BYTES
    size = payload_bytes(get_query_execution_output(query))
    assert size <= STATE_PAYLOAD_LIMIT_BYTES - HEADROOM_BYTES, (size, STATE_PAYLOAD_LIMIT_BYTES - size)
    with pytest.raises(ValueError, match="longer than"):
        build_daily_activity_query(
            "trailkeeper", "cloudtrail", keys, day, excluded=[*excluded, ("b" * 63, f"{key}999999")]
        )


def maximal_listing_roots(count: int) -> list[str]:
    """`count` of the longest LOCATIONs PlanLogScan plans, as JSON text sees them: the longest bucket names and
    prefixes one byte short of a key (a longer one holds no object) of a character JSON writes in two bytes."""
    prefix = '"' * (1_024 - 2)
    roots = [listing_root(f"s3://{'b' * 62}{i % 10}/{prefix}") for i in range(count)]
    assert listing_root(f"s3://{'b' * 63}/{prefix}x") is None  # one byte more and nothing can be under it
    return [root for root in roots if root is not None]


def test_a_maximal_log_scan_batch_fits_a_map_childs_input_far_under_the_limit() -> None:
    """A Map child's input is its item (ItemSelector in the ASL) plus the execution name (at most 80 characters)."""
    [item] = scan_items(maximal_listing_roots(PARTITIONS_PER_BATCH))
    assert len(item["partitions"]) == PARTITIONS_PER_BATCH
    assert asl()["States"]["ScanLogs"]["ItemSelector"] == {"item.$": "$$.Map.Item.Value", "run.$": "$$.Execution.Name"}
    child_input = {"item": item | {"batch": 999_999}, "run": "r" * 80}
    assert payload_bytes(child_input) <= STATE_PAYLOAD_LIMIT_BYTES // 16, payload_bytes(child_input)
