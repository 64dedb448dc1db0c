"""Contract between statemachine/*.asl.json, template.yaml and the handlers — read, never restated."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import ROOT, asl, asl_text, state_machine_resource, template
from trailkeeper import errors
from trailkeeper.layout import failure_key

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9:]+)\}")


State = dict[str, Any]


def all_states(
    states: dict[str, State], enclosing: tuple[State, ...] = ()
) -> Iterator[tuple[str, State, tuple[State, ...]]]:
    """Every state with the Map/Parallel states that enclose it (outermost first)."""
    for name, state in states.items():
        yield name, state, enclosing
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if inner:
            yield from all_states(inner["States"], (*enclosing, state))
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"], (*enclosing, state))


TASKS = [(name, state, enclosing) for name, state, enclosing in all_states(asl()["States"]) if state["Type"] == "Task"]


def test_every_placeholder_has_a_substitution_and_every_substitution_is_used() -> None:
    used = set(PLACEHOLDER.findall(asl_text()))
    substitutions = set(state_machine_resource()["Properties"]["DefinitionSubstitutions"])
    assert used == substitutions


@pytest.mark.parametrize(("name", "state"), [(n, s) for n, s, _ in TASKS], ids=[n for n, _, _ in TASKS])
def test_every_task_retries_transient_errors_with_backoff(name: str, state: dict[str, Any]) -> None:
    assert state.get("Retry"), f"{name} has no Retry"
    for retrier in state["Retry"]:
        assert retrier["ErrorEquals"] != ["States.ALL"], f"{name} retries permanent errors too"
        assert retrier.get("BackoffRate", 1) > 1 and retrier.get("JitterStrategy") == "FULL"


@pytest.mark.parametrize(("name", "state", "enclosing"), TASKS, ids=[n for n, _, _ in TASKS])
def test_every_task_failure_reaches_the_failure_notification(
    name: str, state: dict[str, Any], enclosing: tuple[dict[str, Any], ...]
) -> None:
    shard_map = next((m for m in enclosing if m["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"), None)
    if shard_map is not None and shard_map.get("ToleratedFailurePercentage") == 100:
        # A failed shard fails its child execution; the Map goes on and the state after it fails the run.
        state = asl()["States"][shard_map["Next"]]
    catchers = state.get("Catch") or (enclosing[0].get("Catch") if enclosing else None)
    assert catchers, f"{name} has no Catch (nor an enclosing Map with one)"
    catch_all = [c for c in catchers if "States.ALL" in c["ErrorEquals"]]
    # InputRejected: the rejection's describer ends the execution there (invalid input is not notified)
    assert catch_all and reachable(catch_all[-1]["Next"]) & {"NotifyFailure", "Failed", "InputRejected"}


def reachable(start: str) -> set[str]:
    """Every top-level state an execution can reach from `start` (Next, Choice targets, Catch targets)."""
    states, seen, todo = asl()["States"], set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo += [t for t in (state.get("Next"), state.get("Default")) if t]
        todo += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    return seen


DESCRIBERS = {n for n, s in asl()["States"].items() if s.get("Resource") == "${DescribeFailureFunctionArn}"}


def test_every_catch_makes_the_cause_one_line_before_it_is_notified_or_ends_the_execution() -> None:
    """The cause a person reads (the notification, the execution's Fail state) is DescribeFailure's one line:
    every top-level Catch goes through it, except a describer's own Catch (which notifies the raw cause)."""
    for name, state in asl()["States"].items():
        for catcher in state.get("Catch", []) if name != "NotifyFailure" else []:
            if name in DESCRIBERS:
                assert catcher["Next"] == state["Next"] and catcher["ResultPath"] is None, name
            else:
                assert catcher["Next"] in DESCRIBERS, (name, catcher["Next"])
    assert {asl()["States"][d]["Next"] for d in DESCRIBERS} == {"NotifyFailure", "InputRejected", "IsUnreadableData"}


def test_failure_notification_ends_in_a_fail_state_with_the_original_error() -> None:
    states = asl()["States"]
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.Error", "CausePath": "$.Cause"}


def test_invalid_input_ends_the_execution_at_the_first_state() -> None:
    states = asl()["States"]
    first = states[asl()["StartAt"]]
    rejecting = [c for c in first["Catch"] if c["ErrorEquals"] == ["InvalidInput"]]
    described = states[rejecting[0]["Next"]]  # DescribeFailure: the cause as one line
    assert rejecting and states[described["Next"]]["Type"] == "Fail"
    assert first["Catch"].index(rejecting[0]) == 0


def test_asl_error_names_are_exception_classes_of_trailkeeper() -> None:
    ours = {name for name, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, Exception)}
    named = {e for _, s, _ in TASKS for r in s.get("Retry", []) + s.get("Catch", []) for e in r["ErrorEquals"]}
    custom = {e for e in named if "." not in e}
    assert custom <= ours


