"""The rotating sweep in the tamper-matrix style (generated bucket, in-process moto, the nightly batch step): an
object injected into a day verified on an earlier night is found the night the sweep reaches that day, an old
digest altered since is found the same way, and an untampered bucket stays clean over a whole cycle."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.integrity_kit import Bucket, generated_bucket
from tests.tampering import ACCOUNT, REGION, listed
from trailkeeper.config import Settings
from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.digests import TIME_FORMAT
from trailkeeper.integrity.nightly import validate_batch
from trailkeeper.integrity.sweep import cycle_nights
from trailkeeper.layout import integrity_batch_key

RESULTS = "trailkeeper-results"
FIRST_NIGHT = dt.date(2024, 3, 4)
RETENTION, PER_NIGHT = 6, 2  # a 3-night cycle, so a test reaches every day in a few nights
CYCLE = cycle_nights(RETENTION, PER_NIGHT)
DAYS = 9


def settings() -> Settings:
    return Settings.from_env(
        {
            "TRAIL_BUCKET": "trailkeeper-local-trail",
            "RESULTS_BUCKET": RESULTS,
            "ORGANIZATION_ID": "o-exampleorg1",
            "DATABASE_NAME": "trailkeeper",
            "TABLE_NAME": "cloudtrail",
        }
    )


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    monkeypatch.setenv("INTEGRITY_SWEEP_DAYS_PER_NIGHT", str(PER_NIGHT))
    monkeypatch.setenv("INTEGRITY_RETENTION_DAYS", str(RETENTION))
    with generated_bucket(tmp_path, days=DAYS, regions=(REGION,)) as found:
        found.s3.create_bucket(Bucket=RESULTS)
        yield found


def run_night(bucket: Bucket, night: dt.date) -> tuple[set[tuple[str, str]], int]:
    """The night's ValidateIntegrity batch for the pair: its (kind, key) findings and the days it swept."""
    item = {"batch": "0", "night": night.isoformat(), "accounts": [[ACCOUNT, [REGION]]]}
    validate_batch(settings(), bucket.s3, lambda region: boto3.client("cloudtrail", region_name=region), item)
    body = bucket.s3.get_object(Bucket=RESULTS, Key=integrity_batch_key(night, "0"))["Body"].read()
    (pair,) = json.loads(body)["pairs"]
    return {(f["kind"], f["key"]) for f in pair["findings"]}, pair["days_swept"]


def nights(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


def test_an_object_injected_into_a_day_verified_earlier_is_found_when_the_sweep_reaches_it(bucket: Bucket) -> None:
    for night in nights(FIRST_NIGHT, 2):
        assert run_night(bucket, night)[0] == set()
    digest_key, log = next((d, g) for d, g in listed(bucket) if "/2024/03/04/" in g)  # verified on night 03-04
    start = dt.datetime.strptime(bucket.digest(digest_key)["digestStartTime"], TIME_FORMAT)
    when = start + dt.timedelta(minutes=20)
    injected = f"{log.rsplit('/', 1)[0]}/{ACCOUNT}_CloudTrail_{REGION}_{when:%Y%m%dT%H%MZ}_Inj3ct3dL0gF1le00.json.gz"
    bucket.put(injected, bucket.body(log))

    found_on = [night for night in nights(FIRST_NIGHT + dt.timedelta(days=2), CYCLE) if run_night(bucket, night)[0]]
    # 03-04 is swept on the nights congruent to it modulo the cycle: 03-07 is the first after the injection.
    assert found_on == [dt.date(2024, 3, 7)]


def test_an_old_digest_altered_after_its_night_is_found_when_the_sweep_reaches_its_day(bucket: Bucket) -> None:
    for night in nights(FIRST_NIGHT, 3):
        run_night(bucket, night)
    key = next(  # a digest of mid-day: only the sweep of 03-05 reads it (03-04's reads 03-05 up to 02:00 too)
        k for k in bucket.digest_keys(ACCOUNT, REGION) if "_20240305T1" in k and bucket.digest(k)["logFiles"]
    )
    document = bucket.digest(key)
    document["logFiles"] = document["logFiles"][1:]  # hide a log file; the signature metadata stays
    bucket.put(key, gzip.compress(json.dumps(document).encode()), bucket.metadata(key))
    found = {night: run_night(bucket, night)[0] for night in nights(dt.date(2024, 3, 7), CYCLE)}
    assert found[dt.date(2024, 3, 8)] >= {(kinds.DIGEST_FORGED, key)}
    assert not found[dt.date(2024, 3, 7)] and not found[dt.date(2024, 3, 9)]


def test_an_untampered_bucket_stays_clean_over_a_whole_cycle_and_every_old_day_is_swept(bucket: Bucket) -> None:
    swept = 0
    for night in nights(FIRST_NIGHT, CYCLE + 3):
        findings, days = run_night(bucket, night)
        assert findings == set(), night
        assert days <= PER_NIGHT
        swept += days
    assert swept >= RETENTION - 2  # every day older than the walk's, once per cycle


def test_a_swept_day_costs_two_lists_and_at_most_26_digest_gets(bucket: Bucket) -> None:
    """The bench's per-night figures: the log folder listed, the two digest folders in one listing (it starts at
    the day's folder), a day's digests and the next day's first two read (logs are not re-read)."""
    for night in nights(FIRST_NIGHT, 3):
        run_night(bucket, night)
    calls: list[tuple[str, str]] = []
    bucket.s3.meta.events.register(
        "before-parameter-build.s3.ListObjectsV2",
        lambda params, **_: calls.append(("list", params["Prefix"] + "|" + params.get("StartAfter", ""))),
    )
    bucket.s3.meta.events.register(
        "before-parameter-build.s3.GetObject", lambda params, **_: calls.append(("get", params["Key"]))
    )
    swept_day = dt.date(2024, 3, 4)  # night 03-07's turn (a 3-night cycle)
    assert run_night(bucket, dt.date(2024, 3, 7)) == (set(), 1)
    folders = {f"/{d:%Y/%m/%d}/" for d in (swept_day, swept_day + dt.timedelta(days=1))}
    old = [(what, key) for what, key in calls if any(folder in key for folder in folders)]
    digests = f"{bucket.root}{ACCOUNT}/CloudTrail-Digest/{REGION}/"
    assert sorted(key for what, key in old if what == "list") == [
        f"{bucket.root}{ACCOUNT}/CloudTrail-Digest/{REGION}/|{digests}{swept_day:%Y/%m/%d}/",
        f"{bucket.root}{ACCOUNT}/CloudTrail/{REGION}/{swept_day:%Y/%m/%d}/|",
    ]
    gets = [key for what, key in old if what == "get"]
    assert gets and all("/CloudTrail-Digest/" in key for key in gets) and len(gets) <= 26
