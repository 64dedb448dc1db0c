"""Discovery in the trail bucket: both layouts, every page, anomalies counted and never passed on."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import log_key, make_settings, put_logs, template
from trailkeeper.aws import s3_lister, s3_page_lister
from trailkeeper.discovery import (
    ANOMALY_SAMPLE,
    Discovery,
    date_listing_prefixes,
    discover,
    scan_date_folders,
)
from trailkeeper.inputs import parse_execution_input
from trailkeeper.reconcile import Clients

A1, A2 = "111111111111", "222222222222"
ORG_ROOT = "AWSLogs/o-exampleorg1/"


def test_organization_layout_yields_accounts_and_their_regions(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"), log_key(A1, "eu-west-1"), log_key(A2, "us-east-1"))
    found = discover(s3_lister(aws.s3, "trail-bucket"), make_settings())
    assert found.regions_by_account == {A1: ("eu-west-1", "us-east-1"), A2: ("us-east-1",)}
    assert found.anomaly_count == 0


def test_account_layout_with_key_prefix_yields_accounts(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "ap-southeast-2", root="team/logs/AWSLogs/"))
    settings = make_settings(ORGANIZATION_ID="", TRAIL_PREFIX="team/logs")
    found = discover(s3_lister(aws.s3, "trail-bucket"), settings)
    assert found.regions_by_account == {A1: ("ap-southeast-2",)}


def test_listing_follows_every_page(aws: Clients) -> None:
    """S3 returns at most 1,000 prefixes a page; a page size of 5 makes 12 accounts take three pages."""
    accounts = [f"{n:012d}" for n in range(1, 13)]
    put_logs(aws.s3, *(log_key(account, "us-east-1") for account in accounts))
    pages: list[str] = []
    aws.s3.meta.events.register(
        "before-parameter-build.s3.ListObjectsV2", lambda params, **_: pages.append(params["Prefix"])
    )
    found = discover(s3_lister(aws.s3, "trail-bucket", page_size=5), make_settings())
    assert sorted(found.regions_by_account) == accounts
    assert pages.count("AWSLogs/o-exampleorg1/") == 3


HOSTILE_KEYS = {
    "empty region segment": f"{ORG_ROOT}{A1}/CloudTrail//2024/01/01/x.json.gz",
    "sql in region folder": f"{ORG_ROOT}{A1}/CloudTrail/us-east-1') LOCATION 's3://evil/'--/2024/01/01/x.json.gz",
    "traversal segment": f"{ORG_ROOT}{A1}/CloudTrail/../../{A2}/CloudTrail/us-east-1/2024/01/01/x.json.gz",
    "upper-case region": f"{ORG_ROOT}{A1}/CloudTrail/US-EAST-1/2024/01/01/x.json.gz",
    "unknown region shape": f"{ORG_ROOT}{A1}/CloudTrail/us-east-9x/2024/01/01/x.json.gz",
    "trailing space": f"{ORG_ROOT}{A1}/CloudTrail/eu-central-1 /2024/01/01/x.json.gz",
    "object among regions": f"{ORG_ROOT}{A1}/CloudTrail/_SUCCESS",
    "folder marker": f"{ORG_ROOT}{A1}/CloudTrail/",
    "odd account folder": f"{ORG_ROOT}12345/CloudTrail/us-east-1/2024/01/01/x.json.gz",
    "object among accounts": f"{ORG_ROOT}_SUCCESS",
    "account folder with sql": f"{ORG_ROOT}111111111111'--/CloudTrail/us-east-1/2024/01/01/x.json.gz",
}


@pytest.mark.parametrize("key", HOSTILE_KEYS.values(), ids=HOSTILE_KEYS.keys())
def test_hostile_key_is_reported_as_an_anomaly_and_never_used(aws: Clients, key: str) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"), key)
    found = discover(s3_lister(aws.s3, "trail-bucket"), make_settings())
    assert found.regions_by_account == {A1: ("us-east-1",)}
    assert found.anomaly_count == 1
    assert found.anomaly_sample[0].key in key


def test_digest_insight_and_config_siblings_are_not_regions(aws: Clients) -> None:
    put_logs(
        aws.s3,
        log_key(A1, "us-east-1"),
        f"{ORG_ROOT}{A1}/CloudTrail-Digest/us-east-1/2024/01/05/d.json.gz",
        f"{ORG_ROOT}{A1}/CloudTrail-Insight/us-east-1/2024/01/05/i.json.gz",
        f"{ORG_ROOT}{A1}/Config/us-east-1/2024/1/5/ConfigHistory/c.json.gz",
    )
    found = discover(s3_lister(aws.s3, "trail-bucket"), make_settings())
    assert found.regions_by_account == {A1: ("us-east-1",)}


def test_account_trail_beside_an_organization_trail_is_an_anomaly(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"), log_key(A2, "us-east-1", root="AWSLogs/"))
    found = discover(s3_lister(aws.s3, "trail-bucket"), make_settings(ORGANIZATION_ID=""))
    assert found.regions_by_account == {A2: ("us-east-1",)}
    assert [a.key for a in found.anomaly_sample] == ["AWSLogs/o-exampleorg1/"]


def test_anomalies_are_all_counted_but_only_a_sample_is_kept(aws: Clients) -> None:
    put_logs(aws.s3, *(f"{ORG_ROOT}{A1}/CloudTrail/odd-{n}/x" for n in range(ANOMALY_SAMPLE + 5)))
    found = discover(s3_lister(aws.s3, "trail-bucket"), make_settings())
    assert (found.anomaly_count, len(found.anomaly_sample)) == (ANOMALY_SAMPLE + 5, ANOMALY_SAMPLE)


def test_configured_allow_lists_restrict_discovery(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"), log_key(A1, "eu-west-1"), log_key(A2, "us-east-1"))
    settings = make_settings(ACCOUNT_ALLOWLIST=A1, REGION_ALLOWLIST="eu-west-1")
    found = discover(s3_lister(aws.s3, "trail-bucket"), settings)
    assert found.regions_by_account == {A1: ("eu-west-1",)}
    assert found.filtered_out == 2


def test_input_lists_narrow_within_the_configured_allow_list(aws: Clients) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1"), log_key(A2, "us-east-1"))
    settings = make_settings(ACCOUNT_ALLOWLIST=A1)
    found = discover(s3_lister(aws.s3, "trail-bucket"), settings, accounts=frozenset({A2}))
    assert found.regions_by_account == {}


# ------------------------------------------------------------------------------------------------ date folders

REGION_BASE = f"{ORG_ROOT}{A1}/CloudTrail/us-east-1/"
ODD_DATE_NAMES = {
    "day folder not a calendar date": f"{REGION_BASE}2024/02/30/",
    "month folder 13": f"{REGION_BASE}2024/13/",
    "one-digit day folder": f"{REGION_BASE}2024/03/4/",
    "day folder not a number": f"{REGION_BASE}2024/03/x/",
    "year folder before CloudTrail": f"{REGION_BASE}2012/",
    "year folder not a number": f"{REGION_BASE}2o24/",
    "stray file at the region level": f"{REGION_BASE}stray.txt",
    "stray file at the year level": f"{REGION_BASE}2024/stray.txt",
    "stray file at the month level": f"{REGION_BASE}2024/03/stray.txt",
    "control character (EncodingType=url)": f"{REGION_BASE}2024/03/\x01/",
    "percent-encoded bytes, literally": f"{REGION_BASE}2024/03/%ff/",
    "zero-width space before a day": f"{REGION_BASE}2024/03/\u200b05/",
}


def _scan_a1(aws: Clients, start: dt.date, end: dt.date) -> Discovery:
    """The nightly date-folder scan of A1's us-east-1 over [start, end]."""
    found = Discovery(regions_by_account={})
    scan_date_folders(s3_page_lister(aws.s3, "trail-bucket"), ORG_ROOT, [(A1, "us-east-1")], start, end, found)
    return found


