"""Lambda's error envelope: what a failed invocation returns and Step Functions records as a task's Cause,
{"errorMessage", "errorType", "stackTrace"} (Step Functions takes the error name from errorType).

The one home of its shape: the shards' summary and the operator's history reader read the message out of it,
and the embedded runtime, which plays Lambda, writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def lambda_error(
    error_type: str, message: str, *, request_id: str | None = None, stack_trace: Sequence[str] = ()
) -> str:
    """The payload Lambda returns for a failed invocation."""
    envelope: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if request_id is not None:
        envelope["requestId"] = request_id
    envelope["stackTrace"] = list(stack_trace)
    return json.dumps(envelope)


def cause_message(cause: object) -> str:
    """The message of a cause as it was written: a Lambda error envelope's errorMessage, else the cause itself
    ("" for none)."""
    if cause is None or cause == "":
        return ""
    text = str(cause)
    try:
        envelope = json.loads(text)
    except ValueError:
        return text
    if isinstance(envelope, dict) and isinstance(envelope.get("errorMessage"), str):
        return envelope["errorMessage"]
    return text
