"""CloudTrail digest files for a generated trail bucket, written as CloudTrail writes them.

Per account x region that logs: one digest an hour (empty ones included, `logFiles: []`), each listing the
log files delivered in its hour with the SHA-256 of their uncompressed bytes, chained to the previous one
(previousDigestS3Object / HashValue / Signature; the first of a run is a starting digest, all previous*
null), signed SHA256withRSA with a fixed local key pair (`local_digest_signing_key.pem`: test data, never a
secret) whose public key the embedded runtime serves through `cloudtrail:ListPublicKeys`.

Key layout, fields and signing string: trailkeeper.integrity.digests (docs/aws-facts.md).

The signature is S3 object metadata (`x-amz-meta-signature`, `x-amz-meta-signature-algorithm`), which a
directory cannot hold: `write_digests` returns it, and the generator writes it to the sidecar
beside the digest, `<digest file>` + `METADATA_SUFFIX`. `localaws` restores it on upload (and never uploads a
sidecar); without the sidecar every digest but the newest of each chain is still verified through its
successor's previousDigestSignature, and the newest is reported `digest_unverifiable`, never forged.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailkeeper.integrity.digests import (
    BACKFILL_METADATA,
    HASH_ALGORITHM,
    SIGNATURE_ALGORITHM,
    SIGNATURE_ALGORITHM_METADATA,
    SIGNATURE_METADATA,
    TIME_FORMAT,
    digest_key,
    log_delivery_time,
    signing_string,
)

KEY_FILE = Path(__file__).with_name("local_digest_signing_key.pem")
METADATA_SUFFIX = ".s3-metadata.json"  # beside an object of a directory copy: {metadata name: value}
HOUR = dt.timedelta(hours=1)
BACKFILL_DELAY = dt.timedelta(hours=6)  # when the generator's CloudTrail catches up with a late log file


@cache
def signing_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def public_key_der() -> bytes:
    """The local public key as ListPublicKeys returns it: DER PKCS#1 RSAPublicKey."""
    return signing_key().public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def fingerprint() -> str:
    """The key's fingerprint: 32 hex digits, as CloudTrail's are (here the MD5 of the DER key)."""
    return hashlib.md5(public_key_der(), usedforsecurity=False).hexdigest()


def sign(message: bytes) -> str:
    return signing_key().sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()


@dataclass(frozen=True)
class DigestObject:
    key: str
    body: bytes
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class LogEntry:
    key: str
    delivered: dt.datetime
    sha256: str
    oldest: str | None
    newest: str | None


def log_entry(key: str, body: bytes) -> LogEntry:
    """What a digest says about one log object: its delivery minute (from its name) and uncompressed hash."""
    delivered = log_delivery_time(key)
    if delivered is None:
        raise ValueError(f"{key} is not a CloudTrail log file name")
    raw = gzip.decompress(body)
    times = sorted(str(r.get("eventTime")) for r in json.loads(raw).get("Records", []) if r.get("eventTime"))
    return LogEntry(
        key, delivered, hashlib.sha256(raw).hexdigest(), times[0] if times else None, times[-1] if times else None
    )


def pair_digests(
    bucket: str,
    root: str,
    account: str,
    region: str,
    trail: str,
    home_region: str,
    runs: Iterable[tuple[dt.date, dt.date]],
    logs: Iterable[LogEntry],
    seed: object = 7,
) -> list[DigestObject]:
    """Hourly digests for one account x region over each run of consecutive delivery days [first, last].

    The first digest of a run covers from the run's first midnight; each later one the hour after the
    previous; the last one ends at the run's last second (a final digest), so every log delivered on the
    run's days is listed exactly once. Each run starts a new chain (a starting digest), as CloudTrail does after
    logging restarts.
    """
    offset = dt.timedelta(seconds=random.Random(f"{seed}/digest/{account}/{region}").randrange(60, 3_540))  # noqa: S311
    by_time = sorted(logs, key=lambda e: (e.delivered, e.key))
    digests: list[DigestObject] = []
    for first, last in runs:
        start = dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC)
        # The run's final digest ends at its last second, so nothing is written in the day after the run.
        final = dt.datetime(last.year, last.month, last.day, tzinfo=dt.UTC) + dt.timedelta(days=1, seconds=-1)
        end = start + HOUR + offset
        previous: tuple[str, str, str] | None = None  # key, sha256, signature
        while start < final:
            end = min(end, final)
            listed = [e for e in by_time if start <= e.delivered < end]
            digest = _digest(bucket, root, account, region, trail, home_region, start, end, listed, previous)
            digests.append(digest)
            previous = (
                digest.key,
                hashlib.sha256(gzip.decompress(digest.body)).hexdigest(),
                digest.metadata[SIGNATURE_METADATA],
            )
            start, end = end, end + HOUR
    return digests


