"""The daily activity query: its text, its parameters, and what it computes when run (on DuckDB)."""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pytest
import sqlglot
from sqlglot import expressions as exp

from tests.unit.report.report_kit import (
    ACCOUNT,
    DATABASE,
    TABLE,
    Found,
    athena_csv,
    event,
    record_of,
    run_daily_activity,
    run_records,
)
from trailkeeper.errors import ConfigurationError, UnsupportedPartitionScheme
from trailkeeper.report.activity import COLUMNS, MAX_CELL_CHARS, VALUE_CHARS, ActivityRow, parse_activity_csv
from trailkeeper.report.query import build_daily_activity_query, exclusion_filter

DAY = dt.date(2024, 1, 5)
SCHEMES = {
    "trailkeeper": ("account", "region", "dt"),
    "aws-organization": ("account", "region", "year", "month", "day"),
    "aws-single-account": ("region", "year", "month", "day"),
}
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


# ---- the text --------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", SCHEMES.values(), ids=SCHEMES.keys())
def test_query_parses_as_trino(keys: tuple[str, ...]) -> None:
    sql, _ = build_daily_activity_query(DATABASE, TABLE, keys, DAY, ACCOUNT)
    assert isinstance(sqlglot.parse_one(sql, read="trino"), exp.Query)


@pytest.mark.parametrize("keys", SCHEMES.values(), ids=SCHEMES.keys())
def test_one_parameter_per_placeholder(keys: tuple[str, ...]) -> None:
    sql, params = build_daily_activity_query(DATABASE, TABLE, keys, DAY, ACCOUNT)
    assert sql.count("?") == len(params)


def test_dt_scheme_parameters_are_the_day_its_folder_and_bounds_then_the_two_folders() -> None:
    _, params = build_daily_activity_query(DATABASE, TABLE, SCHEMES["trailkeeper"], DAY)
    day, folder, bounds, folders = params[:2], params[2:3], params[3:5], params[5:]
    assert day == ["'2024-01-05'", "'2024-01-06'"]
    assert folder == ["'2024-01-05'"]
    assert bounds == ["'2024-01-04'", "'2024-01-06'"]  # trailkeeper/dropped.py: a day either side of the folder's
    assert folders == ["'2024-01-05'", "'2024-01-06'"]


def test_year_month_day_parameters_cross_the_year_end() -> None:
    _, params = build_daily_activity_query(DATABASE, TABLE, SCHEMES["aws-organization"], dt.date(2024, 12, 31))
    assert params == [
        *("'2024-12-31'", "'2025-01-01'"),
        *("'2024'", "'12'", "'31'"),
        *("'2024-12-30'", "'2025-01-01'"),
        *("'2024'", "'12'", "'31'", "'2025'", "'01'", "'01'"),
    ]


def test_table_is_the_quoted_database_and_table() -> None:
    sql, _ = build_daily_activity_query(DATABASE, TABLE, SCHEMES["trailkeeper"], DAY)
    tables = {(table.db, table.name) for table in sqlglot.parse_one(sql, read="trino").find_all(exp.Table)}
    assert tables == {(DATABASE, TABLE), ("", "day_events"), ("", "identified")}  # the table and its CTEs
    assert '"trailkeeper"."cloudtrail"' in sql


def test_result_columns_are_aliased_in_report_order() -> None:
    sql, _ = build_daily_activity_query(DATABASE, TABLE, SCHEMES["trailkeeper"], DAY)
    select = sqlglot.parse_one(sql, read="trino")
    assert isinstance(select, exp.Select)
    assert tuple(select.named_selects) == COLUMNS
    assert all(isinstance(column, exp.Alias) for column in select.expressions)


def test_statement_sent_carries_no_comments_or_placeholders() -> None:
    sql, _ = build_daily_activity_query(DATABASE, TABLE, SCHEMES["trailkeeper"], DAY)
    assert "--" not in sql
    assert "{" not in sql and "}" not in sql


def test_sql_file_has_each_placeholder_exactly_once() -> None:
    text = resources.files("trailkeeper").joinpath("sql", "daily_activity.sql").read_text()
    assert text.count("{table}") == 1
    assert text.count("{partition_filter}") == 1
    assert text.count("{account}") == 1
    assert text.count("{detection_flags}") == 1
    assert text.count("{detection_flag_names}") == 1
    assert text.count("{detections_column}") == 1
    assert text.count("{folder_day_filter}") == 1
    assert text.count("{dropped_not_timestamp}") == text.count("{dropped_far_from_folder_day}") == 1
    assert text.count("{") == 9 + text.count("{value_chars}")  # the text cap: once per value it cuts


def test_every_text_value_of_the_query_is_cut_so_no_cell_exceeds_the_readers_limit() -> None:
    sql, _ = build_daily_activity_query(DATABASE, TABLE, ("account", "region", "year", "month", "day"), DAY)
    assert "{" not in sql and sql.count(f", 1, {VALUE_CHARS})") == 8
    # The widest cell: three sampled values and two separators; the csv module's default limit is larger.
    assert MAX_CELL_CHARS == 3 * VALUE_CHARS + 2 * len(" | ") <= 131_072


