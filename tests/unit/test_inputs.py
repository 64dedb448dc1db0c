"""Execution input: one accepted shape per mode, every bad input rejected naming the field."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import FIXTURES
from trailkeeper.errors import InvalidInput
from trailkeeper.inputs import DELIVERY_LAG, EARLIEST_DAY, RunRequest, check_execution_name, parse_execution_input
from trailkeeper.layout import run_prefix, shards_key

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
BAD_INPUTS = {k: v for k, v in json.loads((FIXTURES / "bad_execution_inputs.json").read_text()).items() if k[0] != "_"}


def parse(raw: Any, lookback_days: int = 3, now: dt.datetime = NOW) -> RunRequest:
    return parse_execution_input(raw, lookback_days=lookback_days, now=now)


@pytest.mark.parametrize(("raw", "field"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_rejected_naming_the_field(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(raw)
    assert str(caught.value).split(":")[0].strip("'") == field


def test_scheduled_window_is_lookback_days_before_yesterday_through_tomorrow() -> None:
    request = parse({"time": "2024-03-10T01:30:00Z"})
    assert (request.mode, request.start, request.end) == ("nightly", dt.date(2024, 3, 7), dt.date(2024, 3, 11))
    assert request.report_day == dt.date(2024, 3, 9)


def test_scheduled_window_crosses_a_year_boundary() -> None:
    request = parse({"time": "2024-01-01T00:00:00Z"})
    assert (request.start, request.end, request.report_day) == (
        dt.date(2023, 12, 29),
        dt.date(2024, 1, 2),
        dt.date(2023, 12, 31),
    )


def test_scheduled_window_includes_a_leap_day() -> None:
    request = parse({"time": "2024-03-01T02:00:00Z"}, lookback_days=2)
    assert request.days == [dt.date(2024, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(2024, 3, 2)]


def test_scheduled_window_crosses_a_month_boundary_without_leap_day() -> None:
    request = parse({"time": "2023-03-01T02:00:00Z"}, lookback_days=2)
    assert request.days == [dt.date(2023, 2, 27), dt.date(2023, 2, 28), dt.date(2023, 3, 1), dt.date(2023, 3, 2)]


def test_zero_lookback_still_covers_the_report_day_and_the_day_after() -> None:
    request = parse({"time": "2024-03-10T01:30:00Z"}, lookback_days=0)
    assert (request.start, request.end) == (dt.date(2024, 3, 9), dt.date(2024, 3, 11))
    assert request.report_day is not None and {request.report_day, dt.date(2024, 3, 10)} <= set(request.days)


@pytest.mark.parametrize("lookback_days", [0, 1, 3, 90])
def test_every_lookback_covers_the_days_the_report_reads(lookback_days: int) -> None:
    request = parse({"time": "2024-03-10T01:30:00Z"}, lookback_days=lookback_days)
    assert request.report_day is not None
    assert {request.report_day, request.report_day + dt.timedelta(days=1)} <= set(request.days)


def test_the_window_never_starts_before_cloudtrail_existed() -> None:
    request = parse({"time": "2013-11-03T01:30:00Z"}, lookback_days=30)
    assert request.start == EARLIEST_DAY and request.report_day == dt.date(2013, 11, 2)


@pytest.mark.parametrize(
    ("raw", "now", "message"),
    [
        ({"report_date": "2024-06-01"}, NOW, "report_date: report day 2024-06-01 has not ended"),
        (
            {"report_date": "2024-05-31"},
            dt.datetime(2024, 6, 1, 0, 59, 59, tzinfo=dt.UTC),
            "report_date: report day 2024-05-31 has not ended plus CloudTrail's delivery lag (1 h) "
            "until 2024-06-01T01:00",
        ),
        ({"time": "2024-06-01T12:00:01Z"}, NOW, "time: 2024-06-01T12:00:01Z is not in the past"),
        (
            {"time": "2024-06-01T00:10:00Z"},
            dt.datetime(2024, 6, 1, 0, 10, tzinfo=dt.UTC),
            "time: report day 2024-05-31 has not ended plus CloudTrail's delivery lag",
        ),
        ({"time": "9999-12-31T23:59:59Z"}, NOW, "time: 9999-12-31T23:59:59Z is not in the past"),
        ({"report_date": "9999-12-31"}, NOW, "report_date: report day 9999-12-31 has not ended"),
        ({"report_date": "0001-01-01"}, NOW, "report_date: report day 0001-01-01 is before CloudTrail existed"),
        (
            {"time": "0001-01-01T00:00:00Z"},
            NOW,
            "time: 0001-01-01T00:00:00Z reports on a day before CloudTrail existed",
        ),
        ({"time": "2013-11-01T01:30:00Z"}, NOW, "before CloudTrail existed"),
        ({"report_date": "2013-10-31"}, NOW, "before CloudTrail existed"),
    ],
)
def test_a_report_day_must_have_ended_plus_the_delivery_lag_and_follow_cloudtrails_start(
    raw: dict[str, Any], now: dt.datetime, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(raw, now=now)
    assert message in str(refused.value)


def test_a_report_day_is_accepted_the_moment_its_delivery_lag_has_passed() -> None:
    delivered = dt.datetime(2024, 6, 1, 0, 0, tzinfo=dt.UTC) + DELIVERY_LAG
    assert parse({"report_date": "2024-05-31"}, now=delivered).report_day == dt.date(2024, 5, 31)
    assert parse({"time": "2024-06-01T01:00:00Z"}, now=delivered).report_day == dt.date(2024, 5, 31)


def test_report_date_runs_the_night_after_that_day() -> None:
    assert parse({"report_date": "2024-03-09"}) == parse({"time": "2024-03-10T05:00:00Z"})


def test_report_date_may_ask_to_send_the_report_again() -> None:
    assert parse({"report_date": "2024-03-09", "resend_report": True}).resend_report


def test_backfill_accepts_a_range_with_narrowing_lists_and_dry_run() -> None:
    request = parse(
        {
            "start": "2024-02-28",
            "end": "2024-03-01",
            "accounts": ["111111111111"],
            "regions": ["eu-west-1"],
            "dry_run": True,
        }
    )
    assert request.mode == "backfill" and request.dry_run
    assert request.days == [dt.date(2024, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 1)]
    assert request.accounts == {"111111111111"} and request.regions == {"eu-west-1"}
    assert request.report_day is None


def test_backfill_of_a_single_day_is_allowed() -> None:
    assert parse({"start": "2024-01-05", "end": "2024-01-05"}).days == [dt.date(2024, 1, 5)]


def test_request_survives_the_trip_between_states() -> None:
    request = parse({"start": "2024-01-01", "end": "2024-01-31", "regions": ["us-east-1"]})
    assert RunRequest.from_json(json.loads(json.dumps(request.to_json()))) == request


def test_request_between_states_is_validated_again() -> None:
    tampered = parse({"start": "2024-01-01", "end": "2024-01-02"}).to_json() | {"accounts": ["1' OR 1=1"]}
    with pytest.raises(InvalidInput, match="accounts"):
        RunRequest.from_json(tampered)


def test_a_backfill_may_name_the_execution_it_resumes() -> None:
    request = parse_execution_input(
        {"start": "2024-01-01", "end": "2024-01-31", "resume": "backfill-1"},
        lookback_days=3,
        now=dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
    )
    assert request.resume == "backfill-1"
    assert RunRequest.from_json(request.to_json()) == request


@pytest.mark.parametrize("resume", ["../runs/x", "", "a" * 81, 7])
def test_resume_must_be_an_execution_name(resume: object) -> None:
    with pytest.raises(InvalidInput, match=r"resume: .* is not an execution name"):
        parse_execution_input(
            {"start": "2024-01-01", "end": "2024-01-31", "resume": resume},
            lookback_days=3,
            now=dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
        )


# Step Functions' rule for execution names (StartExecution API reference): 1-80 characters, none of these.
SFN_FORBIDDEN = set(' <>{}[]?*"#%\\^|~`$&,;:/') | {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}
sfn_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp"), blacklist_characters=SFN_FORBIDDEN),
    min_size=1,
    max_size=80,
)


@given(sfn_names)
def test_an_execution_name_step_functions_accepts_is_refused_at_validate_input_or_read_back_everywhere(
    name: str,
) -> None:
    """Never pass ValidateInput and fail later: what check_execution_name lets through, every reader of a run's
    name accepts (its S3 keys, a resume of it)."""
    try:
        check_execution_name(name)
    except InvalidInput as refused:
        assert str(refused).startswith("execution name: ")
        return
    assert run_prefix(name) == f"runs/{name}/" and shards_key(name).startswith(run_prefix(name))
    assert parse({"start": "2024-05-01", "end": "2024-05-02", "resume": name}).resume == name


@pytest.mark.parametrize("name", ["night.2024-03-04", "backfill@2024", "résumé", "a" * 81, ""])
def test_names_step_functions_takes_but_a_run_cannot_keep_are_refused_naming_the_execution_name(name: str) -> None:
    with pytest.raises(InvalidInput, match=r"^execution name: "):
        check_execution_name(name)


def test_a_generated_uuid_name_is_accepted() -> None:
    """Step Functions names an unnamed execution (the schedule's) with a UUID."""
    assert check_execution_name("0f8e2b4c-6a1d-4e39-9b7a-2c5d8e1f3a6b") == "0f8e2b4c-6a1d-4e39-9b7a-2c5d8e1f3a6b"