def _plant(s3: object, name: str) -> None:
    put_logs(s3, name if not name.endswith("/") else f"{name}{A1}_CloudTrail_us-east-1_x.json.gz")


@pytest.mark.parametrize("name", ODD_DATE_NAMES.values(), ids=ODD_DATE_NAMES.keys())
def test_a_date_folder_name_cloudtrail_does_not_write_is_an_anomaly(aws: Clients, name: str) -> None:
    put_logs(aws.s3, log_key(A1, "us-east-1", "2024/03/05"), log_key(A1, "us-east-1", "2024/02/29"))
    _plant(aws.s3, name)
    found = _scan_a1(aws, dt.date(2024, 2, 28), dt.date(2024, 3, 6))
    assert [(a.kind, a.key) for a in found.anomaly_sample] == [
        ("unexpected_folder" if name.endswith("/") else "unexpected_object", name)
    ]


def test_real_date_folders_are_no_anomaly(aws: Clients) -> None:
    put_logs(aws.s3, *(log_key(A1, "us-east-1", day) for day in ("2023/12/31", "2024/01/01", "2024/02/29")))
    found = _scan_a1(aws, dt.date(2023, 12, 30), dt.date(2024, 3, 1))
    assert found.anomaly_count == 0 and found.date_listings == 1 + 2 + 4


def test_date_folder_listings_are_bounded_by_the_window_whatever_the_bucket_holds(aws: Clients) -> None:
    """Worst case: the largest nightly window (template LookbackDays MaxValue, plus today and tomorrow) touches
    at most 5 months of 2 years: 8 ListObjectsV2 calls per pair, however many names a folder holds."""
    lookback = int(template()["Parameters"]["LookbackDays"]["MaxValue"])
    nights = [dt.datetime(2023, 1, 1, 1, 30, tzinfo=dt.UTC) + dt.timedelta(days=i) for i in range(4 * 366)]
    windows = [
        parse_execution_input({"time": f"{n:%Y-%m-%dT%H:%M:%SZ}"}, lookback_days=lookback, now=n + dt.timedelta(days=2))
        for n in nights
    ]
    widest = max(len(date_listing_prefixes(ORG_ROOT, A1, "us-east-1", w.start, w.end)) for w in windows)
    assert widest == 1 + 2 + 5
    month = f"{REGION_BASE}2024/03/"
    put_logs(aws.s3, *(f"{month}odd{i:04d}/x.json.gz" for i in range(1_001)))
    calls: list[str] = []
    aws.s3.meta.events.register("before-parameter-build.s3.ListObjectsV2", lambda params, **_: calls.append("x"))
    found = _scan_a1(aws, dt.date(2024, 3, 1), dt.date(2024, 3, 2))
    assert len(calls) == found.date_listings == 3
    assert found.anomaly_count == 1_000 + 1
    assert ("listing_truncated", month) in [(a.kind, a.key) for a in found.anomaly_sample]
