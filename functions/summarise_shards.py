"""SummariseShards: add up a backfill's shards; ShardsFailed (resumable) if any did not finish."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger

from trailkeeper.config import Settings
from trailkeeper.inputs import RunRequest
from trailkeeper.reconcile import Clients
from trailkeeper.shards import summarise_shards

logger = Logger()
clients = Clients(s3=boto3.client("s3"), glue=boto3.client("glue"))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    summary = summarise_shards(request, Settings.from_env(), clients, event["run"])
    logger.info("backfill summarised", extra={"summary": summary})
    return summary
