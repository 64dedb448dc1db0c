"""The report's steps on moto: saved once, diffed against the baseline, emailed exactly once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from tests.helpers import SentEmail, make_settings, moto_client, sent_emails, table_input
from tests.unit.report.report_kit import ACCOUNT, athena_csv
from trailkeeper import layout
from trailkeeper.config import ReportSettings
from trailkeeper.errors import (
    BaselineUnreadable,
    ConfigurationError,
    EmailRejected,
    InvalidInput,
    QueryResultUnreadable,
)
from trailkeeper.layout import activity_key, ledger_keys_key, ledger_principals_key, ledger_state_key
from trailkeeper.report.daily import build_report, prepare_query, send_report

DAY = dt.date(2024, 3, 9)
SETTINGS = make_settings()
REPORT = ReportSettings.from_env(
    {"REPORT_SENDER": "trailkeeper@example.com", "REPORT_RECIPIENTS": "security@example.com,soc@example.com"}
)
ALICE = (
    ACCOUNT,
    "us-east-1",
    f"arn:aws:iam::{ACCOUNT}:user/alice",
    "iam.amazonaws.com",
    "ListUsers",
    "3",
    "0",
    "2024-03-09T10:00:00Z",
    "192.0.2.1",
    "aws-cli/2.15",
    "",
)
BOB = (
    ACCOUNT,
    "us-east-1",
    f"arn:aws:iam::{ACCOUNT}:user/bob",
    "s3.amazonaws.com",
    "GetObject",
    "1",
    "1",
    "2024-03-09T11:00:00Z",
    "192.0.2.2",
    "aws-cli/2.15",
    "",
)
RECONCILIATION = {"added": 4, "anomalies": {"count": 0, "sample": []}}


@dataclasses.dataclass
class Aws:
    s3: Any
    glue: Any
    sesv2: Any

    def query_result(self, *rows: tuple[str, ...], name: str = "q1") -> str:
        self.s3.put_object(Bucket="results-bucket", Key=f"athena/{name}.csv", Body=athena_csv(list(rows)).encode())
        return f"s3://results-bucket/athena/{name}.csv"

    def text(self, key: str) -> str:
        body: bytes = self.s3.get_object(Bucket="results-bucket", Key=key)["Body"].read()
        return body.decode()

    def emails(self) -> list[SentEmail]:
        return sent_emails()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        clients = Aws(*(moto_client(name) for name in ("s3", "glue", "sesv2")))
        clients.s3.create_bucket(Bucket="results-bucket")
        clients.glue.create_database(DatabaseInput={"Name": "trailkeeper"})
        clients.glue.create_table(DatabaseName="trailkeeper", TableInput=table_input())
        clients.sesv2.create_email_identity(EmailIdentity="trailkeeper@example.com")
        yield clients


def build(aws: Aws, location: str, day: dt.date = DAY, report: ReportSettings = REPORT) -> dict[str, Any]:
    return build_report(day, location, RECONCILIATION, SETTINGS, report, aws.s3)


def send(aws: Aws, resend: bool = False, report: ReportSettings = REPORT) -> dict[str, Any]:
    return send_report(DAY, resend, "run-1", SETTINGS, report, aws.s3, aws.sesv2)


def test_first_day_without_baseline_establishes_it_instead_of_flooding(aws: Aws) -> None:
    summary = build(aws, aws.query_result(ALICE, BOB))
    assert (summary["baseline_state"], summary["new_rows"], summary["rows"]) == ("established", 0, 2)
    assert "baseline" in aws.text(layout.report_key(DAY, layout.REPORT_TEXT)).lower()


def test_rows_absent_from_the_previous_day_are_new(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE, name="yesterday"), day=DAY - dt.timedelta(days=1))
    summary = build(aws, aws.query_result(ALICE, BOB))
    assert (summary["baseline_state"], summary["new_rows"]) == ("compared", 1)
    assert "bob" in aws.text(layout.report_key(DAY, layout.NEW_ACTIVITY_CSV))


def test_a_rerun_that_finds_fewer_events_keeps_the_saved_result(aws: Aws) -> None:
    """Logs are never un-delivered: fewer events is a deletion to investigate, not a correction."""
    build(aws, aws.query_result(ALICE, BOB))
    summary = build(aws, aws.query_result(ALICE, name="q2"))
    assert aws.text(activity_key(DAY)) == athena_csv([ALICE, BOB])
    assert (summary["rows"], summary["revised"]) == (2, False)


def test_a_corrupt_ledger_fails_loudly_instead_of_making_everything_new(aws: Aws) -> None:
    aws.s3.put_object(Bucket="results-bucket", Key=ledger_state_key(DAY - dt.timedelta(days=1)), Body=b'{"x": 1}')
    with pytest.raises(BaselineUnreadable, match="not a trailkeeper ledger"):
        build(aws, aws.query_result(ALICE))


def test_a_tampered_ledger_out_of_key_order_fails_loudly(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE, BOB, name="yesterday"), day=DAY - dt.timedelta(days=1))
    key = ledger_keys_key(DAY - dt.timedelta(days=1))
    lines = aws.text(key).splitlines(keepends=True)
    aws.s3.put_object(Bucket="results-bucket", Key=key, Body="".join(reversed(lines)).encode())
    with pytest.raises(BaselineUnreadable, match="out of order"):
        build(aws, aws.query_result(ALICE))


def test_a_rerun_of_a_day_rebuilds_the_same_ledger_from_the_previous_day(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE, name="yesterday"), day=DAY - dt.timedelta(days=1))
    build(aws, aws.query_result(ALICE, BOB))
    first = [aws.text(k) for k in (ledger_keys_key(DAY), ledger_principals_key(DAY), ledger_state_key(DAY))]
    again = build(aws, aws.query_result(ALICE, BOB, name="q2"))
    assert [aws.text(k) for k in (ledger_keys_key(DAY), ledger_principals_key(DAY), ledger_state_key(DAY))] == first
    assert (again["baseline_state"], again["new_rows"]) == ("compared", 1)


def test_report_json_is_saved_beside_the_email_with_the_day_as_data(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE, name="yesterday"), day=DAY - dt.timedelta(days=1))
    build(aws, aws.query_result(ALICE, BOB))
    report = json.loads(aws.text("reports/2024-03-09/report.json"))
    assert (report["report_day"], report["baseline"]) == (
        "2024-03-09",
        {"state": "compared", "days": 1, "window_days": REPORT.BASELINE_DAYS},
    )
    assert [(r["principal"], r["events"], r["failures"], r["first_at"]) for r in report["new_activity"]] == [
        (BOB[2], 1, 1, BOB[7])
    ]
    assert report["first_seen"] == {"accounts": [], "regions": [], "principals": [[ACCOUNT, BOB[2]]]}
    assert report["subject"].startswith("trailkeeper: 2024-03-09")


def test_a_day_without_any_event_is_an_alarm_never_nothing_new(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE, name="yesterday"), day=DAY - dt.timedelta(days=1))
    summary = build(aws, aws.query_result())
    report = json.loads(aws.text("reports/2024-03-09/report.json"))
    assert (summary["no_activity"], summary["nothing_new"], report["no_activity"]) == (True, False, True)
    assert "NO ACTIVITY" in report["subject"] and "ALARM" in aws.text("reports/2024-03-09/report.txt")


def test_no_account_discovered_is_an_alarm_in_report_json_beside_no_activity(aws: Aws) -> None:
    alarm = {"reason": "nothing_under_logs_root", "detail": "nothing under s3://trail/AWSLogs/"}
    build_report(DAY, aws.query_result(), {**RECONCILIATION, "no_data_alarm": alarm}, SETTINGS, REPORT, aws.s3)
    report = json.loads(aws.text("reports/2024-03-09/report.json"))
    assert (report["no_data_alarm"], report["no_activity"]) == (alarm, True)
    assert "NO DATA" in report["subject"] and "== NO DATA (alarm) ==" in aws.text("reports/2024-03-09/report.txt")


def test_a_night_that_discovered_accounts_has_no_no_data_alarm_in_report_json(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE))
    assert json.loads(aws.text("reports/2024-03-09/report.json"))["no_data_alarm"] is None


def test_an_unreadable_query_result_is_not_saved_and_not_called_a_baseline(aws: Aws) -> None:
    aws.s3.put_object(Bucket="results-bucket", Key="athena/bad.csv", Body=b"garbage")
    with pytest.raises(QueryResultUnreadable, match="query result"):
        build(aws, "s3://results-bucket/athena/bad.csv")
    assert aws.s3.list_objects_v2(Bucket="results-bucket", Prefix=layout.ACTIVITY_PREFIX)["KeyCount"] == 0


def test_a_result_location_outside_the_results_bucket_is_refused(aws: Aws) -> None:
    with pytest.raises(InvalidInput, match="result location"):
        build(aws, "s3://someone-else/athena/q1.csv")


def test_the_report_is_emailed_once_even_when_the_day_runs_again(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE))
    first, second = send(aws), send(aws)
    assert (first["sent"], second) == (True, {"sent": False, "reason": "already sent"})
    assert len(aws.emails()) == 1
    assert json.loads(aws.text(layout.report_key(DAY, layout.SENT_MARKER)))["state"] == "sent"


def test_the_email_sent_is_the_stored_message_byte_for_byte(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE))
    send(aws)
    [email] = aws.emails()
    stored = aws.s3.get_object(Bucket="results-bucket", Key=layout.report_key(DAY, layout.EMAIL_MESSAGE))
    assert email.raw == stored["Body"].read()
    assert email.subject == json.loads(aws.text(layout.report_json_key(DAY)))["subject"]
    assert (email.text, email.html) == (
        aws.text(layout.report_key(DAY, layout.REPORT_TEXT)),
        aws.text(layout.report_key(DAY, layout.REPORT_HTML)),
    )


def test_resend_emails_the_day_again(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE))
    send(aws)
    assert send(aws, resend=True)["sent"] and len(aws.emails()) == 2


def test_a_sent_day_is_not_queried_again(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE))
    send(aws)
    assert prepare_query(DAY, False, SETTINGS, aws.s3, aws.glue)["skip"]
    assert not prepare_query(DAY, True, SETTINGS, aws.s3, aws.glue)["skip"]


def test_ses_rejection_leaves_the_day_unsent_so_a_redrive_sends_it(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE))
    unverified = dataclasses.replace(REPORT, REPORT_SENDER="nobody@example.com")
    with pytest.raises(EmailRejected, match="MessageRejected"):
        send(aws, report=unverified)
    assert send(aws)["sent"] and len(aws.emails()) == 1


def test_quiet_day_email_can_be_switched_off(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE, name="yesterday"), day=DAY - dt.timedelta(days=1))
    build(aws, aws.query_result(ALICE))
    quiet = dataclasses.replace(REPORT, SEND_WHEN_NOTHING_NEW=False)
    assert send(aws, report=quiet)["sent"] is False and aws.emails() == []


def test_subject_and_recipients_come_from_configuration(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE))
    send(aws)
    [email] = aws.emails()
    assert email.recipients == email.to == ("security@example.com", "soc@example.com")
    assert email.subject.startswith("trailkeeper")


BAD_REPORT_CONFIG = {
    "no recipients": {"REPORT_RECIPIENTS": " , "},
    "more than 50 recipients": {"REPORT_RECIPIENTS": ",".join(f"r{n}@example.com" for n in range(51))},
    "header in a recipient": {"REPORT_RECIPIENTS": "team@corp.example\r\nBcc: evil@x.example"},
    "display name in a recipient": {"REPORT_RECIPIENTS": "Team <team@corp.example>"},
    "sender with a space": {"REPORT_SENDER": "trail keeper@example.com"},
    "title with a newline": {"REPORT_TITLE": "trailkeeper\nBcc: x"},
    "switch not a boolean": {"SEND_WHEN_NOTHING_NEW": "yes"},
}


@pytest.mark.parametrize("overrides", BAD_REPORT_CONFIG.values(), ids=BAD_REPORT_CONFIG.keys())
def test_bad_report_configuration_fails_at_start_up(overrides: dict[str, str]) -> None:
    env = {"REPORT_SENDER": "trailkeeper@example.com", "REPORT_RECIPIENTS": "security@example.com", **overrides}
    with pytest.raises(ConfigurationError):
        ReportSettings.from_env(env)


def test_a_re_run_that_finds_more_events_revises_the_result_and_says_so(aws: Aws) -> None:
    aws.s3.put_bucket_versioning(Bucket="results-bucket", VersioningConfiguration={"Status": "Enabled"})
    first = build(aws, aws.query_result(ALICE))
    late = build(aws, aws.query_result(ALICE, BOB, name="q2"))
    report = json.loads(aws.text(layout.report_json_key(DAY)))
    text = aws.text(layout.report_key(DAY, layout.REPORT_TEXT))
    versions = aws.s3.list_object_versions(Bucket="results-bucket", Prefix=activity_key(DAY))["Versions"]
    assert (first["revised"], late["revised"], late["events"], len(versions)) == (False, True, 4, 2)
    assert report["subject"].startswith("REVISED ") and text.startswith("Revised report: ")
    assert report["revised"] == {"events_before": 3, "events_now": 4}


def test_a_re_run_that_finds_the_same_events_keeps_the_first_result(aws: Aws) -> None:
    build(aws, aws.query_result(ALICE, BOB))
    again = build(aws, aws.query_result(BOB, ALICE, name="q2"))
    assert again["revised"] is False and "REVISED" not in json.loads(aws.text(layout.report_json_key(DAY)))["subject"]
