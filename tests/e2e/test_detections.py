"""A night over published attack-detonation records on the embedded runtime: the attention list is exactly
the hits the records' sources document, it opens the report, and the subject names the worst one."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from localaws.local_run import LOCAL_PARAMETERS, detect_layout
from localaws.runtime import EmbeddedAws
from tests.detections.athena_kit import published_records
from tests.e2e.conftest import results_text, sent_emails

pytestmark = pytest.mark.e2e
DAY = dt.date(2024, 8, 1)
ACCOUNT = "111122223333"
ORG = "o-exampleorg1"
SUPPRESSED = "config/suppressions.json"


def _write_logs(root: Path) -> None:
    """The published records, re-dated into DAY, in one account-region folder of an organization trail."""
    records = [
        {**case["record"], "eventTime": f"{DAY.isoformat()}T{10 + n % 12:02d}:{n % 60:02d}:00Z"}
        for n, case in enumerate(published_records())
    ]
    folder = root / "AWSLogs" / ORG / ACCOUNT / "CloudTrail" / "us-east-1" / f"{DAY:%Y/%m/%d}"
    folder.mkdir(parents=True)
    name = f"{ACCOUNT}_CloudTrail_us-east-1_{DAY:%Y%m%d}T2355Z_detonations.json.gz"
    (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    logs = tmp_path_factory.mktemp("detonations")
    _write_logs(logs)
    found: dict[str, Any] = {}
    with EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **detect_layout(logs)}) as aws:
        aws.upload_directory(logs, aws.parameters["TrailBucketName"])
        # The operator expects new users this week: the stratus CreateUser is suppressed until next week.
        suppression = {
            "version": 1,
            "suppressions": [
                {
                    "id": "onboarding",
                    "detection": "iam-credentials-created",
                    "eventname": "CreateUser",
                    "reason": "onboarding week",
                    "expires": (DAY + dt.timedelta(days=7)).isoformat(),
                }
            ],
        }
        aws.client("s3").put_object(
            Bucket=aws.physical["ResultsBucket"], Key=SUPPRESSED, Body=json.dumps(suppression).encode()
        )
        found["execution"] = aws.run_execution({"time": f"{DAY + dt.timedelta(days=1)}T01:30:00Z"}, name="night")
        found["attention"] = json.loads(results_text(aws, f"reports/{DAY}/report.json") or "{}")
        found["html"] = results_text(aws, f"reports/{DAY}/report.html")
        found["text"] = results_text(aws, f"reports/{DAY}/report.txt")
        found["emails"] = sent_emails(aws)
    return found


def test_night_succeeds(night: dict[str, Any]) -> None:
    assert night["execution"].status == "SUCCEEDED", night["execution"]


def test_attention_lists_exactly_the_documented_hits_minus_the_suppressed(night: dict[str, Any]) -> None:
    expected = Counter((rule, case["record"]["eventName"]) for case in published_records() for rule in case["matches"])
    del expected[("iam-credentials-created", "CreateUser")]  # suppressed

    listed = Counter[tuple[str, str]]()
    for row in night["attention"]["attention"]:
        listed[(row["rule"], row["eventname"])] += row["events"]

    assert listed == expected
    assert all(row["account"] == ACCOUNT or row["account"].isdigit() for row in night["attention"]["attention"])


def test_suppressed_hit_is_counted_not_dropped(night: dict[str, Any]) -> None:
    [counted] = night["attention"]["suppressed"]

    assert (counted["id"], counted["hits"], counted["events"], counted["active"]) == ("onboarding", 1, 1, True)
    assert "onboarding (1 hit, 1 event" in night["text"]


def test_attention_opens_the_report_before_any_activity(night: dict[str, Any]) -> None:
    html, text = night["html"], night["text"]

    assert html.index('class="attention"') < html.index("<h2>Baseline established")
    assert text.index("== Needs attention") < text.index("== Baseline established")


def test_subject_names_the_most_severe_finding(night: dict[str, Any]) -> None:
    [email] = night["emails"]

    assert email.subject.startswith(f"trailkeeper: {DAY} - CRITICAL ")
    assert "more findings" in email.subject
