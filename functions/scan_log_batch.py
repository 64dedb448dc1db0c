"""ScanLogBatch: read one batch of log objects as the query does; the unreadable ones go to S3 (trailkeeper.logscan)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper.config import Settings
from trailkeeper.logscan import scan_batch

logger = Logger()
s3 = boto3.client("s3")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    counts = scan_batch(Settings.from_env(), s3, event["item"], str(event["run"]))
    logger.info("log batch scanned", extra={"batch": counts})
    return counts
