"""SummariseIntegrity: the night's summary for the report, and one metric per finding kind."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from trailkeeper.config import Settings
from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.nightly import night_of, summarise_night

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    summary = summarise_night(Settings.from_env(), s3, night_of(event["night"]), int(event["batches"]))
    for kind in kinds.ALL_KINDS:
        metrics.add_metric(name=kinds.metric_name(kind), unit=MetricUnit.Count, value=summary["findings_by_kind"][kind])
    metrics.add_metric(
        name=kinds.ALARM_METRIC,
        unit=MetricUnit.Count,
        value=summary["alarming_findings"] + summary["unvalidated_batches"],
    )
    logger.info("integrity summarised", extra={"integrity": summary})
    return summary
