"""PlanLogScan: the report day's partition LOCATIONs in batches, the ScanLogs Map's items (trailkeeper.logscan)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper.config import Settings
from trailkeeper.errors import InvalidInput
from trailkeeper.inputs import RunRequest
from trailkeeper.logscan import plan_log_scan

logger = Logger()
s3 = boto3.client("s3")
glue = boto3.client("glue")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    if request.report_day is None:
        raise InvalidInput("request: PlanLogScan needs a report day")
    planned = plan_log_scan(Settings.from_env(), s3, glue, request.report_day, str(event["run"]))
    logger.info("log scan planned", extra={"log_scan": planned})
    return planned