def backfill_digests(
    bucket: str,
    root: str,
    account: str,
    region: str,
    trail: str,
    home_region: str,
    late: Iterable[LogEntry],
) -> list[DigestObject]:
    """`_backfill` digests for log files the hourly digests missed (CloudTrail's processing delays, "CloudTrail
    digest file structure"): one per late log file's delivery hour, their own chain (the first one a starting
    digest), each with the `backfill-generation-timestamp` metadata validate-logs reads."""
    digests: list[DigestObject] = []
    previous: tuple[str, str, str] | None = None
    by_hour: dict[dt.datetime, list[LogEntry]] = {}
    for entry in sorted(late, key=lambda e: (e.delivered, e.key)):
        by_hour.setdefault(entry.delivered.replace(minute=0, second=0, microsecond=0), []).append(entry)
    for start, listed in sorted(by_hour.items()):
        end = start + HOUR
        digest = _digest(
            bucket,
            root,
            account,
            region,
            trail,
            home_region,
            start,
            end,
            listed,
            previous,
            backfill_generated=end + BACKFILL_DELAY,
        )
        digests.append(digest)
        previous = (
            digest.key,
            hashlib.sha256(gzip.decompress(digest.body)).hexdigest(),
            digest.metadata[SIGNATURE_METADATA],
        )
    return digests


def _digest(
    bucket: str,
    root: str,
    account: str,
    region: str,
    trail: str,
    home_region: str,
    start: dt.datetime,
    end: dt.datetime,
    listed: list[LogEntry],
    previous: tuple[str, str, str] | None,
    backfill_generated: dt.datetime | None = None,
) -> DigestObject:
    key = digest_key(root, account, region, trail, home_region, end, backfill=backfill_generated is not None)
    oldest = min((e.oldest for e in listed if e.oldest), default=None)
    newest = max((e.newest for e in listed if e.newest), default=None)
    document: dict[str, object] = {
        "awsAccountId": account,
        "digestStartTime": start.strftime(TIME_FORMAT),
        "digestEndTime": end.strftime(TIME_FORMAT),
        "digestS3Bucket": bucket,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": fingerprint(),
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
        "newestEventTime": newest,
        "oldestEventTime": oldest,
        "previousDigestS3Bucket": bucket if previous else None,
        "previousDigestS3Object": previous[0] if previous else None,
        "previousDigestHashValue": previous[1] if previous else None,
        "previousDigestHashAlgorithm": HASH_ALGORITHM if previous else None,
        "previousDigestSignature": previous[2] if previous else None,
        "logFiles": [
            {
                "s3Bucket": bucket,
                "s3Object": e.key,
                "hashValue": e.sha256,
                "hashAlgorithm": HASH_ALGORITHM,
                "newestEventTime": e.newest,
                "oldestEventTime": e.oldest,
            }
            for e in listed
        ],
    }
    raw = json.dumps(document, separators=(",", ":")).encode()
    signature = sign(
        signing_string(
            str(document["digestEndTime"]),
            bucket,
            key,
            hashlib.sha256(raw).hexdigest(),
            previous[2] if previous else None,
        )
    )
    metadata = {SIGNATURE_METADATA: signature, SIGNATURE_ALGORITHM_METADATA: SIGNATURE_ALGORITHM}
    if backfill_generated is not None:
        metadata[BACKFILL_METADATA] = backfill_generated.strftime(TIME_FORMAT)
    return DigestObject(key, gzip.compress(raw, mtime=0), metadata)


def runs_of(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days as [first, last] runs."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def sidecar_path(object_path: Path) -> Path:
    return object_path.with_name(object_path.name + METADATA_SUFFIX)


def write_sidecar(object_path: Path, metadata: Mapping[str, str]) -> None:
    """The metadata a directory cannot hold, beside the object, for localaws to restore on upload."""
    sidecar_path(object_path).write_text(json.dumps(dict(metadata), sort_keys=True) + "\n")


def read_sidecar(object_path: Path) -> dict[str, str]:
    """The object's metadata from its sidecar; {} when it has none."""
    path = sidecar_path(object_path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of metadata name -> value")
    return {str(name): str(value) for name, value in data.items()}


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(METADATA_SUFFIX)
