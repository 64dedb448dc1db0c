"""Integrity validation in the nightly state machine on the embedded runtime: PlanIntegrity -> the
ValidateIntegrity Distributed Map -> SummariseIntegrity, over generated logs with CloudTrail's digests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from localaws.local_run import LOCAL_PARAMETERS, delivered_by, detect_layout, trail_objects
from localaws.runtime import EmbeddedAws
from tests.e2e.conftest import results_text
from trailgen.generator import QuietFrom, SilentFrom, TrailSpec, account_id, generate
from trailkeeper.integrity import findings as kinds
from trailkeeper.layout import integrity_anchor_key, integrity_summary_key, report_json_key

pytestmark = pytest.mark.e2e
START = dt.date(2024, 3, 1)
ACCOUNTS = [account_id(i) for i in range(3)]
SILENT_DAY = dt.date(2024, 3, 3)
SPEC = TrailSpec(
    start=START,
    days=3,
    accounts=3,
    regions=("us-east-1", "eu-west-1"),
    plants=(
        SilentFrom(SILENT_DAY, ACCOUNTS[2], "eu-west-1"),  # digests stop too: broken
        QuietFrom(SILENT_DAY, ACCOUNTS[1], "us-east-1"),
    ),
)  # empty digests keep coming: quiet
NIGHTS = (dt.date(2024, 3, 2), dt.date(2024, 3, 3))


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    logs = tmp_path_factory.mktemp("logs")
    generate(SPEC, logs)
    objects = trail_objects(logs)
    seen: dict[str, Any] = {"executions": [], "summaries": [], "anchors": {}}
    with EmbeddedAws.running(
        parameters={**LOCAL_PARAMETERS, **detect_layout(logs), "IntegrityBatchAccounts": "2"}
    ) as aws:
        uploaded: set[str] = set()
        for night in NIGHTS:
            run_day = night + dt.timedelta(days=1)
            delivered = [
                (k, p)
                for k, p in delivered_by(objects, dt.datetime.combine(run_day, dt.time(1, 30)))
                if k not in uploaded
            ]
            aws.upload_files(delivered, aws.parameters["TrailBucketName"])
            uploaded.update(k for k, _ in delivered)
            execution = aws.run_execution({"time": f"{run_day.isoformat()}T01:30:00Z"}, name=f"nightly-{night}")
            seen["executions"].append(execution)
            seen["summaries"].append(json.loads(results_text(aws, integrity_summary_key(night)) or "null"))
            seen.setdefault("reports", []).append(json.loads(results_text(aws, report_json_key(night)) or "null"))
        seen["anchor"] = json.loads(results_text(aws, integrity_anchor_key(ACCOUNTS[0], "us-east-1")) or "null")
        seen["states"] = [e.states for e in seen["executions"]]
    return seen


def test_each_night_validates_every_account_region_in_batches_and_succeeds(nights: dict[str, Any]) -> None:
    for execution in nights["executions"]:
        assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
        assert {"PlanIntegrity", "ValidateIntegrity", "SummariseIntegrity"} <= set(execution.states)
        assert execution.output["integrity"]["pairs"] == 6
    first, second = nights["summaries"]
    assert first["totals"]["pairs"] == second["totals"]["pairs"] == 6
    assert all(p["digests_verified"] >= 23 for p in first["pairs"])


def test_a_healthy_organisation_has_no_finding_and_the_second_night_starts_from_the_anchor(
    nights: dict[str, Any],
) -> None:
    first, second = nights["summaries"]
    assert first["totals"]["alarming_findings"] == 0
    assert all(not p["findings"] for p in first["pairs"])  # the uploads restored every signature's metadata
    assert all(23 <= p["hours"] <= 25 for p in second["pairs"])  # from each anchor to midnight
    anchor = nights["anchor"]
    assert anchor["night"] == NIGHTS[1].isoformat()
    assert all(a["end"] < "2024-03-04T00:00:00Z" for a in anchor["anchors"].values())


def test_a_pair_whose_digests_stop_is_delivery_stopped_and_alarms(nights: dict[str, Any]) -> None:
    second = nights["summaries"][1]
    stopped = [p for p in second["pairs"] if p["delivery"] == "stopped"]
    assert [(p["account"], p["region"]) for p in stopped] == [(ACCOUNTS[2], "eu-west-1")]
    assert {f["kind"] for f in stopped[0]["findings"]} == {kinds.DIGEST_SILENCE}
    assert second["totals"]["alarming_findings"] == 1
    quiet = [p for p in second["pairs"] if p["delivery"] == "arriving"]
    assert all(not p["findings"] for p in quiet)


def test_only_keys_and_counts_travel_in_the_state(nights: dict[str, Any]) -> None:
    output = nights["executions"][1].output["integrity"]
    assert set(output) == {"night", "summary_key", "pairs", "alarming_findings", "unvalidated_batches"}
    assert len(json.dumps(output)) < 512


def test_the_report_grades_silence_with_the_digests_and_carries_the_integrity_block(nights: dict[str, Any]) -> None:
    report = nights["reports"][1]
    assert {(s["account"], s["region"], s["state"]) for s in report["silent"]} == {
        (ACCOUNTS[2], "eu-west-1", "broken"),
        (ACCOUNTS[1], "us-east-1", "quiet"),
    }
    block = report["integrity"]
    assert block["night"] == NIGHTS[1].isoformat() and len(block["pairs"]) == 6
    stopped = next(p for p in block["pairs"] if (p["account"], p["region"]) == (ACCOUNTS[2], "eu-west-1"))
    assert [f["kind"] for f in stopped["findings"]] == [kinds.DIGEST_SILENCE]
    assert all({"hours", "digests_verified", "logs_verified"} <= set(p) for p in block["pairs"])
    assert all(r["integrity"]["alarming_findings"] == 0 for r in nights["reports"][:1])
