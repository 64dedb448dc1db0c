"""The detection catalog, run as SQL on the embedded Athena over published CloudTrail records."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.detections.athena_kit import DATABASE, TABLE, EmbeddedAthena, published_records
from trailkeeper.detections.catalog import BY_ID, CATALOG, Detection
from trailkeeper.detections.conditions import (
    All,
    Any_,
    Condition,
    Field,
    Not,
    Operand,
    fields_read,
    pinned_values,
    to_sql,
)

DAY = dt.date(2024, 8, 1)
IDS = [d.id for d in CATALOG]
REQUIRED_IDS = {
    "root-activity",
    "console-login-without-mfa",
    "console-login-failures",
    "unauthorized-api-calls",
    "cloudtrail-tampering",
    "iam-policy-change",
    "iam-credentials-created",
    "admin-policy-attached",
    "kms-key-disable-or-delete",
    "s3-bucket-policy-change",
    "config-disabled",
    "guardduty-disabled",
    "security-group-open-to-world",
    "network-perimeter-change",
    "organizations-change",
}


def _matching(athena: EmbeddedAthena, predicate: str) -> set[str]:
    rows = athena.rows(f'SELECT eventid FROM "{DATABASE}"."{TABLE}" WHERE dt = \'{DAY.isoformat()}\' AND ({predicate})')
    return {str(row[0]) for row in rows}


def _expected(detection_id: str, key: str = "matches") -> set[str]:
    return {c["record"]["eventID"] for c in published_records() if detection_id in c.get(key, [])}


def test_catalog_has_every_detection_issue_15_names() -> None:
    assert set(BY_ID) >= REQUIRED_IDS


def _positive_operands(condition: Condition) -> list[Operand]:
    """Operands read outside any NOT (an exclusion may name an event without pinning a source)."""
    if isinstance(condition, Not):
        return []
    if isinstance(condition, All | Any_):
        return [o for term in condition.terms for o in _positive_operands(term)]
    return list(fields_read(condition))


@pytest.mark.parametrize("detection", CATALOG, ids=IDS)
def test_a_rule_on_event_names_pins_the_event_source(detection: Detection) -> None:
    conditions = [detection.condition] + ([detection.escalation.condition] if detection.escalation else [])
    if any(Field("eventname") in _positive_operands(c) for c in conditions):
        assert pinned_values(detection.condition, "eventsource"), f"{detection.id} names events but no source"


@pytest.mark.parametrize("detection", CATALOG, ids=IDS)
def test_every_detection_has_a_published_match_and_a_documented_false_positive(detection: Detection) -> None:
    assert _expected(detection.id), f"no fixture record matches {detection.id}"
    assert _expected(detection.id, "false_positive_for"), f"no false-positive fixture for {detection.id}"


@pytest.fixture
def loaded(embedded_athena: EmbeddedAthena) -> EmbeddedAthena:
    embedded_athena.put_records(DAY, [case["record"] for case in published_records()])
    return embedded_athena


@pytest.mark.parametrize("detection", CATALOG, ids=IDS)
def test_detection_matches_exactly_its_published_records(loaded: EmbeddedAthena, detection: Detection) -> None:
    matched = _matching(loaded, to_sql(detection.condition))

    assert matched == _expected(detection.id)
    assert not matched & _expected(detection.id, "false_positive_for")


ESCALATING = [d for d in CATALOG if d.escalation]


@pytest.mark.parametrize("detection", ESCALATING, ids=[d.id for d in ESCALATING])
def test_escalation_raises_exactly_the_published_escalated_ones(loaded: EmbeddedAthena, detection: Detection) -> None:
    assert detection.escalation is not None
    predicate = f"({to_sql(detection.condition)}) AND ({to_sql(detection.escalation.condition)})"

    assert _matching(loaded, predicate) == _expected(detection.id, "escalated")
