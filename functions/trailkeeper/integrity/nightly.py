"""The nightly integrity run: plan batches of accounts, validate each batch, summarise the night.

Step Functions spreads the batches (a Distributed Map over `integrity/<night>/pairs.json`, bounded
concurrency); only keys and counts travel in the state. Night D validates every chain up to D+1 00:00 UTC,
from each chain's anchor (`integrity/anchors/<account>/<region>.json`). Re-running a night starts from the
anchors that night started from, so a retried batch finds the same things again.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from trailkeeper import aws
from trailkeeper.config import Settings
from trailkeeper.discovery import discover
from trailkeeper.errors import InvalidInput
from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.chain import Anchor, PairResult, validate_account
from trailkeeper.integrity.lifecycle import Lifecycle
from trailkeeper.integrity.sweep import (
    DEFAULT_DAYS_PER_NIGHT,
    DEFAULT_RETENTION_DAYS,
    MAX_DAYS_PER_NIGHT,
    MAX_RETENTION_DAYS,
    days_to_sweep,
    retention_days,
    sweep_pair,
)
from trailkeeper.layout import (
    integrity_anchor_key,
    integrity_batch_key,
    integrity_pairs_key,
    integrity_summary_key,
)

DEFAULT_BATCH_ACCOUNTS = 5
DEFAULT_CONCURRENCY = 10
SUMMARY_READERS = 16


def night_of(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"night: {value!r} is not a date") from None


def until_of(night: dt.date) -> dt.datetime:
    """Night D covers every hour up to the start of D+1 (UTC)."""
    return dt.datetime.combine(night + dt.timedelta(days=1), dt.time(), dt.UTC)


def _env_int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "")
    value = int(raw) if raw.strip().isdigit() else default
    return min(max(value, low), high)


def plan_night(settings: Settings, s3: Any, night: dt.date) -> dict[str, Any]:
    """Write the night's batches (accounts with their regions); return their key and count."""
    base = {"night": night.isoformat(), "summary_key": integrity_summary_key(night)}
    if aws.get_text_if_exists(s3, settings.RESULTS_BUCKET, integrity_summary_key(night)) is not None:
        return {**base, "already_validated": True, "batches": 0, "pairs": 0, "concurrency": 1}
    found = discover(aws.s3_lister(s3, settings.TRAIL_BUCKET), settings)
    accounts = sorted(found.regions_by_account.items())
    size = _env_int("INTEGRITY_BATCH_ACCOUNTS", DEFAULT_BATCH_ACCOUNTS, 1, 100)
    batches = [
        {
            "batch": str(i),
            "night": night.isoformat(),
            "accounts": [[account, list(regions)] for account, regions in accounts[start : start + size]],
        }
        for i, start in enumerate(range(0, len(accounts), size))
    ]
    aws.put_json(s3, settings.RESULTS_BUCKET, integrity_pairs_key(night), batches)
    return {
        **base,
        "already_validated": False,
        "pairs_key": integrity_pairs_key(night),
        "batches": len(batches),
        "pairs": sum(len(r) for _, r in accounts),
        "concurrency": _env_int("INTEGRITY_CONCURRENCY", DEFAULT_CONCURRENCY, 1, 1_000),
    }


def _anchors(s3: Any, bucket: str, account: str, region: str, night: dt.date) -> dict[str, Anchor]:
    stored = aws.get_json_if_exists(s3, bucket, integrity_anchor_key(account, region))
    if not isinstance(stored, dict):
        return {}
    # The anchors tonight started from, when tonight already moved them (a retried batch).
    chosen = stored.get("previous", {}) if stored.get("night") == night.isoformat() else stored.get("anchors", {})
    return {chain: Anchor.from_json(value) for chain, value in dict(chosen).items()}


