"""Reading an execution's history: which state failed, and the cause a person can read.

The one home of this knowledge for the operator commands, the local runner and the tests. Lambda's error
envelope ({"errorMessage", "errorType", "stackTrace"}, what a failed invocation returns and Step Functions
puts in the cause) is written here too, for the embedded runtime that plays Lambda.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from trailkeeper import sanitise

# Where the ASL goes once something failed (statemachine/trailkeeper.asl.json): not where the failure happened.
FAILURE_PATH_STATES = frozenset({"NotifyFailure", "Failed", "InputRejected"})
TASK_FAILURES = frozenset({
    "TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed", "LambdaFunctionFailed",
    "LambdaFunctionTimedOut", "LambdaFunctionStartFailed", "LambdaFunctionScheduleFailed",
})


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


def error_envelope(
    error_type: str, message: str, *, request_id: str | None = None, stack_trace: Sequence[str] = ()
) -> str:
    """The payload Lambda returns for a failed invocation; Step Functions takes the error name from errorType."""
    envelope: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if request_id is not None:
        envelope["requestId"] = request_id
    envelope["stackTrace"] = list(stack_trace)
    return json.dumps(envelope)


def cause_message(cause: str | None) -> str:
    """The message of a cause as it was written: a Lambda error envelope's errorMessage, else the cause itself."""
    if not cause:
        return ""
    try:
        envelope = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(envelope, dict) and isinstance(envelope.get("errorMessage"), str):
        return envelope["errorMessage"]
    return cause


def readable_cause(cause: str | None) -> str:
    """cause_message made safe for a terminal (anyone who can fail a task chooses its text)."""
    return sanitise.terminal(cause_message(cause))
