"""Failure causes as one line a person can act on (DescribeFailure, before every failure notification).

What a Catch hands on is Step Functions' {Error, Cause}, and the Cause is whatever the failed task said: a
Lambda error's JSON (errorMessage, errorType, stackTrace), an Athena `.sync` task's whole GetQueryExecution
response (4 KB or more, the query text included), an SNS or S3 error text, or a Map's summary. The line keeps
what names the problem (the Lambda's message, the query's StateChangeReason) and drops the rest; it passes the
one sanitiser (no control or bidi character reaches the email) and is capped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from trailkeeper import sanitise
from trailkeeper.envelope import cause_message

MAX_CAUSE_CHARS = 600
# Athena's error codes for data its SerDe cannot read (docs.aws.amazon.com/athena/latest/ug/
# troubleshooting-athena.html): a truncated or corrupt object, text that is not JSON or not UTF-8. Other codes
# (HIVE_CANNOT_OPEN_SPLIT is S3 throttling or access, for example) are not bad data: they are notified as they are.
UNREADABLE_DATA_CODES = ("HIVE_CURSOR_ERROR", "HIVE_BAD_DATA")
_WHITESPACE = re.compile(r"\s+")


def describe(failure: object) -> dict[str, Any]:
    """{Error, Cause (one line), unreadable_data} of a Catch's {Error, Cause}."""
    error = str(failure.get("Error") or "") if isinstance(failure, dict) else ""
    cause = failure.get("Cause") if isinstance(failure, dict) else None
    return {
        "Error": one_line(error, 120) or "UnknownError",
        "Cause": one_line(cause_line(cause)) or "(no cause given)",
        "unreadable_data": is_unreadable_data(cause),
    }


def cause_line(cause: object) -> str:
    """The part of a cause that names the problem."""
    text = "" if cause is None else str(cause)
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if not isinstance(parsed, dict):
        return text
    query = parsed.get("QueryExecution")
    if isinstance(query, dict):
        status: dict[str, Any] = query["Status"] if isinstance(query.get("Status"), dict) else {}
        reason = status.get("StateChangeReason") or "no reason given"
        return f"Athena query {query.get('QueryExecutionId', '?')} {status.get('State', 'FAILED')}: {reason}"
    if "errorMessage" in parsed:  # a Lambda function's error envelope
        return cause_message(text)
    for name in ("Cause", "cause", "Message", "message"):
        if isinstance(parsed.get(name), str):
            return str(parsed[name])
    return text


def one_line(text: str, limit: int = MAX_CAUSE_CHARS) -> str:
    """`text` on one line: whitespace runs become one space, control and format characters go, capped visibly."""
    return sanitise.text(_WHITESPACE.sub(" ", sanitise.inert(text)).strip(), limit)


def is_unreadable_data(cause: object) -> bool:
    """True when the cause is a FAILED Athena query whose StateChangeReason is bad data."""
    try:
        parsed = json.loads(str(cause))
    except ValueError:
        return False
    query = parsed.get("QueryExecution") if isinstance(parsed, dict) else None
    status = query.get("Status") if isinstance(query, dict) else None
    if not isinstance(status, dict) or status.get("State") != "FAILED":
        return False
    reason = status.get("StateChangeReason")
    return isinstance(reason, str) and reason.lstrip().startswith(tuple(f"{code}:" for code in UNREADABLE_DATA_CODES))
