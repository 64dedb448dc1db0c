"""A generated trail bucket with CloudTrail digests on moto, and the validator run over it (integrity tests)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from localaws.patches import cloudtrail as cloudtrail_keys
from trailgen import digests
from trailgen.generator import TrailSpec, generate
from trailkeeper import aws
from trailkeeper.integrity.chain import Anchor, PairResult, validate_account
from trailkeeper.integrity.digests import DigestKey
from trailkeeper.integrity.lifecycle import Lifecycle

BUCKET = "trailkeeper-local-trail"
START = dt.date(2024, 3, 4)


def upload(s3: Any, bucket_dir: Path, bucket: str = BUCKET) -> int:
    """Every object of the directory, with the metadata of its sidecar (what localaws does on upload)."""
    count = 0
    for path in sorted(p for p in bucket_dir.rglob("*") if p.is_file() and not digests.is_sidecar(p)):
        s3.put_object(
            Bucket=bucket,
            Key=path.relative_to(bucket_dir).as_posix(),
            Body=path.read_bytes(),
            Metadata=digests.read_sidecar(path),
        )
        count += 1
    return count


@dataclass
class Bucket:
    s3: Any
    root: str  # [prefix/]AWSLogs/[o-org/]
    spec: TrailSpec
    cloudtrail_for: Callable[[str], Any] = lambda region: boto3.client("cloudtrail", region_name=region)
    anchors: dict[str, dict[str, dict[str, Anchor]]] = field(default_factory=dict)  # account -> region -> chain

    def keys(self, prefix: str = "") -> list[str]:
        return list(aws.S3Store(self.s3, BUCKET).keys(prefix))

    def body(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return data

    def digest_keys(self, account: str, region: str) -> list[str]:
        return sorted(k for k in self.keys(f"{self.root}{account}/CloudTrail-Digest/{region}/"))

    def digest(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(gzip.decompress(self.body(key)))
        return document

    def log_keys(self, account: str, region: str) -> list[str]:
        return sorted(self.keys(f"{self.root}{account}/CloudTrail/{region}/"))

    def public_keys(self, region: str, start: dt.datetime, end: dt.datetime) -> Mapping[str, bytes]:
        return aws.public_keys(self.cloudtrail_for(region), start, end)

    def newest_digest_end(self) -> dt.datetime:
        ends = [DigestKey.parse(k).end for k in self.keys(self.root) if DigestKey.parse(k)]  # type: ignore[union-attr]
        return max(ends)

    def put(self, key: str, body: bytes, metadata: Mapping[str, str] | None = None) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=dict(metadata or {}))

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=BUCKET, Key=key)

    def metadata(self, key: str) -> dict[str, str]:
        found: dict[str, str] = self.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
        return found

    def validate(
        self,
        now: dt.datetime,
        account: str | None = None,
        keep_anchors: bool = True,
        lifecycle: Lifecycle | None = None,
    ) -> list[PairResult]:
        results = []
        for acct in [account] if account else list(self.spec.account_ids):
            found = validate_account(
                aws.S3Store(self.s3, BUCKET),
                self.public_keys,
                self.root,
                acct,
                self.spec.regions,
                self.anchors.get(acct, {}),
                now,
                lifecycle if lifecycle is not None else Lifecycle.from_rules(aws.lifecycle_rules(self.s3, BUCKET)),
                first_run_lookback=now - dt.datetime.combine(self.spec.start, dt.time(), dt.UTC),
            )
            if keep_anchors:
                self.anchors[acct] = {r.region: r.anchors for r in found}
            results.extend(found)
        return results


def make_spec(**spec_fields: Any) -> TrailSpec:
    fields: dict[str, Any] = {
        "start": START,
        "days": 2,
        "accounts": 1,
        "regions": ("us-east-1", "eu-west-1"),
        "events_per_account_region_day": 8,
    }
    fields.update(spec_fields)
    return TrailSpec(**fields)


@contextmanager
def generated_bucket(tmp_path: Path, with_metadata: bool = True, **spec_fields: Any) -> Iterator[Bucket]:
    """The generated bucket on in-process moto (ListPublicKeys served); without metadata: a directory copy."""
    spec = make_spec(**spec_fields)
    generate(spec, tmp_path / "bucket")
    if not with_metadata:
        for sidecar in (tmp_path / "bucket").rglob("*" + digests.METADATA_SUFFIX):
            sidecar.unlink()
    with mock_aws():
        undo = cloudtrail_keys.serve_public_keys()
        try:
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            upload(s3, tmp_path / "bucket")
            yield Bucket(s3, spec.logs_root, spec)
        finally:
            undo()


def kinds_of(results: list[PairResult]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for result in results:
        for finding in result.findings:
            found.setdefault(finding.kind, []).append(finding.key)
    return found
