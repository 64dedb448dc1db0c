"""The tamper matrix: one way to damage a generated trail bucket per finding kind, and what must be found.

Each case edits a bucket (tests.integrity_kit.Bucket, in-process moto or moto on loopback) the way an
attacker could (delete, overwrite, append, inject: never sign) or the way CloudTrail itself behaves
(`rewrite_chain` re-signs with the local key: a restart, a StopLogging) and returns the (kind, key) pairs
trailkeeper must report. Used by the tamper-matrix tests and by the cross-check with validate-logs.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.integrity_kit import BUCKET, Bucket
from trailgen import digests as signer
from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.digests import SIGNATURE_METADATA, TIME_FORMAT, signing_string

ACCOUNT = "111111111111"
REGION = "eu-west-1"
Expected = set[tuple[str, str]]


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[[Bucket], Expected]
    needs_anchor: bool = False  # validated once before tampering (a second night)


def chain(bucket: Bucket, account: str = ACCOUNT, region: str = REGION) -> list[str]:
    return bucket.digest_keys(account, region)


def listed(bucket: Bucket, account: str = ACCOUNT, region: str = REGION) -> list[tuple[str, str]]:
    """(digest key, log key) for every log a digest lists, oldest first."""
    return [
        (key, entry["s3Object"]) for key in chain(bucket, account, region) for entry in bucket.digest(key)["logFiles"]
    ]


def _gzip_records(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode(), mtime=0)


def _records(bucket: Bucket, key: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(gzip.decompress(bucket.body(key)))["Records"]
    return records


def untampered(bucket: Bucket) -> Expected:
    return set()


def log_deleted(bucket: Bucket) -> Expected:
    _, log = listed(bucket)[1]
    bucket.delete(log)
    return {(kinds.LOG_DELETED, log)}


def log_modified(bucket: Bucket) -> Expected:
    _, log = listed(bucket)[1]
    records = _records(bucket, log)
    bucket.put(log, _gzip_records(records[1:]))  # the attacker's call is gone
    return {(kinds.LOG_MODIFIED, log)}


def log_extra_member(bucket: Bucket) -> Expected:
    _, log = listed(bucket)[1]
    forged = dict(_records(bucket, log)[0], eventName="PutBucketPolicy", eventID="forged")
    bucket.put(log, bucket.body(log) + _gzip_records([forged]))  # gunzip and Athena read both members
    return {(kinds.LOG_APPENDED, log)}


def log_data_after_stream(bucket: Bucket) -> Expected:
    _, log = listed(bucket)[2]
    bucket.put(log, bucket.body(log) + b'{"Records":[]}\n')
    return {(kinds.LOG_APPENDED, log)}


def log_injected(bucket: Bucket) -> Expected:
    digest_key, log = listed(bucket)[1]
    digest = bucket.digest(digest_key)
    start = dt.datetime.strptime(digest["digestStartTime"], TIME_FORMAT).replace(tzinfo=dt.UTC)
    when = start + dt.timedelta(minutes=20)
    folder = log.rsplit("/", 1)[0].rsplit("/", 3)[0]
    key = f"{folder}/{when:%Y/%m/%d}/{ACCOUNT}_CloudTrail_{REGION}_{when:%Y%m%dT%H%MZ}_Inj3ct3dL0gF1le00.json.gz"
    bucket.put(key, _gzip_records(_records(bucket, log)[:1]))
    return {(kinds.LOG_INJECTED, key)}


def digest_deleted(bucket: Bucket) -> Expected:
    keys = chain(bucket)
    gone = keys[10:12]  # two consecutive hours: both counted
    for key in gone:
        bucket.delete(key)
    folder = gone[0].rsplit("/", 1)[0] + "/"
    return {(kinds.DIGEST_DELETED, gone[1]), (kinds.DIGEST_DELETED, folder)}


def digest_altered(bucket: Bucket) -> Expected:
    key = next(k for k, _ in listed(bucket))
    document = bucket.digest(key)
    document["logFiles"] = document["logFiles"][1:]  # hide a log file; the signature metadata stays
    bucket.put(key, gzip.compress(json.dumps(document).encode()), bucket.metadata(key))
    return {(kinds.DIGEST_FORGED, key)}


def digest_forged(bucket: Bucket) -> Expected:
    """A digest written by someone without the private key: valid JSON, a made-up signature."""
    key = chain(bucket)[20]
    document = bucket.digest(key)
    document["logFiles"] = []
    metadata = dict(bucket.metadata(key), **{SIGNATURE_METADATA: "ab" * 256})
    bucket.put(key, gzip.compress(json.dumps(document).encode()), metadata)
    return {(kinds.DIGEST_FORGED, key)}


def newest_digests_deleted(bucket: Bucket) -> Expected:
    """validate-logs starts from whatever newest digest still exists: this leaves it no trace."""
    keys = chain(bucket)
    for key in keys[-4:]:
        bucket.delete(key)
    return {(kinds.DIGEST_SILENCE, keys[-5])}


def chain_truncated(bucket: Bucket) -> Expected:
    """The anchor verified last night is deleted, and what led to it."""
    anchor = bucket.anchors[ACCOUNT][REGION]
    (verified,) = (a for c, a in anchor.items() if not c.endswith("_backfill"))
    bucket.delete(verified.key)
    return {(kinds.CHAIN_TRUNCATED, verified.key)}


def rewrite_chain(
    bucket: Bucket, edit: Callable[[int, dict[str, Any]], None], account: str = ACCOUNT, region: str = REGION
) -> list[str]:
    """Re-sign the pair's chain after `edit(index, document)`, as CloudTrail would have written it."""
    keys = chain(bucket, account, region)
    previous: tuple[str, str, str] | None = None
    for index, key in enumerate(keys):
        document = bucket.digest(key)
        edit(index, document)
        if document["previousDigestS3Object"] is not None and previous is not None:
            document.update(
                previousDigestS3Object=previous[0],
                previousDigestHashValue=previous[1],
                previousDigestSignature=previous[2],
            )
        raw = json.dumps(document, separators=(",", ":")).encode()
        signature = signer.sign(
            signing_string(
                document["digestEndTime"],
                BUCKET,
                key,
                hashlib.sha256(raw).hexdigest(),
                document["previousDigestSignature"],
            )
        )
        bucket.put(key, gzip.compress(raw, mtime=0), dict(bucket.metadata(key), **{SIGNATURE_METADATA: signature}))
        previous = (key, hashlib.sha256(raw).hexdigest(), signature)
    return keys


