"""The nightly steps' core: batches of accounts, a retried batch finds the same again, a missing batch is
counted unvalidated (and alarms), a night already summarised is not planned again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3
import pytest

from tests.integrity_kit import BUCKET, generated_bucket
from tests.tampering import ACCOUNT, REGION
from trailkeeper import aws
from trailkeeper.config import Settings
from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.nightly import plan_night, summarise_night, validate_batch
from trailkeeper.layout import integrity_anchor_key

RESULTS = "trailkeeper-results"
NIGHT = dt.date(2024, 3, 5)


def settings() -> Settings:
    return Settings.from_env(
        {
            "TRAIL_BUCKET": BUCKET,
            "RESULTS_BUCKET": RESULTS,
            "ORGANIZATION_ID": "o-exampleorg1",
            "DATABASE_NAME": "trailkeeper",
            "TABLE_NAME": "cloudtrail",
        }
    )


def cloudtrail_for(region: str) -> object:
    return boto3.client("cloudtrail", region_name=region)


def test_a_night_is_planned_in_account_batches_and_a_missing_batch_is_counted_unvalidated(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTEGRITY_BATCH_ACCOUNTS", "2")
    with generated_bucket(tmp_path, accounts=3) as bucket:
        bucket.s3.create_bucket(Bucket=RESULTS)
        planned = plan_night(settings(), bucket.s3, NIGHT)
        items = bucket.s3.get_object(Bucket=RESULTS, Key=planned["pairs_key"])["Body"].read()
        validate_batch(
            settings(),
            bucket.s3,
            cloudtrail_for,
            {"batch": "0", "night": NIGHT.isoformat(), "accounts": [[ACCOUNT, [REGION]]]},
        )
        summary = summarise_night(settings(), bucket.s3, NIGHT, planned["batches"])
        again = plan_night(settings(), bucket.s3, NIGHT)
    assert (planned["batches"], planned["pairs"]) == (2, 6)
    assert b'"accounts"' in items
    assert (summary["pairs"], summary["unvalidated_batches"]) == (1, 1)
    assert again["already_validated"] and again["batches"] == 0


def test_a_retried_batch_starts_from_the_anchors_its_night_started_from(tmp_path: Path) -> None:
    item = {"batch": "0", "night": NIGHT.isoformat(), "accounts": [[ACCOUNT, [REGION]]]}
    with generated_bucket(tmp_path) as bucket:
        bucket.s3.create_bucket(Bucket=RESULTS)
        validate_batch(settings(), bucket.s3, cloudtrail_for, {**item, "night": "2024-03-04"})
        newest = bucket.digest_keys(ACCOUNT, REGION)[-8]
        bucket.delete(newest)
        first = validate_batch(settings(), bucket.s3, cloudtrail_for, item)
        second = validate_batch(settings(), bucket.s3, cloudtrail_for, item)
        summary = summarise_night(settings(), bucket.s3, NIGHT, 1)
    assert first == second
    assert first["alarming"] >= 1
    assert summary["findings_by_kind"][kinds.DIGEST_DELETED] == 1


def test_a_batch_asks_each_regions_public_keys_once_and_reads_each_digest_once_and_not_the_anchor(
    tmp_path: Path,
) -> None:
    with generated_bucket(tmp_path, accounts=2) as bucket:
        bucket.s3.create_bucket(Bucket=RESULTS)
        accounts = [[account, list(bucket.spec.regions)] for account in bucket.spec.account_ids]
        validate_batch(
            settings(), bucket.s3, cloudtrail_for, {"batch": "0", "night": "2024-03-04", "accounts": accounts}
        )
        anchors = {
            anchor["key"]
            for account, regions in accounts
            for region in regions
            for anchor in aws.get_json(bucket.s3, RESULTS, integrity_anchor_key(account, region))["anchors"].values()
        }
        read: list[str] = []
        bucket.s3.meta.events.register(
            "before-parameter-build.s3.GetObject",
            lambda params, **_: read.append(params["Key"]) if params["Bucket"] == BUCKET else None,
        )
        asked: list[str] = []

        def counted_cloudtrail(region: str) -> object:
            client = boto3.client("cloudtrail", region_name=region)
            client.meta.events.register("before-call.cloudtrail.ListPublicKeys", lambda **_: asked.append(region))
            return client

        counts = validate_batch(
            settings(), bucket.s3, counted_cloudtrail, {"batch": "1", "night": NIGHT.isoformat(), "accounts": accounts}
        )
    assert counts["pairs"] == 4 and counts["findings"] == 0
    assert sorted(asked) == sorted(bucket.spec.regions)  # one ListPublicKeys per region for the whole batch
    assert len(read) == len(set(read))
    assert anchors and not anchors & set(read)  # the anchors' presence comes from the night's listing
