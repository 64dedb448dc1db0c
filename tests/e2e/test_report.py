"""Five consecutive nights over generated logs: report.json says exactly what the generator planted; and two
nights of published CloudTrail records: distinct actors are distinct principals, failures are counted."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from localaws.local_run import LOCAL_PARAMETERS, delivered_by, detect_layout, trail_objects
from localaws.runtime import EmbeddedAws
from tests.e2e.conftest import results_text, sent_emails
from tests.helpers import FIXTURES
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
from trailkeeper.layout import activity_key as saved_activity_key
from trailkeeper.layout import report_json_key
from trailkeeper.report.activity import ActivityRow, parse_activity_csv

pytestmark = pytest.mark.e2e
DAY1, DAY2, DAY3, DAY4, DAY5 = NIGHTS = tuple(dt.date(2024, 3, 2) + dt.timedelta(days=n) for n in range(5))
ACCOUNTS = [account_id(i) for i in range(3)]
SPEC = TrailSpec(
    start=dt.date(2024, 3, 1),
    days=7,
    accounts=3,
    regions=("us-east-1", "eu-west-1"),
    plants=(
        LateEvent(DAY1, ACCOUNTS[0], "us-east-1"),
        NewPrincipal(DAY2, ACCOUNTS[0], "us-east-1", "incident-responder"),
        NewRegion(DAY2, ACCOUNTS[1], "ap-southeast-2"),
        SilentFrom(DAY2, ACCOUNTS[2]),
        NewPrincipal(DAY4, ACCOUNTS[1], "eu-west-1", "break-glass"),
    ),
)
Key = tuple[str, str, str, str, str]


def truth_rows(truth: GroundTruth, day: dt.date) -> dict[Key, tuple[int, int, str]]:
    return {
        tuple(key): (s.events, s.failures, s.first_event_time.strftime("%Y-%m-%dT%H:%M:%SZ"))  # type: ignore[misc]
        for key, s in truth.activity(day).items()
    }


def saved_rows(rows: list[ActivityRow]) -> dict[Key, tuple[int, int, str]]:
    return {row.key: (row.events, row.failures, row.first_at) for row in rows}


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run nights DAY1..DAY5, each seeing only the folders delivered by its start time."""
    logs = tmp_path_factory.mktemp("logs")
    truth = generate(SPEC, logs)
    objects = trail_objects(logs)
    found: dict[str, object] = {"truth": truth, "logs": logs}
    with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs)}) as aws:
        for night in NIGHTS:
            run_day = night + dt.timedelta(days=1)
            aws.upload_files(
                delivered_by(objects, dt.datetime.combine(run_day, dt.time(1, 30))), aws.parameters["TrailBucketName"]
            )
            found[f"execution {night}"] = aws.run_execution({"time": f"{run_day}T01:30:00Z"}, name=f"nightly-{night}")
            for name, key in (
                ("activity", saved_activity_key(night)),
                ("csv", layout.report_key(night, layout.NEW_ACTIVITY_CSV)),
                ("report", report_json_key(night)),
            ):
                found[f"{name} {night}"] = results_text(aws, key)
        found["emails"] = sent_emails(aws)
    return found


def test_every_night_succeeds_and_sends_one_email(two_nights: dict[str, object]) -> None:
    for night in NIGHTS:
        assert two_nights[f"execution {night}"].status == "SUCCEEDED"  # type: ignore[attr-defined]
    assert len(two_nights["emails"]) == len(NIGHTS)  # type: ignore[arg-type]


@pytest.mark.parametrize("night", NIGHTS[1:], ids=str)
def test_report_json_equals_the_generator_ground_truth(two_nights: dict[str, object], night: dt.date) -> None:
    truth: GroundTruth = two_nights["truth"]  # type: ignore[assignment]
    expected = truth.expected_report(NIGHTS, night, baseline_days=14)
    report = json.loads(str(two_nights[f"report {night}"]))
    new = sorted(
        [r[c] for c in ("account", "region", "principal", "eventsource", "eventname", "events", "failures", "first_at")]
        for r in report["new_activity"]
    )
    assert (report["baseline"]["state"], new) == (expected["state"], expected["new_activity"])
    assert sorted([p["account"], p["region"], p["since"]] for p in report["silent"]) == expected["silent"]
    assert report["first_seen"] == expected["first_seen"]


def test_the_plants_are_what_the_ground_truth_reports(two_nights: dict[str, object]) -> None:
    """The ground truth is not vacuous: it holds each plant on its night (and the silence on every later one)."""
    truth: GroundTruth = two_nights["truth"]  # type: ignore[assignment]
    reports = {night: truth.expected_report(NIGHTS, night, baseline_days=14) for night in NIGHTS}
    responder, breaker = (
        f"arn:aws:iam::{ACCOUNTS[n]}:role/{name}" for n, name in ((0, "incident-responder"), (1, "break-glass"))
    )
    assert [ACCOUNTS[0], responder] in reports[DAY2]["first_seen"]["principals"]
    assert [ACCOUNTS[1], breaker] in reports[DAY4]["first_seen"]["principals"]
    assert reports[DAY2]["first_seen"]["regions"] == [[ACCOUNTS[1], "ap-southeast-2"]]
    for night in (DAY2, DAY3, DAY4, DAY5):
        assert {(a, since) for a, _, since in reports[night]["silent"]} == {(ACCOUNTS[2], DAY2.isoformat())}
    assert reports[DAY3]["new_activity"] == [] and reports[DAY5]["new_activity"] == []


