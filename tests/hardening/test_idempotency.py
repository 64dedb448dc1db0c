"""Idempotency and concurrency: runs that race, repeat, or resume after a failure converge to one clean night.

Concurrent executions are started with StartExecution and only then waited for: moto's interpreter runs each
in its own thread, so they interleave task by task (EmbeddedAws serialises the Lambda invocations themselves,
as one function's environment is process-wide; Athena and S3 calls of different executions interleave freely).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ClientError

from localaws.patches.awslambda import InjectedFault
from localaws.patches.core import uncounted
from tests.hardening.harness import World, body_text, failed_state, rest_json_error, running_world, s3_error
from tests.hardening.reliability import Recorder
from trailgen.generator import TrailSpec
from trailkeeper import layout

SPEC = TrailSpec(start=dt.date(2024, 3, 1), days=4, accounts=1, regions=("us-east-1", "eu-west-1"))
DAY = dt.date(2024, 3, 3)
NIGHT = {"time": "2024-03-04T01:30:00Z"}  # reports on DAY; window 2024-03-01 .. 2024-03-05
WINDOW = (dt.date(2024, 3, 1), dt.date(2024, 3, 5))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


def run_together(world: World, *inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Start every execution, then wait for each: DescribeExecution of each, in the order given."""
    arns = [world.start(execution_input, "together") for execution_input in inputs]
    described = [world.wait(arn) for arn in arns]
    # Guards the tests: executions that ran one after the other would prove nothing about racing.
    assert max(d["startDate"] for d in described) < min(d["stopDate"] for d in described), "did not overlap"
    return described


def email_outcomes(described: list[dict[str, Any]]) -> list[str]:
    """Per execution, sorted: 'sent', or why it sent nothing: 'already sent' (PrepareReport or SendReport found
    the day sent) or 'being sent' (SendReport found another execution's live claim on the day)."""
    outcomes = []
    for execution in described:
        report = json.loads(execution.get("output") or "{}").get("report", {})
        email = report.get("email", {})
        reason = str(report.get("skipped") or email.get("reason"))
        outcomes.append("sent" if email.get("sent") else "being sent" if reason.startswith("being sent") else reason)
    return sorted(outcomes)


# ------------------------------------------------------------------------------------------------ concurrency


def test_a_nightly_run_and_an_overlapping_backfill_at_once_leave_each_partition_exactly_once(
    fresh: World, reliability: Recorder
) -> None:
    backfill = {"start": "2024-02-27", "end": "2024-03-04"}
    described = run_together(fresh, NIGHT, backfill)
    statuses = [d["status"] for d in described]
    partitions, expected = fresh.catalog(), fresh.expected_catalog(dt.date(2024, 2, 27), WINDOW[1])
    reliability.record(
        "concurrent scenarios",
        "nightly + overlapping backfill at once",
        f"{' and '.join(statuses)}, {len(partitions)} partitions listed for {len(expected)} expected",
    )
    assert statuses == ["SUCCEEDED", "SUCCEEDED"]
    assert fresh.night_problems(DAY, dt.date(2024, 2, 27), WINDOW[1]) == []


def test_the_same_night_started_twice_at_once_sends_exactly_one_email(fresh: World, reliability: Recorder) -> None:
    described = run_together(fresh, NIGHT, NIGHT)
    emails = email_outcomes(described)
    reliability.record(
        "concurrent scenarios",
        "the same night twice at once",
        f"{' and '.join(d['status'] for d in described)}, emails: {', '.join(emails)}",
    )
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"]
    assert emails in (["already sent", "sent"], ["being sent", "sent"])
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_a_night_and_a_report_rerun_of_its_day_at_once_send_exactly_one_email(
    fresh: World, reliability: Recorder
) -> None:
    described = run_together(fresh, NIGHT, {"report_date": DAY.isoformat()})
    emails = email_outcomes(described)
    reliability.record(
        "concurrent scenarios",
        "nightly + report_date re-run of the same day at once",
        f"{' and '.join(d['status'] for d in described)}, emails: {', '.join(emails)}",
    )
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"]
    assert emails in (["already sent", "sent"], ["being sent", "sent"])
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_the_same_night_run_again_later_changes_nothing(fresh: World, reliability: Recorder) -> None:
    first = fresh.run(NIGHT, "night")
    saved = fresh.text(layout.activity_key(DAY))
    again = fresh.run(NIGHT, "night-again")
    output = again.output or {}
    reliability.record(
        "concurrent scenarios",
        "the same night run twice, one after the other",
        f"{first.status} and {again.status}, the second added {output.get('added')} and "
        f"skipped the report ({output.get('report', {}).get('skipped')})",
    )
    assert (first.status, again.status) == ("SUCCEEDED", "SUCCEEDED")
    assert (output["added"], output["report"]) == (0, {"skipped": "already sent"})
    assert fresh.text(layout.activity_key(DAY)) == saved
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_a_second_start_under_the_same_execution_name_is_refused(fresh: World, reliability: Recorder) -> None:
    """Why the CLI names nights deterministically (nightly-<day>): Step Functions refuses a duplicate name."""
    sfn = fresh.aws.client("stepfunctions")
    with uncounted():
        first = sfn.start_execution(
            stateMachineArn=fresh.aws.state_machine_arn, name=f"nightly-{DAY}-dedup", input=json.dumps(NIGHT)
        )["executionArn"]
        fresh.wait(first)
        with pytest.raises(ClientError) as refused:
            sfn.start_execution(
                stateMachineArn=fresh.aws.state_machine_arn, name=f"nightly-{DAY}-dedup", input=json.dumps(NIGHT)
            )
    code = refused.value.response["Error"]["Code"]
    reliability.record("concurrent scenarios", "the same execution name started twice", f"refused: {code}")
    assert code == "ExecutionAlreadyExists" and len(fresh.emails(DAY)) == 1


