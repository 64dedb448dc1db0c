"""Property: whatever keys sit in the trail bucket, the planner's SQL names only validated partitions.

Discovery and planning run for real (trailkeeper.reconcile.plan_run on moto S3 and Glue, no state machine, for
speed); the oracle is computed here independently: a partition may exist only for an (account, region) that
some key places exactly at `<root><12 digits>/CloudTrail/<region name>/...`, and its LOCATION is rebuilt from
the configured bucket and root and those values alone.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from tests.hardening.reliability import Recorder
from tests.helpers import make_settings, table_input
from tests.sqlcheck import parse_add_partitions
from trailkeeper import layout
from trailkeeper.inputs import RunRequest
from trailkeeper.reconcile import Clients, plan_run

PREFIX, ORGANIZATION = "org/trails", "o-exampleorg1"
SETTINGS = make_settings(TRAIL_PREFIX=PREFIX)
ROOT = f"{PREFIX}/AWSLogs/{ORGANIZATION}/"
REQUEST = RunRequest(mode="backfill", start=dt.date(2024, 2, 28), end=dt.date(2024, 3, 1))
DAYS = ("2024-02-28", "2024-02-29", "2024-03-01")
ACCOUNT = re.compile(r"[0-9]{12}")
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]{0,2})?-[a-z]{4,10}-[0-9]{1,2}")
EXAMPLES = 60

# Pieces a hostile key is made of: the layout's own words, near-misses, traversal, quotes, SQL, unicode.
TOKENS = st.sampled_from(
    [
        "",
        ".",
        "..",
        " ",
        "'",
        '"',
        "AWSLogs",
        ORGANIZATION,
        "o-other0000000",
        "org",
        "trails",
        "CloudTrail",
        "CloudTrail-Digest",
        "111111111111",
        "222222222222",
        "11111111111",
        "1111111111111",
        "us-east-1",
        "eu-west-1",
        "US-EAST-1",
        "us-east-9x",
        "eu-central-1 ",
        "us-east-1') LOCATION 's3://evil/'--",
        "us-east-1' OR '1'='1",
        "２０２４",
        "ｕｓ-east-1",
        "us\u2010east-1",
        "us-east-1\u200b",
        "2024",
        "02",
        "29",
        "_SUCCESS",
        "%2e%2e",
        "\\",
    ]
)
SEGMENT = st.one_of(TOKENS, st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8))
TAIL = st.lists(SEGMENT, min_size=1, max_size=6).map("/".join)
KEY = st.one_of(TAIL, TAIL.map(lambda tail: ROOT + tail))  # anywhere in the bucket, or under the logs root
# Near misses at the two levels discovery validates, drawn often: a lax check shows within a few examples.
REGION_LIKE = st.one_of(
    st.sampled_from(
        [
            "us-east-1",
            "eu-west-1",
            "us-gov-west-1",
            "cn-north-1",
            "US-EAST-1",
            "us-east-9x",
            "eu-central-1 ",
            " eu-central-1",
            "us-east-1\u200b",
            "ｕｓ-east-1",
            "us\u2010east-1",
            "us-east-1') LOCATION 's3://evil/'--",
            "",
            ".",
            "..",
            "us-east-1/..",
            "us-east-1%2F..",
            "us-east-01x",
        ]
    ),
    st.text(max_size=14),
)
ACCOUNT_LIKE = st.one_of(
    st.sampled_from(
        [
            "111111111111",
            "222222222222",
            "1111111111111",
            "11111111111",
            "111111111111 ",
            "１１１１１１１１１１１１",
            "",
            ".",
            "..",
            ORGANIZATION,
            "111111111111/..",
        ]
    ),
    st.text(alphabet="0123456789 .'", max_size=13),
)
BASELINE = (f"{ROOT}111111111111/CloudTrail/us-east-1/2024/02/29/x.json.gz",)  # one well-formed log, always


@pytest.fixture(scope="module")
def clients() -> Iterator[Clients]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        glue = boto3.client("glue", region_name="us-east-1")
        for bucket in (SETTINGS.TRAIL_BUCKET, SETTINGS.RESULTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        glue.create_database(DatabaseInput={"Name": SETTINGS.DATABASE_NAME})
        glue.create_table(DatabaseName=SETTINGS.DATABASE_NAME, TableInput=table_input())
        yield Clients(s3=s3, glue=glue)


def allowed_partitions(keys: set[str]) -> set[tuple[str, str, str]]:
    """The oracle: (account, region, day) for every exact `<root><account>/CloudTrail/<region>/` in the keys."""
    pairs = set()
    for key in keys:
        if not key.startswith(ROOT):
            continue
        parts = key[len(ROOT) :].split("/")
        if len(parts) >= 4 and ACCOUNT.fullmatch(parts[0]) and parts[1] == "CloudTrail" and REGION.fullmatch(parts[2]):
            pairs.add((parts[0], parts[2]))
    return {(account, region, day) for (account, region), day in itertools.product(pairs, DAYS)}


def validated_location(account: str, region: str, day: str) -> str:
    return f"s3://{SETTINGS.TRAIL_BUCKET}/{ROOT}{account}/CloudTrail/{region}/{day.replace('-', '/')}/"


_runs = itertools.count()


def _emptied_trail_bucket(clients: Clients) -> Any:
    """The trail bucket's S3 client, the bucket emptied: each example starts from nothing."""
    s3 = clients.s3
    for listed in s3.list_objects_v2(Bucket=SETTINGS.TRAIL_BUCKET).get("Contents", []):
        s3.delete_object(Bucket=SETTINGS.TRAIL_BUCKET, Key=listed["Key"])
    return s3


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    regions=st.lists(REGION_LIKE, max_size=6),
    accounts=st.lists(ACCOUNT_LIKE, max_size=4),
    keys=st.sets(KEY, max_size=8),
)
def test_the_planner_emits_only_partitions_built_from_validated_values(
    clients: Clients, reliability: Recorder, regions: list[str], accounts: list[str], keys: set[str]
) -> None:
    run = f"prop-{next(_runs)}"
    if run == "prop-0":  # one scenario in the summary for the whole property
        reliability.record(
            "hostile keys",
            f"hypothesis: arbitrary keys and near-miss folders, {EXAMPLES} examples",
            "only validated partitions and LOCATIONs",
        )
    s3 = _emptied_trail_bucket(clients)
    every_key = {
        key
        for key in (
            *keys,
            *BASELINE,
            *(f"{ROOT}111111111111/CloudTrail/{region}/2024/02/29/x.json.gz" for region in regions),
            *(f"{ROOT}{account}/CloudTrail/eu-west-1/2024/03/01/x.json.gz" for account in accounts),
        )
        if 0 < len(key.encode()) <= 1024
    }  # S3 keys are 1 to 1,024 bytes
    for key in every_key:
        s3.put_object(Bucket=SETTINGS.TRAIL_BUCKET, Key=key, Body=b"{}")

    summary = plan_run(REQUEST, SETTINGS, clients, run)
    keys = [layout.statement_key(summary["statements_prefix"], i) for i in range(summary["statements"])]
    statements = [s3.get_object(Bucket=SETTINGS.RESULTS_BUCKET, Key=key)["Body"].read().decode() for key in keys]
    added = [p for sql in statements for p in parse_add_partitions(sql).partitions]
    found = [(p.values["account"], p.values["region"], p.values["dt"]) for p in added]

    assert sorted(found) == sorted(allowed_partitions(every_key))
    assert [p.location for p in added] == [validated_location(*values) for values in found]


