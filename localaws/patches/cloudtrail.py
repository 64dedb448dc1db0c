"""moto's CloudTrail: cloudtrail:ListPublicKeys, which moto 5.2.5 does not implement: it serves the generator's local
digest-signing key (trailgen.digests), so trailkeeper and `aws cloudtrail validate-logs` can verify the
digests of a generated bucket offline.

The response has the API's shape (PublicKeyList of Value, ValidityStartTime, ValidityEndTime, Fingerprint;
Value is a blob, base64 on the wire) and honours StartTime/EndTime: keys whose validity overlaps them.
The key is served in every region unless `regions` names some: a digest is verified with the keys of its
own region.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from moto.cloudtrail.responses import CloudTrailResponse

from trailgen import digests

Undo = Callable[[], None]
VALID_FROM = dt.datetime(2013, 11, 1, tzinfo=dt.UTC)  # CloudTrail's first digests are not older than this
VALID_UNTIL = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ServedKey:
    der: bytes
    fingerprint: str
    valid_from: dt.datetime = VALID_FROM
    valid_until: dt.datetime = VALID_UNTIL
    regions: frozenset[str] | None = None  # None: every region


def local_key(regions: Iterable[str] | None = None) -> ServedKey:
    return ServedKey(
        digests.public_key_der(), digests.fingerprint(), regions=None if regions is None else frozenset(regions)
    )


def _epoch(value: object, default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def serve_public_keys(keys: Iterable[ServedKey] = ()) -> Undo:
    """Install ListPublicKeys (the local key when `keys` is empty); return the undo."""
    served = tuple(keys) or (local_key(),)
    had = "list_public_keys" in CloudTrailResponse.__dict__
    saved = CloudTrailResponse.__dict__.get("list_public_keys")

    def list_public_keys(self: CloudTrailResponse) -> str:
        now = dt.datetime.now(dt.UTC)
        start = _epoch(self._get_param("StartTime"), now)
        end = _epoch(self._get_param("EndTime"), now)
        found = [
            {
                "Value": base64.b64encode(key.der).decode(),
                "ValidityStartTime": key.valid_from.timestamp(),
                "ValidityEndTime": key.valid_until.timestamp(),
                "Fingerprint": key.fingerprint,
            }
            for key in served
            if (key.regions is None or self.region in key.regions)
            and key.valid_from <= end
            and start <= key.valid_until
        ]
        return json.dumps({"PublicKeyList": found})

    CloudTrailResponse.list_public_keys = list_public_keys  # type: ignore[attr-defined]

    def undo() -> None:
        if had:
            CloudTrailResponse.list_public_keys = saved  # type: ignore[attr-defined]
        else:
            del CloudTrailResponse.list_public_keys  # type: ignore[attr-defined]

    return undo
