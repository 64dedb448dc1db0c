"""Dropped records (trailkeeper/dropped.py): counted by the activity scan, by integrity's log check, and read back."""

from __future__ import annotations

import datetime as dt
import gzip
from typing import Any

import pytest

from tests.unit.report.report_kit import ACCOUNT, REGION, Found, athena_csv, event, record_of, run_records
from trailkeeper import dropped
from trailkeeper.errors import BaselineUnreadable
from trailkeeper.integrity.logs import check_log
from trailkeeper.report.activity import COLUMNS, COLUMNS_V3, parse_activity_result
from trailkeeper.report.daily import dropped_records
from trailkeeper.report.integrity import parse_summary

DAY = dt.date(2024, 1, 5)
SCHEMES = {
    "trailkeeper": ("account", "region", "dt"),
    "aws-organization": ("account", "region", "year", "month", "day"),
    "aws-single-account": ("region", "year", "month", "day"),
}


def found(folder: str, event_time: Any) -> Found:
    record = record_of(event(folder, "2024-01-05T10:00:00Z"))
    if event_time is ...:
        del record["eventTime"]
    else:
        record["eventTime"] = event_time
    return Found(folder, ACCOUNT, REGION, record)


def dropped_of(rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """{reason: count} of the dropped-records rows of a result; every other value of such a row must be blank."""
    counts = {}
    for r in rows:
        values = dict(zip(COLUMNS, r, strict=True))
        if values["dropped"]:
            assert [values[c] for c in ("account", "region", "principal", "eventsource", "eventname")] == [""] * 5
            assert (values["failures"], values["writes"], values["detections"]) == (0, 0, "")
            assert values["first_at"] is values["sample_source_ips"] is values["sample_user_agents"] is None
            counts[values["dropped"]] = values["events"]
    return counts


def activity_of(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r for r in rows if not r[-1]]


# ---- the scan -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", SCHEMES.values(), ids=SCHEMES.keys())
@pytest.mark.parametrize(
    "event_time",
    [None, ..., "", "2024-01-05", "2024-01-05 10:00:00", "2024-01-05T10:00:00.123Z", "2024-01-05T10:00:00Z\n"],
    ids=["null", "missing", "empty", "a date", "a space", "fractions", "a line break"],
)
def test_a_record_of_the_days_folder_whose_event_time_is_not_a_timestamp_is_counted_not_kept(
    keys: tuple[str, ...], event_time: Any
) -> None:
    rows = run_records([found("2024-01-05", event_time), found("2024-01-05", "2024-01-05T10:00:00Z")], DAY, keys)
    assert dropped_of(rows) == {dropped.EVENT_TIME_NOT_TIMESTAMP: 1}
    assert [r[5] for r in activity_of(rows)] == [1]


@pytest.mark.parametrize("keys", SCHEMES.values(), ids=SCHEMES.keys())
@pytest.mark.parametrize(
    "event_time", ["2024-01-03T23:59:59Z", "2024-01-06T00:00:00Z", "2019-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
)
def test_a_record_more_than_a_day_from_its_folders_day_is_counted_far_from_folder_day(
    keys: tuple[str, ...], event_time: str
) -> None:
    rows = run_records([found("2024-01-05", event_time)], DAY, keys)
    assert dropped_of(rows) == {dropped.FAR_FROM_FOLDER_DAY: 1}
    assert activity_of(rows) == []


@pytest.mark.parametrize("event_time", ["2024-01-04T00:00:00Z", "2024-01-04T23:59:59Z"])
def test_a_record_delivered_a_day_late_is_not_dropped_its_own_days_report_counts_it(event_time: str) -> None:
    rows = run_records([found("2024-01-05", event_time)], DAY)
    assert rows == []
    assert [r[5] for r in run_records([found("2024-01-05", event_time)], DAY - dt.timedelta(days=1))] == [1]


def test_the_next_days_folder_is_left_to_the_next_days_report_so_each_folder_is_counted_once() -> None:
    odd = [found("2024-01-06", "garbage"), found("2024-01-06", "2024-01-01T00:00:00Z")]
    assert run_records(odd, DAY) == []
    assert dropped_of(run_records(odd, DAY + dt.timedelta(days=1))) == {
        dropped.EVENT_TIME_NOT_TIMESTAMP: 1,
        dropped.FAR_FROM_FOLDER_DAY: 1,
    }


def test_each_reason_is_one_row_with_blank_keys_sorted_first_and_counts_every_record() -> None:
    odd = [found("2024-01-05", None)] * 3 + [found("2024-01-05", "2024-02-05T00:00:00Z")] * 2
    rows = run_records([*odd, found("2024-01-05", "2024-01-05T10:00:00Z")], DAY)
    assert dropped_of(rows) == {dropped.EVENT_TIME_NOT_TIMESTAMP: 3, dropped.FAR_FROM_FOLDER_DAY: 2}
    assert [r[-1] for r in rows] == [*dropped.QUERY_REASONS, ""]


# ---- reading a result back ------------------------------------------------------------------------------


ALICE = (ACCOUNT, REGION, f"arn:aws:iam::{ACCOUNT}:user/alice", "iam.amazonaws.com", "ListUsers")
ACTIVITY = (*ALICE, "7", "0", "2024-01-05T10:00:00Z", "192.0.2.1", "aws-cli", "", "0", "")


def test_a_version_4_result_reads_its_dropped_rows_apart_from_the_activity() -> None:
    text = athena_csv(
        [(*ACTIVITY, ""), ("", "", "", "", "", "4", "0", None, None, None, None, "0", "", dropped.FAR_FROM_FOLDER_DAY)]
    )
    result = parse_activity_result(text)
    assert [r.key for r in result.rows] == [ALICE]
    assert result.dropped == {dropped.FAR_FROM_FOLDER_DAY: 4}


def test_a_version_3_result_still_reads_as_a_baseline_with_nothing_counted() -> None:
    result = parse_activity_result(athena_csv([ACTIVITY], header=COLUMNS_V3))
    assert ([r.key for r in result.rows], result.dropped) == ([ALICE], None)


@pytest.mark.parametrize(
    "bad",
    [
        ("", "", "", "", "", "4", "0", None, None, None, None, "0", "", "unknown_reason"),
        (ACCOUNT, "", "", "", "", "4", "0", None, None, None, None, "0", "", dropped.FAR_FROM_FOLDER_DAY),
        ("", "", "", "", "", "four", "0", None, None, None, None, "0", "", dropped.FAR_FROM_FOLDER_DAY),
    ],
    ids=["unknown reason", "a key value", "not a count"],
)
def test_a_dropped_row_that_is_not_one_reasons_count_is_unreadable(bad: tuple[Any, ...]) -> None:
    with pytest.raises(BaselineUnreadable, match="row 1"):
        parse_activity_result(athena_csv([bad]))


# ---- log objects of another shape (integrity's log check) ----------------------------------------------


RECORD = b'{"eventVersion":"1.08","eventTime":"2024-01-05T10:00:00Z","eventName":"ListUsers"}'


@pytest.mark.parametrize(
    ("text", "odd"),
    [
        (b'{"Records":[' + RECORD + b"]}", False),
        (b'{"Records":[]}', False),
        (b'\n {\n  "Records" : [\n' + RECORD + b"]}", False),
        (b'{"eventVersion":"1.08","Records":[' + RECORD + b"]}", False),  # parsed whole: still the right shape
        (b"[" + RECORD + b"]", True),
        (b'{"records":[' + RECORD + b"]}", True),
        (b'{"Records":null}', True),
        (b'{"Records":' + RECORD + b"}", True),
        (b'{"Records":"' + b"x" * 100 + b'"}', True),
        (b"{}", True),
        (b"not json", False),  # unreadable, not this reason: Athena fails on it
    ],
)
def test_integritys_log_check_tells_a_records_object_from_json_of_another_shape(text: bytes, odd: bool) -> None:
    check = check_log([gzip.compress(text, mtime=0)])
    assert check.not_records_object is odd


def summary(**pair_fields: Any) -> dict[str, Any]:
    pair = {
        "account": ACCOUNT,
        "region": REGION,
        "hours": 24,
        "digests_verified": 24,
        "logs_verified": 3,
        "delivery": "arriving",
        "findings": [],
        **pair_fields,
    }
    return {"night": DAY.isoformat(), "pairs": [pair], "unvalidated_batches": []}


def test_objects_of_another_shape_are_counted_from_the_nights_integrity_summary() -> None:
    counts = dropped_records({}, parse_summary(summary(not_records_objects=2), "s")).to_json()
    assert counts == {
        dropped.EVENT_TIME_NOT_TIMESTAMP: 0,
        dropped.FAR_FROM_FOLDER_DAY: 0,
        dropped.NOT_RECORDS_OBJECT: 2,
    }


@pytest.mark.parametrize(
    "checked",
    [
        None,
        parse_summary(summary(), "an older summary"),
        {**summary(not_records_objects=0), "unvalidated_batches": ["1"]},
    ],
    ids=["integrity did not validate the night", "a summary without the count", "a batch unvalidated"],
)
def test_objects_not_counted_are_null_and_shown_as_not_counted_never_zero(checked: Any) -> None:
    if isinstance(checked, dict):
        checked = parse_summary(checked, "s")
    counted = dropped_records({}, checked)
    assert counted.to_json()[dropped.NOT_RECORDS_OBJECT] is None
    assert f"{dropped.WORDING[dropped.NOT_RECORDS_OBJECT]}: {dropped.NOT_COUNTED}" in counted.lines()


def test_a_result_saved_before_version_4_has_its_query_reasons_not_counted() -> None:
    assert dropped_records(None, None).to_json() == dict.fromkeys(dropped.REASONS)
