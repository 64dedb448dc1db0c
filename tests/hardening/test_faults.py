"""Faults injected at the HTTP layer (and into Lambda invocations), so the real retry paths run.

Each test injects a bounded number of faults into one night, asserts the documented outcome (transient faults
retried and the night succeeds; permanent ones end in the failure notification with a cause a person can act
on), and then, for failures, re-runs the same night under a new execution name: the re-run must leave the
catalog, the saved result and the email exactly as one clean night would (World.night_problems).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

import pytest
from botocore.awsrequest import AWSPreparedRequest

from localaws.patches.awslambda import InjectedFault
from localaws.patches.core import uncounted
from localaws.runtime import ExecutionResult
from tests.hardening.harness import (
    World,
    body_text,
    cause_message,
    failed_state,
    json_error,
    rest_json_error,
    running_world,
    s3_error,
    task_errors,
)
from tests.hardening.reliability import Recorder
from trailgen.generator import TrailSpec
from trailkeeper import layout
from trailkeeper.errors import TransientAwsError
from trailkeeper.layout import ledger_keys_key, ledger_state_key

SPEC = TrailSpec(start=dt.date(2024, 3, 1), days=4, accounts=1, regions=("us-east-1", "eu-west-1"))
DAY, PREVIOUS_DAY = dt.date(2024, 3, 3), dt.date(2024, 3, 2)
WINDOW = (dt.date(2024, 3, 1), dt.date(2024, 3, 5))  # the night of DAY: LookbackDays 3 before DAY+1, to DAY+2
TWO_NIGHTS = (dt.date(2024, 2, 29), dt.date(2024, 3, 5))


def nightly(day: dt.date) -> dict[str, str]:
    return {"time": f"{day + dt.timedelta(days=1)}T01:30:00Z"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


def is_ddl(request: AWSPreparedRequest) -> bool:
    return "ALTER TABLE" in body_text(request)


def is_select(request: AWSPreparedRequest) -> bool:
    return "SELECT" in body_text(request)


def outcome(result: ExecutionResult) -> str:
    if result.status == "SUCCEEDED":
        retried = len(task_errors(result))
        return (
            f"SUCCEEDED, {retried} task attempt(s) retried by the state machine"
            if retried
            else ("SUCCEEDED, no task retried (botocore's retries absorbed it)")
        )
    return f"{result.status} {result.error} at {failed_state(result)}, notified"


def rerun_converges(world: World, day: dt.date = DAY, window: tuple[dt.date, dt.date] = WINDOW) -> list[str]:
    """Clear every fault, run the same night again under a new name; what is not as one clean night left it."""
    world.clear_faults()
    again = world.run(nightly(day), "rerun")
    return ([] if again.status == "SUCCEEDED" else [f"re-run {again.status}: {again.error} {again.cause}"]) + (
        world.night_problems(day, *window)
    )


def nothing_done(world: World, day: dt.date = DAY) -> list[str]:
    """What marks the day done, if anything: its saved result, its sent marker, its email."""
    markers = (layout.activity_key(day), layout.report_key(day, layout.SENT_MARKER))
    done = [key for key in markers if world.text(key) is not None]
    if world.emails(day):
        done.append(f"{len(world.emails(day))} email(s)")
    return done


# ------------------------------------------------------------------------------------------------ Athena


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [("TooManyRequestsException", 400, "Rate exceeded"), ("InternalServerException", 500, "Internal error")],
    ids=["throttled", "5xx"],
)
def test_athena_refusing_to_start_a_ddl_query_is_retried_and_the_night_succeeds(
    code: str, status: int, message: str, fresh: World, reliability: Recorder
) -> None:
    fault = fresh.http.add("athena.StartQueryExecution", json_error(code, message, status), times=2, when=is_ddl)
    result = fresh.run(nightly(DAY), "athena-start")
    reliability.record(
        "faults injected", f"Athena {code} on StartQueryExecution x2", outcome(result), injected=fault.injected
    )
    assert fault.injected == 2
    assert result.status == "SUCCEEDED" and task_errors(result) == [f"Athena.{code}"] * 2
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_a_ddl_query_that_keeps_failing_is_notified_and_nothing_is_marked_done(
    fresh: World, reliability: Recorder
) -> None:
    fault = fresh.http.athena_query_ends("FAILED", "GENERIC_INTERNAL_ERROR: Glue throttled", times=3, when=is_ddl)
    result = fresh.run(nightly(DAY), "ddl-failed")
    reliability.record(
        "faults injected", "Athena DDL query ends FAILED on every attempt", outcome(result), injected=fault.injected
    )
    assert fault.injected == 3
    assert (result.status, result.error, failed_state(result)) == ("FAILED", "States.TaskFailed", "RunStatement")
    assert task_errors(result) == ["States.TaskFailed"] * 3  # the first attempt and RunStatement's two retries
    [notification] = fresh.notifications()
    assert "States.TaskFailed" in notification and "GENERIC_INTERNAL_ERROR" in notification
    assert fresh.catalog() == [] and nothing_done(fresh) == []
    assert rerun_converges(fresh) == []


def test_a_ddl_query_cancelled_once_is_retried_and_the_night_succeeds(fresh: World, reliability: Recorder) -> None:
    fault = fresh.http.athena_query_ends("CANCELLED", "Query cancelled by an operator", times=1, when=is_ddl)
    result = fresh.run(nightly(DAY), "ddl-cancelled")
    reliability.record(
        "faults injected", "Athena DDL query ends CANCELLED once", outcome(result), injected=fault.injected
    )
    assert fault.injected == 1
    assert result.status == "SUCCEEDED" and task_errors(result) == ["States.TaskFailed"]
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_a_ddl_query_that_succeeds_without_adding_is_caught_by_verify_partitions(
    fresh: World, reliability: Recorder
) -> None:
    """The closest analogue of a batch call's per-item errors: Athena says SUCCEEDED, the partitions are absent."""
    fault = fresh.http.athena_query_ends("SUCCEEDED", "", times=1, when=is_ddl)
    result = fresh.run(nightly(DAY), "ddl-silent")
    reliability.record(
        "faults injected", "Athena DDL SUCCEEDED but added nothing", outcome(result), injected=fault.injected
    )
    assert fault.injected == 1
    assert (result.status, result.error, failed_state(result)) == (
        "FAILED",
        "PartitionsStillMissing",
        "VerifyPartitions",
    )
    assert "10 of 10 expected partitions are still missing" in cause_message(result)
    assert len(fresh.notifications()) == 1 and nothing_done(fresh) == []
    assert rerun_converges(fresh) == []


