"""Sharded backfills: the split covers every (account, region, day) once, within bounds; summary and resume."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import log_key, make_settings, put_logs
from tests.unit.test_reconcile import apply_plan
from trailkeeper import aws, layout
from trailkeeper.errors import InvalidInput, ShardsFailed
from trailkeeper.inputs import RunRequest
from trailkeeper.layout import outcome_key
from trailkeeper.reconcile import Clients, plan_run, verify_run
from trailkeeper.shards import SHARD_MAX_ACCOUNTS, Shard, months, plan_shards, split, summarise_shards

A1, A2, A3 = "111111111111", "222222222222", "333333333333"
BACKFILL = RunRequest(mode="backfill", start=dt.date(2024, 1, 30), end=dt.date(2024, 2, 1))


def covered(shards: list[Shard], regions_by_account: dict[str, tuple[str, ...]]) -> Counter[tuple[str, str, dt.date]]:
    return Counter(
        (account, region, day)
        for shard in shards
        for account in shard.request.accounts or ()
        for region in regions_by_account[account]
        for day in shard.request.days
    )


def organization(accounts: int, regions: int) -> dict[str, tuple[str, ...]]:
    return {f"{n:012d}": tuple(f"us-east-{r}" for r in range(1, regions + 1)) for n in range(1, accounts + 1)}


def test_months_are_calendar_months_clipped_to_the_window() -> None:
    assert list(months(dt.date(2024, 1, 30), dt.date(2024, 3, 2))) == [
        (dt.date(2024, 1, 30), dt.date(2024, 1, 31)),
        (dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        (dt.date(2024, 3, 1), dt.date(2024, 3, 2)),
    ]


@settings(max_examples=60, deadline=None)
@given(
    accounts=st.integers(1, 40),
    regions=st.integers(1, 5),
    days=st.integers(1, 120),
    max_partitions=st.integers(100, 2_000),
    start=st.dates(dt.date(2014, 1, 1), dt.date(2030, 1, 1)),
)
def test_split_covers_every_partition_exactly_once_within_the_bounds(
    accounts: int, regions: int, days: int, max_partitions: int, start: dt.date
) -> None:
    found = organization(accounts, regions)
    request = RunRequest(mode="backfill", start=start, end=start + dt.timedelta(days=days - 1))
    pair_bytes = {(a, r): 200 for a, rs in found.items() for r in rs}
    shards = split(request, found, pair_bytes, max_partitions, max_clause_bytes=10**9)
    counts = covered(shards, found)
    assert set(counts.values()) == {1}
    assert len(counts) == accounts * regions * days
    for shard in shards:
        assert shard.expected == len(shard.request.accounts or ()) * regions * len(shard.request.days)
        # Over the bound only when one account alone is bigger than a shard.
        assert shard.expected <= max(max_partitions, regions * len(shard.request.days))
        assert shard.request.start.month == shard.request.end.month


def test_split_bounds_a_shard_by_statement_bytes_too() -> None:
    found = organization(10, 2)
    pair_bytes = {(a, r): 1_000 for a, rs in found.items() for r in rs}
    month = RunRequest(mode="backfill", start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 30))
    shards = split(month, found, pair_bytes, max_partitions=10**6, max_clause_bytes=2 * 2 * 30 * 1_000)
    assert [len(s.request.accounts or ()) for s in shards] == [2, 2, 2, 2, 2]


def test_split_caps_the_accounts_listed_in_one_shard() -> None:
    found = organization(SHARD_MAX_ACCOUNTS + 5, 1)
    day = RunRequest(mode="backfill", start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 1))
    shards = split(day, found, {(a, r): 1 for a, rs in found.items() for r in rs}, 10**6, 10**9)
    assert [len(s.request.accounts or ()) for s in shards] == [SHARD_MAX_ACCOUNTS, 5]


def test_shards_keep_the_request_narrowing_and_dry_run_but_not_resume() -> None:
    request = RunRequest(
        mode="backfill",
        start=dt.date(2024, 1, 1),
        end=dt.date(2024, 1, 3),
        regions=frozenset({"us-east-1"}),
        dry_run=True,
        resume="earlier-run",
    )
    [shard] = split(request, {A1: ("us-east-1",)}, {(A1, "us-east-1"): 200}, 100, 10**9)
    assert shard.request.regions == frozenset({"us-east-1"}) and shard.request.dry_run
    assert shard.request.resume is None and shard.id == "s00000"
    assert Shard.from_json(json.loads(json.dumps(shard.to_json()))) == shard


def stored_json(clients: Clients, key: str) -> Any:
    return aws.get_json(clients.s3, "results-bucket", key)


def shard_files(clients: Clients, run: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = stored_json(clients, layout.shards_key(run))
    return items


def run_shard(clients: Clients, run: str, item: dict[str, Any], settings_overrides: dict[str, str]) -> None:
    """What one child execution does: plan, add (as Athena would), verify."""
    shard = Shard.from_json(item)
    summary = plan_run(shard.request, make_settings(**settings_overrides), clients, run, shard.id)
    apply_plan(clients, summary)
    verify_run(shard.request, make_settings(**settings_overrides), clients, run, shard.id)


SMALL_SHARDS = {"BACKFILL_SHARD_PARTITIONS": "130"}  # two accounts of two regions a month
SIXTY_DAYS = RunRequest(mode="backfill", start=dt.date(2024, 1, 1), end=dt.date(2024, 2, 29))


def three_accounts(clients: Clients) -> None:
    put_logs(
        clients.s3, *(log_key(account, region) for account in (A1, A2, A3) for region in ("us-east-1", "eu-west-1"))
    )


def sharded(clients: Clients, run: str, request: RunRequest = SIXTY_DAYS) -> list[dict[str, Any]]:
    """PlanShards for three accounts' logs in small shards; the Map items it wrote."""
    three_accounts(clients)
    plan_shards(request, make_settings(**SMALL_SHARDS), clients, run)
    return shard_files(clients, run)


