"""Unreadable log objects: find the ones that fail the day's query, so the report can go out without them.

One corrupt object (a truncated gzip, bytes that are not UTF-8, a lone surrogate escape, text that is not JSON)
fails Athena's whole query, so every day whose two partitions hold it would go unreported. When the activity
query fails on bad data (failures.is_unreadable_data), the state machine:
  PlanLogScan            puts the LOCATIONs of the partitions of D and D+1 (from Glue) into batches of
                         PARTITIONS_PER_BATCH: runs/<run>/log-scan/items.json. It lists no object, so it stays
                         small however large the organization (1,000 accounts x 17 regions: 34,000 LOCATIONs);
  ScanLogs               a Distributed Map, SCAN_CONCURRENCY children at a time: ScanLogBatch lists its partitions
                         as Athena does, reads each object the way the query does (SCAN_READERS at a time) and
                         writes its counts and unreadable objects to runs/<run>/log-scan/<batch>.json;
  ExcludeUnreadableLogs  reads those files (RESULT_READERS at a time) into reports/D/unreadable.json and builds the
                         query again with `"$path" NOT IN (...)` (report/query.exclusion_filter), which runs once more.
The report then names the objects it could not read (report.json `unreadable`, the email).
tests/unit/test_logscan_limits.py computes why these numbers fit every Lambda, the Map and S3, at any size.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from trailkeeper import aws, layout
from trailkeeper.config import Settings
from trailkeeper.errors import UnreadableLogsNotExcludable, UnreadableLogsNotFound
from trailkeeper.failures import one_line
from trailkeeper.report.query import MAX_EXCLUSION_BYTES, build_daily_activity_query, excludable
from trailkeeper.schemes import scheme_for_table

# One Map item: 5 partitions of up to 288 log files each (one about every 5 minutes) are read in a third of
# ScanLogBatch's Timeout even at 2 MiB per file, and its input stays far under 256 KiB (tests compute both).
PARTITIONS_PER_BATCH = 5
SCAN_READERS = 4  # GetObjects in flight per ScanLogBatch; its S3 client pools as many connections
SCAN_CONCURRENCY = 50  # the ScanLogs Map's MaxConcurrency: 200 GetObjects in flight, inside S3's request rate
RESULT_READERS = 64  # batch result files ExcludeUnreadableLogs reads at once; its S3 client pools as many
# Unreadable objects kept in unreadable.json: more than any exclusion admits (65,536 bytes of names, each at least
# 14), so a list this long fails as UnreadableLogsNotExcludable anyway; it bounds ExcludeUnreadableLogs' memory.
MAX_LISTED = 10_000
MAX_NAMED = 50  # unreadable objects named in report.json and the email; unreadable.json holds up to MAX_LISTED
MAX_KEY_BYTES = 1_024  # an S3 key ("Naming Amazon S3 objects"): a longer LOCATION prefix can hold no object
_LOCATION = re.compile(r"s3://([^/]+)/(.*)")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # "Bucket naming rules": 3 to 63 of these
# A lone surrogate can only be written as a \u escape (strict UTF-8 decoding refuses encoded surrogates).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


# ------------------------------------------------------------------------------------------------ PlanLogScan


def plan_log_scan(settings: Settings, s3: Any, glue: Any, report_day: dt.date, run_id: str) -> dict[str, Any]:
    """Write the batches of the LOCATIONs the report day's query reads; keys and counts come back."""
    table = aws.get_table(glue, settings.DATABASE_NAME, settings.TABLE_NAME)
    scheme = scheme_for_table(table, settings)
    expression = scheme.glue_expression(report_day, report_day + dt.timedelta(days=1))
    listed = aws.partitions(glue, settings.DATABASE_NAME, settings.TABLE_NAME, expression)
    items = scan_items(location for _, location in listed)
    locations = sum(len(item["partitions"]) for item in items)
    items_key = layout.log_scan_items_key(run_id)
    aws.put_json(s3, settings.RESULTS_BUCKET, items_key, items)
    return {
        "items_key": items_key,
        "batches": len(items),
        "partitions": locations,
        "concurrency": SCAN_CONCURRENCY,
    }


def scan_items(locations: Iterable[str]) -> list[dict[str, Any]]:
    """The ScanLogs Map's items: each distinct listing root (`listing_root`), sorted, PARTITIONS_PER_BATCH a batch."""
    roots = sorted({root for location in locations if (root := listing_root(location)) is not None})
    return [
        {"batch": number, "partitions": roots[start : start + PARTITIONS_PER_BATCH]}
        for number, start in enumerate(range(0, len(roots), PARTITIONS_PER_BATCH))
    ]


