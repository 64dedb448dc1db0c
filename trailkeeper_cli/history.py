"""Reading an execution's history: which state failed, and the cause a person can read.

The one home of this knowledge for the operator commands, the local runner and the tests (a Lambda error
envelope's message comes from trailkeeper.envelope).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trailkeeper import sanitise
from trailkeeper.envelope import cause_message

# Where the ASL goes once something failed (statemachine/trailkeeper.asl.json): not where the failure happened.
FAILURE_PATH_STATES = frozenset(
    {"DescribeFailure", "DescribeRejection", "QueryFailed", "NotifyFailure", "Failed", "InputRejected"}
)
TASK_FAILURES = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
    }
)


def failed_state(events: Sequence[dict[str, Any]]) -> str | None:
    """The state whose task failed last outside the failure path (found through previousEventId), else the last
    state entered outside it (a Fail reached directly, a timeout)."""
    by_id = {event["id"]: event for event in events}
    for event in reversed(events):
        if event["type"] in TASK_FAILURES:
            state = _owning_state(event, by_id)
            if state is not None and state not in FAILURE_PATH_STATES:
                return state
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    outside = [name for name in entered if name not in FAILURE_PATH_STATES]
    return outside[-1] if outside else None


def _owning_state(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str | None:
    current: dict[str, Any] | None = event
    while current is not None:
        if current["type"].endswith("StateEntered"):
            return str(current["stateEnteredEventDetails"]["name"])
        current = by_id.get(current.get("previousEventId", 0))
    return None


__all__ = ["FAILURE_PATH_STATES", "TASK_FAILURES", "cause_message", "failed_state", "readable_cause"]


def readable_cause(cause: str | None) -> str:
    """cause_message made safe for a terminal (anyone who can fail a task chooses its text)."""
    return sanitise.terminal(cause_message(cause))
