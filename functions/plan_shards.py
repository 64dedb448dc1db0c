"""PlanShards: split a backfill into (month, account group) shards and write them to S3 for the Distributed Map."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from trailkeeper.config import Settings
from trailkeeper.inputs import RunRequest
from trailkeeper.reconcile import Clients
from trailkeeper.shards import plan_shards

logger = Logger()
metrics = Metrics()
clients = Clients(s3=boto3.client("s3"), glue=boto3.client("glue"))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    planned = plan_shards(request, Settings.from_env(), clients, event["run"])
    metrics.add_metric(name="BackfillShards", unit=MetricUnit.Count, value=planned["shards"])
    logger.info("sharded", extra={"shards": planned})
    return planned