def listing_root(location: str) -> str | None:
    """A LOCATION as the prefix Athena lists (`s3://bucket/prefix/`, runs of `/` collapsed, one at the end), or
    None when nothing can be under it: not an s3:// URI, no valid bucket name, or a prefix as long as a key."""
    match = _LOCATION.fullmatch(location.strip())
    if match is None or _BUCKET_NAME.fullmatch(match.group(1)) is None:
        return None
    prefix = re.sub(r"/{2,}", "/", match.group(2)).lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if len(prefix.encode()) >= MAX_KEY_BYTES:
        return None
    return f"s3://{match.group(1)}/{prefix}"


def _visible(s3: Any, location: str) -> Iterator[tuple[str, str]]:
    """(bucket, key) of what Athena reads under a LOCATION: every object below it except folder markers, empty
    objects and hidden names (a path segment starting with `_` or `.`, which Hadoop skips)."""
    root = listing_root(location)
    if root is None:
        return
    bucket, prefix = root.removeprefix("s3://").split("/", 1)
    for key, size in aws.list_objects(s3, bucket, prefix):
        relative = key[len(prefix) :]
        if size > 0 and not relative.endswith("/") and not any(s[:1] in ("_", ".") for s in relative.split("/")):
            yield bucket, key


# ------------------------------------------------------------------------------------------------ ScanLogBatch


def unreadable_reason(name: str, body: bytes) -> str | None:
    """Why the query cannot read this object, or None: the codec by the name's suffix as Hadoop picks it, then
    strict UTF-8, then JSON whose strings are all characters (a lone surrogate escape like "\\udc80" is not)."""
    data = body
    if name.endswith(".gz"):
        parts: list[bytes] = []
        while data:
            if data[:2] != b"\x1f\x8b":
                return "data after the end of the gzip stream" if parts else "not gzip"
            member = zlib.decompressobj(wbits=31)
            try:
                parts.append(member.decompress(data))
            except zlib.error:
                return "corrupt gzip"
            if not member.eof:
                return "truncated gzip"
            data = member.unused_data
        data = b"".join(parts)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    try:
        parsed = json.loads(text)
    except ValueError:
        return "not JSON"
    if _SURROGATE_ESCAPE.search(text) is None:
        return None  # no escape that could be a lone surrogate: skip re-encoding the whole document
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate escape"
    return None


def scan_batch(settings: Settings, s3: Any, item: dict[str, Any], run_id: str) -> dict[str, Any]:
    """List one batch's partitions and read every object they hold, SCAN_READERS at a time; the counts and the
    unreadable objects go to runs/<run>/log-scan/<batch>.json, the counts come back."""
    batch = int(item["batch"])
    partitions = [str(location) for location in item["partitions"]]
    with ThreadPoolExecutor(max_workers=SCAN_READERS) as pool:
        listed = list(pool.map(lambda location: list(_visible(s3, location)), partitions))
        objects = sorted({found for objects in listed for found in objects})
        # Only the reason comes back from a read: at most SCAN_READERS bodies are in memory at once.
        reasons = list(pool.map(lambda found: unreadable_reason(found[1], aws.get_bytes(s3, *found)), objects))
    unreadable = [
        {"bucket": bucket, "key": key, "reason": reason}
        for (bucket, key), reason in zip(objects, reasons, strict=True)
        if reason is not None
    ]
    counts = {"batch": batch, "partitions": len(partitions), "objects": len(objects)}
    aws.put_json(
        s3, settings.RESULTS_BUCKET, layout.log_scan_batch_key(run_id, batch), counts | {"unreadable": unreadable}
    )
    return counts | {"unreadable": len(unreadable)}


# ------------------------------------------------------------------------------------------------ ExcludeUnreadableLogs


@dataclass
class FoundUnreadable:
    """The batches' results added up: objects scanned and the unreadable ones, at most 2 x MAX_LISTED of them held."""

    scanned: int = 0
    reported: int = 0  # unreadable objects as the batches count them (an object under two LOCATIONs twice)
    objects: dict[tuple[str, str], str] = field(default_factory=dict)  # (bucket, key) -> reason
    overflowed: bool = False  # some were let go: `reported` is the count

    def add(self, result: dict[str, Any]) -> None:
        self.scanned += int(result["objects"])
        self.reported += len(result["unreadable"])
        for unreadable in result["unreadable"]:
            self.objects.setdefault((str(unreadable["bucket"]), str(unreadable["key"])), str(unreadable["reason"]))
        if len(self.objects) > 2 * MAX_LISTED:
            self.objects = {name: self.objects[name] for name in sorted(self.objects)[:MAX_LISTED]}
            self.overflowed = True

    @property
    def count(self) -> int:
        return self.reported if self.overflowed else len(self.objects)

    def listed(self) -> list[dict[str, str]]:
        """The first MAX_LISTED unreadable objects by bucket and key."""
        names = sorted(self.objects)[:MAX_LISTED]
        return [{"bucket": bucket, "key": key, "reason": self.objects[(bucket, key)]} for bucket, key in names]


