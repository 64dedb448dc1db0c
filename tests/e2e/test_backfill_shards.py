"""Sharded backfills end to end on the embedded runtime, over generated logs: nothing mocked.

Shards are kept small here (BackfillShardPartitions=100) so that a few months of a few accounts make
several month shards and several account groups.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from localaws.patches.awslambda import InjectedFault
from localaws.runtime import EmbeddedAws, ExecutionResult
from tests.e2e.conftest import catalog, days, results_text
from tests.sqlcheck import parse_add_partitions
from trailgen.generator import TrailSpec, generate
from trailkeeper import layout

pytestmark = pytest.mark.e2e
Stack = Callable[..., AbstractContextManager[EmbeddedAws]]

SPEC = TrailSpec(
    start=dt.date(2024, 1, 25), days=40, accounts=5, regions=("us-east-1", "eu-west-1"), events_per_account_region_day=2
)
BACKFILL = {"start": "2024-01-25", "end": "2024-03-04"}
SMALL_SHARDS = {"BackfillShardPartitions": "100"}
# January: 7 days x 2 regions = 14 a account, all 5 in one shard; February: 58 each, one account a shard;
# March: 4 days, one shard.
SHARDS = 1 + 5 + 1


def ground_truth(logs: Path) -> set[tuple[str, str, str]]:
    truth = generate(SPEC, logs)
    return {
        (a, r, d)
        for a, regions in truth.regions_by_account.items()
        for r in regions
        for d in days(dt.date(2024, 1, 25), dt.date(2024, 3, 4))
    }


def added_clauses(aws: EmbeddedAws, execution: ExecutionResult) -> Counter[tuple[str, str, str]]:
    """Every partition the execution's shards wrote an ADD clause for, counted."""
    s3 = aws.client("s3")
    prefix = layout.run_prefix(execution.name) + "shards/"
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=aws.physical["ResultsBucket"], Prefix=prefix)
        for item in page.get("Contents", [])
        if re.fullmatch(r"s[0-9]{5}/statements/[0-9]+\.sql", item["Key"][len(prefix) :])
    ]
    found: Counter[tuple[str, str, str]] = Counter()
    for key in keys:
        for partition in parse_add_partitions(results_text(aws, key) or "").partitions:
            found[(partition.values["account"], partition.values["region"], partition.values["dt"])] += 1
    return found


def test_a_sharded_backfill_adds_exactly_the_ground_truth(tmp_path: Path, stack: Stack) -> None:
    expected = ground_truth(tmp_path)
    with stack(tmp_path, **SMALL_SHARDS) as aws:
        result = aws.run_execution(BACKFILL, name="backfill")
        found = set(catalog(aws))
        clauses = added_clauses(aws, result)
    assert result.status == "SUCCEEDED", result.cause
    assert result.states == [
        "ValidateInput",
        "IsBackfill",
        "PlanShards",
        "ReconcileShards",
        "SummariseShards",
        "BackfillDone",
    ]
    assert result.child_states.count("VerifyShard") == SHARDS
    assert found == expected and set(clauses) == expected and set(clauses.values()) == {1}
    output = result.output
    assert output["shards"] == {
        "total": SHARDS,
        "run": SHARDS,
        "done": SHARDS,
        "failed": 0,
        "failed_ids": [],
        "already_done": 0,
        "resumed_from": None,
    }
    assert (output["added"], output["expected"], output["accounts"], output["days"]) == (
        len(expected),
        len(expected),
        5,
        40,
    )


def test_each_shard_packs_its_statements_within_one_of_its_minimum(tmp_path: Path, stack: Stack) -> None:
    ground_truth(tmp_path)
    limit = 2048
    with stack(tmp_path, MaxStatementBytes=str(limit)) as aws:  # one shard a month, many small statements
        result = aws.run_execution(BACKFILL, name="backfill")
        assert result.status == "SUCCEEDED", result.cause
        shards = {}
        for shard in ("s00000", "s00001", "s00002"):
            plan = json.loads(results_text(aws, f"runs/backfill/shards/{shard}/plan.json") or "{}")["summary"]
            shards[shard] = [
                results_text(aws, f"{plan['statements_prefix']}{i}.sql") or "" for i in range(plan["statements"])
            ]
    assert result.output["shards"]["run"] == len(shards) == 3  # January, February, March
    for statements in shards.values():
        header = statements[0].split(" PARTITION (", 1)[0]
        clause_bytes = sum(len(s.encode()) - len(header.encode()) for s in statements)
        assert len(statements) <= math.ceil(clause_bytes / (limit - len(header.encode()))) + 1
        assert all(len(s.encode()) <= limit for s in statements)


