"""The diff: new rows, went silent, first seen, and the explicit missing-baseline state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.report.report_kit import row
from trailkeeper.report.activity import ActivityRow
from trailkeeper.report.diff import TOP_ROWS, ActivityDiff, LedgerState, Resumed, Silent, advance, diff_activity

A, B, C = "111111111111", "222222222222", "333333333333"
D0 = dt.date(2024, 1, 5)
START = dt.date(2024, 1, 1)


def run_days(
    days: list[list[ActivityRow]], baseline_days: int = 14, gaps: frozenset[int] = frozenset()
) -> tuple[list[ActivityDiff], list[list[Any]]]:
    """Advance the ledger day by day from START (skipping the days in `gaps`, as a missed night would):
    each day's diff, and the keys each day's ledger kept."""
    state: LedgerState | None = None
    keys: list[Any] = []
    principals: list[Any] = []
    diffs, kept = [], []
    for number, rows in enumerate(days):
        if number in gaps:
            diffs.append(None)  # type: ignore[arg-type]
            kept.append([])
            continue
        next_keys: list[Any] = []
        next_principals: list[Any] = []
        diff, state = advance(
            START + dt.timedelta(days=number),
            rows,
            state,
            keys,
            principals,
            baseline_days,
            lambda k, d, into=next_keys: into.append((k, d)),
            lambda k, d, into=next_principals: into.append((k, d)),
        )
        keys, principals = next_keys, next_principals
        diffs.append(diff)
        kept.append(keys)
    return diffs, kept


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
        (A, "a", "iam.amazonaws.com", "A"),
        (A, "a", "iam.amazonaws.com", "B"),
        (A, "a", "s3.amazonaws.com", "A"),
        (A, "z", "iam.amazonaws.com", "A"),
        (B, row().principal, "iam.amazonaws.com", "A"),
    ]


def test_account_region_with_baseline_events_and_none_today_is_silent_since_today() -> None:
    baseline = [[row(region="us-east-1"), row(region="eu-west-1"), row(account=B)]]
    diff = diff_activity([row(region="us-east-1")], baseline, day=D0)
    assert diff.silent == (Silent(A, "eu-west-1", D0), Silent(B, "us-east-1", D0))


def test_account_absent_from_the_baseline_is_first_seen() -> None:
    diff = diff_activity([row(), row(account=B)], [[row()]])
    assert diff.first_seen_accounts == (B,)


def test_account_region_absent_from_the_baseline_is_a_first_seen_region() -> None:
    diff = diff_activity([row(), row(region="ap-south-1"), row(account=B)], [[row()]])
    assert diff.first_seen_regions == ((A, "ap-south-1"), (B, "us-east-1"))


def test_missing_baseline_is_established_and_nothing_is_new() -> None:
    diff = diff_activity([row(), row(account=B)], None)
    assert diff.baseline_state == "established"
    assert (diff.new_rows, diff.silent, diff.first_seen_accounts, diff.first_seen_regions) == ((), (), (), ())


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


def test_silent_since_is_the_first_quiet_day() -> None:
    diff = diff_activity([row()], [[row()], [row(account=B)]], day=D0)
    assert diff.silent == (Silent(B, "us-east-1", D0 - dt.timedelta(days=1)),)


def test_totals_count_rows_events_accounts_and_account_regions_of_the_day() -> None:
    today = [
        row(events=3),
        row(eventname="Other", events=4),
        row(region="eu-west-1", events=5),
        row(account=B, events=6),
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


# ---- the window over many days ----------------------------------------------------------------------

WEEKLY = row(eventname="WeeklyBackup")


def test_a_weekly_job_is_not_new_on_its_7th_day() -> None:
    diffs, _ = run_days([[row(), WEEKLY]] + [[row()]] * 6 + [[row(), WEEKLY]])
    assert diffs[7].baseline_state == "compared" and diffs[7].new_rows == ()


def test_a_weekly_job_is_new_again_with_a_one_day_window() -> None:
    diffs, _ = run_days([[row(), WEEKLY]] + [[row()]] * 6 + [[row(), WEEKLY]], baseline_days=1)
    assert diffs[7].new_rows == (WEEKLY,)


def test_a_key_absent_for_longer_than_the_window_is_new_again_and_dropped_from_the_ledger() -> None:
    diffs, kept = run_days([[row(), WEEKLY]] + [[row()]] * 3 + [[row(), WEEKLY]], baseline_days=3)
    assert diffs[4].new_rows == (WEEKLY,)
    assert [key for key, _ in kept[3]] == [row().key]  # WEEKLY's last day fell out of day 4's window


def test_a_one_day_gap_is_not_first_seen_and_resumes_once() -> None:
    diffs, _ = run_days([[row(), row(account=B)], [row()], [row(), row(account=B)], [row(), row(account=B)]])
    assert (diffs[2].first_seen_accounts, diffs[2].first_seen_regions, diffs[2].first_seen_principals) == ((), (), ())
    assert diffs[2].resumed == (Resumed(B, "us-east-1", 1),)
    assert diffs[3].resumed == ()


def test_silence_is_reported_on_every_quiet_day_with_its_first_quiet_day() -> None:
    days = [[row(), row(account=B)]] + [[row()]] * 20 + [[row(), row(account=B)]]
    diffs, _ = run_days(days, baseline_days=3)
    first_quiet = START + dt.timedelta(days=1)
    assert all(diff.silent == (Silent(B, "us-east-1", first_quiet),) for diff in diffs[1:21])
    assert diffs[21].silent == () and diffs[21].resumed == (Resumed(B, "us-east-1", 20),)


def test_a_principal_is_first_seen_once_ever_even_after_the_window() -> None:
    carol = row(principal="arn:aws:iam::111111111111:user/carol")
    diffs, _ = run_days([[row()], [row(), carol]] + [[row()]] * 5 + [[row(), carol]], baseline_days=2)
    assert diffs[1].first_seen_principals == ((A, carol.principal),)
    assert diffs[7].first_seen_principals == () and diffs[7].new_rows == (carol,)


def test_a_missed_night_compares_with_the_latest_ledger_in_the_window() -> None:
    diffs, _ = run_days([[row(), WEEKLY], [row()], [row(), WEEKLY]], gaps=frozenset({1}))
    assert diffs[2].baseline_state == "compared" and diffs[2].new_rows == ()


def test_no_ledger_inside_the_window_is_established_but_first_seen_memory_is_kept() -> None:
    days = [[row()], [], [], [], [row(account=B)], [row(account=B), row(account=C)]]
    diffs, _ = run_days(days, baseline_days=2, gaps=frozenset({1, 2, 3}))
    assert diffs[4].baseline_state == "established"
    assert diffs[5].first_seen_accounts == (C,)


def test_a_day_without_events_is_no_activity_not_nothing_new() -> None:
    diffs, _ = run_days([[row()], []])
    assert diffs[1].no_activity and not diffs[1].nothing_new
    assert diffs[1].silent == (Silent(A, "us-east-1", START + dt.timedelta(days=1)),)
