"""ValidateInput: the first state. Rejects bad execution input (InvalidInput) before anything is written."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools import Logger

from trailkeeper.config import ReportSettings, Settings
from trailkeeper.inputs import check_execution_name, parse_execution_input

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    settings = Settings.from_env()  # configuration errors surface here, at the first state,
    ReportSettings.from_env()  # the report's too: a bad recipient list must not wait until BuildReport
    check_execution_name(event.get("execution"))  # before the input: a run's files are kept under its name
    now = dt.datetime.now(dt.UTC)  # the one clock read: everything below is given it
    request = parse_execution_input(event.get("input"), lookback_days=settings.LOOKBACK_DAYS, now=now)
    logger.info("validated input", extra={"request": request.to_json()})
    return request.to_json()