def test_the_activity_query_refused_as_invalid_is_notified_and_the_day_stays_unreported(
    fresh: World, reliability: Recorder
) -> None:
    fault = fresh.http.add(
        "athena.StartQueryExecution",
        json_error("InvalidRequestException", "Queries of this type are not supported"),
        times=1,
        when=is_select,
    )
    result = fresh.run(nightly(DAY), "query-invalid")
    reliability.record(
        "faults injected",
        "Athena InvalidRequestException on the activity query",
        outcome(result),
        injected=fault.injected,
    )
    assert fault.injected == 1
    assert (result.status, result.error, failed_state(result)) == (
        "FAILED",
        "Athena.InvalidRequestException",
        "RunActivityQuery",
    )
    assert len(fresh.notifications()) == 1 and nothing_done(fresh) == []
    assert rerun_converges(fresh) == []


# ------------------------------------------------------------------------------------------------ Glue


def test_glue_throttling_once_is_absorbed_by_botocore(fresh: World, reliability: Recorder) -> None:
    fault = fresh.http.add("glue.GetPartitions", json_error("ThrottlingException", "Rate exceeded"), times=1)
    result = fresh.run(nightly(DAY), "glue-throttle-1")
    reliability.record(
        "faults injected", "Glue ThrottlingException on GetPartitions x1", outcome(result), injected=fault.injected
    )
    assert fault.injected == 1 and fresh.http.calls["glue.GetPartitions"] >= 3  # + botocore's retry + Verify
    assert result.status == "SUCCEEDED" and task_errors(result) == []
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_glue_throttling_past_botocores_retries_becomes_transient_and_the_state_machine_retries(
    fresh: World, reliability: Recorder
) -> None:
    fault = fresh.http.add("glue.GetPartitions", json_error("ThrottlingException", "Rate exceeded"), times=3)
    result = fresh.run(nightly(DAY), "glue-throttle-3")
    reliability.record(
        "faults injected", "Glue ThrottlingException on GetPartitions x3", outcome(result), injected=fault.injected
    )
    assert fault.injected == 3
    assert result.status == "SUCCEEDED" and task_errors(result) == [TransientAwsError.__name__]
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_a_dropped_table_fails_the_night_with_table_not_found_and_writes_nothing(
    fresh: World, reliability: Recorder
) -> None:
    with uncounted():
        fresh.aws.client("glue").delete_table(DatabaseName="trailkeeper", Name="cloudtrail")
    result = fresh.run(nightly(DAY), "table-dropped")
    reliability.record("faults injected", "Glue EntityNotFoundException (table dropped)", outcome(result), injected=1)
    assert (result.status, result.error, failed_state(result)) == ("FAILED", "TableNotFound", "PlanPartitions")
    assert "trailkeeper.cloudtrail" in cause_message(result) and len(fresh.notifications()) == 1
    assert fresh.result_keys() == [] and fresh.emails() == []
    fresh.reset()  # the table is created again, as redeploying the stack would
    assert rerun_converges(fresh) == []


