"""The detection catalog: the one place that says what trailkeeper calls an attack, and why.

Each detection is an id, a severity, a title, its exact condition (data, see conditions.py), why it matters
and where the condition comes from. A rule keyed on event names always pins `eventSource` too (CIS warns
that `DeletePolicy` also exists in Auto Scaling; a test checks every rule). Where a source narrows a rule
to successful calls, so does the catalog; CloudTrail tampering and leaving the organization count failed
attempts too (an attacker's denied attempt is itself the signal).

Sources (the rule files each condition was taken from):
  CIS   AWS Security Hub CSPM controls CloudWatch.1-14 = CIS AWS Foundations Benchmark v1.2.0 §3.x / v1.4.0 §4.x
        log metric filters, https://docs.aws.amazon.com/securityhub/latest/userguide/cloudwatch-controls.html
  Panther  panther-labs/panther-analysis, rules/aws_cloudtrail_rules/<file>.yml (and .py)
  Elastic  elastic/detection-rules, rules/integrations/aws/<file>.toml
  Sigma    SigmaHQ/sigma, rules/cloud/aws/cloudtrail/<file>.yml
See docs/threat-model.md for why detections run nightly over the organization trail (Security Hub's CIS
controls report NO_DATA for organization trails owned by another account).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from trailkeeper.detections.conditions import (
    Condition,
    absent,
    all_of,
    any_of,
    ends,
    eq,
    json,
    not_,
    one_of,
    present,
    same,
    starts,
    to_sql,
)

Severity = Literal["critical", "high", "medium", "low"]
# Most severe first: the report's order and the subject's choice of "most severe finding".
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
_ID = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_TITLE = re.compile(r"[A-Za-z0-9 ,()/'-]{1,80}")


@dataclass(frozen=True)
class Escalation:
    """The same detection at a higher severity when `condition` also holds (e.g. for another user)."""

    severity: Severity
    condition: Condition
    why: str


@dataclass(frozen=True)
class Detection:
    id: str
    severity: Severity
    title: str
    condition: Condition
    why: str
    sources: tuple[str, ...]
    escalation: Escalation | None = None

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ValueError(f"detection id {self.id!r} must be lower-case words joined by '-'")
        if not _TITLE.fullmatch(self.title):
            raise ValueError(f"detection title {self.title!r} must match {_TITLE.pattern} (it goes in subjects)")
        to_sql(self.condition)  # a bad field or literal fails at import, never at night
        if self.escalation is not None:
            to_sql(self.escalation.condition)
            if SEVERITIES.index(self.escalation.severity) >= SEVERITIES.index(self.severity):
                raise ValueError(f"{self.id}: an escalation must raise the severity")


def _iam(*names: str) -> Condition:
    return all_of(eq("eventsource", "iam.amazonaws.com"), one_of("eventname", *names))


_TRAIL_WRITES = ("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging")
# A trail has at most 5 event selectors (CloudTrail quotas, docs/aws-facts.md): every one is checked.
_MANAGEMENT_EVENTS_DROPPED = any_of(
    *(eq(json("requestparameters", f"$.eventSelectors[{i}].includeManagementEvents"), "false") for i in range(5)),
    # Advanced selectors express "no management events" by their absence: any advanced selector is a change
    # of what the trail records, reported as tampering rather than parsed (no false negative).
    present(json("requestparameters", "$.advancedEventSelectors[0].fieldSelectors[0].field")),
)
_WORLD_CIDR_TERMS: list[Condition] = [ends(json("requestparameters", "$.cidrIp"), "/0")]
# The first three permissions and ranges of an ipPermissions request (the console sends one of each).
for _i in range(3):
    for _j in range(3):
        _WORLD_CIDR_TERMS.append(
            ends(json("requestparameters", f"$.ipPermissions.items[{_i}].ipRanges.items[{_j}].cidrIp"), "/0")
        )
        _WORLD_CIDR_TERMS.append(
            ends(json("requestparameters", f"$.ipPermissions.items[{_i}].ipv6Ranges.items[{_j}].cidrIpv6"), "/0")
        )

CATALOG: tuple[Detection, ...] = (
    Detection(
        id="cloudtrail-tampering",
        severity="high",
        title="CloudTrail trail changed or stopped",
        condition=all_of(
            eq("eventsource", "cloudtrail.amazonaws.com"),
            any_of(
                one_of("eventname", *_TRAIL_WRITES),
                all_of(eq("eventname", "PutEventSelectors"), _MANAGEMENT_EVENTS_DROPPED),
            ),
        ),
        why="Stopping, deleting or narrowing a trail blinds every other detection; attempts that failed count too.",
        sources=(
            "CIS CloudWatch.5 (v1.4.0 4.5): CreateTrail, UpdateTrail, DeleteTrail, StartLogging, StopLogging",
            "Panther aws_cloudtrail_stopped.yml; aws_cloudtrail_event_selectors_disabled.yml",
            "Elastic aws_cloudtrail_log_suspended.toml, aws_cloudtrail_log_deleted.toml",
            "Sigma aws_cloudtrail_disable_logging.yml",
        ),
        escalation=Escalation(
            "critical",
            any_of(one_of("eventname", "StopLogging", "DeleteTrail"), eq("eventname", "PutEventSelectors")),
            "logging stopped, deleted, or management events dropped",
        ),
    ),
    Detection(
        id="organizations-change",
        severity="high",
        title="AWS Organizations changed",
        condition=all_of(
            eq("eventsource", "organizations.amazonaws.com"),
            one_of(
                "eventname",
                "AcceptHandshake",
                "AttachPolicy",
                "CreateAccount",
                "CreateOrganizationalUnit",
                "CreatePolicy",
                "DeclineHandshake",
                "DeleteOrganization",
                "DeleteOrganizationalUnit",
                "DeletePolicy",
                "DetachPolicy",
                "DisablePolicyType",
                "EnablePolicyType",
                "InviteAccountToOrganization",
                "LeaveOrganization",
                "RemoveAccountFromOrganization",
                "UpdatePolicy",
                "UpdateOrganizationalUnit",
            ),
        ),
        why="Leaving the organization drops its SCPs, trail and GuardDuty; policy changes lift guardrails.",
        sources=(
            "CIS AWS Foundations v1.4.0 4.15 (Organizations changes metric filter)",
            "Panther aws_cloudtrail_attempt_to_leave_org.yml",
            "Elastic aws_organizations_leave_organization.toml",
        ),
        escalation=Escalation("critical", eq("eventname", "LeaveOrganization"), "an attempt to leave"),
    ),
    Detection(
        id="admin-policy-attached",
        severity="critical",
        title="AdministratorAccess attached",
        condition=all_of(
            _iam("AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"),
            ends(json("requestparameters", "$.policyArn"), "/AdministratorAccess"),
            absent("errorcode"),
        ),
        why="Full administrator rights granted to an identity: the classic persistence and escalation step.",
        sources=(
            "Panther aws_iam_attach_admin_user_policy.yml, aws_iam_attach_admin_role_policy.yml",
            "Elastic aws_iam_administratoraccess_policy_attached_to_user.toml",
        ),
    ),
    Detection(
        id="root-activity",
        severity="high",
        title="Root user activity",
        condition=all_of(
            eq("useridentity.type", "Root"),
            absent("useridentity.invokedby"),
            not_(eq("eventtype", "AwsServiceEvent")),
        ),
        why="The root user bypasses IAM policies and should not be used day to day.",
        sources=(
            "CIS CloudWatch.1 (v1.4.0 1.7/4.3): type=Root, invokedBy NOT EXISTS, eventType != AwsServiceEvent",
            "Sigma aws_root_account_usage.yml",
            "Panther aws_console_root_login.yml",
        ),
    ),
    Detection(
        id="console-login-without-mfa",
        severity="high",
        title="Console sign-in without MFA",
        condition=all_of(
            eq("eventsource", "signin.amazonaws.com"),
            eq("eventname", "ConsoleLogin"),
            eq(json("responseelements", "$.ConsoleLogin"), "Success"),
            not_(eq(json("additionaleventdata", "$.MFAUsed"), "Yes")),
            # IAM users and root only: SSO and SAML sign-ins (AssumedRole, SAMLUser) do MFA at the IdP.
            one_of("useridentity.type", "IAMUser", "Root"),
        ),
        why="A password alone opened the console; stolen passwords are the commonest initial access.",
        sources=(
            "CIS CloudWatch.3 (v1.2.0 3.2): ConsoleLogin, MFAUsed != Yes, IAMUser, ConsoleLogin = Success",
            "Panther aws_console_login_without_mfa.yml",
            "DataDog/stratus-red-team aws.initial-access.console-login-without-mfa",
        ),
        escalation=Escalation("critical", eq("useridentity.type", "Root"), "the root user, without MFA"),
    ),
    Detection(
        id="iam-credentials-created",
        severity="medium",
        title="IAM user or credentials created",
        condition=all_of(
            _iam("CreateUser", "CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile"),
            absent("errorcode"),
        ),
        why="New users, keys and console passwords are how an intruder keeps access after the first key is revoked.",
        sources=(
            "Panther aws_iam_user_key_created.yml, aws_iam_backdoor_user_keys.yml, "
            "aws_cloudtrail_loginprofilecreatedormodified.yml, aws_iam_create_user.yml",
            "Elastic aws_iam_user_created_access_keys_for_another_user.toml",
            "DataDog/stratus-red-team aws.persistence.iam-create-admin-user",
        ),
        escalation=Escalation(
            "high",
            all_of(
                one_of("eventname", "CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile"),
                present(json("requestparameters", "$.userName")),
                not_(same(json("requestparameters", "$.userName"), "useridentity.username")),
            ),
            "for another user",
        ),
    ),
    Detection(
        id="iam-policy-change",
        severity="medium",
        title="IAM policy changed",
        condition=_iam(
            "DeleteGroupPolicy",
            "DeleteRolePolicy",
            "DeleteUserPolicy",
            "PutGroupPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "CreatePolicy",
            "DeletePolicy",
            "CreatePolicyVersion",
            "DeletePolicyVersion",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "AttachGroupPolicy",
            "DetachGroupPolicy",
        ),
        why="Permissions changed outside review; the step before using them.",
        sources=("CIS CloudWatch.4 (v1.4.0 4.4)", "Panther aws_iam_policy_modified.yml"),
    ),
    Detection(
        id="kms-key-disable-or-delete",
        severity="high",
        title="KMS key disabled or scheduled for deletion",
        condition=all_of(
            eq("eventsource", "kms.amazonaws.com"),
            one_of("eventname", "DisableKey", "ScheduleKeyDeletion"),
            absent("errorcode"),
        ),
        why="Data encrypted under a deleted key is lost for good (ransom, destruction).",
        sources=("CIS CloudWatch.7 (v1.4.0 4.7)", "Panther aws_kms_cmk_loss.yml"),
    ),
    Detection(
        id="s3-bucket-policy-change",
        severity="medium",
        title="S3 bucket policy, ACL or lifecycle changed",
        condition=all_of(
            eq("eventsource", "s3.amazonaws.com"),
            one_of(
                "eventname",
                "PutBucketAcl",
                "PutBucketPolicy",
                "PutBucketCors",
                "PutBucketLifecycle",
                "PutBucketReplication",
                "DeleteBucketPolicy",
                "DeleteBucketCors",
                "DeleteBucketLifecycle",
                "DeleteBucketReplication",
            ),
        ),
        why="A bucket opened to others, or a lifecycle rule that deletes data (on a trail bucket: the logs).",
        sources=(
            "CIS CloudWatch.8 (v1.4.0 4.8)",
            "Panther aws_s3_bucket_policy_modified.yml; aws_cloudtrail_short_lifecycle.yml",
            "DataDog/stratus-red-team aws.defense-evasion.cloudtrail-lifecycle-rule",
        ),
    ),
    Detection(
        id="config-disabled",
        severity="medium",
        title="AWS Config recording changed",
        condition=all_of(
            eq("eventsource", "config.amazonaws.com"),
            one_of(
                "eventname",
                "StopConfigurationRecorder",
                "DeleteDeliveryChannel",
                "PutDeliveryChannel",
                "PutConfigurationRecorder",
                "DeleteConfigurationRecorder",
            ),
            absent("errorcode"),  # Panther: a call that failed changed nothing
        ),
        why="Config is the inventory and history of every resource; stopping it hides changes.",
        sources=("CIS CloudWatch.9 (v1.4.0 4.9)", "Panther aws_config_service_disabled_deleted.yml"),
        escalation=Escalation(
            "high",
            one_of("eventname", "StopConfigurationRecorder", "DeleteDeliveryChannel", "DeleteConfigurationRecorder"),
            "recording stopped or deleted",
        ),
    ),
    Detection(
        id="guardduty-disabled",
        severity="high",
        title="GuardDuty disabled or muted",
        condition=all_of(
            eq("eventsource", "guardduty.amazonaws.com"),
            any_of(
                one_of("eventname", "DeleteDetector", "CreateIPSet", "UpdateIPSet"),
                all_of(eq("eventname", "UpdateDetector"), eq(json("requestparameters", "$.enable"), "false")),
            ),
        ),
        why="No detector, no findings; a trusted IP list silences findings from the attacker's addresses.",
        sources=(
            "Sigma aws_guardduty_disruption.yml",
            "Elastic aws_guardduty_detector_deletion.toml",
            "Panther aws_ipset_modified.yml",
        ),
    ),
    Detection(
        id="security-group-open-to-world",
        severity="high",
        title="Security group opened to the internet",
        condition=all_of(
            eq("eventsource", "ec2.amazonaws.com"),
            eq("eventname", "AuthorizeSecurityGroupIngress"),
            absent("errorcode"),
            any_of(*_WORLD_CIDR_TERMS),
        ),
        why="Ingress from any address (a /0 range: 0.0.0.0/0 or ::/0) exposes what the group protects.",
        sources=(
            "Elastic aws_ec2_security_group_configuration_change_detection.toml, "
            "aws_ec2_network_acl_creation_or_deletion.toml",
            "CIS CloudWatch.10 (any security group change)",
            "DataDog/stratus-red-team aws.exfiltration.ec2-security-group-open-port-22-ingress",
        ),
    ),
    Detection(
        id="network-perimeter-change",
        severity="low",
        title="Network ACL, gateway, route or VPC changed",
        condition=all_of(
            eq("eventsource", "ec2.amazonaws.com"),
            one_of(
                "eventname",
                # CloudWatch.11: network ACLs
                "CreateNetworkAcl",
                "CreateNetworkAclEntry",
                "DeleteNetworkAcl",
                "DeleteNetworkAclEntry",
                "ReplaceNetworkAclEntry",
                "ReplaceNetworkAclAssociation",
                # CloudWatch.12: gateways
                "CreateCustomerGateway",
                "DeleteCustomerGateway",
                "AttachInternetGateway",
                "CreateInternetGateway",
                "DeleteInternetGateway",
                "DetachInternetGateway",
                # CloudWatch.13: route tables
                "CreateRoute",
                "CreateRouteTable",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "DeleteRouteTable",
                "DeleteRoute",
                "DisassociateRouteTable",
                # CloudWatch.14: VPCs and peering
                "CreateVpc",
                "DeleteVpc",
                "ModifyVpcAttribute",
                "AcceptVpcPeeringConnection",
                "CreateVpcPeeringConnection",
                "DeleteVpcPeeringConnection",
                "RejectVpcPeeringConnection",
                "AttachClassicLinkVpc",
                "DetachClassicLinkVpc",
                "DisableVpcClassicLink",
                "EnableVpcClassicLink",
            ),
        ),
        why="The network perimeter moved: new paths in or out of a VPC.",
        sources=(
            "CIS CloudWatch.11-14 (v1.4.0 4.11-4.14)",
            "Panther aws_ec2_network_acl_modified.yml, aws_ec2_gateway_modified.yml, "
            "aws_ec2_route_table_modified.yml, aws_ec2_vpc_modified.yml",
        ),
    ),
    Detection(
        id="console-login-failures",
        severity="medium",
        title="Console sign-in failed",
        condition=all_of(
            eq("eventsource", "signin.amazonaws.com"),
            eq("eventname", "ConsoleLogin"),
            any_of(
                eq(json("responseelements", "$.ConsoleLogin"), "Failure"),
                eq("errormessage", "Failed authentication"),
            ),
        ),
        why="Password guessing against console users; many failures then a success is a takeover.",
        sources=(
            "CIS CloudWatch.6 (v1.4.0 4.6): ConsoleLogin, errorMessage = Failed authentication",
            "Panther aws_console_login_failed.yml, aws_console_root_login_failed.yml",
        ),
        escalation=Escalation("high", eq("useridentity.type", "Root"), "against the root user"),
    ),
    Detection(
        id="unauthorized-api-calls",
        severity="low",
        title="Unauthorized API calls",
        condition=all_of(
            any_of(ends("errorcode", "UnauthorizedOperation"), starts("errorcode", "AccessDenied")),
            # CIS's documented exclusions: log delivery probing bucket ACLs, and HeadBucket existence checks.
            not_(eq("sourceipaddress", "delivery.logs.amazonaws.com")),
            not_(all_of(eq("eventsource", "s3.amazonaws.com"), eq("eventname", "HeadBucket"))),
        ),
        why="Denied calls are how stolen credentials are explored (enumeration) before they are used.",
        sources=(
            "CIS CloudWatch.2 (v1.4.0 4.1): errorCode *UnauthorizedOperation or AccessDenied*, "
            "sourceIPAddress != delivery.logs.amazonaws.com, eventName != HeadBucket",
            "Panther aws_iam_user_recon_denied.yml",
        ),
    ),
)

BY_ID: dict[str, Detection] = {d.id: d for d in CATALOG}
if len(BY_ID) != len(CATALOG):
    raise RuntimeError("detection ids must be unique")


def severity_rank(severity: str) -> int:
    """0 for the most severe; unknown severities sort last."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
