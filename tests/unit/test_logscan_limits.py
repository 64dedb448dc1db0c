"""The unreadable-log scan fits every Lambda, the Map and S3 at any size of organization (trailkeeper.logscan).

Worst cases computed from the template (Timeout, MemorySize), the ASL and logscan's constants, on these numbers
(docs/aws-facts.md cites the AWS ones):
- a partition holds 288 log files: CloudTrail usually publishes one every 5 minutes per account and region;
- CloudTrail documents no log-file size (only events, at most 256 KB), so the design file is 2 MiB uncompressed
  (about 1,600 events in 5 minutes, 460,000 a day in one account and region, far above a typical region);
- reading a file costs 0.07 s of CPU per uncompressed MiB and peaks at 7 times its uncompressed size: measured
  for `unreadable_reason` on a 6.4 MB, 4,872-record trailgen log file on this project's machine (2 shared cores,
  x86_64), on its slowest path (a file with a \\u escape of a surrogate; most files skip that path, 0.02 s/MiB,
  4.8x). ScanLogBatch's 1,769 MB is one vCPU (Lambda docs), and Python reads on one core (the GIL);
- a GetObject of a log file takes 0.1 s, twice the "tens of milliseconds" S3 gives as the median for requests under
  512 KB; a LIST page and a result file are the same; 0.05 s for the typical-night estimate;
- S3 serves 5,500 GET/s per partitioned prefix (a whole new bucket may be one); an account has 1,000 concurrent
  Lambda executions by default, shared with everything else in it;
- Glue returns at most 1,000 partitions a page; 0.5 s a page is assumed.
The organization the README estimates is 1,000 accounts x 17 regions; the bounds hold at 10 times that.
"""

from __future__ import annotations

import datetime as dt
import math
import tracemalloc
from typing import Any

from tests.helpers import ROOT, asl, make_settings, table_input, template
from trailkeeper.logscan import (
    MAX_LISTED,
    PARTITIONS_PER_BATCH,
    RESULT_READERS,
    SCAN_CONCURRENCY,
    SCAN_READERS,
    plan_log_scan,
)
from trailkeeper.report.query import MAX_EXCLUSION_BYTES

MIB = 1 << 20
LOG_FILES_PER_PARTITION = 24 * 60 // 5
DESIGN_FILE_BYTES = 2 * MIB
CPU_SECONDS_PER_MIB = 0.07
PEAK_PER_BYTE = 7
RUNTIME_BYTES = 150 * MIB  # Python, boto3 and the handler before the first read
GET_SECONDS = 0.1
TYPICAL_GET_SECONDS = 0.05
TYPICAL_FILE_BYTES = 100 * 1_024  # about 80 events in 5 minutes
CHILD_START_SECONDS = 1.0  # a Map child execution and its Lambda invocation starting, generously
LAMBDA_VCPU_MB = 1_769
S3_GETS_PER_SECOND = 5_500
LAMBDA_CONCURRENCY = 1_000
GLUE_PAGE = 1_000
GLUE_PAGE_SECONDS = 0.5
S3_LIST_PAGE = 1_000
REGIONS = 17
ACCOUNTS = 1_000
CEILING_ACCOUNTS = 10 * ACCOUNTS


def function(name: str) -> dict[str, Any]:
    """A function's Properties with the template's Globals filled in."""
    properties: dict[str, Any] = template()["Globals"]["Function"] | template()["Resources"][name]["Properties"]
    return properties


def partitions(accounts: int) -> int:
    return accounts * REGIONS * 2  # days D and D+1


def batches(accounts: int) -> int:
    return math.ceil(partitions(accounts) / PARTITIONS_PER_BATCH)


def batch_seconds(file_bytes: int, get_seconds: float) -> float:
    """One ScanLogBatch: a listing page per partition, then every file: its CPU on the one core, its GetObject
    overlapping SCAN_READERS at a time, and no overlap assumed between the two; then its result file."""
    files = PARTITIONS_PER_BATCH * LOG_FILES_PER_PARTITION
    assert LOG_FILES_PER_PARTITION <= S3_LIST_PAGE
    per_file = file_bytes / MIB * CPU_SECONDS_PER_MIB + get_seconds / SCAN_READERS
    return PARTITIONS_PER_BATCH * get_seconds + files * per_file + get_seconds


def test_a_batch_of_the_busiest_partitions_is_read_in_a_third_of_scan_log_batchs_timeout() -> None:
    scan = function("ScanLogBatchFunction")
    assert scan["MemorySize"] >= LAMBDA_VCPU_MB  # one whole vCPU, as CPU_SECONDS_PER_MIB assumes
    seconds = batch_seconds(DESIGN_FILE_BYTES, GET_SECONDS)
    assert seconds <= scan["Timeout"] / 3, (seconds, scan["Timeout"])


