"""SendReport: email the stored report through SES, exactly once per report day."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper.config import ReportSettings, Settings
from trailkeeper.inputs import RunRequest
from trailkeeper.report.daily import send_report

logger = Logger()
s3 = boto3.client("s3")
sesv2 = boto3.client("sesv2")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    if request.report_day is None:
        return {"sent": False, "reason": "no report day (backfill)"}
    result = send_report(
        request.report_day,
        request.resend_report,
        str(event["run"]),
        Settings.from_env(),
        ReportSettings.from_env(),
        s3,
        sesv2,
    )
    logger.info("report email", extra=result)
    return result