# ------------------------------------------------------------------------------------------------ date folders

NIGHT = RunRequest(mode="nightly", start=dt.date(2024, 2, 28), end=dt.date(2024, 3, 1), report_day=dt.date(2024, 2, 28))
REGION_ROOT = f"{ROOT}111111111111/CloudTrail/us-east-1/"
DATE_TOKENS = st.sampled_from(
    [
        "2024",
        "02",
        "03",
        "29",
        "30",
        "13",
        "00",
        "4",
        "x",
        "2012",
        "２０２４",
        "0",
        "",
        ".",
        "..",
        "\x01",
        "%ff",
        "stray",
    ]
)
DATE_KEY = st.lists(st.one_of(DATE_TOKENS, SEGMENT), min_size=1, max_size=4).map(
    lambda parts: REGION_ROOT + "/".join(parts)
)
DATE_PATTERNS = ("%Y", "%Y/%m", "%Y/%m/%d")
_date_runs = itertools.count()


def cloudtrail_writes(parts: list[str]) -> bool:
    """The oracle, independent of discovery.date_folder: YYYY[/MM[/DD]] of ASCII digits, a real date from 2013."""
    text = "/".join(parts)
    if not 1 <= len(parts) <= 3 or not re.fullmatch(r"[0-9]{4}(/[0-9]{2}){0,2}", text):
        return False
    try:
        return dt.datetime.strptime(text, DATE_PATTERNS[len(parts) - 1]).year >= 2013
    except ValueError:
        return False


def expected_date_anomalies(keys: set[str]) -> set[str]:
    """What the scan of NIGHT's window must report: the first odd level of each key under a listed folder."""
    listed = {(), ("2024",), ("2024", "02"), ("2024", "03")}
    found = set()
    for key in keys:
        parts = key[len(REGION_ROOT) :].split("/")
        for depth in range(1, len(parts) + 1):
            above, is_file = tuple(parts[: depth - 1]), depth == len(parts)
            if above not in listed:
                break
            if is_file or not cloudtrail_writes(parts[:depth]):
                found.add(REGION_ROOT + "/".join(parts[:depth]) + ("" if is_file else "/"))
                break
    return found


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.sets(DATE_KEY, max_size=8))
def test_the_nightly_date_folder_scan_reports_exactly_the_names_cloudtrail_never_writes(
    clients: Clients, reliability: Recorder, keys: set[str]
) -> None:
    run = f"date-{next(_date_runs)}"
    if run == "date-0":  # one scenario in the summary for the whole property
        reliability.record(
            "hostile keys",
            f"hypothesis: date folders of arbitrary names, {EXAMPLES} examples",
            "exactly the odd names reported, never a crash",
        )
    s3 = _emptied_trail_bucket(clients)
    every_key = {key for key in (*keys, *BASELINE) if len(key.encode()) <= 1024}
    for key in every_key:
        s3.put_object(Bucket=SETTINGS.TRAIL_BUCKET, Key=key, Body=b"{}")

    summary = plan_run(NIGHT, SETTINGS, clients, run)
    reported = {a["key"] for a in summary["anomalies"]["sample"] if a["key"].startswith(REGION_ROOT)}

    assert summary["date_listings"] == 4
    assert reported == expected_date_anomalies(every_key)
