"""One-line failure causes and the unreadable-data classifier (trailkeeper.failures)."""

from __future__ import annotations

import json

import pytest

from trailkeeper.envelope import lambda_error
from trailkeeper.failures import MAX_CAUSE_CHARS, describe, is_unreadable_data


def athena_failure(state: str, reason: str) -> str:
    """What an athena:startQueryExecution.sync task's Catch receives as Cause: GetQueryExecution's response."""
    query = "SELECT " + "x, " * 2_000 + "1"  # the whole query text rides along: 4 KB and more
    return json.dumps(
        {
            "QueryExecution": {
                "QueryExecutionId": "q-1",
                "Query": query,
                "Status": {"State": state, "StateChangeReason": reason},
                "Statistics": {"DataScannedInBytes": 0},
            }
        }
    )


def test_a_failed_query_is_described_by_its_reason_not_its_response() -> None:
    cause = athena_failure("FAILED", "HIVE_CURSOR_ERROR: Unexpected end of input stream")
    described = describe({"Error": "States.TaskFailed", "Cause": cause})
    assert described["Cause"] == "Athena query q-1 FAILED: HIVE_CURSOR_ERROR: Unexpected end of input stream"
    assert described["Error"] == "States.TaskFailed"


def test_a_lambda_error_is_described_by_its_message_on_one_line() -> None:
    cause = lambda_error("PartitionsStillMissing", "2 partitions missing:\n  a\n  b", stack_trace=["  File x\n"] * 50)
    assert describe({"Error": "PartitionsStillMissing", "Cause": cause})["Cause"] == "2 partitions missing: a b"


def test_a_long_cause_is_cut_visibly_and_control_and_bidi_characters_go() -> None:
    described = describe({"Error": "X", "Cause": "evil\u202e\x1b[31m " + "y" * 10_000})
    assert described["Cause"].startswith("evil [31m y") and described["Cause"].endswith("…")
    assert len(described["Cause"]) == MAX_CAUSE_CHARS + 1


def test_a_missing_or_odd_failure_still_gets_a_line() -> None:
    assert describe(None) == {"Error": "UnknownError", "Cause": "(no cause given)", "unreadable_data": False}
    assert describe({"Error": "States.Timeout", "Cause": "[1, 2]"})["Cause"] == "[1, 2]"


@pytest.mark.parametrize(
    ("state", "reason", "unreadable"),
    [
        ("FAILED", "HIVE_CURSOR_ERROR: Row is not a valid JSON Object - JSONException: ...", True),
        ("FAILED", "HIVE_BAD_DATA: Error parsing field value", True),
        ("FAILED", "HIVE_CANNOT_OPEN_SPLIT: Error opening Hive split: Slow Down", False),
        ("FAILED", "TABLE_NOT_FOUND: Table 'x' does not exist", False),
        ("CANCELLED", "HIVE_CURSOR_ERROR: cancelled while reading", False),
    ],
    ids=["cursor-error", "bad-data", "cannot-open-split", "table-not-found", "cancelled"],
)
def test_only_a_failed_query_on_bad_data_counts_as_unreadable_data(state: str, reason: str, unreadable: bool) -> None:
    assert is_unreadable_data(athena_failure(state, reason)) is unreadable


def test_a_lambda_error_naming_bad_data_is_not_unreadable_data() -> None:
    assert not is_unreadable_data(lambda_error("X", "HIVE_BAD_DATA: quoted in a message"))
    assert not is_unreadable_data("HIVE_BAD_DATA: plain text")