@pytest.mark.parametrize("night", [DAY1, DAY2], ids=str)
def test_saved_activity_equals_the_ground_truth_of_the_day(two_nights: dict[str, object], night: dt.date) -> None:
    saved = parse_activity_csv(str(two_nights[f"activity {night}"]))
    assert saved_rows(saved) == truth_rows(two_nights["truth"], night)  # type: ignore[arg-type]


def test_an_event_at_235959_delivered_next_day_counts_on_its_own_day(two_nights: dict[str, object]) -> None:
    logs: Path = two_nights["logs"]  # type: ignore[assignment]
    late = [(record, folder) for record, folder in records(logs) if record["eventTime"] == f"{DAY1}T23:59:59Z"]
    assert [folder for _, folder in late] == [str(DAY2)], "the plant is an event of DAY1 in a DAY2 folder"
    key = activity_key(late[0][0])
    of_day1 = [
        folder
        for record, folder in records(logs)
        if record["eventTime"].startswith(str(DAY1)) and activity_key(record) == key
    ]
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
    return (
        record["recipientAccountId"],
        record["awsRegion"],
        principal_of(record.get("userIdentity")),
        record["eventSource"],
        record["eventName"],
    )


def test_second_night_reports_exactly_the_planted_changes(two_nights: dict[str, object]) -> None:
    truth: GroundTruth = two_nights["truth"]  # type: ignore[assignment]
    expected_new = set(truth_rows(truth, DAY2)) - set(truth_rows(truth, DAY1))
    report = two_nights[f"execution {DAY2}"].output["report"]  # type: ignore[attr-defined]
    new_rows = parse_activity_csv_for_people(str(two_nights[f"csv {DAY2}"]))
    assert new_rows == expected_new
    assert {principal for _, _, principal, _, _ in expected_new} >= {
        f"arn:aws:iam::{ACCOUNTS[0]}:role/incident-responder"
    }
    assert {(account, region) for account, region, *_ in expected_new} == {
        (ACCOUNTS[0], "us-east-1"),
        (ACCOUNTS[1], "ap-southeast-2"),
    }
    assert (report["went_silent"], report["first_seen_regions"], report["first_seen_accounts"]) == (2, 1, 0)


def parse_activity_csv_for_people(text: str) -> set[Key]:
    """new_activity.csv keys (formula-looking cells carry a leading quote; none are expected here)."""
    return {
        (r["account"], r["region"], r["principal"], r["eventsource"], r["eventname"])
        for r in csv.DictReader(io.StringIO(text))
    }


def test_first_night_without_baseline_establishes_it(two_nights: dict[str, object]) -> None:
    report = two_nights[f"execution {DAY1}"].output["report"]  # type: ignore[attr-defined]
    assert (report["baseline_state"], report["new_rows"]) == ("established", 0)


def test_the_silent_account_is_reported_as_stopped_logging(two_nights: dict[str, object]) -> None:
    [email] = [e for e in two_nights["emails"] if str(DAY2) in e.subject]  # type: ignore[attr-defined]
    assert "went silent" in email.subject or "silent" in email.html.lower()
    assert ACCOUNTS[2] in email.html


# ---- two nights of published records ----------------------------------------------------------------------

PUBLISHED = json.loads((FIXTURES / "published" / "records.json").read_text())


@pytest.fixture(scope="module")
def published_nights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The published records as a trail bucket (one object per night and log folder), run night by night."""
    logs = tmp_path_factory.mktemp("published")
    by_folder: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for entry in PUBLISHED["records"]:
        by_folder.setdefault((entry["night"], entry["account"], entry["region"]), []).append(entry["record"])
    for (night, account, region), records in sorted(by_folder.items()):
        day = dt.date.fromisoformat(night)
        folder = logs / "AWSLogs" / "o-published01" / account / "CloudTrail" / region / f"{day:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{account}_CloudTrail_{region}_{day:%Y%m%d}T2355Z_Published{len(records):07d}.json.gz"
        (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    found: dict[str, Any] = {}
    with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs)}) as aws:
        aws.upload_files([(key, path) for key, path, _ in trail_objects(logs)], aws.parameters["TrailBucketName"])
        for night in PUBLISHED["nights"]:
            day = dt.date.fromisoformat(night)
            run = aws.run_execution({"time": f"{day + dt.timedelta(days=1)}T01:30:00Z"}, name=f"published-{night}")
            found[night] = (
                run,
                json.loads(str(results_text(aws, report_json_key(day)))),
                parse_activity_csv(str(results_text(aws, saved_activity_key(day)))),
            )
    return found


def test_published_records_distinct_actors_are_distinct_principals_and_failures_count(
    published_nights: dict[str, Any],
) -> None:
    first, second = PUBLISHED["nights"]
    run, report, saved = published_nights[second]
    assert run.status == "SUCCEEDED" and report["baseline"]["state"] == "compared"
    expected_new: dict[str, int] = {}
    known = {
        (e["account"], e["expect"]["principal"], e["record"]["eventName"])
        for e in PUBLISHED["records"]
        if e["night"] == first
    }
    for entry in PUBLISHED["records"]:
        key = (entry["account"], entry["expect"]["principal"], entry["record"]["eventName"])
        if entry["night"] == second and key not in known:
            expected_new[entry["expect"]["principal"]] = expected_new.get(entry["expect"]["principal"], 0) + int(
                entry["expect"]["failed"]
            )
    assert {r["principal"]: r["failures"] for r in report["new_activity"]} == expected_new
    assert {"anonymous", "account:987654321098"} <= set(expected_new)  # two S3 readers, two principals
    root = [row for row in saved if row.principal == "root"]
    assert [(row.account, row.events, row.failures) for row in root] == [("111122223333", 2, 1)]
