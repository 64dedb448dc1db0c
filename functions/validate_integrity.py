"""ValidateIntegrity: one batch of accounts, every chain of every region (trailkeeper.integrity)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper import aws
from trailkeeper.config import Settings
from trailkeeper.integrity.chain import S3_CONNECTIONS
from trailkeeper.integrity.nightly import cloudtrail_clients, validate_batch

logger = Logger()
s3 = boto3.client("s3")
trail_s3 = aws.trail_reader(S3_CONNECTIONS)  # one keep-alive connection per concurrent read
cloudtrail_for = cloudtrail_clients(lambda region: boto3.client("cloudtrail", region_name=region))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    counts = validate_batch(Settings.from_env(), s3, cloudtrail_for, event["item"], trail_s3)
    logger.info("batch validated", extra={"batch": counts})
    return counts
