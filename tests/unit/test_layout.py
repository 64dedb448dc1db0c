"""The results bucket's layout (trailkeeper.layout) against the template and the ASL, which name the same keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.helpers import asl, template
from trailkeeper import layout
from trailkeeper.errors import InvalidInput


def results_bucket() -> dict[str, Any]:
    properties: dict[str, Any] = template()["Resources"]["ResultsBucket"]["Properties"]
    return properties


def test_each_top_level_prefix_has_the_templates_lifecycle_rule() -> None:
    rules = results_bucket()["LifecycleConfiguration"]["Rules"]
    assert sorted(rule["Prefix"] for rule in rules) == sorted(layout.TOP_LEVEL_PREFIXES)


def test_athena_writes_its_raw_results_under_the_layouts_prefix() -> None:
    [workgroup] = [r for r in template()["Resources"].values() if r["Type"] == "AWS::Athena::WorkGroup"]
    location = workgroup["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"]
    assert location == {"Fn::Sub": f"s3://${{ResultsBucket}}/{layout.ATHENA_RESULTS_PREFIX}"}


def test_the_distributed_maps_result_writer_writes_under_map_runs() -> None:
    writers = [state["ResultWriter"]["Parameters"]["Prefix"] for state in _states(asl()) if "ResultWriter" in state]
    assert writers and {prefix + "/" for prefix in writers} == {layout.MAP_RUNS_PREFIX}


def test_a_report_prefix_gives_back_its_day() -> None:
    day = dt.date(2024, 3, 9)
    assert layout.report_day(layout.report_prefix(day)) == day
    assert layout.report_key(day, layout.SENT_MARKER) == "reports/2024-03-09/sent.json"


@pytest.mark.parametrize("prefix", ["reports/2024-02-30/", "reports/latest/", "runs/2024-03-09/", "reports/2024-03-09"])
def test_a_prefix_that_is_not_a_report_day_has_no_day(prefix: str) -> None:
    assert layout.report_day(prefix) is None


@pytest.mark.parametrize("run_id", ["../reports/x", "", "a/b"])
def test_a_run_id_outside_the_allow_list_never_becomes_a_key(run_id: str) -> None:
    with pytest.raises(InvalidInput, match="not an execution name"):
        layout.run_prefix(run_id)


def _states(machine: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in machine.get("States", {}).values():
        found.append(state)
        for nested in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if isinstance(nested, dict):
                found.extend(_states(nested))
    return found
