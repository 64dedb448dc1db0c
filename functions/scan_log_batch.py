"""ScanLogBatch: list a batch of partitions and read their log objects as the query does (trailkeeper.logscan)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper import aws
from trailkeeper.config import Settings
from trailkeeper.logscan import SCAN_READERS, scan_batch

logger = Logger()
s3 = boto3.client("s3", config=aws.pooled(SCAN_READERS))  # one keep-alive connection per read in flight


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    counts = scan_batch(Settings.from_env(), s3, event["item"], str(event["run"]))
    logger.info("log batch scanned", extra={"batch": counts})
    return counts
