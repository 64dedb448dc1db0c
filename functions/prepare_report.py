"""PrepareReport: the daily-activity query for the report day, or skip when that day was already emailed."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper.config import Settings
from trailkeeper.inputs import RunRequest
from trailkeeper.report.daily import prepare_query

logger = Logger()
s3 = boto3.client("s3")
glue = boto3.client("glue")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    if request.report_day is None:
        return {"skip": True, "reason": "no report day (backfill)"}
    prepared = prepare_query(request.report_day, request.resend_report, Settings.from_env(), s3, glue)
    logger.info("prepared report", extra={"report_day": prepared["report_day"], "skip": prepared["skip"]})
    return prepared
