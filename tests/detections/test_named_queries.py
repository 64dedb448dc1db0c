"""The WorkGroup's saved queries: template.yaml holds exactly what the compiler produces, and each one runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.detections.athena_kit import DATABASE, TABLE, EmbeddedAthena, published_records
from tests.helpers import TEMPLATE, template
from trailkeeper.detections.named_queries import (
    DESCRIPTION_MAX,
    NAME_MAX,
    QUERY_MAX,
    NamedQuery,
    named_queries,
    resolved_query,
    template_block,
    template_query_string,
)

QUERIES = named_queries()
IDS = [q.logical_id for q in QUERIES]
# The longest names the template's AllowedPattern ^[a-z0-9_]{1,255}$ admits: the worst case for the length limit.
LONGEST_NAME = "a" * 255


def _template_named_queries() -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template()["Resources"].items() if r["Type"] == "AWS::Athena::NamedQuery"}


def test_template_holds_the_generated_block_verbatim() -> None:
    assert template_block() in TEMPLATE.read_text(encoding="utf-8"), "run `make named-queries`"


def test_template_has_one_named_query_per_seed_query_and_detection() -> None:
    assert list(_template_named_queries()) == IDS


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_template_query_is_what_the_compiler_produces(query: NamedQuery) -> None:
    properties = _template_named_queries()[query.logical_id]["Properties"]

    assert properties["QueryString"] == {"Fn::Sub": template_query_string(query)}
    assert properties["Name"] == query.name
    assert properties["Description"] == query.description
    assert properties["Database"] == {"Ref": "DatabaseName"}
    assert properties["WorkGroup"] == {"Ref": "AthenaWorkGroup"}


@pytest.mark.parametrize("query", QUERIES, ids=IDS)
def test_named_query_fits_cloudformations_limits_in_the_worst_case(query: NamedQuery) -> None:
    longest = resolved_query(query, LONGEST_NAME, LONGEST_NAME)

    assert 1 <= len(query.name) <= NAME_MAX
    assert 1 <= len(query.description) <= DESCRIPTION_MAX
    assert len(longest.encode("utf-8")) <= QUERY_MAX


@pytest.fixture
def recent(embedded_athena: EmbeddedAthena) -> EmbeddedAthena:
    """The published records delivered yesterday: inside every saved query's relative window."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    embedded_athena.put_records(yesterday, [case["record"] for case in published_records()])
    return embedded_athena


@pytest.mark.parametrize(
    "query",
    [q for q in QUERIES if "Detection" in q.logical_id],
    ids=[q.logical_id for q in QUERIES if "Detection" in q.logical_id],
)
def test_drilldown_returns_exactly_its_detections_published_records(recent: EmbeddedAthena, query: NamedQuery) -> None:
    detection_id = query.name.split(": ", 1)[1].split(" ", 1)[0]
    expected = sorted(c["record"]["eventTime"] for c in published_records() if detection_id in c["matches"])

    rows = recent.rows(resolved_query(query, DATABASE, TABLE))

    assert sorted(str(row[0]) for row in rows) == expected


def test_sample_query_returns_ten_events(recent: EmbeddedAthena) -> None:
    query = next(q for q in QUERIES if q.logical_id == "NamedQuerySampleOfTheLogs")

    assert len(recent.rows(resolved_query(query, DATABASE, TABLE))) == 10


def test_role_query_groups_one_roles_calls_per_region(recent: EmbeddedAthena) -> None:
    query = next(q for q in QUERIES if q.logical_id == "NamedQueryWhatOneRoleDid")
    sql = resolved_query(query, DATABASE, TABLE).replace(
        "arn:aws:iam::111122223333:role/EDIT-ME", "arn:aws:iam::123456789012:role/tester"
    )

    rows = recent.rows(sql)

    # Panther's tester role: StopLogging x2, DisableKey x2, ScheduleKeyDeletion, Decrypt, Config x2, EC2 x2...
    assert rows and all(row[0] == "111122223333" for row in rows)  # the partition's account
    assert {(row[2], row[3]) for row in rows} >= {("cloudtrail.amazonaws.com", "StopLogging")}
    assert next(int(str(r[4])) for r in rows if r[3] == "StopLogging") == 2


def test_access_denied_query_lists_the_denied_leave_organization(recent: EmbeddedAthena) -> None:
    query = next(q for q in QUERIES if q.logical_id == "NamedQueryAccessDeniedOneDay")

    rows = recent.rows(resolved_query(query, DATABASE, TABLE))

    assert ("organizations.amazonaws.com", "LeaveOrganization", "AccessDenied") in {
        (row[3], row[4], row[5]) for row in rows
    }
