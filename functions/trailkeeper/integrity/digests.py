"""CloudTrail digest files: their key layout, their fields, and how they are signed.

Key (CloudTrail user guide, "CloudTrail digest file structure"; docs/aws-facts.md):
  [prefix/]AWSLogs/[o-org/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
      <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz
The date folders and the timestamp are the digest's end time. The signature is not in the file: it is the
object's `x-amz-meta-signature` (hex), and the next digest repeats it as `previousDigestSignature`.
String to sign ("Custom implementations of CloudTrail log file integrity validation"):
  digestEndTime \n digestS3Bucket/digestS3Object \n hex SHA-256 of the uncompressed digest \n
  previousDigestSignature (the literal `null` in a starting digest)
signed with SHA256withRSA (RSA PKCS#1 v1.5 over SHA-256) by the region's private key; the public keys come
from `cloudtrail:ListPublicKeys` in the digest's region (DER PKCS#1 RSAPublicKey), matched by fingerprint.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailkeeper import allowlist

SIGNATURE_ALGORITHM = "SHA256withRSA"
HASH_ALGORITHM = "SHA-256"
SIGNATURE_METADATA = "signature"  # x-amz-meta-signature, as boto3 returns it in Metadata
SIGNATURE_ALGORITHM_METADATA = "signature-algorithm"
BACKFILL_METADATA = "backfill-generation-timestamp"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_REGION = allowlist.REGION.pattern  # every region shape AWS publishes: one home for it
DIGEST_KEY = re.compile(
    r"(?P<root>(?:[^/]+/)*AWSLogs/(?:o-[a-z0-9]{10,32}/)?)(?P<account>\d{12})/CloudTrail-Digest/"
    rf"(?P<region>{_REGION})/(?P<y>\d{{4}})/(?P<m>\d{{2}})/(?P<d>\d{{2}})/"
    rf"(?P=account)_CloudTrail-Digest_(?P=region)_(?P<trail>[A-Za-z0-9._-]{{1,128}})_(?P<home>{_REGION})_"
    r"(?P<stamp>\d{8}T\d{6}Z)(?P<backfill>_backfill)?\.json\.gz"
)
# CloudTrail log files: <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz, stamped at delivery.
LOG_KEY = re.compile(
    r"(?P<root>(?:[^/]+/)*AWSLogs/(?:o-[a-z0-9]{10,32}/)?)(?P<account>\d{12})/CloudTrail/"
    rf"(?P<region>{_REGION})/(?P<y>\d{{4}})/(?P<m>\d{{2}})/(?P<d>\d{{2}})/"
    r"(?P=account)_CloudTrail_(?P=region)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz"
)


class MalformedDigest(ValueError):
    """The object is not a readable digest (not gzip, not JSON, a required field missing or mistyped)."""


@dataclass(frozen=True)
class DigestKey:
    key: str
    root: str  # [prefix/]AWSLogs/[o-org/]
    account: str
    region: str
    trail: str
    home_region: str
    end: dt.datetime
    backfill: bool

    @property
    def chain(self) -> str:
        """Digests of one trail and kind form one chain; `_backfill` digests are their own."""
        return f"{self.trail}_{self.home_region}" + ("_backfill" if self.backfill else "")

    @classmethod
    def parse(cls, key: str) -> DigestKey | None:
        match = DIGEST_KEY.fullmatch(key)
        if match is None:
            return None
        try:
            end = dt.datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=dt.UTC)
        except ValueError:
            return None
        if (end.year, end.month, end.day) != (int(match["y"]), int(match["m"]), int(match["d"])):
            return None  # the folder is the end time's day
        return cls(
            key,
            match["root"],
            match["account"],
            match["region"],
            match["trail"],
            match["home"],
            end,
            bool(match["backfill"]),
        )


def digest_key(
    root: str, account: str, region: str, trail: str, home_region: str, end: dt.datetime, backfill: bool = False
) -> str:
    """The key CloudTrail gives the digest that ends at `end` (inverse of DigestKey.parse)."""
    return (
        f"{root}{account}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/"
        f"{account}_CloudTrail-Digest_{region}_{trail}_{home_region}_{end.strftime(STAMP_FORMAT)}"
        + ("_backfill" if backfill else "")
        + ".json.gz"
    )


def digest_folder(root: str, account: str, region: str, day: dt.date) -> str:
    return f"{root}{account}/CloudTrail-Digest/{region}/{day:%Y/%m/%d}/"


def log_folder(root: str, account: str, region: str, day: dt.date) -> str:
    return f"{root}{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"


def log_delivery_time(key: str) -> dt.datetime | None:
    """The delivery minute in a log file's name, or None when the key is not a CloudTrail log name."""
    match = LOG_KEY.fullmatch(key)
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class ListedLog:
    bucket: str
    key: str
    hash_value: str