# ------------------------------------------------------------------------------------------------ S3


def lists_trail_bucket(world: World) -> Callable[[AWSPreparedRequest], bool]:
    return lambda request: world.trail_bucket in request.url and "list-type=2" in request.url


@pytest.mark.parametrize(
    ("code", "status", "times", "retried_by"),
    [("SlowDown", 503, 2, []), ("InternalError", 500, 3, [TransientAwsError.__name__])],
    ids=["SlowDown x2, botocore retries", "InternalError x3, state machine retries"],
)
def test_s3_errors_while_listing_the_trail_bucket_are_retried_and_the_night_succeeds(
    code: str, status: int, times: int, retried_by: list[str], fresh: World, reliability: Recorder
) -> None:
    fault = fresh.http.add(
        "s3.ListObjectsV2",
        s3_error(code, "Please reduce your request rate.", status),
        times=times,
        when=lists_trail_bucket(fresh),
    )
    result = fresh.run(nightly(DAY), "s3-list")
    reliability.record(
        "faults injected",
        f"S3 {code} ({status}) listing the trail bucket x{times}",
        outcome(result),
        injected=fault.injected,
    )
    assert fault.injected == times
    assert result.status == "SUCCEEDED" and task_errors(result) == retried_by
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_s3_slow_down_loading_a_statement_is_retried_by_the_state_machine(fresh: World, reliability: Recorder) -> None:
    fault = fresh.http.add(
        "s3.GetObject",
        s3_error("SlowDown", "Please reduce your request rate.", 503),
        times=1,
        when=lambda request: "/statements/" in request.url,
    )
    result = fresh.run(nightly(DAY), "s3-load")
    reliability.record(
        "faults injected", "S3 SlowDown on LoadStatement GetObject x1", outcome(result), injected=fault.injected
    )
    assert fault.injected == 1
    assert result.status == "SUCCEEDED" and task_errors(result) == ["S3.S3Exception"]
    assert fresh.night_problems(DAY, *WINDOW) == []


# ------------------------------------------------------------------------------------------------ baselines


def test_a_missing_baseline_is_reported_as_established(fresh: World, reliability: Recorder) -> None:
    assert fresh.run(nightly(PREVIOUS_DAY), "previous").status == "SUCCEEDED"
    with uncounted():
        fresh.aws.client("s3").delete_object(Bucket=fresh.results_bucket, Key=ledger_state_key(PREVIOUS_DAY))
    result = fresh.run(nightly(DAY), "baseline-missing")
    baseline_state = (result.output or {}).get("report", {}).get("baseline_state")
    reliability.record(
        "faults injected", "baseline object deleted", f"{result.status}, baseline {baseline_state}", injected=1
    )
    assert (result.status, baseline_state) == ("SUCCEEDED", "established")
    assert fresh.night_problems(DAY, *TWO_NIGHTS) == []


def test_a_corrupt_baseline_fails_the_report_keeps_the_days_result_and_sends_nothing(
    fresh: World, reliability: Recorder
) -> None:
    """Decision: the day's own result is a complete, parsed query result and is saved before the baseline (the
    previous day's ledger) is read, so it stays; the report for the day is not sent and not marked sent."""
    assert fresh.run(nightly(PREVIOUS_DAY), "previous").status == "SUCCEEDED"
    baseline_key = ledger_keys_key(PREVIOUS_DAY)
    baseline = fresh.text(baseline_key) or ""
    fresh.put_text(baseline_key, 'account,region\n"unterminated')
    result = fresh.run(nightly(DAY), "baseline-corrupt")
    reliability.record("faults injected", "baseline object corrupt", outcome(result), injected=1)
    assert (result.status, result.error, failed_state(result)) == ("FAILED", "BaselineUnreadable", "BuildReport")
    assert baseline_key in cause_message(result) and len(fresh.notifications()) == 1
    assert fresh.text(layout.report_key(DAY, layout.SENT_MARKER)) is None and fresh.emails(DAY) == []
    assert fresh.saved_activity_matches_truth(DAY)
    fresh.put_text(baseline_key, baseline)  # the operator restores the previous version
    assert rerun_converges(fresh, DAY, TWO_NIGHTS) == []