@pytest.mark.parametrize("keys", [("timestamp",), ("dt",), ("account", "region", "year", "month"), ()])
def test_unsupported_partition_keys_are_refused(keys: tuple[str, ...]) -> None:
    with pytest.raises(UnsupportedPartitionScheme):
        build_daily_activity_query(DATABASE, TABLE, keys, DAY)


@pytest.mark.parametrize(
    ("database", "table"),
    [
        ("Trailkeeper", TABLE),
        ('db"; DROP TABLE x; --', TABLE),
        (DATABASE, "a.b"),
        (DATABASE, ""),
    ],
)
def test_names_outside_the_glue_allow_list_are_a_configuration_error(database: str, table: str) -> None:
    with pytest.raises(ConfigurationError):
        build_daily_activity_query(database, table, SCHEMES["trailkeeper"], DAY)


def test_a_datetime_is_not_accepted_as_report_day() -> None:
    with pytest.raises(TypeError):
        build_daily_activity_query(DATABASE, TABLE, SCHEMES["trailkeeper"], dt.datetime(2024, 1, 5, 12))


# ---- what it computes (run on DuckDB after Athena-style parameter substitution) ----------------------


@pytest.mark.parametrize("keys", SCHEMES.values(), ids=SCHEMES.keys())
def test_late_event_in_next_day_folder_counts_for_the_report_day(keys: tuple[str, ...]) -> None:
    rows = run_daily_activity([event("2024-01-06", "2024-01-05T23:59:59Z")], DAY, keys)
    assert [(r[0], r[5], r[7]) for r in rows] == [(ACCOUNT, 1, "2024-01-05T23:59:59Z")]


@pytest.mark.parametrize("keys", SCHEMES.values(), ids=SCHEMES.keys())
def test_event_of_the_next_day_is_not_counted(keys: tuple[str, ...]) -> None:
    rows = run_daily_activity([event("2024-01-06", "2024-01-06T00:00:00Z")], DAY, keys)
    assert rows == []


def test_first_instant_of_the_day_is_counted() -> None:
    rows = run_daily_activity([event("2024-01-05", "2024-01-05T00:00:00Z")], DAY)
    assert [r[5] for r in rows] == [1]


@pytest.mark.parametrize("keys", SCHEMES.values(), ids=SCHEMES.keys())
def test_only_the_report_day_and_next_day_folders_are_read(keys: tuple[str, ...]) -> None:
    # Same-day events planted in other folders: only the partition filter can keep them out.
    planted = [event("2024-01-04", "2024-01-05T08:00:00Z"), event("2024-01-07", "2024-01-05T08:00:00Z")]
    assert run_daily_activity(planted, DAY, keys) == []


@pytest.mark.parametrize(
    ("fields", "principal"),
    [
        (
            {
                "identity_type": "AssumedRole",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/session-1",
                "issuer_arn": f"arn:aws:iam::{ACCOUNT}:role/Deploy",
            },
            f"arn:aws:iam::{ACCOUNT}:role/Deploy",
        ),
        ({"identity_type": "AssumedRole", "arn": None, "issuer_arn": None}, "AssumedRole"),
        ({"identity_type": "IAMUser", "arn": ALICE}, ALICE),
        ({"identity_type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root"}, "root"),
        (
            {"identity_type": "AWSService", "arn": None, "invokedby": "cloudtrail.amazonaws.com"},
            "cloudtrail.amazonaws.com",
        ),
        ({"identity_type": "AWSService", "arn": None, "invokedby": None}, "AWSService"),
        (
            {"identity_type": "FederatedUser", "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/bob"},
            f"arn:aws:sts::{ACCOUNT}:federated-user/bob",
        ),
        ({"identity_type": None, "arn": None}, "Unknown"),
        ({"identity_type": "", "arn": None}, "Unknown"),
    ],
    ids=[
        "assumed role -> role",
        "assumed role without issuer",
        "iam user -> arn",
        "root",
        "aws service -> invokedBy",
        "aws service without invokedBy",
        "federated user -> arn",
        "null type",
        "empty type",
    ],
)
def test_principal_is_normalised_by_identity_type(fields: dict[str, str | None], principal: str) -> None:
    [row] = run_daily_activity([event("2024-01-05", "2024-01-05T10:00:00Z", **fields)], DAY)
    assert row[2] == principal


def test_sessions_of_one_role_are_one_principal_and_show_in_the_samples() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/Deploy"
    sessions = [
        event(
            "2024-01-05",
            f"2024-01-05T1{n}:00:00Z",
            identity_type="AssumedRole",
            issuer_arn=role,
            arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/session-{n}",
        )
        for n in range(4)
    ]
    assert [(r[2], r[5], r[10]) for r in run_daily_activity(sessions, DAY)] == [
        (role, 4, "session-0 | session-1 | session-2")
    ]