def validate_batch(
    settings: Settings,
    s3: Any,
    cloudtrail_for: Callable[[str], Any],
    item: Mapping[str, Any],
) -> dict[str, Any]:
    """Validate one batch of accounts; write its results and the new anchors; return counts."""
    night = night_of(item.get("night"))
    batch = str(item.get("batch"))
    until = until_of(night)
    store = aws.S3Store(s3, settings.TRAIL_BUCKET)
    lifecycle = Lifecycle.from_rules(aws.lifecycle_rules(s3, settings.TRAIL_BUCKET))

    def public_keys(region: str, start: dt.datetime, end: dt.datetime) -> Mapping[str, bytes]:
        return aws.public_keys(cloudtrail_for(region), start, end)

    per_night = _env_int("INTEGRITY_SWEEP_DAYS_PER_NIGHT", DEFAULT_DAYS_PER_NIGHT, 0, MAX_DAYS_PER_NIGHT)
    default_retention = _env_int("INTEGRITY_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1, MAX_RETENTION_DAYS)
    results: list[PairResult] = []
    for account, regions in item.get("accounts", []):
        started_from = {region: _anchors(s3, settings.RESULTS_BUCKET, account, region, night) for region in regions}
        found = validate_account(
            store, public_keys, settings.logs_root, account, regions, started_from, until, lifecycle
        )
        for result in found:
            # Older days, a rotating slice: objects injected after the night that verified them (sweep.py).
            retention = retention_days(lifecycle, settings.logs_root, account, result.region, default_retention)
            days = days_to_sweep(night, result.since.date(), retention, per_night)
            sweep_pair(store, public_keys, settings.logs_root, account, result.region, days, result)
            aws.put_json(
                s3,
                settings.RESULTS_BUCKET,
                integrity_anchor_key(account, result.region),
                {
                    "night": night.isoformat(),
                    "anchors": {c: a.to_json() for c, a in result.anchors.items()},
                    "previous": {c: a.to_json() for c, a in started_from[result.region].items()},
                },
            )
        results.extend(found)
    findings = [f for r in results for f in r.findings]
    aws.put_json(
        s3,
        settings.RESULTS_BUCKET,
        integrity_batch_key(night, batch),
        {"batch": batch, "night": night.isoformat(), "pairs": [r.to_json() for r in results]},
    )
    return {
        "batch": batch,
        "pairs": len(results),
        "findings": len(findings),
        "alarming": sum(f.alarming for f in findings),
    }


def summarise_night(settings: Settings, s3: Any, night: dt.date, batches: int) -> dict[str, Any]:
    """The night's summary (`integrity/<night>/summary.json`, README "Integrity"), from every batch's results."""
    keys = [integrity_batch_key(night, str(i)) for i in range(batches)]
    with ThreadPoolExecutor(max_workers=SUMMARY_READERS) as pool:
        read = list(pool.map(lambda key: aws.get_json_if_exists(s3, settings.RESULTS_BUCKET, key), keys))
    pairs = [pair for batch in read if isinstance(batch, dict) for pair in batch.get("pairs", [])]
    unvalidated = [str(i) for i, batch in enumerate(read) if not isinstance(batch, dict)]
    by_kind = dict.fromkeys(kinds.ALL_KINDS, 0)
    for pair in pairs:
        for finding in pair["findings"]:
            by_kind[finding["kind"]] += 1
    totals = {
        "pairs": len(pairs),
        "hours": sum(p["hours"] for p in pairs),
        "digests_verified": sum(p["digests_verified"] for p in pairs),
        "logs_verified": sum(p["logs_verified"] for p in pairs),
        "log_bytes_verified": sum(p["log_bytes_verified"] for p in pairs),
        "days_swept": sum(p.get("days_swept", 0) for p in pairs),
        "not_records_objects": sum(p.get("not_records_objects", 0) for p in pairs),
        "delivery_stopped": sum(p["delivery"] == "stopped" for p in pairs),
        "alarming_findings": sum(by_kind[k] for k in kinds.ALARM_KINDS),
        "findings_by_kind": by_kind,
        "unvalidated_batches": len(unvalidated),
    }
    summary = {
        "night": night.isoformat(),
        "until": until_of(night).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "totals": totals,
        "unvalidated_batches": unvalidated,
        "pairs": sorted(pairs, key=lambda p: (p["account"], p["region"])),
    }
    aws.put_json(s3, settings.RESULTS_BUCKET, integrity_summary_key(night), summary)
    return {"night": night.isoformat(), "summary_key": integrity_summary_key(night), **totals}


def cloudtrail_clients(factory: Callable[[str], Any]) -> Callable[[str], Any]:
    """One CloudTrail client per region (ListPublicKeys is regional), created on first use, thread-safe."""
    made: dict[str, Any] = {}
    lock = threading.Lock()

    def client(region: str) -> Any:
        with lock:
            if region not in made:
                made[region] = factory(region)
            return made[region]

    return client