def fail_shard(shard: str) -> Callable[[str, Any], None]:
    def injector(function: str, event: Any) -> None:
        if "VerifyPartitions" in function and isinstance(event, dict) and event.get("shard") == shard:
            raise InjectedFault("PartitionsStillMissing", f"injected into {shard}")

    return injector


def test_resuming_after_a_failed_shard_adds_each_partition_exactly_once(tmp_path: Path, stack: Stack) -> None:
    expected = ground_truth(tmp_path)
    with stack(tmp_path, **SMALL_SHARDS) as aws:
        aws.fault_injector = fail_shard("s00003")
        failed = aws.run_execution(BACKFILL, name="backfill")
        after_failure = set(catalog(aws))
        aws.fault_injector = None
        resumed = aws.run_execution({**BACKFILL, "resume": "backfill"}, name="backfill-resumed")
        found = set(catalog(aws))
        first_clauses, resumed_clauses = added_clauses(aws, failed), added_clauses(aws, resumed)
    assert (failed.status, failed.error) == ("FAILED", "ShardsFailed")
    assert "1 of 7 shards did not finish (s00003); s00003: PartitionsStillMissing: injected into s00003" in (
        failed.cause or ""
    )
    assert failed.states[-3:] == ["DescribeFailure", "NotifyFailure", "Failed"]
    # The failed shard's statements ran before its verify failed; the others finished.
    assert after_failure == expected
    assert resumed.status == "SUCCEEDED", resumed.cause
    assert resumed.output["shards"] == {
        "total": SHARDS,
        "run": 1,
        "done": 1,
        "failed": 0,
        "failed_ids": [],
        "already_done": SHARDS - 1,
        "resumed_from": "backfill",
    }
    assert resumed.child_states.count("PlanShard") == 1
    assert found == expected
    # Nothing added twice: the resumed shard found its partitions there and added none again.
    assert set(first_clauses.values()) == {1} and set(first_clauses) == expected
    assert resumed.output["added"] == 0 and not resumed_clauses


def test_resuming_adds_what_a_shard_that_failed_before_adding_left_missing(tmp_path: Path, stack: Stack) -> None:
    expected = ground_truth(tmp_path)

    def plan_fails(function: str, event: Any) -> None:
        if "PlanPartitions" in function and isinstance(event, dict) and event.get("shard") in {"s00001", "s00005"}:
            raise InjectedFault("TransientAwsError", "Glue throttled for too long")

    with stack(tmp_path, **SMALL_SHARDS) as aws:
        aws.fault_injector = plan_fails
        failed = aws.run_execution(BACKFILL, name="backfill")
        missing_after_failure = expected - set(catalog(aws))
        aws.fault_injector = None
        resumed = aws.run_execution({**BACKFILL, "resume": "backfill"}, name="backfill-resumed")
        found = set(catalog(aws))
        all_clauses = added_clauses(aws, failed) + added_clauses(aws, resumed)
    assert failed.error == "ShardsFailed" and failed.output is None
    assert missing_after_failure and resumed.output["added"] == len(missing_after_failure)
    assert resumed.output["shards"]["run"] == 2
    assert found == expected and set(all_clauses) == expected and set(all_clauses.values()) == {1}


def test_re_running_a_finished_backfill_adds_nothing(tmp_path: Path, stack: Stack) -> None:
    expected = ground_truth(tmp_path)
    with stack(tmp_path, **SMALL_SHARDS) as aws:
        aws.run_execution(BACKFILL, name="backfill")
        again = aws.run_execution(BACKFILL, name="backfill-again")
    assert again.status == "SUCCEEDED"
    assert (again.output["added"], again.output["statements"], again.output["existing"]) == (0, 0, len(expected))
    assert "AddShardPartitions" not in again.child_states


def test_a_resume_of_another_backfill_is_refused_before_anything_runs(tmp_path: Path, stack: Stack) -> None:
    ground_truth(tmp_path)
    with stack(tmp_path, **SMALL_SHARDS) as aws:
        aws.run_execution(BACKFILL, name="backfill")
        other = aws.run_execution({"start": "2024-02-01", "end": "2024-02-29", "resume": "backfill"}, name="other")
    assert (other.status, other.error) == ("FAILED", "InvalidInput")
    assert "was a different backfill" in (other.cause or "")
    assert other.states[-4:] == ["PlanShards", "DescribeFailure", "NotifyFailure", "Failed"]
