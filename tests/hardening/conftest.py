"""The reliability summary: every hardening scenario reports what it tried and what happened.

Tests call `reliability.record(category, scenario, outcome, injected=n)` with the outcome they observed, then
assert the documented one. At the end of the run the plugin prints one line per category (scenarios, how many
held, the outcomes seen) and writes the same to out/reliability.json, so the figures can be quoted.

A scenario "held" when its test passed; a strict-xfail test (a known gap, named in its reason) counts as
"known gap"; anything else is "broken".
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hardening.harness import World
from tests.hardening.reliability import LOG, REPORT, Recorder


@pytest.fixture
def fresh(world: World) -> World:
    """The module's shared World (each hardening module defines `world`), reset to a deployed, empty stack."""
    world.reset()
    return world


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    return Recorder(LOG, request.node.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    LOG.settle(report)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not LOG.scenarios:
        return
    summary = LOG.summary()
    path = config.rootpath / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")

    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "reliability summary")
    write(f"{'category':<26}{'tried':>6}{'held':>6}{'gaps':>6}{'broken':>8}{'faults':>8}")
    for category, c in summary["categories"].items():
        if not c["scenarios"]:
            continue
        write(
            f"{category:<26}{c['scenarios']:>6}{c['held']:>6}{c['known_gaps']:>6}{c['broken']:>8}"
            f"{c['faults_injected']:>8}"
        )
        for outcome, count in c["outcomes"].items():
            write(f"{count:>8}  {outcome}")
    t = summary["totals"]
    write(
        f"{'total':<26}{t['scenarios']:>6}{t['held']:>6}{t['known_gaps']:>6}{t['broken']:>8}{t['faults_injected']:>8}"
    )
    write(f"(held: the scenario's test passed; gaps: strict-xfail tests naming a known gap) -> {REPORT}")
