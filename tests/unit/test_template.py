"""template.yaml: least privilege per role (a golden list), guardrails, alarms on metrics that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import ROOT, template

RESOURCES = template()["Resources"]
# The exact actions each role may use. A change here is a security review, not a refactor.
GOLDEN_ACTIONS = {
    "ValidateInputFunction": set(),
    "PlanPartitionsFunction": {"s3:ListBucket", "s3:PutObject", "glue:GetTable", "glue:GetPartitions"},
    "VerifyPartitionsFunction": {"s3:GetObject", "s3:PutObject", "glue:GetTable", "glue:GetPartitions"},
    "PlanShardsFunction": {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "glue:GetTable"},
    "SummariseShardsFunction": {"s3:GetObject", "s3:PutObject", "s3:ListBucket"},
    "PrepareReportFunction": {"s3:GetObject", "s3:ListBucket", "glue:GetTable"},
    "BuildReportFunction": {"s3:GetObject", "s3:PutObject", "s3:ListBucket"},
    "SendReportFunction": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "ses:SendEmail"},
    "TrailkeeperStateMachine": {
        "lambda:InvokeFunction", "s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation",
        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "states:StartExecution",
        "states:DescribeExecution", "states:StopExecution", "athena:StartQueryExecution", "athena:GetQueryExecution",
        "athena:StopQueryExecution", "glue:GetDatabase", "glue:GetTable", "glue:GetPartition",
        "glue:GetPartitions", "glue:CreatePartition", "glue:BatchCreatePartition", "glue:UpdatePartition",
        "sns:Publish", "kms:Decrypt",
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    },
}
# Actions AWS only grants on "*" (no resource-level permissions).
STAR_ONLY = {a for a in GOLDEN_ACTIONS["TrailkeeperStateMachine"] if a.startswith(("logs:", "xray:"))}


def statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in resource["Properties"].get("Policies", []):
        if "LambdaInvokePolicy" in policy:
            found.append({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "function"})
        for statement in policy.get("Statement", []):
            if "Fn::If" in statement:  # conditional statement: check the one that can be deployed
                statement = statement["Fn::If"][1]
            found.append(statement)
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


@pytest.mark.parametrize("logical_id", GOLDEN_ACTIONS)
def test_each_role_holds_exactly_the_actions_it_uses(logical_id: str) -> None:
    used: set[str] = set()
    for statement in statements(RESOURCES[logical_id]):
        used |= actions(statement)
    assert used == GOLDEN_ACTIONS[logical_id]


@pytest.mark.parametrize("logical_id", GOLDEN_ACTIONS)
def test_no_wildcard_resource_except_for_actions_that_only_accept_it(logical_id: str) -> None:
    for statement in statements(RESOURCES[logical_id]):
        assert statement["Effect"] == "Allow"
        assert not any("*" in a for a in actions(statement)), statement
        if statement["Resource"] == "*":
            assert actions(statement) <= STAR_ONLY, statement


def test_trail_bucket_access_is_read_only_and_under_the_logs_prefix() -> None:
    trail = [s for lid in GOLDEN_ACTIONS for s in statements(RESOURCES[lid]) if "TrailBucketName" in str(s["Resource"])]
    assert trail
    for statement in trail:
        assert actions(statement) <= {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"}
        if "s3:GetObject" in actions(statement):
            assert all(arn["Fn::Sub"].endswith("AWSLogs/*") for arn in statement["Resource"]["Fn::If"][1:])
        if "s3:ListBucket" in actions(statement):
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]["Fn::If"][1:]
            assert prefixes == [{"Fn::Sub": "${TrailKeyPrefix}/AWSLogs/*"}, "AWSLogs/*"]


def test_email_is_sent_only_as_the_configured_sender() -> None:
    [ses] = [s for s in statements(RESOURCES["SendReportFunction"]) if "ses:SendEmail" in actions(s)]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "ReportSender"}}}


def test_state_machine_alarms_watch_the_metrics_step_functions_emits() -> None:
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
        alarm_id = f"{metric}Alarm"
        alarm = RESOURCES[alarm_id]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", metric)
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "TrailkeeperStateMachine"}}]


def test_function_error_alarm_covers_every_function() -> None:
    functions = {lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
               for m in RESOURCES["FunctionErrorsAlarm"]["Properties"]["Metrics"] if "MetricStat" in m}
    assert watched == functions
    for metric in RESOURCES["FunctionErrorsAlarm"]["Properties"]["Metrics"]:
        if "MetricStat" in metric:
            assert (metric["MetricStat"]["Metric"]["Namespace"], metric["MetricStat"]["Metric"]["MetricName"]) == (
                "AWS/Lambda", "Errors")


def test_every_function_has_a_log_group_with_retention() -> None:
    functions = {lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    groups = {r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"] for r in RESOURCES.values()
              if r["Type"] == "AWS::Logs::LogGroup"}
    for function in functions:
        assert groups[f"/aws/lambda/${{{function}}}"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_schedule_retries_and_has_a_watched_dead_letter_queue() -> None:
    schedule = RESOURCES["TrailkeeperStateMachine"]["Properties"]["Events"]["Nightly"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["Input"] == '{"time": "<aws.scheduler.scheduled-time>"}'
    assert schedule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] > 0
    queue = schedule["Properties"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    alarm = RESOURCES["ScheduleDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}


def test_workgroup_enforces_its_result_location_and_a_scan_cutoff() -> None:
    config = RESOURCES["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"


def test_results_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    bucket = RESOURCES["ResultsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    [deny] = RESOURCES["ResultsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_readme_configuration_table_matches_the_template_parameters() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([A-Za-z]+)` \|", section, flags=re.MULTILINE)
    assert documented == list(template()["Parameters"])
