"""trailgen.digests through the generator: CloudTrail's names, fields and hourly cadence (empty digests
included), chained, with each signature in a sidecar beside its digest."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

from tests.integrity_kit import make_spec
from trailgen import digests as signer
from trailgen.generator import QuietFrom, SilentFrom, generate
from trailkeeper.integrity.digests import DigestKey, load_public_key, signature_verifies, signing_string

FIELDS = {
    "awsAccountId",
    "digestStartTime",
    "digestEndTime",
    "digestS3Bucket",
    "digestS3Object",
    "digestPublicKeyFingerprint",
    "digestSignatureAlgorithm",
    "newestEventTime",
    "oldestEventTime",
    "previousDigestS3Bucket",
    "previousDigestS3Object",
    "previousDigestHashValue",
    "previousDigestHashAlgorithm",
    "previousDigestSignature",
    "logFiles",
}


def chain_of(root: Path, region: str) -> list[tuple[Path, dict[str, object], bytes]]:
    paths = sorted(root.rglob(f"*/CloudTrail-Digest/{region}/*/*/*/*.json.gz"))
    return [(p, json.loads(gzip.decompress(p.read_bytes())), gzip.decompress(p.read_bytes())) for p in paths]


def test_every_hour_has_one_signed_digest_chained_to_the_previous_and_empty_hours_have_empty_ones(
    tmp_path: Path,
) -> None:
    spec = make_spec(days=1, regions=("us-east-1",), events_per_account_region_day=3)
    generate(spec, tmp_path)
    chain = chain_of(tmp_path, "us-east-1")
    key = load_public_key(signer.public_key_der())
    assert key is not None
    assert len(chain) == 24
    assert any(not doc["logFiles"] for _, doc, _ in chain)
    previous = None
    for path, doc, raw in chain:
        relative = path.relative_to(tmp_path).as_posix()
        parsed = DigestKey.parse(relative)
        assert parsed and set(doc) == FIELDS and doc["digestS3Object"] == relative
        assert doc["digestEndTime"] == parsed.end.strftime("%Y-%m-%dT%H:%M:%SZ")
        metadata = signer.read_sidecar(path)
        assert metadata["signature-algorithm"] == doc["digestSignatureAlgorithm"] == "SHA256withRSA"
        message = signing_string(
            str(doc["digestEndTime"]),
            spec.trail_bucket,
            relative,
            hashlib.sha256(raw).hexdigest(),
            doc["previousDigestSignature"],
        )  # type: ignore[arg-type]
        assert signature_verifies(key, message, metadata["signature"])
        if previous is None:
            assert doc["previousDigestS3Object"] is None and doc["previousDigestSignature"] is None
        else:
            assert doc["previousDigestS3Object"] == previous[0]
            assert doc["previousDigestHashValue"] == previous[1]
            assert doc["previousDigestSignature"] == previous[2]
            assert doc["digestStartTime"] == previous[3]
        previous = (relative, hashlib.sha256(raw).hexdigest(), metadata["signature"], doc["digestEndTime"])


def test_each_log_is_listed_once_with_the_sha256_of_its_uncompressed_bytes(tmp_path: Path) -> None:
    spec = make_spec(days=2, regions=("eu-west-1",))
    generate(spec, tmp_path)
    listed = [e for _, doc, _ in chain_of(tmp_path, "eu-west-1") for e in doc["logFiles"]]  # type: ignore[attr-defined]
    logs = sorted(tmp_path.rglob("*/CloudTrail/eu-west-1/*/*/*/*.json.gz"))
    assert sorted(e["s3Object"] for e in listed) == sorted(p.relative_to(tmp_path).as_posix() for p in logs)
    for entry in listed:
        body = (tmp_path / entry["s3Object"]).read_bytes()
        assert entry["hashValue"] == hashlib.sha256(gzip.decompress(body)).hexdigest()


def test_digests_stop_with_the_logs_of_a_silenced_region(tmp_path: Path) -> None:
    day = make_spec().start + dt.timedelta(days=1)
    spec = make_spec(regions=("us-east-1",))
    spec = make_spec(regions=("us-east-1",), plants=(SilentFrom(day, spec.account_ids[0], "us-east-1"),))
    generate(spec, tmp_path)
    ends = [DigestKey.parse(p.relative_to(tmp_path).as_posix()).end for p, _, _ in chain_of(tmp_path, "us-east-1")]  # type: ignore[union-attr]
    assert max(ends).date() < day


def test_a_quiet_region_has_no_log_files_but_its_empty_digests_keep_arriving(tmp_path: Path) -> None:
    day = make_spec().start + dt.timedelta(days=1)
    spec = make_spec(regions=("us-east-1",))
    spec = make_spec(regions=("us-east-1",), plants=(QuietFrom(day, spec.account_ids[0], "us-east-1"),))
    generate(spec, tmp_path)
    quiet_digests = [
        d
        for p, d, _ in chain_of(tmp_path, "us-east-1")
        if spec.account_ids[0] in p.as_posix() and str(d["digestStartTime"]) >= day.isoformat()
    ]
    assert len(quiet_digests) >= 24 and all(not d["logFiles"] for d in quiet_digests)