def test_plan_shards_writes_the_map_items_and_returns_only_keys_and_counts(aws: Clients) -> None:
    three_accounts(aws)
    planned = plan_shards(SIXTY_DAYS, make_settings(**SMALL_SHARDS), aws, "bf-1")
    assert planned == {
        "shards": 4,
        "already_done": 0,
        "resumed_from": None,
        "shards_key": layout.shards_key("bf-1"),
        "shard_concurrency": 2,
    }
    items = shard_files(aws, "bf-1")
    assert [(i["request"]["start"], i["request"]["accounts"]) for i in items] == [
        ("2024-01-01", [A1, A2]),
        ("2024-01-01", [A3]),
        ("2024-02-01", [A1, A2]),
        ("2024-02-01", [A3]),
    ]


def test_summary_adds_up_the_shards_and_names_the_unfinished_ones(aws: Clients) -> None:
    for item in sharded(aws, "bf-1")[:3]:
        run_shard(aws, "bf-1", item, SMALL_SHARDS)
    with pytest.raises(ShardsFailed, match=r"1 of 4 shards did not finish \(s00003\).*\"resume\": \"bf-1\""):
        summarise_shards(SIXTY_DAYS, make_settings(**SMALL_SHARDS), aws, "bf-1")
    written = stored_json(aws, layout.summary_key("bf-1"))
    assert written["shards"]["failed_ids"] == ["s00003"]
    assert written["added"] == 3 * 2 * 31 + 2 * 2 * 29


