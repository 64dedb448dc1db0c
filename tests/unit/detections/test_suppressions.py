"""Operator suppressions: a strict file format, counted hits, and an expiry that ends them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest

from trailkeeper.detections.attention import attention
from trailkeeper.detections.evaluate import Hit
from trailkeeper.detections.suppressions import parse_suppressions
from trailkeeper.errors import ConfigurationError

DAY = dt.date(2024, 8, 1)
CI_ROLE = "arn:aws:iam::111122223333:role/ci-deployer"


@dataclass(frozen=True)
class Row:
    account: str = "111122223333"
    region: str = "us-east-1"
    principal: str = CI_ROLE
    eventsource: str = "iam.amazonaws.com"
    eventname: str = "CreateAccessKey"
    events: int = 3
    failures: int = 0
    writes: int = 3
    hits: tuple[Hit, ...] = (Hit("iam-credentials-created", 3, 3, "2024-08-01T02:00:00Z"),)


def _file(*entries: dict[str, Any]) -> str:
    return json.dumps({"version": 1, "suppressions": list(entries)})


def _entry(**fields: str) -> dict[str, str]:
    return {
        "id": "ci-keys",
        "detection": "iam-credentials-created",
        "principal": "arn:aws:iam::*:role/ci-*",
        "reason": "CI rotates deploy keys nightly",
        "expires": "2024-08-31",
        **fields,
    }


def test_no_file_suppresses_nothing() -> None:
    assert parse_suppressions(None, DAY, source="s3://r/config/suppressions.json") == ()


def test_matching_suppression_hides_the_hit_and_counts_it() -> None:
    suppressions = parse_suppressions(_file(_entry()), DAY, source="f")

    found = attention([Row()], suppressions, DAY)

    assert found.rows == ()
    assert [(s.id, s.active, s.hits, s.events) for s in found.suppressed] == [("ci-keys", True, 1, 3)]


def test_suppression_of_another_principal_leaves_the_hit_shown() -> None:
    suppressions = parse_suppressions(_file(_entry()), DAY, source="f")

    found = attention([Row(principal="arn:aws:iam::111122223333:user/mallory")], suppressions, DAY)

    assert [a.rule for a in found.rows] == ["iam-credentials-created"]
    assert found.suppressed[0].hits == 0


def test_suppression_applies_on_its_expiry_day_and_stops_the_day_after() -> None:
    suppressions = parse_suppressions(_file(_entry(expires="2024-08-01")), DAY, source="f")

    on_the_day = attention([Row()], suppressions, DAY)
    day_after = attention([Row()], suppressions, DAY + dt.timedelta(days=1))

    assert on_the_day.rows == () and on_the_day.suppressed[0].active
    assert [a.rule for a in day_after.rows] == ["iam-credentials-created"]
    assert not day_after.suppressed[0].active and day_after.suppressed[0].hits == 0


def test_pattern_star_is_the_only_wildcard() -> None:
    literal = parse_suppressions(_file(_entry(principal="arn:aws:iam::111122223333:role/ci.deployer")), DAY, source="f")

    assert [a.rule for a in attention([Row()], literal, DAY).rows] == ["iam-credentials-created"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        (json.dumps([]), "exactly 'version' and 'suppressions'"),
        (json.dumps({"version": 2, "suppressions": []}), "version must be 1"),
        (_file(_entry(reason="")), "reason"),
        (_file({k: v for k, v in _entry().items() if k != "expires"}), "missing key(s) ['expires']"),
        (_file(_entry(expires="2024-02-30")), "not a calendar date"),
        (_file(_entry(expires="31/08/2024")), "YYYY-MM-DD"),
        (_file(_entry(expires="2026-01-01")), "days ahead"),
        (_file(_entry(detection="root-activty")), "not in the catalog"),
        (_file(_entry(comment="x")), "unknown key(s) ['comment']"),
        (_file(_entry(), _entry()), "duplicate suppression id"),
        (_file({"id": "all", "account": "*", "reason": "quiet please", "expires": "2024-08-31"}), "narrower"),
        (_file({"id": "none", "reason": "quiet please", "expires": "2024-08-31"}), "narrower"),
        (_file(_entry(principal="a\nb")), "printable ASCII"),
    ],
)
def test_bad_file_is_a_clear_error_never_suppress_everything(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^f.*" + __import__("re").escape(message)):
        parse_suppressions(text, DAY, source="f")