# ------------------------------------------------------------------------------------------------ redrive


def is_ddl(request: AWSPreparedRequest) -> bool:
    return "ALTER TABLE" in body_text(request)


def is_select(request: AWSPreparedRequest) -> bool:
    return "SELECT" in body_text(request)


def lambda_raises(function: str) -> Callable[[World], object]:
    return lambda world: world.fail_lambda(function, lambda: RuntimeError(f"{function} broke"), times=100)


def statements(request: AWSPreparedRequest) -> bool:
    return "/statements/" in request.url


FAILURES: dict[str, Callable[[World], object]] = {  # every Task state but NotifyFailure, failing every attempt
    "ValidateInput": lambda_raises("ValidateInputFunction"),
    "PlanPartitions": lambda_raises("PlanPartitionsFunction"),
    "LoadStatement": lambda world: world.http.add(
        "s3.GetObject", s3_error("AccessDenied", "Access Denied", 403), times=None, when=statements
    ),
    "RunStatement": lambda world: world.http.athena_query_ends(
        "FAILED", "HIVE_METASTORE_ERROR: injected", times=None, when=is_ddl
    ),
    "VerifyPartitions": lambda world: world.fail_lambda(
        "VerifyPartitionsFunction", lambda: InjectedFault("Sandbox.Timedout", "Task timed out"), times=100
    ),
    "PlanIntegrity": lambda_raises("PlanIntegrityFunction"),
    "SummariseIntegrity": lambda_raises("SummariseIntegrityFunction"),
    "PrepareReport": lambda_raises("PrepareReportFunction"),
    "RunActivityQuery": lambda world: world.http.athena_query_ends(
        # not bad data: HIVE_BAD_DATA would send the night to the log scan (test_unreadable_logs.py)
        "FAILED",
        "GENERIC_INTERNAL_ERROR: injected",
        times=None,
        when=is_select,
    ),
    "BuildReport": lambda_raises("BuildReportFunction"),
    "SendReport": lambda world: world.http.add(
        "sesv2.SendEmail", rest_json_error("MessageRejected", "Email address is not verified.", 400), times=None
    ),
}


@pytest.mark.parametrize("state", list(FAILURES))
def test_a_rerun_after_a_failure_in_any_task_state_converges_to_one_clean_night(
    state: str, fresh: World, reliability: Recorder
) -> None:
    FAILURES[state](fresh)
    failed = fresh.run(NIGHT, f"fail-{state}")
    injected = fresh.injected
    fresh.clear_faults()
    again = fresh.run(NIGHT, f"redrive-{state}")
    problems = fresh.night_problems(DAY, *WINDOW)
    reliability.record(
        "redrives after failure",
        f"failure in {state}",
        f"failed at {failed_state(failed)}, re-run {again.status}, {'converged' if not problems else 'NOT converged'}",
        injected=injected,
    )
    assert (failed.status, failed_state(failed), len(fresh.notifications())) == ("FAILED", state, 1)
    assert again.status == "SUCCEEDED" and problems == []


BACKFILL = {"start": "2024-02-27", "end": "2024-03-05"}  # two shards: February's days and March's
SHARD_FAILURES: dict[str, Callable[[World], object]] = {  # every Task state of a shard, failing every attempt
    "PlanShard": lambda_raises("PlanPartitionsFunction"),
    "LoadShardStatement": FAILURES["LoadStatement"],
    "RunShardStatement": FAILURES["RunStatement"],
    "VerifyShard": FAILURES["VerifyPartitions"],
}


@pytest.mark.parametrize("state", list(SHARD_FAILURES))
def test_resuming_a_backfill_after_a_failure_in_any_shard_state_leaves_each_partition_once(
    state: str, fresh: World, reliability: Recorder
) -> None:
    SHARD_FAILURES[state](fresh)
    failed = fresh.run(BACKFILL, f"fail-{state}")
    injected = fresh.injected
    fresh.clear_faults()
    resumed = fresh.run({**BACKFILL, "resume": failed.name}, f"resume-{state}")
    catalog = fresh.catalog()
    expected = fresh.expected_catalog(dt.date(2024, 2, 27), dt.date(2024, 3, 5))
    converged = sorted(catalog) == sorted(expected)
    reliability.record(
        "resumed backfills after a failed shard",
        f"failure in {state}",
        f"{failed.error}: {failed.child_states.count('ShardFailed')} of 2 shards failed, resumed "
        f"{resumed.status}, {'converged' if converged else 'NOT converged'}",
        injected=injected,
    )
    assert resumed.status == "SUCCEEDED", resumed.cause
    assert (failed.status, failed.error, len(fresh.notifications())) == ("FAILED", "ShardsFailed", 1)
    assert failed.child_states.count("ShardFailed") == 2
    assert resumed.status == "SUCCEEDED" and resumed.output["shards"]["run"] == 2
    assert converged and len(catalog) == len(set(catalog))
