"""PlanIntegrity: the night's batches of accounts (with their regions) for the ValidateIntegrity Map."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper.config import Settings
from trailkeeper.inputs import RunRequest
from trailkeeper.integrity.nightly import plan_night

logger = Logger()
s3 = boto3.client("s3")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    if request.report_day is None:
        raise ValueError("integrity validation runs on nightly requests only")
    planned = plan_night(Settings.from_env(), s3, request.report_day)
    logger.info("integrity planned", extra={"integrity": planned})
    return planned
