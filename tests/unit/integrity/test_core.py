"""The validator's pure parts: digest names, the signing string, signatures, log checks, lifecycle expiry."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localaws.patches import cloudtrail as cloudtrail_keys
from tests.integrity_kit import generated_bucket
from tests.tampering import ACCOUNT
from trailgen import digests as signer
from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.digests import DigestKey, load_public_key, signature_verifies, signing_string
from trailkeeper.integrity.lifecycle import Lifecycle
from trailkeeper.integrity.logs import check_log

UTC = dt.UTC


def test_digest_names_parse_into_their_chain_and_end_time_and_backfill_is_its_own_chain() -> None:
    base = (
        "AWSLogs/o-exampleorg1/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
        "111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z"
    )
    standard = DigestKey.parse(base + ".json.gz")
    backfill = DigestKey.parse(base + "_backfill.json.gz")
    assert standard and backfill
    assert standard.end == dt.datetime(2015, 8, 17, 15, 1, 31, tzinfo=UTC)
    assert (standard.trail, standard.home_region, standard.root) == (
        "your-trail-name",
        "us-east-2",
        "AWSLogs/o-exampleorg1/",
    )
    assert standard.chain != backfill.chain and backfill.backfill


@pytest.mark.parametrize(
    "key",
    [
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/18/111122223333_CloudTrail-Digest_us-east-2_t_us-east-2_20150817T150131Z.json.gz",
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/444455556666_CloudTrail-Digest_us-east-2_t_us-east-2_20150817T150131Z.json.gz",
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_t_us-east-2_20150817T150131Z.json",
    ],
)
def test_a_digest_name_in_the_wrong_day_account_or_shape_is_not_a_digest(key: str) -> None:
    assert DigestKey.parse(key) is None


def test_the_signing_string_is_the_documented_four_lines_with_null_for_a_starting_digest() -> None:
    # "Custom implementations of CloudTrail log file integrity validation": end time, bucket/key, hash, signature
    assert signing_string("2015-08-17T15:01:31Z", "b", "k.json.gz", "ab12", None) == (
        b"2015-08-17T15:01:31Z\nb/k.json.gz\nab12\nnull"
    )
    assert signing_string("2015-08-17T15:01:31Z", "b", "k", "ab12", "9f").endswith(b"\nab12\n9f")


def test_a_signature_verifies_only_with_the_signing_key_and_only_for_its_message() -> None:
    message = signing_string("2024-03-04T01:00:00Z", "b", "k", "00" * 32, None)
    signature = signer.sign(message)
    local = load_public_key(signer.public_key_der())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    assert local is not None
    assert signature_verifies(local, message, signature)
    assert not signature_verifies(local, message + b"x", signature)
    assert not signature_verifies(other, message, signature)
    assert not signature_verifies(local, message, "not hex")
    assert load_public_key(b"not a key") is None


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def test_a_log_is_hashed_uncompressed_and_whatever_follows_its_gzip_stream_is_counted() -> None:
    text = b'{"Records":[]}'
    plain = check_log([_gzip(text)])
    member = check_log([_gzip(text), _gzip(b'{"Records":[{"eventName":"Forged"}]}')])
    junk = check_log([_gzip(text)[:10], _gzip(text)[10:] + b"tail"])
    broken = check_log([_gzip(text)[:-9]])
    assert plain.sha256 == member.sha256 == junk.sha256 == hashlib.sha256(text).hexdigest()
    assert (plain.trailing_bytes, member.extra_member, junk.trailing_bytes, junk.extra_member) == (0, True, 4, False)
    assert not broken.readable


def test_trail_control_events_are_picked_out_of_a_log_only_when_they_succeeded() -> None:
    records = (
        b'{"Records":[{"eventName":"StopLogging","eventTime":"2024-03-04T10:00:00Z","awsRegion":"us-east-1",'
        b'"requestParameters":{"name":"main-trail"}},{"eventName":"DeleteTrail","errorCode":"AccessDenied",'
        b'"eventTime":"2024-03-04T10:01:00Z","requestParameters":{"name":"main-trail"}}]}'
    )
    found = check_log([_gzip(records)]).control_events
    assert [(e.name, e.trail) for e in found] == [("StopLogging", "main-trail")]


def test_lifecycle_expiry_is_creation_plus_days_rounded_up_to_midnight_and_only_under_its_prefix() -> None:
    lifecycle = Lifecycle.from_rules(
        [
            {"Status": "Enabled", "Filter": {"Prefix": "AWSLogs/"}, "Expiration": {"Days": 2}},
            {"Status": "Disabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}},
        ]
    )
    created = dt.datetime(2024, 3, 4, 10, 30, tzinfo=UTC)
    assert not lifecycle.expired("AWSLogs/x", created, dt.datetime(2024, 3, 6, 23, 59, tzinfo=UTC))
    assert lifecycle.expired("AWSLogs/x", created, dt.datetime(2024, 3, 7, tzinfo=UTC))
    assert not lifecycle.expired("Other/x", created, dt.datetime(2030, 1, 1, tzinfo=UTC))


def test_a_digest_is_verified_with_the_public_keys_of_its_own_region(tmp_path: Path) -> None:
    with generated_bucket(tmp_path) as bucket:
        now = bucket.newest_digest_end() + dt.timedelta(minutes=30)
        undo = cloudtrail_keys.serve_public_keys([cloudtrail_keys.local_key(regions=["us-east-1"])])
        try:
            results = bucket.validate(now, account=ACCOUNT)
        finally:
            undo()
    west = next(r for r in results if r.region == "eu-west-1")
    east = next(r for r in results if r.region == "us-east-1")
    assert not east.findings
    assert west.findings and {f.kind for f in west.findings} >= {kinds.DIGEST_FORGED}
    assert all("no public key in eu-west-1" in f.detail for f in west.findings if f.kind == kinds.DIGEST_FORGED)


def test_every_finding_kind_has_its_own_metric_name() -> None:
    names = {kinds.metric_name(kind) for kind in kinds.ALL_KINDS}
    assert len(names) == len(kinds.ALL_KINDS)
    assert kinds.metric_name(kinds.LOG_DELETED) == "IntegrityLogDeleted"
