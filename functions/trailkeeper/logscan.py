"""Unreadable log objects: find the ones that fail the day's query, so the report can go out without them.

One corrupt object (a truncated gzip, bytes that are not UTF-8, a lone surrogate escape, text that is not JSON)
fails Athena's whole query, so every day whose two partitions hold it would go unreported. When the activity
query fails on bad data (failures.is_unreadable_data), the state machine:
  PlanLogScan            lists the objects Athena reads for the report day (the LOCATIONs of the partitions of D
                         and D+1, as Athena lists them) into batches: runs/<run>/log-scan/items.json;
  ScanLogs               a Distributed Map: ScanLogBatch reads each object of its batch the way the query does
                         and writes the unreadable ones to runs/<run>/log-scan/<batch>.json;
  ExcludeUnreadableLogs  collects them into reports/D/unreadable.json and builds the query again with
                         `"$path" NOT IN (...)` (report/query.exclusion_filter), which runs once more.
The report then names the objects it could not read (report.json `unreadable`, the email).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from trailkeeper import aws, layout
from trailkeeper.config import Settings
from trailkeeper.errors import UnreadableLogsNotExcludable, UnreadableLogsNotFound
from trailkeeper.failures import one_line
from trailkeeper.report.query import MAX_EXCLUSION_BYTES, build_daily_activity_query, excludable
from trailkeeper.schemes import scheme_for_table

# A batch is one Map item, and an item travels in the child execution's input (262,144 bytes,
# docs/aws-facts.md): 100 keys of at most 1,024 bytes stay under half of it (a test computes it).
BATCH_OBJECTS = 100
LIST_PARALLELISM = 16
SCAN_CONCURRENCY = 10  # the ScanLogs Map's MaxConcurrency
MAX_NAMED = 50  # unreadable objects named in report.json and the email; unreadable.json holds them all
_LOCATION = re.compile(r"s3://([^/]+)/(.*)")


# ------------------------------------------------------------------------------------------------ PlanLogScan


def plan_log_scan(settings: Settings, s3: Any, glue: Any, report_day: dt.date, run_id: str) -> dict[str, Any]:
    """Write the batches of the objects the report day's query reads; keys and counts come back."""
    table = aws.get_table(glue, settings.DATABASE_NAME, settings.TABLE_NAME)
    scheme = scheme_for_table(table, settings)
    expression = scheme.glue_expression(report_day, report_day + dt.timedelta(days=1))
    locations = sorted(
        {location for _, location in aws.partitions(glue, settings.DATABASE_NAME, settings.TABLE_NAME, expression)}
    )
    with ThreadPoolExecutor(max_workers=LIST_PARALLELISM) as pool:
        listed = [objects for objects in pool.map(lambda loc: list(_visible(s3, loc)), locations)]
    objects = sorted({item for found in listed for item in found})
    items = [
        {"batch": number, "objects": [list(o) for o in objects[start : start + BATCH_OBJECTS]]}
        for number, start in enumerate(range(0, len(objects), BATCH_OBJECTS))
    ]
    items_key = layout.log_scan_items_key(run_id)
    aws.put_json(s3, settings.RESULTS_BUCKET, items_key, items)
    return {
        "items_key": items_key,
        "batches": len(items),
        "objects": len(objects),
        "partitions": len(locations),
        "concurrency": SCAN_CONCURRENCY,
    }


def _visible(s3: Any, location: str) -> Iterator[tuple[str, str]]:
    """(bucket, key) of what Athena reads under a LOCATION: every object below it except folder markers, empty
    objects and hidden names (a path segment starting with `_` or `.`, which Hadoop skips)."""
    match = _LOCATION.fullmatch(location.strip())
    if match is None:
        return
    bucket, prefix = match.group(1), re.sub(r"/{2,}", "/", match.group(2)).lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
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
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate escape"
    return None


def scan_batch(settings: Settings, s3: Any, item: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Read every object of one batch; its unreadable ones go to runs/<run>/log-scan/<batch>.json."""
    batch = int(item["batch"])
    unreadable = []
    for bucket, key in item["objects"]:
        reason = unreadable_reason(key, aws.get_bytes(s3, bucket, key))
        if reason is not None:
            unreadable.append({"bucket": bucket, "key": key, "reason": reason})
    aws.put_json(
        s3,
        settings.RESULTS_BUCKET,
        layout.log_scan_batch_key(run_id, batch),
        {"batch": batch, "objects": len(item["objects"]), "unreadable": unreadable},
    )
    return {"batch": batch, "objects": len(item["objects"]), "unreadable": len(unreadable)}


# ------------------------------------------------------------------------------------------------ ExcludeUnreadableLogs


def exclude_unreadable(
    settings: Settings, s3: Any, glue: Any, report_day: dt.date, run_id: str, failure: dict[str, Any]
) -> dict[str, Any]:
    """reports/D/unreadable.json, and the day's query leaving those objects out (PrepareReport's shape)."""
    bucket = settings.RESULTS_BUCKET
    scanned, found = 0, []
    for key in aws.list_keys(s3, bucket, layout.log_scan_prefix(run_id)):
        if layout.log_scan_batch(key, run_id) is not None:
            result = aws.get_json(s3, bucket, key)
            scanned += int(result["objects"])
            found += result["unreadable"]
    reason = one_line(str(failure.get("Cause") or failure.get("Error") or ""))
    if not found:
        raise UnreadableLogsNotFound(
            f"the activity query of {report_day} failed on bad data ({reason}) but all {scanned} log objects of "
            f'{report_day} and the next day read cleanly; re-run the day with {{"report_date": "{report_day}"}}'
        )
    found.sort(key=lambda u: (u["bucket"], u["key"]))
    key = layout.unreadable_key(report_day)
    document: dict[str, Any] = {"execution": run_id, "report_day": report_day.isoformat(), "query_failure": reason}
    document |= {"objects_scanned": scanned, "count": len(found), "objects": found}
    aws.put_json(s3, bucket, key, document)
    where = f"s3://{bucket}/{key}"
    odd = next((u for u in found if not excludable(u["bucket"], u["key"])), None)
    if odd is not None:
        raise UnreadableLogsNotExcludable(
            f"{len(found)} unreadable log object(s) of {report_day} (listed in {where}); "
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
            excluded=[(u["bucket"], u["key"]) for u in found],
        )
    except ValueError as error:
        raise UnreadableLogsNotExcludable(
            f"{len(found)} unreadable log objects of {report_day} (listed in {where}) are more than one query can "
            f"leave out ({MAX_EXCLUSION_BYTES:,} bytes of names): move or delete them, then re-run the day"
        ) from error
    return {
        "report_day": report_day.isoformat(),
        "skip": False,
        "query": sql,
        "parameters": parameters,
        "unreadable": len(found),
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
