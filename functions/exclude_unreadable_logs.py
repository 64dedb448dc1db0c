"""ExcludeUnreadableLogs: reports/D/unreadable.json and the day's query leaving those objects out."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper import aws
from trailkeeper.config import Settings
from trailkeeper.errors import InvalidInput
from trailkeeper.inputs import RunRequest
from trailkeeper.logscan import RESULT_READERS, exclude_unreadable

logger = Logger()
s3 = boto3.client("s3", config=aws.pooled(RESULT_READERS))  # one connection per result read in flight
glue = boto3.client("glue")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    if request.report_day is None:
        raise InvalidInput("request: ExcludeUnreadableLogs needs a report day")
    failure: dict[str, Any] = event["failure"] if isinstance(event.get("failure"), dict) else {}
    prepared = exclude_unreadable(Settings.from_env(), s3, glue, request.report_day, str(event["run"]), failure)
    logger.info("unreadable logs excluded", extra={"unreadable": prepared["unreadable"]})
    return prepared
