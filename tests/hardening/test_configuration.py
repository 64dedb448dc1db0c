"""Bad deploy-time configuration fails at deploy or start-up, never at 3 a.m. halfway through a night.

The entry point is the template's parameters: EmbeddedAws.running resolves them as CloudFormation does
(AllowedPattern, AllowedValues, Min/MaxValue) before anything is created. (A deployment whose function
environment bypassed the template is covered in test_hostile_inputs.py.)
"""

from __future__ import annotations

import pytest

from localaws.local_run import LOCAL_PARAMETERS
from localaws.runtime import EmbeddedAws
from localaws.template import TemplateError
from tests.hardening.harness import failed_state
from tests.hardening.reliability import Recorder

REFUSED_BY_THE_TEMPLATE = {
    "organization id malformed": {"OrganizationId": "o-BAD"},
    "organization id with SQL": {"OrganizationId": "o-abcdefghij' OR '1'='1"},
    "account allow-list ','": {"AccountAllowList": ","},
    "account allow-list with a short id": {"AccountAllowList": "111111111111,12345"},
    "region allow-list upper-case": {"RegionAllowList": "US-EAST-1"},
    "key prefix with '..'": {"TrailKeyPrefix": "../logs"},
    "key prefix with '//'": {"TrailKeyPrefix": "logs//x"},
    "trail bucket with a quote": {"TrailBucketName": "trail'bucket"},
    "sender with CR/LF and a Bcc header": {"ReportSender": "trailkeeper@example.com\r\nBcc: attacker@evil.example"},
    "report title with markup": {"ReportTitle": "<b>urgent</b>"},
    "database name with SQL": {"DatabaseName": "db`; DROP TABLE x"},
    "lookback beyond 90 days": {"LookbackDays": "91"},
    "schedule at hour 25 (never fires)": {"ScheduleExpression": "cron(30 25 * * ? *)"},
    "schedule with both day fields (never fires)": {"ScheduleExpression": "cron(30 1 * * * *)"},
    "schedule as a five-field Unix cron": {"ScheduleExpression": "cron(30 1 * * ?)"},
    "schedule at hour 0 (before the report day is delivered)": {"ScheduleExpression": "cron(30 0 * * ? *)"},
    "schedule rate(1 minute) (the nightly job every minute)": {"ScheduleExpression": "rate(1 minute)"},
    "schedule on February 30 (never fires)": {"ScheduleExpression": "cron(0 3 30 2 ? *)"},
    "schedule in a non-UTC time zone": {"ScheduleTimezone": "America/Los_Angeles"},
}
RECIPIENTS = {
    "51 recipients": ",".join(f"person{i}@example.com" for i in range(51)),
    "recipient with CR/LF and a Bcc header": "security-team@example.com\r\nBcc: attacker@evil.example",
}


@pytest.mark.parametrize("name", sorted(REFUSED_BY_THE_TEMPLATE))
def test_a_bad_parameter_stops_the_deployment_before_anything_is_created(name: str, reliability: Recorder) -> None:
    parameters = REFUSED_BY_THE_TEMPLATE[name]
    [parameter] = parameters
    with pytest.raises(TemplateError) as refused, EmbeddedAws.running(parameters={**LOCAL_PARAMETERS, **parameters}):
        pass
    reliability.record("bad configuration", f"parameter: {name}", "refused at deploy (AllowedPattern/MaxValue)")
    assert f"Parameter '{parameter}'" in str(refused.value)
    assert not EmbeddedAws._active


@pytest.mark.parametrize("name", sorted(RECIPIENTS))
def test_bad_report_recipients_fail_at_deploy_or_at_validate_input_with_nothing_written(
    name: str, reliability: Recorder
) -> None:
    parameters = {**LOCAL_PARAMETERS, "ReportRecipients": RECIPIENTS[name]}
    try:
        with EmbeddedAws.running(parameters=parameters) as aws:
            result = aws.run_execution({"time": "2024-03-04T01:30:00Z"}, name="bad-recipients")
            written = aws.client("s3").list_objects_v2(Bucket=aws.physical["ResultsBucket"]).get("KeyCount", 0)
    except TemplateError:
        reliability.record("bad configuration", f"parameter: {name}", "refused at deploy")
        return
    reliability.record(
        "bad configuration",
        f"parameter: {name}",
        f"{result.status} {result.error} at {failed_state(result)}, {written} objects written",
    )
    assert (result.status, result.error, failed_state(result)) == ("FAILED", "ConfigurationError", "ValidateInput")
    assert written == 0
