"""mock_config.json against the ASL and the paths the TestCases are expected to take (expected_paths.py), offline.

Step Functions Local calls the real service for every Task a TestCase does not mock, and it has no Lambda,
Athena, SNS or S3 behind it; the embedded runtime runs the real handler instead, so a Task added to the ASL and
not to the TestCases that enter it goes unnoticed there. These checks catch that drift without an emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import asl
from tests.statemachine.expected_paths import PATHS
from tests.statemachine.test_definition_contract import all_states
from trailkeeper.failures import describe

CONFIG = json.loads(Path(__file__).with_name("mock_config.json").read_text())
TEST_CASES: dict[str, dict[str, str]] = CONFIG["StateMachines"]["trailkeeper"]["TestCases"]
RESPONSES: dict[str, dict[str, Any]] = CONFIG["MockedResponses"]
STATES = {name: state for name, state, _ in all_states(asl()["States"])}
TASKS = {name for name, state in STATES.items() if state["Type"] == "Task"}
CASES = sorted(PATHS.keys() & TEST_CASES.keys())  # a case missing on either side fails the first test only
DESCRIBERS = {name for name in TASKS if STATES[name]["Resource"] == "${DescribeFailureFunctionArn}"}


def is_lambda(state_name: str) -> bool:
    return str(STATES[state_name]["Resource"]).endswith("FunctionArn}")


def entered(case: str) -> list[str]:
    path = PATHS[case]
    return [*path.states, *(path.child_states or [])]


def attempts(case: str, state_name: str) -> list[dict[str, Any]]:
    """The mocked responses the state's attempts answer with, one per attempt ("0", "1-2": ranges of attempts)."""
    ranges = RESPONSES[TEST_CASES[case][state_name]]
    answers = []
    for span in sorted(ranges, key=lambda r: int(r.split("-")[0])):
        first, _, last = span.partition("-")
        answers += [ranges[span]] * (int(last or first) - int(first) + 1)
    return answers


def retried(error: str, error_equals: list[str]) -> bool:
    # AWS docs, "Error handling in Step Functions workflows", Error names: States.ALL matches every error name;
    # in a Retry or Catch, States.TaskFailed matches every one but States.Timeout.
    return (
        error in error_equals
        or "States.ALL" in error_equals
        or ("States.TaskFailed" in error_equals and error != "States.Timeout")
    )


def final_answer(case: str, state_name: str) -> dict[str, Any]:
    """The response the state ends with: its first Return, or the Throw its Retry gives up on (the first
    retrier whose ErrorEquals matches is used; when its MaxAttempts are spent the error goes to Catch)."""
    retriers = STATES[state_name].get("Retry", [])
    spent = [0] * len(retriers)
    for answer in attempts(case, state_name):
        if "Return" in answer:
            return answer
        error = answer["Throw"]["Error"]
        index = next((i for i, r in enumerate(retriers) if retried(error, r["ErrorEquals"])), None)
        if index is None or spent[index] >= retriers[index].get("MaxAttempts", 3):
            return answer
        spent[index] += 1
    raise AssertionError(f"{case}: {state_name} is retried after its last mocked response ({error})")


def selected_paths(selector: object) -> Iterator[str]:
    """The reference paths a ResultSelector reads ("$.a.b"), nested selectors included; intrinsics are skipped."""
    if isinstance(selector, dict):
        for key, value in selector.items():
            if key.endswith(".$") and isinstance(value, str) and value.startswith("$"):
                yield value
            else:
                yield from selected_paths(value)


def resolves(document: object, path: str) -> bool:
    for part in path.split(".")[1:]:  # "$.a.b" -> a, b
        if not isinstance(document, dict) or part not in document:
            return False
        document = document[part]
    return True


def test_every_state_name_is_unique_across_the_definition() -> None:
    # a TestCase mocks by state name, inside Maps too: a name used twice would be mocked in both places
    names = [name for name, _, _ in all_states(asl()["States"])]
    assert sorted({name for name in names if names.count(name) > 1}) == []


def test_every_test_case_has_an_expected_path_and_every_path_a_test_case() -> None:
    assert set(TEST_CASES) == set(PATHS)


@pytest.mark.parametrize("case", CASES)
def test_every_state_a_test_case_is_expected_to_enter_is_in_the_definition(case: str) -> None:
    assert [name for name in entered(case) if name not in STATES] == []


