"""Cross-check with AWS's own validator: `aws cloudtrail validate-logs` (pinned awscli, `make tools`) against
moto served on 127.0.0.1 over a generated bucket.

Untampered, it reports every digest and every log valid: the generator's digests follow CloudTrail's format
and signing. On each tampered copy (tests.tampering), every object it reports INVALID is a trailkeeper
finding with the same key, and trailkeeper also finds what it cannot see. The same holds for a bucket with
`_backfill` digests (LateLogFile plants: a backfill chain of two digests per region), which validate-logs reads
as a chain of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from localaws.reference_cli import AWS_CLI, CliReport, Loopback, loopback_aws, validate_logs
from tests.integrity_kit import BUCKET, Bucket, make_spec, upload
from tests.tampering import ACCOUNT, BACKFILL_CASES, CASES, Case, backfill_chain
from trailgen.generator import LateLogFile, TrailSpec, generate
from trailkeeper.integrity import findings as kinds

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not AWS_CLI.exists(), reason="run `make tools` (make test does)")]
REGIONS = ("us-east-1", "eu-west-1")
# validate-logs reports nothing at all for these: trailkeeper's findings are all it misses.
CLI_BLIND = {
    "log_injected",
    "newest_digests_deleted",
    "logging_stopped",
    "chain_restarted",
    "chain_restarted_after_stop_logging",
    "untampered",
    "newest_backfill_digest_deleted",
}


@dataclass
class Server:
    loopback: Loopback
    bucket_dir: Path
    spec: TrailSpec

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return self.loopback.client(service, region)

    def fresh_bucket(self) -> tuple[Bucket, str]:
        requests.post(f"{self.loopback.endpoint}/moto-api/reset", timeout=30)  # a fresh copy for each case
        s3 = self.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        upload(s3, self.bucket_dir)
        trail = self.client("cloudtrail").create_trail(
            Name="main-trail", S3BucketName=BUCKET, IsMultiRegionTrail=True, EnableLogFileValidation=True
        )
        bucket = Bucket(s3, self.spec.logs_root, self.spec, cloudtrail_for=lambda r: self.client("cloudtrail", r))
        return bucket, trail["TrailARN"]


@contextmanager
def _serving(folder: Path, spec: TrailSpec) -> Iterator[Server]:
    generate(spec, folder / "bucket")
    with loopback_aws() as loopback:
        yield Server(loopback, folder / "bucket", spec)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # organization_id=None: validate-logs finds a single-account trail's prefix
    with _serving(tmp_path_factory.mktemp("crosscheck"), make_spec(organization_id=None)) as served:
        yield served


@pytest.fixture(scope="module")
def backfill_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Late log files on both days in both regions: each region has a `_backfill` chain of two digests."""
    spec = make_spec(organization_id=None)
    days = (spec.start, spec.start + dt.timedelta(days=1))
    plants = tuple(LateLogFile(day, ACCOUNT, region) for day in days for region in REGIONS)
    with _serving(tmp_path_factory.mktemp("crosscheck_backfill"), make_spec(organization_id=None, plants=plants)) as s:
        yield s


def run_cli(bucket: Bucket, server: Server, arn: str, now: dt.datetime) -> list[CliReport]:
    start = dt.datetime.combine(bucket.spec.start, dt.time(), dt.UTC)
    return [validate_logs(server.loopback, arn, region, start, now, account_id=ACCOUNT) for region in REGIONS]


def test_validate_logs_reports_every_generated_digest_and_log_valid(server: Server) -> None:
    bucket, arn = server.fresh_bucket()
    now = bucket.newest_digest_end() + dt.timedelta(minutes=30)
    reports = run_cli(bucket, server, arn, now)
    digests = {k for r in REGIONS for k in bucket.digest_keys(ACCOUNT, r)}
    logs = {e["s3Object"] for k in digests for e in bucket.digest(k)["logFiles"]}
    ours = bucket.validate(now)

    assert all(r.returncode == 0 and not r.invalid for r in reports), [r.stderr for r in reports]
    assert set().union(*(r.valid["Digest"] for r in reports)) == digests
    assert set().union(*(r.valid["Log"] for r in reports)) == logs
    assert sum(r.digests_verified for r in ours) == len(digests)
    assert sum(r.logs_verified for r in ours) == len(logs)
    assert not any(r.findings for r in ours)


def test_validate_logs_reports_every_backfill_digest_and_late_log_valid(backfill_server: Server) -> None:
    bucket, arn = backfill_server.fresh_bucket()
    now = bucket.newest_digest_end() + dt.timedelta(minutes=30)
    reports = run_cli(bucket, backfill_server, arn, now)
    backfill = {k for r in REGIONS for k in backfill_chain(bucket, ACCOUNT, r)}
    late = {e["s3Object"] for k in backfill for e in bucket.digest(k)["logFiles"]}
    ours = bucket.validate(now)

    assert len(backfill) == 2 * len(REGIONS)
    assert all(r.returncode == 0 and not r.invalid for r in reports), [r.stderr for r in reports]
    assert backfill <= set().union(*(r.valid["Digest"] for r in reports))
    assert late <= set().union(*(r.valid["Log"] for r in reports))
    assert not any(r.findings for r in ours)
    assert sum(r.digests_verified for r in ours) == sum(len(bucket.digest_keys(ACCOUNT, r)) for r in REGIONS)


@pytest.mark.parametrize("case", BACKFILL_CASES, ids=[c.name for c in BACKFILL_CASES])
def test_trailkeeper_finds_everything_validate_logs_finds_in_a_backfill_chain_and_more(
    backfill_server: Server, case: Case
) -> None:
    crosscheck(backfill_server, case)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_trailkeeper_finds_everything_validate_logs_finds_and_more(server: Server, case: Case) -> None:
    crosscheck(server, case)


def crosscheck(server: Server, case: Case) -> None:
    bucket, arn = server.fresh_bucket()
    now = bucket.newest_digest_end() + dt.timedelta(minutes=30)
    if case.needs_anchor:
        bucket.validate(now - dt.timedelta(hours=12))
    expected = case.tamper(bucket)
    reports = run_cli(bucket, server, arn, now)
    ours = {(f.kind, f.key) for r in bucket.validate(now) for f in r.findings}

    cli_invalid = {key for r in reports for key in r.invalid}
    assert cli_invalid <= {key for _, key in ours}, reports[1].stderr
    assert expected <= ours
    if case.name in CLI_BLIND:
        assert not cli_invalid
    else:
        assert cli_invalid
    if case.name == "digest_deleted_two_hours":  # validate-logs counts two consecutive deleted digests as one
        assert len(cli_invalid) == 1
        assert len([f for f in ours if f[0] == kinds.DIGEST_DELETED]) == 2
