"""The reliability log behind the hardening suite's summary (conftest.py prints and writes it).

A test records each scenario it drives with the outcome it observed; whether the scenario "held" is the
test's own result, settled from pytest's reports: held (passed), known gap (a strict xfail naming the gap),
or broken (anything else).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

CATEGORIES = (
    "bad inputs",
    "hostile keys",
    "hostile records",
    "bad configuration",
    "faults injected",
    "redrives after failure",
    "resumed backfills after a failed shard",
    "concurrent scenarios",
    "time bounds",
    "region names",
    "catalog drift",
    "bucket layouts",
    "silent configurations",
    "operator CLI",
    "dropped records",
)
REPORT = Path("out") / "reliability.json"


@dataclass
class Scenario:
    category: str
    scenario: str
    outcome: str
    injected: int
    test: str
    status: str = "broken"  # held / known gap / broken, from the test's result


class ReliabilityLog:
    def __init__(self) -> None:
        self.scenarios: list[Scenario] = []
        self.test_status: dict[str, str] = {}

    def settle(self, report: pytest.TestReport) -> None:
        """Remember each test's result: a failure in any phase wins."""
        if report.failed:
            self.test_status[report.nodeid] = "broken"
        elif report.when == "call" and report.nodeid not in self.test_status:
            self.test_status[report.nodeid] = "known gap" if hasattr(report, "wasxfail") else "held"

    def summary(self) -> dict[str, Any]:
        for scenario in self.scenarios:
            scenario.status = self.test_status.get(scenario.test, "broken")
        categories: dict[str, Any] = {}
        for category in CATEGORIES:
            mine = [s for s in self.scenarios if s.category == category]
            categories[category] = {
                "scenarios": len(mine),
                "held": sum(s.status == "held" for s in mine),
                "known_gaps": sum(s.status == "known gap" for s in mine),
                "broken": sum(s.status == "broken" for s in mine),
                "faults_injected": sum(s.injected for s in mine),
                "outcomes": dict(Counter(s.outcome for s in mine).most_common()),
            }
        totals = {
            key: sum(c[key] for c in categories.values())
            for key in ("scenarios", "held", "known_gaps", "broken", "faults_injected")
        }
        return {"categories": categories, "totals": totals, "scenarios": [asdict(s) for s in self.scenarios]}


LOG = ReliabilityLog()  # one per process: the plugin reads it, the `reliability` fixture writes to it


class Recorder:
    def __init__(self, log: ReliabilityLog, test: str) -> None:
        self._log, self._test = log, test

    def record(self, category: str, scenario: str, outcome: str, *, injected: int = 0) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown reliability category {category!r}; one of {CATEGORIES}")
        self._log.scenarios.append(Scenario(category, scenario, outcome, injected, self._test))