def test_resume_runs_only_the_unfinished_shards_and_the_whole_backfill_converges(aws: Clients) -> None:
    for item in sharded(aws, "bf-1")[:2]:
        run_shard(aws, "bf-1", item, SMALL_SHARDS)
    resumed = replace(SIXTY_DAYS, resume="bf-1")
    planned = plan_shards(resumed, make_settings(**SMALL_SHARDS), aws, "bf-2")
    assert (planned["shards"], planned["already_done"], planned["resumed_from"]) == (2, 2, "bf-1")
    assert [i["shard"] for i in shard_files(aws, "bf-2")] == ["s00002", "s00003"]
    for item in shard_files(aws, "bf-2"):
        run_shard(aws, "bf-2", item, SMALL_SHARDS)
    summary = summarise_shards(resumed, make_settings(**SMALL_SHARDS), aws, "bf-2")
    assert summary["shards"] == {
        "total": 4,
        "run": 2,
        "done": 2,
        "failed": 0,
        "failed_ids": [],
        "already_done": 2,
        "resumed_from": "bf-1",
    }
    assert summary["added"] == 3 * 2 * 29
    # Re-running the whole backfill afterwards finds nothing missing anywhere.
    plan_shards(SIXTY_DAYS, make_settings(**SMALL_SHARDS), aws, "bf-3")
    for item in shard_files(aws, "bf-3"):
        run_shard(aws, "bf-3", item, SMALL_SHARDS)
    again = summarise_shards(SIXTY_DAYS, make_settings(**SMALL_SHARDS), aws, "bf-3")
    assert (again["added"], again["statements"], again["existing"]) == (0, 0, 3 * 2 * 60)


def test_resume_of_a_resumed_backfill_skips_what_either_run_finished(aws: Clients) -> None:
    run_shard(aws, "bf-1", sharded(aws, "bf-1")[0], SMALL_SHARDS)
    second = replace(SIXTY_DAYS, resume="bf-1")
    plan_shards(second, make_settings(**SMALL_SHARDS), aws, "bf-2")
    run_shard(aws, "bf-2", shard_files(aws, "bf-2")[0], SMALL_SHARDS)
    third = replace(SIXTY_DAYS, resume="bf-2")
    planned = plan_shards(third, make_settings(**SMALL_SHARDS), aws, "bf-3")
    assert (planned["shards"], planned["already_done"]) == (2, 2)


@pytest.mark.parametrize(
    "earlier, problem",
    [
        ("never-ran", "is not a backfill execution of this stack"),
        ("bf-1", "was a different backfill"),
    ],
)
def test_resume_refuses_an_unknown_or_different_backfill(aws: Clients, earlier: str, problem: str) -> None:
    sharded(aws, "bf-1")
    other = RunRequest(mode="backfill", start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 31), resume=earlier)
    with pytest.raises(InvalidInput, match=problem):
        plan_shards(other, make_settings(**SMALL_SHARDS), aws, "bf-2")


def test_dry_run_shards_record_their_plan_as_outcome_and_add_nothing(aws: Clients) -> None:
    dry = replace(SIXTY_DAYS, dry_run=True)
    for item in sharded(aws, "bf-1", dry):
        shard = Shard.from_json(item)
        plan_run(shard.request, make_settings(**SMALL_SHARDS), aws, "bf-1", shard.id)
    summary = summarise_shards(dry, make_settings(**SMALL_SHARDS), aws, "bf-1")
    assert (summary["missing"], summary["added"], summary["shards"]["done"]) == (3 * 2 * 60, 0, 4)
    assert aws.glue.get_partitions(DatabaseName="trailkeeper", TableName="cloudtrail")["Partitions"] == []


def test_every_shard_fits_one_child_execution_at_organization_scale() -> None:
    """1,000 accounts x 20 regions x a year: shards within SHARD_MAX_STATEMENTS worth of bytes each."""
    found = organization(1_000, 20)
    year = RunRequest(mode="backfill", start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31))
    clause = 215  # bytes of one org-trail clause with a short bucket name (planner benchmark)
    budget = 500 * (262_144 - 1_024 - 60)
    shards = split(year, found, {(a, r): clause for a, rs in found.items() for r in rs}, 200_000, budget)
    assert sum(s.expected for s in shards) == 1_000 * 20 * 366
    assert max(s.expected for s in shards) <= 200_000
    assert all(s.expected * clause <= budget for s in shards)
    fewest = sum(
        math.ceil(20_000 * ((last - first).days + 1) / 200_000) for first, last in months(year.start, year.end)
    )
    assert fewest <= len(shards) <= fewest + 12  # whole accounts per group: at most one more shard a month


def test_outcome_keys_are_validated() -> None:
    assert outcome_key("bf-1", "s00001") == "runs/bf-1/outcomes/s00001.json"
    with pytest.raises(InvalidInput):
        outcome_key("bf-1", "../x")
