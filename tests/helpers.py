"""Shared test helpers: the template and ASL as written (tests read them instead of restating them)."""

from __future__ import annotations

import copy
import email
import email.policy
import json
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3

from localaws.template import Stack, load_template, resolve_template
from trailkeeper.config import Settings

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
FIXTURES = ROOT / "tests" / "fixtures"


@cache
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def state_machine_resource() -> dict[str, Any]:
    machines = [r for r in template()["Resources"].values() if r["Type"] == "AWS::Serverless::StateMachine"]
    assert len(machines) == 1
    return machines[0]


def asl_text() -> str:
    return (ROOT / state_machine_resource()["Properties"]["DefinitionUri"]).read_text()


def asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(asl_text())
    return loaded


@cache
def _stack() -> Stack:
    """template.yaml resolved as CloudFormation would, for a stack on the trail bucket the unit tests use."""
    required = {
        "TrailBucketName": "trail-bucket",
        "ReportSender": "reports@example.com",
        "ReportRecipients": "security@example.com",
    }
    return resolve_template(TEMPLATE, required)


def table_input() -> dict[str, Any]:
    """The CloudTrail table exactly as template.yaml declares it, as a Glue TableInput (intrinsics resolved)."""
    return copy.deepcopy(_stack().resources["CloudTrailTable"].properties["TableInput"])


@cache
def _session() -> boto3.session.Session:
    """One boto3 session for every moto-backed unit-test client. moto's mock_aws() patches boto3.DEFAULT_SESSION to
    None, so boto3.client() in each test builds a new session and loads the service model again (0.4-1.4 s a test
    on this machine); clients of one session share its loaded models."""
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def moto_client(service: str) -> Any:
    """A client for `service` in us-east-1; moto answers it while a mock is active (its hook is in every session)."""
    return _session().client(service)


def aws_fixture(name: str) -> Any:
    """A captured AWS response shape (tests/fixtures/aws/<name>.json)."""
    return json.loads((FIXTURES / "aws" / f"{name}.json").read_text())


BASE_ENV = {
    "TRAIL_BUCKET": "trail-bucket",
    "TRAIL_PREFIX": "",
    "ORGANIZATION_ID": "o-exampleorg1",
    "DATABASE_NAME": "trailkeeper",
    "TABLE_NAME": "cloudtrail",
    "RESULTS_BUCKET": "results-bucket",
    "LOOKBACK_DAYS": "3",
}


def make_settings(**overrides: str) -> Settings:
    return Settings.from_env({**BASE_ENV, **overrides})


def put_logs(s3: Any, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket="trail-bucket", Key=key, Body=b"{}")


def log_key(account: str, region: str, day: str = "2024/01/05", root: str = "AWSLogs/o-exampleorg1/") -> str:
    return f"{root}{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_x.json.gz"


# Every tag and attribute the HTML body is built from; anything else came from data.
OUR_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "body",
    "h1",
    "h2",
    "p",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "ul",
    "li",
    "code",
}
OUR_ATTRIBUTES = {"charset", "class", "colspan", "style"}


class HtmlTags(HTMLParser):
    """The tags and attribute names an HTML document really contains (to prove hostile text stayed text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


@dataclass(frozen=True)
class SentEmail:
    """One email SES accepted, read back from the raw MIME message SendReport sent (report/message.py)."""

    raw: bytes
    headers: tuple[str, ...]  # header names, as sent
    subject: str
    to: tuple[str, ...]  # the To header
    recipients: tuple[str, ...]  # whom SES sent it to (moto adds the To header's addresses to the Destination's)
    text: str
    html: str


def parse_email(raw: bytes, recipients: tuple[str, ...] = ()) -> SentEmail:
    """A report email's raw bytes, parsed: its multipart/alternative text and HTML parts, decoded."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage) and message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None, "the email lacks its text or its HTML part"
    return SentEmail(
        raw=raw,
        headers=tuple(message.keys()),
        subject=str(message["Subject"]),
        to=tuple(address.strip() for address in str(message["To"]).split(",")),
        recipients=tuple(dict.fromkeys(recipients)),
        text=text.get_content().replace("\r\n", "\n"),  # CRLF is the transport's line ending (RFC 5322)
        html=html.get_content().replace("\r\n", "\n"),
    )


def sent_emails(account: str = "123456789012", region: str = "us-east-1") -> list[SentEmail]:
    """Every email moto's SES accepted in `account` and `region`, parsed, oldest first."""
    from moto.ses.models import RawMessage, ses_backends

    sent = list(ses_backends[account][region].sent_messages)
    assert all(isinstance(m, RawMessage) for m in sent), "SendReport sends raw MIME messages only"
    return [parse_email(m.raw_data.encode(), tuple(m.destinations)) for m in sent]
