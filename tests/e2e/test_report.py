"""Two consecutive nights over generated logs: the report says exactly what the generator planted."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from localaws.local_run import LOCAL_PARAMETERS, detect_layout, trail_objects
from localaws.runtime import EmbeddedAws
from tests.e2e.conftest import results_text, sent_emails
from trailgen.generator import (
    GroundTruth,
    LateEvent,
    NewPrincipal,
    NewRegion,
    SilentFrom,
    TrailSpec,
    account_id,
    generate,
    principal_of,
)
from trailkeeper import layout
from trailkeeper.report.activity import ActivityRow, parse_activity_csv

pytestmark = pytest.mark.e2e
DAY1, DAY2 = dt.date(2024, 3, 2), dt.date(2024, 3, 3)
ACCOUNTS = [account_id(i) for i in range(3)]
SPEC = TrailSpec(
    start=dt.date(2024, 3, 1), days=4, accounts=3, regions=("us-east-1", "eu-west-1"),
    plants=(
        LateEvent(DAY1, ACCOUNTS[0], "us-east-1"),
        NewPrincipal(DAY2, ACCOUNTS[0], "us-east-1", "incident-responder"),
        NewRegion(DAY2, ACCOUNTS[1], "ap-southeast-2"),
        SilentFrom(DAY2, ACCOUNTS[2]),
    ),
)
Key = tuple[str, str, str, str, str]


def truth_rows(truth: GroundTruth, day: dt.date) -> dict[Key, tuple[int, int, str]]:
    return {tuple(key): (s.events, s.errors, s.first_event_time.strftime("%Y-%m-%dT%H:%M:%SZ"))  # type: ignore[misc]
            for key, s in truth.activity(day).items()}


def saved_rows(rows: list[ActivityRow]) -> dict[Key, tuple[int, int, str]]:
    return {row.key: (row.events, row.errors, row.first_seen) for row in rows}


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run nights DAY1 and DAY2, each seeing only the folders delivered by its start time."""
    logs = tmp_path_factory.mktemp("logs")
    truth = generate(SPEC, logs)
    objects = trail_objects(logs)
    found: dict[str, object] = {"truth": truth, "logs": logs}
    with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs)}) as aws:
        for night in (DAY1, DAY2):
            run_day = night + dt.timedelta(days=1)
            aws.upload_files([(key, path) for key, path, day in objects if day is None or day <= run_day],
                             aws.parameters["TrailBucketName"])
            found[f"execution {night}"] = aws.run_execution({"time": f"{run_day}T01:30:00Z"}, name=f"nightly-{night}")
            for name in ("activity", "csv"):
                key = (layout.activity_key(night) if name == "activity"
                       else layout.report_key(night, layout.NEW_ACTIVITY_CSV))
                found[f"{name} {night}"] = results_text(aws, key)
        found["emails"] = sent_emails(aws)
    return found


def test_both_nights_succeed_and_send_one_email_each(two_nights: dict[str, object]) -> None:
    for night in (DAY1, DAY2):
        assert two_nights[f"execution {night}"].status == "SUCCEEDED"  # type: ignore[attr-defined]
    assert len(two_nights["emails"]) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize("night", [DAY1, DAY2], ids=str)
def test_saved_activity_equals_the_ground_truth_of_the_day(two_nights: dict[str, object], night: dt.date) -> None:
    saved = parse_activity_csv(str(two_nights[f"activity {night}"]))
    assert saved_rows(saved) == truth_rows(two_nights["truth"], night)  # type: ignore[arg-type]


def test_an_event_at_235959_delivered_next_day_counts_on_its_own_day(two_nights: dict[str, object]) -> None:
    logs: Path = two_nights["logs"]  # type: ignore[assignment]
    late = [(record, folder) for record, folder in records(logs) if record["eventTime"] == f"{DAY1}T23:59:59Z"]
    assert [folder for _, folder in late] == [str(DAY2)], "the plant is an event of DAY1 in a DAY2 folder"
    key = activity_key(late[0][0])
    of_day1 = [folder for record, folder in records(logs)
               if record["eventTime"].startswith(str(DAY1)) and activity_key(record) == key]
    saved = saved_rows(parse_activity_csv(str(two_nights[f"activity {DAY1}"])))
    assert saved[key][0] == len(of_day1) == of_day1.count(str(DAY1)) + 1


def records(logs: Path) -> list[tuple[dict[str, Any], str]]:
    """(record, folder day) for every CloudTrail record under logs."""
    found = []
    for path in logs.rglob("*/CloudTrail/*/*/*/*/*.json.gz"):
        year, month, day = path.parts[-4:-1]
        found += [(r, f"{year}-{month}-{day}") for r in json.loads(gzip.decompress(path.read_bytes()))["Records"]]
    return found


def activity_key(record: dict[str, Any]) -> Key:
    return (record["recipientAccountId"], record["awsRegion"], principal_of(record.get("userIdentity")),
            record["eventSource"], record["eventName"])


def test_second_night_reports_exactly_the_planted_changes(two_nights: dict[str, object]) -> None:
    truth: GroundTruth = two_nights["truth"]  # type: ignore[assignment]
    expected_new = set(truth_rows(truth, DAY2)) - set(truth_rows(truth, DAY1))
    report = two_nights[f"execution {DAY2}"].output["report"]  # type: ignore[attr-defined]
    new_rows = parse_activity_csv_for_people(str(two_nights[f"csv {DAY2}"]))
    assert new_rows == expected_new
    assert {principal for _, _, principal, _, _ in expected_new} >= {
        f"arn:aws:iam::{ACCOUNTS[0]}:role/incident-responder"}
    assert {(account, region) for account, region, *_ in expected_new} == {
        (ACCOUNTS[0], "us-east-1"), (ACCOUNTS[1], "ap-southeast-2")}
    assert (report["went_silent"], report["first_seen_regions"], report["first_seen_accounts"]) == (2, 1, 0)


def parse_activity_csv_for_people(text: str) -> set[Key]:
    """new_activity.csv keys (formula-looking cells carry a leading quote; none are expected here)."""
    return {(r["account"], r["region"], r["principal"], r["eventsource"], r["eventname"])
            for r in csv.DictReader(io.StringIO(text))}


def test_first_night_without_baseline_establishes_it(two_nights: dict[str, object]) -> None:
    report = two_nights[f"execution {DAY1}"].output["report"]  # type: ignore[attr-defined]
    assert (report["baseline_state"], report["new_rows"]) == ("established", 0)


def test_the_silent_account_is_reported_as_stopped_logging(two_nights: dict[str, object]) -> None:
    [email] = [e for e in two_nights["emails"] if str(DAY2) in e.subject]  # type: ignore[attr-defined]
    assert "went silent" in email.subject or "silent" in email.body.lower()
    assert ACCOUNTS[2] in email.body