def _batch_results(s3: Any, bucket: str, run_id: str) -> Iterator[dict[str, Any]]:
    """Every ScanLogBatch result of the run, RESULT_READERS read at once, a few hundred held at a time."""
    keys = [
        key
        for key in aws.list_keys(s3, bucket, layout.log_scan_prefix(run_id))
        if layout.log_scan_batch(key, run_id) is not None
    ]
    with ThreadPoolExecutor(max_workers=RESULT_READERS) as pool:
        for start in range(0, len(keys), 8 * RESULT_READERS):
            yield from pool.map(lambda key: aws.get_json(s3, bucket, key), keys[start : start + 8 * RESULT_READERS])


def collect_unreadable(results: Iterable[dict[str, Any]]) -> FoundUnreadable:
    found = FoundUnreadable()
    for result in results:
        found.add(result)
    return found


def exclude_unreadable(
    settings: Settings, s3: Any, glue: Any, report_day: dt.date, run_id: str, failure: dict[str, Any]
) -> dict[str, Any]:
    """reports/D/unreadable.json, and the day's query leaving those objects out (PrepareReport's shape)."""
    bucket = settings.RESULTS_BUCKET
    found = collect_unreadable(_batch_results(s3, bucket, run_id))
    scanned, count, listed = found.scanned, found.count, found.listed()
    reason = one_line(str(failure.get("Cause") or failure.get("Error") or ""))
    if not count:
        raise UnreadableLogsNotFound(
            f"the activity query of {report_day} failed on bad data ({reason}) but all {scanned} log objects of "
            f'{report_day} and the next day read cleanly; re-run the day with {{"report_date": "{report_day}"}}'
        )
    key = layout.unreadable_key(report_day)
    document: dict[str, Any] = {"execution": run_id, "report_day": report_day.isoformat(), "query_failure": reason}
    document |= {"objects_scanned": scanned, "count": count, "objects": listed}
    aws.put_json(s3, bucket, key, document)
    where = f"s3://{bucket}/{key}"
    too_many = UnreadableLogsNotExcludable(
        f"{count} unreadable log objects of {report_day} (listed in {where}) are more than one query can "
        f"leave out ({MAX_EXCLUSION_BYTES:,} bytes of names): move or delete them, then re-run the day"
    )
    if count > len(listed):
        raise too_many
    odd = next((u for u in listed if not excludable(u["bucket"], u["key"])), None)
    if odd is not None:
        raise UnreadableLogsNotExcludable(
            f"{count} unreadable log object(s) of {report_day} (listed in {where}); "
            f"s3://{one_line(odd['bucket'], 70)}/{one_line(odd['key'], 200)} is not a CloudTrail log name a query can "
            "leave out: move or delete it, then re-run the day"
        )
    table = aws.get_table(glue, settings.DATABASE_NAME, settings.TABLE_NAME)
    scheme = scheme_for_table(table, settings)
    try:
        sql, parameters = build_daily_activity_query(
            settings.DATABASE_NAME,
            settings.TABLE_NAME,
            scheme.keys,
            report_day,
            scheme.fixed_account,
            excluded=[(u["bucket"], u["key"]) for u in listed],
        )
    except ValueError as error:
        raise too_many from error
    return {
        "report_day": report_day.isoformat(),
        "skip": False,
        "query": sql,
        "parameters": parameters,
        "unreadable": count,
        "unreadable_key": key,
    }


# ------------------------------------------------------------------------------------------------ BuildReport


@dataclass(frozen=True)
class Unreadable:
    """The report day's unreadable objects, as this execution excluded them."""

    count: int
    objects: tuple[tuple[str, str], ...]  # (s3:// URI, reason), at most MAX_NAMED
    location: str

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "objects": [{"uri": uri, "reason": reason} for uri, reason in self.objects],
            "location": self.location,
        }


def read_unreadable(s3: Any, bucket: str, report_day: dt.date, run_id: str | None) -> Unreadable | None:
    """reports/D/unreadable.json when this execution wrote it (an earlier run's list does not apply)."""
    if run_id is None:
        return None
    key = layout.unreadable_key(report_day)
    document = aws.get_json_if_exists(s3, bucket, key)
    if not isinstance(document, dict) or document.get("execution") != run_id:
        return None
    objects = [o for o in document.get("objects") or [] if isinstance(o, dict)]
    named = tuple((f"s3://{o.get('bucket')}/{o.get('key')}", str(o.get("reason"))) for o in objects[:MAX_NAMED])
    return Unreadable(int(document.get("count") or len(objects)), named, f"s3://{bucket}/{key}")
