"""Offline IAM scan: parliament, with its community auditors, on every policy the deployed stack holds.

The policies are read from the template as SAM deploys it (aws-sam-translator, the transform the SAM CLI and
CloudFormation run): each role's inline policies, SAM's policy templates (LambdaInvokePolicy) expanded, the role
SAM creates for the nightly schedule included, plus the bucket and topic policies. Intrinsics are resolved to
plausible ARNs with the embedded runtime's names and conditions (localaws.template), for two deployments: the
defaults, and every optional feature on (key prefix, KMS key, allow-lists, tracing, an existing table).

Roles also get AWS managed policies from SAM (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess); their text is
not in the template, so they are not scanned here (README, "IAM scan").
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from localaws.template import ACCOUNT_ID, REGION, resolve_intrinsics, resolve_template
from tests.helpers import ROOT, TEMPLATE, template

with warnings.catch_warnings():  # parliament 1.6.4 imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    import parliament

# Findings accepted after review: (logical id, parliament issue, actions named) -> why. Each must still occur
# (a test checks it), so a fixed finding leaves this list. Keep README.md "IAM scan" in step.
ALLOWED = {
    (
        "TrailkeeperStateMachineRole",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        ("logs:putresourcepolicy",),
    ): "Step Functions delivers the state machine's ERROR-level logs to CloudWatch Logs only if its role holds "
    "the log-delivery actions, logs:PutResourcePolicy among them, and they accept only Resource '*'. The role "
    "is assumed by the state machine alone, whose definition makes no CloudWatch Logs call.",
    (
        "TrailkeeperStateMachineRole",
        "RESOURCE_MISMATCH",
        (),
    ): "A Distributed Map's child executions are named execution:<state machine>/<map run>:<name>, so the "
    "DescribeExecution/StopExecution grant is execution:<state machine>/*, as AWS documents for Distributed "
    "Map; parliament knows only execution:<state machine>:<name>.",
}
TRAIL_REGION = "eu-west-1"
assert TRAIL_REGION != REGION
REQUIRED = {
    "TrailBucketName": "trail-bucket",
    "ReportSender": "reports@example.com",
    "ReportRecipients": "security@example.com",
}
EVERY_OPTION = {
    **REQUIRED,
    "TrailKeyPrefix": "org/trail",
    "OrganizationId": "o-a1b2c3d4e5",
    "AccountAllowList": "111111111111,222222222222",
    "RegionAllowList": "us-east-1,eu-west-1",
    # The trail bucket, and so its key, in another region than the stack's.
    "TrailKmsKeyArn": f"arn:aws:kms:{TRAIL_REGION}:{ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555",
    "TracingEnabled": "true",
    "FailureNotificationEmail": "oncall@example.com",
    "CreateTable": "false",
    "CreateSenderIdentity": "false",
}
DEPLOYMENTS = {"defaults": REQUIRED, "every option": EVERY_OPTION}
POLICY_HOLDERS = ("AWS::IAM::Role", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy")


@dataclass(frozen=True)
class Policy:
    holder: str  # logical id of the role or resource policy in the deployed (transformed) template
    name: str
    document: dict[str, Any]


@cache
def deployed_template() -> dict[str, Any]:
    """template.yaml after the SAM transform, with the artifact locations `sam deploy` would upload to."""
    sam = json.loads(json.dumps(template()))
    sam["Globals"]["Function"]["CodeUri"] = "s3://artifacts/functions.zip"
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            resource["Properties"]["DefinitionUri"] = "s3://artifacts/trailkeeper.asl.json"
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION), metrics=metrics)
    transformed: dict[str, Any] = translator.translate(sam, parameter_values={}, get_managed_policy_map=lambda: {})
    metrics.publish()
    return transformed


def policies(parameters: dict[str, str]) -> list[Policy]:
    deployed = deployed_template()["Resources"]
    stack = resolve_template(Path(TEMPLATE), parameters)
    found = []
    for logical_id, resource in deployed.items():
        if resource["Type"] not in POLICY_HOLDERS:
            continue
        if "Condition" in resource and not stack.conditions[resource["Condition"]]:
            continue
        properties = resource["Properties"]
        named = [(p["PolicyName"], p["PolicyDocument"]) for p in properties.get("Policies", [])]
        if "PolicyDocument" in properties:
            named.append((logical_id, properties["PolicyDocument"]))
        for name, document in named:
            resolved = resolve_intrinsics(deployed_template(), stack.parameters, document)
            found.append(Policy(logical_id, name, {"Version": "2012-10-17", **resolved}))
    return found


def findings(document: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """(issue, actions named) of every parliament finding, community auditors included."""
    analysed = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [(f.issue, tuple(sorted(f.location.get("actions", [])))) for f in analysed.findings]


def scan(parameters: dict[str, str]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {
        (policy.holder, issue, actions)
        for policy in policies(parameters)
        for issue, actions in findings(policy.document)
    }


@pytest.mark.parametrize("parameters", DEPLOYMENTS.values(), ids=DEPLOYMENTS.keys())
def test_parliament_finds_nothing_beyond_the_reviewed_findings(parameters: dict[str, str]) -> None:
    assert scan(parameters) - set(ALLOWED) == set()


def test_every_reviewed_finding_still_occurs() -> None:
    found = scan(REQUIRED) | scan(EVERY_OPTION)
    assert set(ALLOWED) <= found


def test_the_scan_covers_every_role_and_resource_policy_of_the_stack() -> None:
    resources = template()["Resources"]
    functions_with_policies = {
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function" and r["Properties"].get("Policies")
    }
    expected = {
        *(f"{lid}Role" for lid in functions_with_policies),
        "TrailkeeperStateMachineRole",
        "TrailkeeperStateMachineNightlyRole",  # SAM's role for the ScheduleV2 event: states:StartExecution
        "ResultsBucketPolicy",
        "FailureTopicPolicy",
    }
    assert {policy.holder for policy in policies(EVERY_OPTION)} == expected


def test_policies_are_scanned_with_arns_not_unresolved_intrinsics() -> None:
    text = json.dumps([policy.document for policy in policies(EVERY_OPTION)])
    assert "Fn::" not in text and '"Ref"' not in text and "${" not in text
    assert "arn:aws:s3:::trail-bucket/org/trail/AWSLogs/*" in text


def test_the_scanner_reports_a_planted_wildcard_grant() -> None:
    planted = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
        ],
    }
    assert {issue for issue, _ in findings(planted)} >= {"RESOURCE_STAR"}


def test_readme_lists_each_reviewed_finding() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### IAM scan", 1)[1].split("\n## ", 1)[0]
    for holder, issue, actions in ALLOWED:
        assert issue in section and holder in section
        assert all(action in section.lower() for action in actions)


def test_trail_logs_encrypted_in_another_region_can_be_decrypted_through_s3_there() -> None:
    [kms] = [
        s
        for p in policies(EVERY_OPTION)
        if p.holder == "TrailkeeperStateMachineRole"
        for s in p.document["Statement"]
        if s["Action"] == "kms:Decrypt"
    ]
    assert kms["Resource"] == EVERY_OPTION["TrailKmsKeyArn"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{TRAIL_REGION}.amazonaws.com"}}


def test_the_transformed_template_gives_no_resource_a_fixed_name_that_two_stacks_would_share() -> None:
    """SAM names a ScheduleV2 schedule <StateMachine><Event> unless OmitName (SAM issue #3109): two stacks in
    one account and region would collide. Every name the transform writes must vary with the stack."""
    named = {
        "AWS::Scheduler::Schedule": "Name",
        "AWS::Serverless::StateMachine": "Name",
        "AWS::StepFunctions::StateMachine": "StateMachineName",
        "AWS::IAM::Role": "RoleName",
        "AWS::Athena::WorkGroup": "Name",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::S3::Bucket": "BucketName",
    }
    resources = deployed_template()["Resources"]
    assert [r for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    for logical_id, resource in resources.items():
        name = resource.get("Properties", {}).get(named.get(resource["Type"], ""))
        if name is not None:
            assert isinstance(name, dict), (logical_id, name)  # built from the stack's names, not a literal