@dataclass(frozen=True)
class Digest:
    """One digest file: its fields, its exact uncompressed bytes' SHA-256, and its signature metadata."""

    bucket: str
    key: str
    start: dt.datetime
    end: dt.datetime
    end_text: str  # digestEndTime exactly as written: it is part of the signed string
    fingerprint: str
    signature_algorithm: str
    previous_bucket: str | None
    previous_key: str | None
    previous_hash: str | None
    previous_signature: str | None
    logs: tuple[ListedLog, ...]
    sha256: str  # hex SHA-256 of the uncompressed digest
    location: tuple[str, str]  # (digestS3Bucket, digestS3Object) as written in the file

    @property
    def starting(self) -> bool:
        """A starting digest: the first after validation was enabled or logging (re)started."""
        return self.previous_key is None

    def string_to_sign(self) -> bytes:
        return signing_string(self.end_text, self.location[0], self.location[1], self.sha256, self.previous_signature)


def signing_string(end_text: str, bucket: str, key: str, sha256_hex: str, previous_signature: str | None) -> bytes:
    previous = "null" if previous_signature is None else previous_signature
    return f"{end_text}\n{bucket}/{key}\n{sha256_hex}\n{previous}".encode()


def _time(document: Mapping[str, Any], name: str) -> tuple[dt.datetime, str]:
    value = document.get(name)
    if not isinstance(value, str):
        raise MalformedDigest(f"{name} is missing")
    try:
        return dt.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=dt.UTC), value
    except ValueError as error:
        raise MalformedDigest(f"{name} {value!r} is not a UTC timestamp") from error


def _optional_text(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None or isinstance(value, str):
        return value
    raise MalformedDigest(f"{name} is not a string")


def _text(document: Mapping[str, Any], name: str) -> str:
    value = _optional_text(document, name)
    if value is None:
        raise MalformedDigest(f"{name} is missing")
    return value


def parse_digest(bucket: str, key: str, body: bytes) -> Digest:
    """Parse a digest object (gzip JSON). Raises MalformedDigest with a one-line reason."""
    try:
        raw = gzip.decompress(body)
        document = json.loads(raw)
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise MalformedDigest(f"not a gzip JSON document ({type(error).__name__})") from error
    if not isinstance(document, dict):
        raise MalformedDigest("not a JSON object")
    start, _ = _time(document, "digestStartTime")
    end, end_text = _time(document, "digestEndTime")
    files = document.get("logFiles")
    if not isinstance(files, list):
        raise MalformedDigest("logFiles is not a list")
    logs = []
    for entry in files:
        if not isinstance(entry, dict):
            raise MalformedDigest("a logFiles entry is not an object")
        logs.append(ListedLog(_text(entry, "s3Bucket"), _text(entry, "s3Object"), _text(entry, "hashValue").lower()))
    previous_hash = _optional_text(document, "previousDigestHashValue")
    return Digest(
        bucket=bucket,
        key=key,
        start=start,
        end=end,
        end_text=end_text,
        fingerprint=_text(document, "digestPublicKeyFingerprint"),
        signature_algorithm=_text(document, "digestSignatureAlgorithm"),
        previous_bucket=_optional_text(document, "previousDigestS3Bucket"),
        previous_key=_optional_text(document, "previousDigestS3Object"),
        previous_hash=previous_hash.lower() if previous_hash else None,
        previous_signature=_optional_text(document, "previousDigestSignature"),
        logs=tuple(logs),
        sha256=hashlib.sha256(raw).hexdigest(),
        location=(_text(document, "digestS3Bucket"), _text(document, "digestS3Object")),
    )


def load_public_key(der: bytes) -> rsa.RSAPublicKey | None:
    """A ListPublicKeys Value (DER PKCS#1 RSAPublicKey; `cryptography` reads it as DER); None when it is not one."""
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        return None
    return key if isinstance(key, rsa.RSAPublicKey) else None


def signature_verifies(public_key: rsa.RSAPublicKey, message: bytes, signature_hex: str) -> bool:
    """SHA256withRSA: RSA PKCS#1 v1.5 signature over SHA-256 of `message`."""
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