def _restart_at(index: int) -> Callable[[int, dict[str, Any]], None]:
    def edit(i: int, document: dict[str, Any]) -> None:
        if i == index:
            for name in (
                "previousDigestS3Bucket",
                "previousDigestS3Object",
                "previousDigestHashValue",
                "previousDigestHashAlgorithm",
                "previousDigestSignature",
            ):
                document[name] = None

    return edit


def chain_restarted(bucket: Bucket) -> Expected:
    keys = rewrite_chain(bucket, _restart_at(15))
    return {(kinds.CHAIN_RESTARTED, keys[15])}


def chain_restarted_after_stop_logging(bucket: Bucket) -> Expected:
    """A restart explained by a StopLogging of the trail recorded in us-east-1 (another region's logs)."""
    digest_key, log = listed(bucket, region="us-east-1")[0]
    records = _records(bucket, log)
    digest_time = bucket.digest(digest_key)["digestEndTime"]
    stopped = dt.datetime.strptime(digest_time, TIME_FORMAT).replace(tzinfo=dt.UTC) - dt.timedelta(minutes=30)
    stop = dict(
        records[0],
        eventName="StopLogging",
        eventSource="cloudtrail.amazonaws.com",
        eventID="stop",
        eventTime=stopped.strftime(TIME_FORMAT),
        requestParameters={"name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main-trail"},
    )
    stop.pop("errorCode", None)
    body = _gzip_records([*records, stop])
    bucket.put(log, body)

    def list_new_hash(i: int, document: dict[str, Any]) -> None:
        for entry in document["logFiles"]:
            if entry["s3Object"] == log:
                entry["hashValue"] = hashlib.sha256(gzip.decompress(body)).hexdigest()

    rewrite_chain(bucket, list_new_hash, region="us-east-1")
    keys = chain(bucket)
    index = next(i for i, k in enumerate(keys) if bucket.digest(k)["digestEndTime"] > digest_time)
    rewrite_chain(bucket, _restart_at(index))
    return {(kinds.CHAIN_RESTARTED_EXPLAINED, keys[index])}