# ------------------------------------------------------------------------------------------------ SES


def test_an_unverified_sender_is_rejected_notified_and_the_day_left_unsent(fresh: World, reliability: Recorder) -> None:
    sender = fresh.aws.parameters["ReportSender"]
    sesv2 = fresh.aws.client("sesv2")
    with uncounted():
        sesv2.delete_email_identity(EmailIdentity=sender)
    try:
        result = fresh.run(nightly(DAY), "ses-unverified")
    finally:
        with uncounted():
            sesv2.create_email_identity(EmailIdentity=sender)
    reliability.record("faults injected", "SES MessageRejected (sender not verified)", outcome(result), injected=1)
    assert (result.status, result.error, failed_state(result)) == ("FAILED", "EmailRejected", "SendReport")
    assert "MessageRejected" in cause_message(result) and len(fresh.notifications()) == 1
    assert fresh.text(layout.report_key(DAY, layout.SENT_MARKER)) is None and fresh.emails() == []
    assert rerun_converges(fresh) == []


@pytest.mark.parametrize(
    ("times", "retried_by"),
    [(1, []), (3, [TransientAwsError.__name__])],
    ids=["x1, botocore retries", "x3, state machine retries"],
)
def test_ses_throttling_is_retried_and_exactly_one_email_goes_out(
    times: int, retried_by: list[str], fresh: World, reliability: Recorder
) -> None:
    fault = fresh.http.add(
        "sesv2.SendEmail",
        rest_json_error("TooManyRequestsException", "Maximum sending rate exceeded.", 429),
        times=times,
    )
    result = fresh.run(nightly(DAY), "ses-throttle")
    reliability.record(
        "faults injected", f"SES TooManyRequestsException x{times}", outcome(result), injected=fault.injected
    )
    assert fault.injected == times
    assert result.status == "SUCCEEDED" and task_errors(result) == retried_by
    assert fresh.night_problems(DAY, *WINDOW) == []


def test_a_lost_ses_response_is_retried_so_the_email_is_sent_twice_never_lost(
    fresh: World, reliability: Recorder
) -> None:
    """SES v2 SendEmail has no idempotency token: when SES sends but the answer is lost (a 500 after the fact), the
    retry sends again. trailkeeper is at-least-once here by design: a duplicate beats a lost report."""
    fault = fresh.http.add(
        "sesv2.SendEmail", rest_json_error("InternalFailure", "Internal error", 500), times=1, processed=True
    )
    result = fresh.run(nightly(DAY), "ses-lost")
    reliability.record(
        "faults injected",
        "SES 500 after sending (response lost)",
        f"{outcome(result)}, {len(fresh.emails(DAY))} emails",
        injected=fault.injected,
    )
    assert fault.injected == 1 and result.status == "SUCCEEDED"
    assert len(fresh.emails(DAY)) == 2


# ------------------------------------------------------------------------------------------------ Lambda


@pytest.mark.parametrize(
    ("function", "error", "times"),
    [
        ("PlanPartitionsFunction", "Lambda.TooManyRequestsException", 2),
        ("PrepareReportFunction", "Lambda.ServiceException", 1),
        ("VerifyPartitionsFunction", TransientAwsError.__name__, 1),
    ],
    ids=lambda value: str(value),
)
def test_a_transient_lambda_failure_is_retried_and_the_night_succeeds(
    function: str, error: str, times: int, fresh: World, reliability: Recorder
) -> None:
    fault = fresh.fail_lambda(function, lambda: InjectedFault(error, "injected transient failure"), times)
    result = fresh.run(nightly(DAY), "lambda-transient")
    reliability.record("faults injected", f"{function} {error} x{times}", outcome(result), injected=fault.injected)
    assert fault.injected == times
    assert result.status == "SUCCEEDED" and task_errors(result) == [error] * times
    assert fresh.night_problems(DAY, *WINDOW) == []


