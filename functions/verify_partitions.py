"""VerifyPartitions: after adding, every planned partition must be in Glue (else PartitionsStillMissing)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from trailkeeper.config import Settings
from trailkeeper.inputs import RunRequest
from trailkeeper.reconcile import Clients, verify_run

logger = Logger()
metrics = Metrics()
clients = Clients(s3=boto3.client("s3"), glue=boto3.client("glue"))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    result = verify_run(request, Settings.from_env(), clients, event["run"], event.get("shard"))
    metrics.add_metric(name="PartitionsAdded", unit=MetricUnit.Count, value=result["added"])
    logger.info("verified", extra={"result": result})
    return result