def logging_stopped(bucket: Bucket) -> Expected:
    """Digests simply stop (CloudTrail delivery broken, or the trail stopped): nothing after the 30th."""
    keys = chain(bucket)
    for key in keys[30:]:
        bucket.delete(key)
    return {(kinds.DIGEST_SILENCE, keys[29])}


def backfill_chain(bucket: Bucket, account: str = ACCOUNT, region: str = REGION) -> list[str]:
    """The pair's `_backfill` digests (a bucket generated with LateLogFile plants), oldest first."""
    return [k for k in chain(bucket, account, region) if k.endswith("_backfill.json.gz")]


def _late_log(bucket: Bucket, digest: str) -> str:
    (log,) = [e["s3Object"] for e in bucket.digest(digest)["logFiles"]]
    return log


def backfill_log_deleted(bucket: Bucket) -> Expected:
    """A log file only a `_backfill` digest lists is deleted."""
    log = _late_log(bucket, backfill_chain(bucket)[-1])
    bucket.delete(log)
    return {(kinds.LOG_DELETED, log)}


def backfill_log_modified(bucket: Bucket) -> Expected:
    log = _late_log(bucket, backfill_chain(bucket)[-1])
    bucket.put(log, _gzip_records(_records(bucket, log)[1:]))
    return {(kinds.LOG_MODIFIED, log)}


def backfill_digest_altered(bucket: Bucket) -> Expected:
    """The older backfill digest no longer lists its late log; its signature metadata stays."""
    key = backfill_chain(bucket)[0]
    document = bucket.digest(key)
    document["logFiles"] = []
    bucket.put(key, gzip.compress(json.dumps(document).encode()), bucket.metadata(key))
    return {(kinds.DIGEST_FORGED, key)}


def backfill_digest_deleted(bucket: Bucket) -> Expected:
    """The older backfill digest is deleted: the newer one links to it. Its late log is then listed by no digest."""
    key = backfill_chain(bucket)[0]
    log = _late_log(bucket, key)
    bucket.delete(key)
    return {(kinds.DIGEST_DELETED, key), (kinds.LOG_INJECTED, log)}


def newest_backfill_digest_deleted(bucket: Bucket) -> Expected:
    """No digest links to the newest backfill digest, so validate-logs cannot miss it; its late log can."""
    key = backfill_chain(bucket)[-1]
    log = _late_log(bucket, key)
    bucket.delete(key)
    return {(kinds.LOG_INJECTED, log)}


CASES: tuple[Case, ...] = (
    Case("untampered", untampered),
    Case("log_deleted", log_deleted),
    Case("log_modified", log_modified),
    Case("log_extra_gzip_member", log_extra_member),
    Case("log_data_after_gzip_stream", log_data_after_stream),
    Case("log_injected", log_injected),
    Case("digest_deleted_two_hours", digest_deleted),
    Case("digest_altered", digest_altered),
    Case("digest_forged", digest_forged),
    Case("newest_digests_deleted", newest_digests_deleted),
    Case("chain_truncated", chain_truncated, needs_anchor=True),
    Case("chain_restarted", chain_restarted),
    Case("chain_restarted_after_stop_logging", chain_restarted_after_stop_logging),
    Case("logging_stopped", logging_stopped),
)

# On a bucket generated with LateLogFile plants (a `_backfill` chain of two digests in REGION).
BACKFILL_CASES: tuple[Case, ...] = (
    Case("untampered", untampered),
    Case("backfill_log_deleted", backfill_log_deleted),
    Case("backfill_log_modified", backfill_log_modified),
    Case("backfill_digest_altered", backfill_digest_altered),
    Case("backfill_digest_deleted", backfill_digest_deleted),
    Case("newest_backfill_digest_deleted", newest_backfill_digest_deleted),
)
