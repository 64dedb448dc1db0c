"""One log file checked against its digest entry: SHA-256 of the uncompressed first gzip member, and
nothing after it.

CloudTrail writes each log file as one gzip member. A reader that concatenates members (gunzip, Athena)
would also read data appended after that member, which the digest's hash does not cover: that is a finding
of its own (`log_appended`), whether the first member's hash matches or not.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trailkeeper.dropped import OPENING_BYTES, not_records_object

GZIP_MAGIC = b"\x1f\x8b"
# Management events that stop, delete or reconfigure a trail: they explain a chain that restarts.
CONTROL_EVENTS = frozenset({"StopLogging", "DeleteTrail", "UpdateTrail"})
_CONTROL_NEEDLES = tuple(name.encode() for name in CONTROL_EVENTS)
_NEEDLE_OVERLAP = max(len(n) for n in _CONTROL_NEEDLES)


@dataclass(frozen=True)
class ControlEvent:
    name: str
    time: str  # eventTime as written
    trail: str  # requestParameters.name (a trail name or ARN)
    region: str  # awsRegion


@dataclass
class LogCheck:
    sha256: str = ""
    uncompressed_bytes: int = 0
    compressed_bytes: int = 0
    readable: bool = True
    trailing_bytes: int = 0  # after the end of the first gzip member
    extra_member: bool = False  # the trailing data starts another gzip member
    control_events: list[ControlEvent] = field(default_factory=list)
    # JSON, but not {"Records": [...]}: Athena's CloudTrailInputFormat yields no row for it (trailkeeper/dropped.py)
    not_records_object: bool = False


def check_log(chunks: Iterable[bytes]) -> LogCheck:
    """Hash the first gzip member of the streamed object, count what follows it, and pick out trail-control
    events (only trusted by the caller when the hash matches)."""
    result = LogCheck()
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    digest = hashlib.sha256()
    tail = b""
    trailing = b""
    parts: list[bytes] = []  # the uncompressed text: parsed only when a control event's name occurs in it
    seen = False
    try:
        for chunk in chunks:
            result.compressed_bytes += len(chunk)
            if inflater.eof:
                if len(trailing) < 2:
                    trailing += chunk[:2]
                result.trailing_bytes += len(chunk)
                continue
            data = inflater.decompress(chunk)
            if inflater.eof:
                rest = inflater.unused_data
                trailing += rest[:2]
                result.trailing_bytes += len(rest)
            digest.update(data)
            result.uncompressed_bytes += len(data)
            parts.append(data)
            window = tail + data
            seen = seen or any(needle in window for needle in _CONTROL_NEEDLES)
            tail = window[-_NEEDLE_OVERLAP:]
        if not inflater.eof:
            raise zlib.error("the gzip stream ends early")
    except zlib.error:
        result.readable = False
    result.sha256 = digest.hexdigest()
    result.extra_member = trailing[:2] == GZIP_MAGIC
    if seen and result.readable:
        result.control_events = _control_events(b"".join(parts))
    if result.readable:
        result.not_records_object = _not_records_object(parts)
    return result


def _not_records_object(parts: list[bytes]) -> bool:
    """The shape check, cheap: the opening bytes decide for every CloudTrail log; only odd ones are parsed whole."""
    opening = b""
    for part in parts:
        if len(opening) >= OPENING_BYTES:
            break
        opening += part[:OPENING_BYTES]
    return not_records_object(opening, lambda: b"".join(parts))


def _control_events(text: bytes) -> list[ControlEvent]:
    try:
        document: Any = json.loads(text)
    except ValueError:
        return []
    records = document.get("Records") if isinstance(document, dict) else None
    found = []
    for record in records if isinstance(records, list) else []:
        if not isinstance(record, dict) or record.get("eventName") not in CONTROL_EVENTS or record.get("errorCode"):
            continue
        parameters = record.get("requestParameters")
        trail = parameters.get("name") if isinstance(parameters, dict) else None
        if isinstance(trail, str) and isinstance(record.get("eventTime"), str):
            found.append(ControlEvent(record["eventName"], record["eventTime"], trail, str(record.get("awsRegion"))))
    return found
