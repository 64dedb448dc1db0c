"""The tamper matrix on a generated bucket (in-process moto): each kind of damage is found, by kind and key,
and nothing else alarms; an untampered bucket has no finding at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.integrity_kit import START, generated_bucket
from tests.tampering import ACCOUNT, CASES, REGION, Case, backfill_log_deleted
from trailgen.generator import LateLogFile
from trailkeeper.integrity import findings as kinds

HALF_HOUR = dt.timedelta(minutes=30)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_tampering_is_found_by_kind_and_key_and_nothing_else_alarms(tmp_path: Path, case: Case) -> None:
    with generated_bucket(tmp_path) as bucket:
        now = bucket.newest_digest_end() + HALF_HOUR
        if case.needs_anchor:
            bucket.validate(now - dt.timedelta(hours=12))
        expected = case.tamper(bucket)
        results = bucket.validate(now)

    found = {(f.kind, f.key) for r in results for f in r.findings}
    assert expected <= found
    assert {f for f in found if f[0] in kinds.ALARM_KINDS} == {f for f in expected if f[0] in kinds.ALARM_KINDS}
    if case.name == "untampered":
        assert found == set()
        assert all(r.digests_verified and r.delivery == "arriving" for r in results)


def test_two_consecutive_deleted_digests_are_two_findings_one_per_hour(tmp_path: Path) -> None:
    with generated_bucket(tmp_path) as bucket:
        now = bucket.newest_digest_end() + HALF_HOUR
        keys = bucket.digest_keys(ACCOUNT, REGION)
        for key in keys[5:8]:
            bucket.delete(key)
        results = bucket.validate(now)

    deleted = [f for r in results for f in r.findings if f.kind == kinds.DIGEST_DELETED]
    assert len(deleted) == 3
    assert len({f.hour for f in deleted}) == 3


def test_expired_objects_are_expired_never_deleted(tmp_path: Path) -> None:
    with generated_bucket(tmp_path) as bucket:
        now = bucket.newest_digest_end() + HALF_HOUR
        bucket.s3.put_bucket_lifecycle_configuration(
            Bucket="trailkeeper-local-trail",
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "expire-logs",
                        "Status": "Enabled",
                        "Filter": {"Prefix": "AWSLogs/"},
                        "Expiration": {"Days": 1},
                    }
                ]
            },
        )
        keys = bucket.digest_keys(ACCOUNT, REGION)
        first_day = [k for k in keys if "/2024/03/04/" in k]
        listed = [e["s3Object"] for k in first_day[6:] for e in bucket.digest(k)["logFiles"]]
        bucket.delete(first_day[3])  # what S3 lifecycle removed, a day after delivery
        bucket.delete(listed[0])
        results = bucket.validate(now)

    found = {(f.kind, f.key) for r in results for f in r.findings}
    assert (kinds.DIGEST_EXPIRED, first_day[3]) in found
    assert (kinds.LOG_EXPIRED, listed[0]) in found
    assert not {f for f in found if f[0] in kinds.ALARM_KINDS}


def test_a_directory_copy_without_metadata_leaves_only_the_newest_digest_unverifiable(tmp_path: Path) -> None:
    with generated_bucket(tmp_path, with_metadata=False) as bucket:
        now = bucket.newest_digest_end() + HALF_HOUR
        results = bucket.validate(now)
        chains = {r.region: bucket.digest_keys(ACCOUNT, r.region) for r in results}

    found = [(f.kind, f.key) for r in results for f in r.findings]
    assert sorted(found) == sorted((kinds.DIGEST_UNVERIFIABLE, keys[-1]) for keys in chains.values())
    assert all(r.digests_verified == len(chains[r.region]) for r in results)


def test_the_second_night_starts_from_the_anchor_and_verifies_only_new_hours(tmp_path: Path) -> None:
    with generated_bucket(tmp_path) as bucket:
        now = bucket.newest_digest_end() + HALF_HOUR
        first = bucket.validate(now - dt.timedelta(hours=10))
        second = bucket.validate(now)
        total = {r.region: len(bucket.digest_keys(ACCOUNT, r.region)) for r in first}

    assert all(not r.findings for r in first + second)
    assert {r.region: r.digests_verified + s.digests_verified for r, s in zip(first, second, strict=True)} == total
    assert all(9 <= s.digests_verified <= 11 for s in second)


BACKFILL_PLANT = LateLogFile(START, ACCOUNT, REGION)


def test_a_late_log_file_is_verified_through_the_backfill_chain_and_its_deletion_found(tmp_path: Path) -> None:
    with generated_bucket(tmp_path, plants=(BACKFILL_PLANT,)) as bucket:
        now = bucket.newest_digest_end() + HALF_HOUR
        backfill = [k for k in bucket.digest_keys(ACCOUNT, REGION) if k.endswith("_backfill.json.gz")]
        standard_listed = {
            e["s3Object"]
            for k in bucket.digest_keys(ACCOUNT, REGION)
            if k not in backfill
            for e in bucket.digest(k)["logFiles"]
        }
        (late,) = [e["s3Object"] for e in bucket.digest(backfill[0])["logFiles"]]
        clean = bucket.validate(now, keep_anchors=False)
        expected = backfill_log_deleted(bucket)
        tampered = bucket.validate(now)

    assert late not in standard_listed  # only the backfill chain vouches for it
    assert [f for r in clean for f in r.findings] == []  # verified, not "injected"
    pair = next(r for r in clean if r.region == REGION)
    assert any(chain.endswith("_backfill") for chain in pair.anchors)
    assert {(f.kind, f.key) for r in tampered for f in r.findings} == expected
