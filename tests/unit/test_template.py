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
    "SendReportFunction": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "ses:SendEmail", "ses:SendRawEmail"},
    "PlanIntegrityFunction": {"s3:ListBucket", "s3:GetObject", "s3:PutObject"},
    "ValidateIntegrityFunction": {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:GetLifecycleConfiguration",
        "cloudtrail:ListPublicKeys",
        "kms:Decrypt",
    },
    "SummariseIntegrityFunction": {"s3:GetObject", "s3:PutObject"},
    "PlanLogScanFunction": {"s3:PutObject", "glue:GetTable", "glue:GetPartitions"},  # Glue only: it lists no object
    "ScanLogBatchFunction": {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt"},
    "ExcludeUnreadableLogsFunction": {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "glue:GetTable"},
    "TrailkeeperStateMachine": {
        "lambda:InvokeFunction",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:StopQueryExecution",
        "athena:GetDataCatalog",
        "s3:ListBucketMultipartUploads",
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:GetPartition",
        "glue:GetPartitions",
        "glue:BatchGetPartition",
        "glue:CreatePartition",
        "glue:BatchCreatePartition",
        "glue:UpdatePartition",
        "lakeformation:GetDataAccess",
        "sns:Publish",
        "kms:Decrypt",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    },
}
# Actions AWS only grants on "*" (no resource-level permissions; cloudtrail:ListPublicKeys has none either).
STAR_ONLY = {a for a in GOLDEN_ACTIONS["TrailkeeperStateMachine"] if a.startswith(("logs:", "xray:", "lakeformation:"))}
STAR_ONLY.add("cloudtrail:ListPublicKeys")
# What Step Functions generates for an athena:startQueryExecution.sync task (AWS Step Functions developer
# guide, "IAM policies for Amazon Athena"), each action either granted or named with why it is not needed.
ATHENA_SYNC_GENERATED = {
    "athena:startQueryExecution",
    "athena:stopQueryExecution",
    "athena:getQueryExecution",
    "athena:getDataCatalog",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
    "s3:CreateBucket",
    "s3:PutObject",
    "glue:CreateDatabase",
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:UpdateDatabase",
    "glue:DeleteDatabase",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:GetTable",
    "glue:GetTables",
    "glue:DeleteTable",
    "glue:BatchDeleteTable",
    "glue:BatchCreatePartition",
    "glue:CreatePartition",
    "glue:UpdatePartition",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
    "glue:DeletePartition",
    "glue:BatchDeletePartition",
    "lakeformation:GetDataAccess",
}
NOT_NEEDED = {
    "s3:CreateBucket": "the WorkGroup writes to the stack's own results bucket, which exists",
    "glue:CreateDatabase": "the stack creates the database (CreateTable=true) or it already exists",
    "glue:GetDatabases": "the queries name their database; nothing lists databases",
    "glue:UpdateDatabase": "no statement alters a database",
    "glue:DeleteDatabase": "no statement drops a database",
    "glue:CreateTable": "the stack creates the table; no statement does",
    "glue:UpdateTable": "ADD PARTITION changes partitions, not the table",
    "glue:GetTables": "the queries name their table; nothing lists tables",
    "glue:DeleteTable": "no statement drops a table",
    "glue:BatchDeleteTable": "no statement drops a table",
    "glue:DeletePartition": "trailkeeper never drops a partition",
    "glue:BatchDeletePartition": "trailkeeper never drops a partition",
}


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
        assert actions(statement) <= {
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetObject",
            "s3:GetLifecycleConfiguration",
        }
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


FUNCTION_ERROR_ALARMS = ("FunctionErrorsAlarm", "MoreFunctionErrorsAlarm")
# "Alarms based on metric math expressions can reference a maximum of 10 metrics" (hard limit,
# docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html).
MAX_ALARM_METRICS = 10


def test_function_error_alarms_cover_every_function_once_within_the_metric_math_limit() -> None:
    functions = {lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    watched: list[str] = []
    for alarm in FUNCTION_ERROR_ALARMS:
        metrics = RESOURCES[alarm]["Properties"]["Metrics"]
        stats = [m for m in metrics if "MetricStat" in m]
        assert len(stats) <= MAX_ALARM_METRICS, alarm
        [expression] = [m for m in metrics if m.get("ReturnData")]
        assert sorted(expression["Expression"].split(" + ")) == sorted(m["Id"] for m in stats), alarm
        for metric in stats:
            assert (metric["MetricStat"]["Metric"]["Namespace"], metric["MetricStat"]["Metric"]["MetricName"]) == (
                "AWS/Lambda",
                "Errors",
            )
            watched.append(metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"])
    assert sorted(watched) == sorted(functions)


def test_every_function_has_a_log_group_with_retention() -> None:
    functions = {lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
    groups = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
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


def test_every_action_aws_generates_for_athena_sync_is_granted_or_named_as_not_needed() -> None:
    granted = {a.lower() for s in statements(RESOURCES["TrailkeeperStateMachine"]) for a in actions(s)}
    for action in ATHENA_SYNC_GENERATED:
        assert (action.lower() in granted) != (action in NOT_NEEDED), action
    assert set(NOT_NEEDED) <= ATHENA_SYNC_GENERATED


def test_no_athena_glue_or_lake_formation_action_is_granted_beyond_what_aws_generates_for_athena_sync() -> None:
    generated = {a.lower() for a in ATHENA_SYNC_GENERATED}
    granted = {
        a
        for s in statements(RESOURCES["TrailkeeperStateMachine"])
        for a in actions(s)
        if a.startswith(("athena:", "glue:", "lakeformation:"))
    }
    assert {a.lower() for a in granted} <= generated


def test_trail_key_decryption_is_allowed_through_s3_in_the_keys_region_not_the_stacks() -> None:
    """An SSE-KMS key is in its bucket's region (docs/aws-facts.md), which need not be the stack's."""
    [kms] = [s for s in statements(RESOURCES["TrailkeeperStateMachine"]) if "kms:Decrypt" in actions(s)]
    text, variables = kms["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
    assert "AWS::Region" not in text and text.startswith("s3.")
    assert variables["KeyRegion"] == {"Fn::Select": [3, {"Fn::Split": [":", {"Ref": "TrailKmsKeyArn"}]}]}


def test_integrity_alarm_watches_the_metric_summarise_integrity_publishes_and_fires_on_any() -> None:
    from trailkeeper.integrity.findings import ALARM_METRIC

    powertools = template()["Globals"]["Function"]["Environment"]["Variables"]
    alarm = RESOURCES["IntegrityFindingsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (powertools["POWERTOOLS_METRICS_NAMESPACE"], ALARM_METRIC)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": powertools["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Statistic"]) == (0, "GreaterThanThreshold", "Sum")
    assert alarm["AlarmActions"] == [{"Ref": "FailureTopic"}]
