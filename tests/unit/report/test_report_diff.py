"""The diff: new rows, went silent, first seen, and the explicit missing-baseline state."""

from __future__ import annotations

from tests.unit.report.report_kit import row
from trailkeeper.report.diff import TOP_ROWS, diff_activity

A, B, C = "111111111111", "222222222222", "333333333333"


def test_row_absent_from_the_baseline_is_new() -> None:
    created = row(eventname="CreateUser")
    diff = diff_activity([row(), created], [[row()]])
    assert diff.new_rows == (created,)


def test_row_in_the_baseline_is_not_new_whatever_its_counts_and_samples() -> None:
    today = row(events=900, failures=12, first_at="2024-01-05T00:00:01Z", sample_user_agents="other/1")
    diff = diff_activity([today], [[row()]])
    assert diff.new_rows == ()


def test_new_rows_are_sorted_by_account_principal_source_and_name() -> None:
    today = [
        row(account=B, eventname="A"),
        row(account=A, principal="z", eventname="A"),
        row(account=A, principal="a", eventsource="s3.amazonaws.com", eventname="A"),
        row(account=A, principal="a", eventsource="iam.amazonaws.com", eventname="B"),
        row(account=A, principal="a", eventsource="iam.amazonaws.com", eventname="A"),
    ]
    diff = diff_activity(today, [[row(account=C)]])
    assert [(r.account, r.principal, r.eventsource, r.eventname) for r in diff.new_rows] == [
        (A, "a", "iam.amazonaws.com", "A"), (A, "a", "iam.amazonaws.com", "B"),
        (A, "a", "s3.amazonaws.com", "A"), (A, "z", "iam.amazonaws.com", "A"),
        (B, row().principal, "iam.amazonaws.com", "A"),
    ]


def test_account_region_with_baseline_events_and_none_today_went_silent() -> None:
    baseline = [[row(region="us-east-1"), row(region="eu-west-1"), row(account=B)]]
    diff = diff_activity([row(region="us-east-1")], baseline)
    assert diff.went_silent == ((A, "eu-west-1"), (B, "us-east-1"))


def test_account_absent_from_the_baseline_is_first_seen() -> None:
    diff = diff_activity([row(), row(account=B)], [[row()]])
    assert diff.first_seen_accounts == (B,)


def test_account_region_absent_from_the_baseline_is_a_first_seen_region() -> None:
    diff = diff_activity([row(), row(region="ap-south-1"), row(account=B)], [[row()]])
    assert diff.first_seen_regions == ((A, "ap-south-1"), (B, "us-east-1"))


def test_known_accounts_and_regions_are_not_first_seen() -> None:
    diff = diff_activity(
        [row(), row(region="ap-south-1"), row(account=B)], [[row()]],
        known_accounts={B}, known_regions={(A, "ap-south-1"), (B, "us-east-1")},
    )
    assert (diff.first_seen_accounts, diff.first_seen_regions) == ((), ())


def test_missing_baseline_is_established_and_nothing_is_new() -> None:
    diff = diff_activity([row(), row(account=B)], None)
    assert diff.baseline_state == "established"
    assert (diff.new_rows, diff.went_silent, diff.first_seen_accounts, diff.first_seen_regions) == ((), (), (), ())


def test_no_baseline_day_available_is_established() -> None:
    assert diff_activity([row()], []).baseline_state == "established"


def test_established_day_keeps_totals_and_a_short_top_list() -> None:
    today = [row(eventname=f"Call{n:02d}", events=n + 1) for n in range(TOP_ROWS + 5)]
    diff = diff_activity(today, None)
    assert (diff.rows_today, diff.events_today, diff.baseline_days) == (TOP_ROWS + 5, sum(range(1, TOP_ROWS + 6)), 0)
    assert [r.events for r in diff.top_today] == list(range(TOP_ROWS + 5, 5, -1))


def test_union_of_baseline_days_hides_rows_seen_on_any_day() -> None:
    monday, tuesday = row(eventname="FromMonday"), row(eventname="FromTuesday")
    diff = diff_activity([monday, tuesday, row(eventname="Fresh")], [[monday], [tuesday]])
    assert [r.eventname for r in diff.new_rows] == ["Fresh"]
    assert diff.baseline_days == 2


def test_went_silent_uses_the_union_of_baseline_days() -> None:
    diff = diff_activity([row()], [[row()], [row(account=B)]])
    assert diff.went_silent == ((B, "us-east-1"),)


def test_totals_count_rows_events_accounts_and_account_regions_of_the_day() -> None:
    today = [
        row(events=3), row(eventname="Other", events=4), row(region="eu-west-1", events=5), row(account=B, events=6),
    ]
    diff = diff_activity(today, [[row()]])
    assert (diff.rows_today, diff.events_today, diff.accounts_today, diff.regions_today) == (4, 18, 2, 3)


def test_day_equal_to_its_baseline_is_nothing_new() -> None:
    assert diff_activity([row()], [[row()]]).nothing_new


def test_silent_account_region_alone_is_not_nothing_new() -> None:
    diff = diff_activity([row()], [[row(), row(account=B)]])
    assert diff.new_rows == ()
    assert not diff.nothing_new


def test_baseline_day_without_rows_is_compared_against() -> None:
    diff = diff_activity([row()], [[]])
    assert diff.baseline_state == "compared"
    assert diff.new_rows == (row(),)
