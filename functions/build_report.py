"""BuildReport: save the day's result once, compare it with the baseline ledger, render and store the report."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from trailkeeper.config import ReportSettings, Settings
from trailkeeper.errors import InvalidInput
from trailkeeper.inputs import RunRequest
from trailkeeper.report.daily import build_report

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = RunRequest.from_json(event["request"])
    if request.report_day is None:
        raise InvalidInput("request: BuildReport needs a report day")
    summary = build_report(
        request.report_day,
        str(event["result_location"]),
        event.get("reconciliation") or {},
        Settings.from_env(),
        ReportSettings.from_env(),
        s3,
        run_id=str(event["run"]) if event.get("run") else None,
    )
    metrics.add_metric(name="NewActivityRows", unit=MetricUnit.Count, value=summary["new_rows"])
    metrics.add_metric(name="SilentAccountRegions", unit=MetricUnit.Count, value=summary["went_silent"])
    metrics.add_metric(name="NoActivity", unit=MetricUnit.Count, value=1 if summary["no_activity"] else 0)
    logger.info("built report", extra={"summary": summary})
    return summary