def test_no_state_maps_over_partition_lists_or_query_rows() -> None:
    maps = [s for _, s, _ in all_states(asl()["States"]) if s["Type"] == "Map"]
    assert maps
    for state in maps:
        if state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED":
            # Shards are read from S3 by the Map itself, and its results written back there.
            assert state["ItemReader"]["Resource"].endswith(":states:::s3:getObject")
            assert state["ResultWriter"]["Resource"].endswith(":states:::s3:putObject")
        else:
            assert state["ItemsPath"] == "$.batch.indexes"  # small integers; statements themselves stay in S3
        assert state.get("ResultPath") is None  # iteration results are dropped, not accumulated


SHARD_TWINS = {
    "PlanShard": "PlanPartitions",
    "VerifyShard": "VerifyPartitions",
    "ShardHasWork": "AnythingToAdd",
    "ListShardStatements": "ListStatements",
    "AddShardPartitions": "AddPartitions",
    "LoadShardStatement": "LoadStatement",
    "RunShardStatement": "RunStatement",
}
# Where a shard's copy may differ from the nightly state: its names, and the shard it passes to the functions.
SHARD_DIFFERENCES = {
    "Next",
    "End",
    "Default",
    "Choices",
    "StartAt",
    "Catch",
    "Comment",
    "Parameters",
    "OutputPath",
    "States",
}


@pytest.mark.parametrize(("shard_state", "nightly_state"), SHARD_TWINS.items())
def test_a_shard_runs_the_same_tasks_as_the_nightly_path(shard_state: str, nightly_state: str) -> None:
    """The shard processor repeats the nightly Plan -> Add -> Verify (the nightly path stays small and flat);
    the copies must not drift apart in what they call and how they retry."""
    states = {name: state for name, state, _ in all_states(asl()["States"])}
    shard, nightly = states[shard_state], states[nightly_state]
    assert _compared(shard) == _compared(nightly)
    if shard["Type"] == "Task" and "Parameters" in nightly and "run.$" in nightly["Parameters"]:
        assert shard["Parameters"] == {"request.$": "$.request", "run.$": "$.run", "shard.$": "$.shard"}
    if shard["Type"] == "Choice":
        conditions = [{k: v for k, v in c.items() if k != "Next"} for c in shard["Choices"]]
        assert [{k: v for k, v in c.items() if k != "Next"} for c in nightly["Choices"]] == conditions[1:]


def _compared(state: State) -> State:
    """The state without what may differ; a Map's iteration states are compared one by one (SHARD_TWINS)."""
    kept = {k: v for k, v in state.items() if k not in SHARD_DIFFERENCES}
    if "ItemProcessor" in kept:
        kept["ItemProcessor"] = kept["ItemProcessor"]["ProcessorConfig"]
    return kept


def test_a_failed_shard_records_why_and_fails_its_child_execution() -> None:
    """SummariseShards counts a shard failed when it has no outcome, and quotes the recorded failure."""
    shard_states = asl()["States"]["ReconcileShards"]["ItemProcessor"]["States"]
    for name, state in shard_states.items():
        if state["Type"] in {"Task", "Map"} and name != "RecordShardFailure":
            assert state["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordShardFailure"}
            ], name
    record = shard_states["RecordShardFailure"]
    key = re.fullmatch(r"States\.Format\('([^']*)', \$\.run, \$\.shard\)", record["Parameters"]["Key.$"])
    assert key is not None and key[1].format("bf-1", "s00001") == failure_key("bf-1", "s00001")
    assert record["Next"] == record["Catch"][0]["Next"] == "ShardFailed"
    assert shard_states["ShardFailed"] == {
        "Type": "Fail",
        "ErrorPath": "$.failure.Error",
        "CausePath": "$.failure.Cause",
    }


def test_backfill_concurrency_stays_within_athena_ddl_limit_by_default() -> None:
    """Parameters alone allow 20 x 20; the first state refuses a product over 20 (ConfigurationError)."""
    parameters = template()["Parameters"]
    assert parameters["BackfillShardConcurrency"]["Default"] * parameters["AthenaDdlConcurrency"]["Default"] <= 20
    assert asl()["States"]["ReconcileShards"]["MaxConcurrencyPath"] == "$.shards.shard_concurrency"


def test_lambda_tasks_name_template_functions_whose_handlers_exist() -> None:
    resources = template()["Resources"]
    substitutions = state_machine_resource()["Properties"]["DefinitionSubstitutions"]
    globals_function = template()["Globals"]["Function"]
    lambda_resources = [s["Resource"] for _, s, _ in TASKS if s["Resource"].endswith("FunctionArn}")]
    assert lambda_resources
    for resource in lambda_resources:
        logical_id = substitutions[PLACEHOLDER.fullmatch(resource).group(1)]["Fn::GetAtt"][0]  # type: ignore[union-attr]
        function = resources[logical_id]["Properties"]
        module_name, function_name = function["Handler"].rsplit(".", 1)
        path = ROOT / function.get("CodeUri", globals_function["CodeUri"]) / f"{module_name}.py"
        assert path.is_file(), f"{logical_id}: {path} missing"
        assert f"def {function_name}(" in path.read_text()