@pytest.mark.parametrize(
    ("function", "error", "state"),
    [
        ("VerifyPartitionsFunction", "Sandbox.Timedout", "VerifyPartitions"),
        ("BuildReportFunction", "RuntimeError", "BuildReport"),
    ],
    ids=["times out", "raises"],
)
def test_a_lambda_that_times_out_or_raises_is_not_retried_but_notified(
    function: str, error: str, state: str, fresh: World, reliability: Recorder
) -> None:
    fault = fresh.fail_lambda(function, lambda: InjectedFault(error, f"{error} injected"))
    result = fresh.run(nightly(DAY), "lambda-permanent")
    reliability.record("faults injected", f"{function} {error}", outcome(result), injected=fault.injected)
    assert fault.injected == 1
    assert (result.status, result.error, failed_state(result)) == ("FAILED", error, state)
    [notification] = fresh.notifications()
    assert error in notification and f"{error} injected" in notification
    assert fresh.text(layout.report_key(DAY, layout.SENT_MARKER)) is None and fresh.emails() == []
    assert rerun_converges(fresh) == []


# ------------------------------------------------------------------------------------------------ the sent marker


def test_a_failed_send_whose_claim_cannot_be_released_still_sends_on_the_retry(
    fresh: World, reliability: Recorder
) -> None:
    """SES throttles past botocore's retries (SendReport then releases its claim on sent.json) and the release
    fails too (S3 DeleteObject throttled past botocore's retries): the state machine retries SendReport, which
    finds its own claim and must still send."""
    ses = fresh.http.add(
        "sesv2.SendEmail", rest_json_error("TooManyRequestsException", "Maximum sending rate exceeded.", 429), times=3
    )
    release = fresh.http.add(
        "s3.DeleteObject",
        s3_error("SlowDown", "Please reduce your request rate.", 503),
        times=3,
        when=lambda request: request.url.endswith("/sent.json"),
    )
    result = fresh.run(nightly(DAY), "claim-stuck")
    reliability.record(
        "faults injected",
        "SES throttled and the sent-claim release throttled",
        f"{outcome(result)}, {len(fresh.emails(DAY))} email(s)",
        injected=ses.injected + release.injected,
    )
    assert (ses.injected, release.injected) == (3, 3)
    assert result.status == "SUCCEEDED" and fresh.night_problems(DAY, *WINDOW) == []


def test_a_claim_orphaned_by_a_crashed_send_does_not_silence_the_day(fresh: World, reliability: Recorder) -> None:
    """A SendReport killed mid-send (Lambda timeout: no except block runs) leaves its 'sending' claim behind.
    Once no invocation can still hold it (Lambda runs at most 15 minutes), a re-run must send the day."""
    crashed_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fresh.put_text(
        layout.report_key(DAY, layout.SENT_MARKER),
        json.dumps({"state": "sending", "execution": "crashed-night", "claimed_at": crashed_at}),
    )
    result = fresh.run(nightly(DAY), "after-crash")
    reliability.record(
        "faults injected",
        "orphaned 'sending' claim from a crashed SendReport",
        f"{result.status}, claim taken over, {len(fresh.emails(DAY))} email(s)",
        injected=1,
    )
    assert result.status == "SUCCEEDED" and fresh.night_problems(DAY, *WINDOW) == []


def test_a_live_claim_of_another_execution_is_respected(fresh: World, reliability: Recorder) -> None:
    """What a concurrently sending execution looks like on AWS, where Lambdas run side by side (the embedded
    runtime serialises invocations, so a claim is never observed mid-send there): its fresh claim is left alone."""
    claimed_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    claim = json.dumps({"state": "sending", "execution": "live-night", "claimed_at": claimed_at})
    fresh.put_text(layout.report_key(DAY, layout.SENT_MARKER), claim)
    result = fresh.run(nightly(DAY), "beside-live")
    email = (result.output or {}).get("report", {}).get("email", {})
    reliability.record(
        "concurrent scenarios",
        "another execution is sending the day (fresh claim)",
        f"{result.status}, {email.get('reason')}, {len(fresh.emails(DAY))} email(s)",
    )
    assert result.status == "SUCCEEDED" and email == {"sent": False, "reason": "being sent by execution live-night"}
    assert fresh.emails() == [] and fresh.text(layout.report_key(DAY, layout.SENT_MARKER)) == claim
