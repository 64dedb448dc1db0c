"""DescribeFailure: a Catch's {Error, Cause} with the cause as one line a person can act on (trailkeeper.failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from trailkeeper.failures import describe

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    described = describe(event.get("failure"))
    logger.info(
        "failure described", extra={"error": described["Error"], "unreadable_data": described["unreadable_data"]}
    )
    return described
