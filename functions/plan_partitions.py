"""PlanPartitions: discover accounts/regions, diff the window against Glue, write the ADD statements to S3."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from trailkeeper.config import Settings
from trailkeeper.inputs import RunRequest
from trailkeeper.reconcile import Clients, plan_run

logger = Logger()
metrics = Metrics()
clients = Clients(s3=boto3.client("s3"), glue=boto3.client("glue"))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    summary = plan_run(request, Settings.from_env(), clients, event["run"], event.get("shard"))
    for metric, value in (
        ("PartitionsExpected", summary["expected"]),
        ("PartitionsMissing", summary["missing"]),
        ("Statements", summary["statements"]),
        ("BucketAnomalies", summary["anomalies"]["count"]),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)
    if event.get("shard") is None:  # the nightly path: the NoDataAlarm fires when a night discovers no account
        metrics.add_metric(name="AccountsDiscovered", unit=MetricUnit.Count, value=summary["accounts"])
    logger.info("planned", extra={"summary": summary})
    return summary