def test_failures_count_events_with_a_non_empty_error_code() -> None:
    events = [event("2024-01-05", "2024-01-05T10:00:00Z", errorcode=code) for code in ("AccessDenied", "", None)]
    assert [(r[5], r[6]) for r in run_daily_activity(events, DAY)] == [(3, 1)]


def test_failures_are_zero_not_null_when_nothing_failed() -> None:
    [row] = run_daily_activity([event("2024-01-05", "2024-01-05T10:00:00Z", errorcode=None)], DAY)
    assert row[6] == 0


def test_samples_are_at_most_three_distinct_values_sorted() -> None:
    ips = ["198.51.100.9", "192.0.2.7", "192.0.2.7", "203.0.113.1", "10.0.0.1"]
    agents = ["zeta/1", "alpha/1", "mid/1", "alpha/1"]
    events = [
        event("2024-01-05", "2024-01-05T10:00:00Z", sourceip=ip, useragent=agents[n % len(agents)])
        for n, ip in enumerate(ips)
    ]
    [row] = run_daily_activity(events, DAY)
    assert row[8] == "10.0.0.1 | 192.0.2.7 | 198.51.100.9"
    assert row[9] == "alpha/1 | mid/1 | zeta/1"


def test_null_and_empty_values_are_left_out_of_samples() -> None:
    events = [
        event("2024-01-05", "2024-01-05T10:00:00Z", sourceip=ip, useragent=None) for ip in (None, "", "192.0.2.1")
    ]
    [row] = run_daily_activity(events, DAY)
    assert (row[8], row[9]) == ("192.0.2.1", None)


def test_first_at_is_the_earliest_event_time_of_the_day() -> None:
    events = [event("2024-01-06", "2024-01-05T23:59:59Z"), event("2024-01-05", "2024-01-05T03:04:05Z")]
    [row] = run_daily_activity(events, DAY)
    assert row[7] == "2024-01-05T03:04:05Z"


def test_one_row_per_account_region_principal_source_and_name_in_key_order() -> None:
    events = [
        event("2024-01-05", "2024-01-05T10:00:00Z", eventname="GetUser"),
        event("2024-01-05", "2024-01-05T10:00:00Z", region="eu-west-1"),
        event("2024-01-05", "2024-01-05T10:00:00Z", account="222222222222"),
        event("2024-01-05", "2024-01-05T10:00:00Z", eventsource="s3.amazonaws.com"),
        event("2024-01-05", "2024-01-05T10:00:00Z"),
    ]
    keys = [r[:5] for r in run_daily_activity(events, DAY)]
    assert keys == sorted(keys)
    assert len(keys) == 5


def test_result_parses_into_activity_rows() -> None:
    agent = "Mozilla\r\nBcc: x@evil.example"
    rows = run_daily_activity([event("2024-01-05", "2024-01-05T10:00:00Z", useragent=agent)], DAY)
    assert parse_activity_csv(athena_csv(rows)) == [
        ActivityRow(
            account=ACCOUNT,
            region="us-east-1",
            principal=ALICE,
            eventsource="iam.amazonaws.com",
            eventname="ListUsers",
            events=1,
            failures=0,
            first_at="2024-01-05T10:00:00Z",
            sample_source_ips="192.0.2.1",
            sample_user_agents=agent,
            sample_sessions="",
        )
    ]


# ---- leaving unreadable objects out (issue 12) ---------------------------------------------------------------


def test_an_excluded_object_is_left_out_by_its_path_and_the_others_counted() -> None:
    found = [Found("2024-01-05", ACCOUNT, "us-east-1", record_of(event("2024-01-05", "2024-01-05T10:00:00Z")))] * 3
    [everything] = run_records(found, DAY)
    [without_one] = run_records(found, DAY, excluded=(("trail", "1"),))
    events = COLUMNS.index("events")
    assert (everything[events], without_one[events]) == (3, 2)


def test_the_exclusion_is_a_path_not_in_of_sorted_unique_literals() -> None:
    text = exclusion_filter([("trail-bucket", "AWSLogs/b.json.gz"), ("trail-bucket", "AWSLogs/a.json.gz")] * 2)
    assert text == "\"$path\" NOT IN ('s3://trail-bucket/AWSLogs/a.json.gz', 's3://trail-bucket/AWSLogs/b.json.gz')"


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("trail-bucket", "AWSLogs/x'); DROP TABLE t; --.json.gz"),
        ("trail-bucket", "AWSLogs/a b.json.gz"),
        ("trail-bucket", "AWSLogs//a.json.gz"),
        ("trail-bucket", "AWSLogs/../a.json.gz"),
        ("trail-bucket", "AWSLogs/caf\u00e9.json.gz"),
        ("Trail_Bucket", "AWSLogs/a.json.gz"),
        ("trail-bucket", "a" * 1_025),
    ],
    ids=["quote", "space", "empty-segment", "dot-dot", "non-ascii", "bad-bucket", "too-long"],
)
def test_the_exclusion_refuses_an_object_outside_the_allow_lists(bucket: str, key: str) -> None:
    with pytest.raises(ValueError, match="refusing to exclude"):
        exclusion_filter([(bucket, key)])