def test_the_reads_in_flight_fit_scan_log_batchs_memory_even_at_eight_times_the_design_file() -> None:
    in_flight = SCAN_READERS * PEAK_PER_BYTE * 8 * DESIGN_FILE_BYTES  # only a read's reason outlives it
    assert RUNTIME_BYTES + in_flight <= function("ScanLogBatchFunction")["MemorySize"] * MIB


def test_the_scan_stays_inside_s3s_request_rate_and_a_twentieth_of_lambdas_concurrency() -> None:
    scan_logs = asl()["States"]["ScanLogs"]
    assert scan_logs["MaxConcurrencyPath"] == "$.log_scan.concurrency"  # PlanLogScan's SCAN_CONCURRENCY
    gets_per_second = SCAN_CONCURRENCY * SCAN_READERS / TYPICAL_GET_SECONDS  # even were every read only a GET
    assert gets_per_second <= 0.75 * S3_GETS_PER_SECOND, gets_per_second
    assert SCAN_CONCURRENCY <= LAMBDA_CONCURRENCY / 20


def test_exclude_reads_a_ten_times_larger_organizations_results_in_half_its_timeout() -> None:
    results = batches(CEILING_ACCOUNTS)
    seconds = math.ceil(results / S3_LIST_PAGE) * GET_SECONDS + results * GET_SECONDS / RESULT_READERS
    assert seconds <= function("ExcludeUnreadableLogsFunction")["Timeout"] / 2, seconds
    assert MAX_LISTED * len("'s3://b/k', ") > MAX_EXCLUSION_BYTES  # a list cut at MAX_LISTED is never excludable


class Catalog:
    """Glue as PlanLogScan sees it: the template's table and `count` partitions of the longest real LOCATIONs
    (a 63-character bucket, a 200-character TrailKeyPrefix, the longest organization id), a page at a time."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pages = 0

    def get_table(self, **_: Any) -> dict[str, Any]:
        return {"Table": table_input()}

    def get_paginator(self, _: str) -> Catalog:
        return self

    def paginate(self, **_: Any) -> Any:
        prefix = f"s3://{'b' * 63}/{'p' * 200}/AWSLogs/o-{'a' * 32}"
        for start in range(0, self.count, GLUE_PAGE):
            self.pages += 1
            yield {
                "Partitions": [
                    {
                        "Values": [f"{i // 34:012d}", "ap-southeast-3", "2024-03-02"],
                        "StorageDescriptor": {
                            "Location": f"{prefix}/{i // 34:012d}/CloudTrail/ap-southeast-{i % 34}/2024/03/02/"
                        },
                    }
                    for i in range(start, min(start + GLUE_PAGE, self.count))
                ]
            }


class Results:
    def __init__(self) -> None:
        self.bytes = 0

    def put_object(self, Body: bytes, **_: Any) -> None:  # boto3's name
        self.bytes = len(Body)


def test_plan_log_scan_of_a_ten_times_larger_organization_fits_its_memory_and_timeout() -> None:
    """Measured on the real function at a tenth of the ceiling (all it holds grows linearly), then scaled."""
    measured, scale = partitions(ACCOUNTS), CEILING_ACCOUNTS // ACCOUNTS
    catalog, results = Catalog(measured), Results()
    tracemalloc.start()
    try:
        planned = plan_log_scan(make_settings(), results, catalog, dt.date(2024, 3, 2), "r" * 80)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert planned["partitions"] == measured and planned["batches"] == batches(ACCOUNTS)
    plan = function("PlanLogScanFunction")
    assert RUNTIME_BYTES + scale * peak <= plan["MemorySize"] * MIB / 2, scale * peak // MIB
    assert scale * catalog.pages * GLUE_PAGE_SECONDS + GET_SECONDS <= plan["Timeout"]
    assert scale * results.bytes <= 1 << 30  # items.json at the ceiling: under a GiB even at these LOCATIONs


def scan_minutes(accounts: int) -> int:
    """The ScanLogs Map on a typical night, rounded up to 5 minutes: rounds of SCAN_CONCURRENCY batches."""
    per_batch = CHILD_START_SECONDS + batch_seconds(TYPICAL_FILE_BYTES, TYPICAL_GET_SECONDS)
    seconds = math.ceil(batches(accounts) / SCAN_CONCURRENCY) * per_batch
    return 5 * math.ceil(seconds / 60 / 5)


def test_the_readme_gives_the_scan_time_of_a_thousand_account_organization() -> None:
    minutes = scan_minutes(ACCOUNTS)
    section = (ROOT / "README.md").read_text().split("#### Unreadable log objects", 1)[1].split("\n#", 1)[0]
    assert f"{batches(ACCOUNTS):,} batches" in section and f"about {minutes} minutes" in section, minutes
