"""Who did it and did it fail, per userIdentity type and outcome rule, on published CloudTrail records.

The records and their sources are in tests/fixtures/published/records.json; each says which principal and
which outcome the daily activity query (sql/daily_activity.sql) must compute for it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.helpers import FIXTURES
from tests.unit.report.report_kit import ACCOUNT, Found, run_records

PUBLISHED: list[dict[str, Any]] = json.loads((FIXTURES / "published" / "records.json").read_text())["records"]


def _id(entry: dict[str, Any]) -> str:
    record = entry["record"]
    return f"{record['userIdentity'].get('type') or 'none'}-{record['eventName']}-{record['eventID'][:8]}"


def _run(entries: list[dict[str, Any]], day: str) -> list[tuple[Any, ...]]:
    found = [Found(e["night"], e["account"], e["region"], e["record"]) for e in entries]
    return run_records(found, dt.date.fromisoformat(day))


@pytest.mark.parametrize("entry", PUBLISHED, ids=[_id(e) for e in PUBLISHED])
def test_published_record_has_its_principal_and_outcome(entry: dict[str, Any]) -> None:
    [row] = _run([entry], entry["night"])
    assert (row[2], row[5], row[6]) == (entry["expect"]["principal"], 1, int(entry["expect"]["failed"]))


@pytest.mark.parametrize("entry", PUBLISHED, ids=[_id(e) for e in PUBLISHED])
def test_the_account_is_the_log_folder_s_never_recipient_account_id(entry: dict[str, Any]) -> None:
    moved = {**entry, "account": "999988887777"}  # the same record, delivered into another account's folder
    [row] = _run([moved], entry["night"])
    assert row[0] == "999988887777"


def test_a_record_without_recipient_account_id_still_has_an_account() -> None:
    [entry] = [e for e in PUBLISHED if "recipientAccountId" not in e["record"] and e["expect"]["failed"]]
    [row] = _run([entry], entry["night"])
    assert row[0] == entry["account"]


def test_distinct_actors_are_distinct_principals() -> None:
    by_night: dict[str, set[str]] = {}
    for entry in PUBLISHED:
        by_night.setdefault(entry["night"], set()).add(entry["expect"]["principal"])
    for night, expected in by_night.items():
        rows = _run([e for e in PUBLISHED if e["night"] == night], night)
        assert {row[2] for row in rows} == expected


def test_success_and_failure_of_one_call_by_one_principal_are_one_row_with_both_counts() -> None:
    root = [e for e in PUBLISHED if e["night"] == "2024-03-10" and e["expect"]["principal"] == "root"]
    assert len(root) == 2
    [row] = _run(root, "2024-03-10")
    assert (row[2], row[4], row[5], row[6]) == ("root", "ConsoleLogin", 2, 1)


def test_an_identity_center_permission_set_keeps_the_person_other_roles_drop_the_session() -> None:
    [sso] = [e for e in PUBLISHED if "AWSReservedSSO_" in e["record"]["userIdentity"].get("arn", "")]
    other = json.loads(json.dumps(sso).replace("AWSReservedSSO_AnomAIAdmin_aa59d952f393cb6a", "deploy"))
    rows = {row[2]: row[10] for row in _run([sso, other], sso["night"])}
    assert rows == {
        sso["expect"]["principal"]: None,
        "arn:aws:iam::643766343043:role/aws-reserved/sso.amazonaws.com/us-east-2/deploy": "Aykhan",
    }


def test_the_source_identity_is_shown_beside_the_session_name() -> None:
    [sso] = [e for e in PUBLISHED if "AWSReservedSSO_" in e["record"]["userIdentity"].get("arn", "")]
    other = json.loads(json.dumps(sso).replace("AWSReservedSSO_AnomAIAdmin_aa59d952f393cb6a", "deploy"))
    other["record"]["userIdentity"]["sessionContext"]["sourceIdentity"] = "alice@example.com"
    [row] = _run([other], sso["night"])
    assert row[10] == "Aykhan (source identity alice@example.com)"


def test_the_fixture_account_is_not_the_kit_default() -> None:
    assert all(entry["account"] != ACCOUNT for entry in PUBLISHED)