@pytest.mark.parametrize("case", CASES)
def test_a_path_through_a_map_goes_on_into_its_items(case: str) -> None:
    """So that the Tasks a Map runs are in the path, and checked: an inline Map's iteration states follow it, a
    Distributed Map's child execution is child_states (the TestCases have no Map over zero items)."""
    path = PATHS[case]
    for index, name in enumerate(path.states):
        if STATES[name]["Type"] != "Map":
            continue
        processor = STATES[name]["ItemProcessor"]
        if processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED":
            assert (path.child_states or [None])[0] == processor["StartAt"], f"{case}: {name}'s child states"
        else:
            assert path.states[index + 1 : index + 2] == [processor["StartAt"]], f"{case}: {name}'s iteration"


@pytest.mark.parametrize("case", CASES)
def test_every_task_a_test_case_enters_is_mocked_in_it(case: str) -> None:
    unmocked = [name for name in entered(case) if name in TASKS and name not in TEST_CASES[case]]
    assert unmocked == [], f"{case} enters Tasks it does not mock (Step Functions Local would call the service)"


@pytest.mark.parametrize("case", sorted(TEST_CASES))
def test_every_mocked_state_is_a_task_of_the_definition(case: str) -> None:
    assert [name for name in TEST_CASES[case] if name not in TASKS] == []


def test_every_mocked_response_named_exists_and_every_one_is_named() -> None:
    named = {response for case in TEST_CASES.values() for response in case.values()}
    assert sorted(named - set(RESPONSES)) == []
    assert sorted(set(RESPONSES) - named) == []


def test_every_task_of_the_definition_is_mocked_in_some_test_case() -> None:
    mocked = {name for case in TEST_CASES.values() for name in case}
    assert sorted(TASKS - mocked) == []


@pytest.mark.parametrize("case", sorted(TEST_CASES))
def test_mocked_responses_number_every_attempt_from_zero_with_one_return_or_throw(case: str) -> None:
    for state_name, response in TEST_CASES[case].items():
        spans = sorted((int(s.split("-")[0]), int(s.split("-")[-1])) for s in RESPONSES[response])
        assert [first for first, _ in spans] == [0] + [last + 1 for _, last in spans[:-1]], (state_name, response)
        for answer in RESPONSES[response].values():
            assert len(answer) == 1 and ("Return" in answer or "Error" in answer.get("Throw", {})), response


@pytest.mark.parametrize("case", CASES)
def test_mocked_responses_last_through_every_retry_of_the_tasks_entered(case: str) -> None:
    for name in entered(case):
        if name in TEST_CASES[case]:  # an unmocked Task fails test_every_task_a_test_case_enters_is_mocked_in_it
            final_answer(case, name)


@pytest.mark.parametrize("case", sorted(TEST_CASES))
def test_a_mocked_return_has_what_its_state_selects(case: str) -> None:
    """Lambda tasks answer with Invoke's {"StatusCode", "Payload"}; what a ResultSelector reads must be there."""
    for state_name, response in TEST_CASES[case].items():
        for answer in RESPONSES[response].values():
            if "Return" not in answer:
                continue
            result = answer["Return"]
            if is_lambda(state_name):
                assert set(result) == {"StatusCode", "Payload"}, (state_name, response)
                result = result["Payload"]
            missing = [p for p in selected_paths(STATES[state_name].get("ResultSelector")) if not resolves(result, p)]
            assert missing == [], (state_name, response)


@pytest.mark.parametrize("case", sorted(case for case in CASES if DESCRIBERS & set(entered(case))))
def test_a_mocked_failure_description_is_what_describe_says_of_the_failure_it_is_handed(case: str) -> None:
    """DescribeFailure (and its siblings) answer as trailkeeper.failures.describe does for the Throw of the Task
    before them in the path (the last one an inline Map ran, for a Map)."""
    states = PATHS[case].states
    for index, name in enumerate(states):
        if name not in DESCRIBERS or name not in TEST_CASES[case]:
            continue  # an unmocked one fails test_every_task_a_test_case_enters_is_mocked_in_it
        described = final_answer(case, name)
        if "Throw" in described:
            continue  # the describer failing is its own TestCase: its Catch hands the failure on as it was
        failed = final_answer(case, states[index - 1])
        assert "Throw" in failed, f"{case}: {states[index - 1]} does not fail before {name}"
        failure = {"Error": failed["Throw"]["Error"], "Cause": failed["Throw"].get("Cause", "")}
        assert described["Return"]["Payload"] == describe(failure), f"{case}: {name}"
