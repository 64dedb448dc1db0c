"""Findings as data: what integrity validation found, each named by kind and object key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# Alarming kinds: each has a metric (Integrity<Kind> in CamelCase) and any of them fires the alarm.
LOG_DELETED = "log_deleted"
LOG_MODIFIED = "log_modified"
LOG_APPENDED = "log_appended"  # data after the end of the gzip stream, or extra gzip members
LOG_INJECTED = "log_injected"  # an object under CloudTrail/<region>/<day>/ that no digest lists
DIGEST_DELETED = "digest_deleted"  # one finding per missing hour
DIGEST_FORGED = "digest_forged"  # signature, hash, location or key does not verify
CHAIN_TRUNCATED = "chain_truncated"  # tonight's chain does not reach the anchor
CHAIN_RESTARTED = "chain_restarted"  # a starting digest without a StopLogging/DeleteTrail/UpdateTrail event
DIGEST_SILENCE = "digest_silence"  # no digest for more than two hours: logging or delivery broken

ALARM_KINDS: tuple[str, ...] = (
    LOG_DELETED,
    LOG_MODIFIED,
    LOG_APPENDED,
    LOG_INJECTED,
    DIGEST_DELETED,
    DIGEST_FORGED,
    CHAIN_TRUNCATED,
    CHAIN_RESTARTED,
    DIGEST_SILENCE,
)

# Informational kinds: reported, never alarmed on.
LOG_EXPIRED = "log_expired"  # absent, and past the bucket's lifecycle expiration: never "deleted"
DIGEST_EXPIRED = "digest_expired"
CHAIN_RESTARTED_EXPLAINED = "chain_restarted_explained"  # a restart with its StopLogging/DeleteTrail/UpdateTrail
DIGEST_UNVERIFIABLE = "digest_unverifiable"  # no signature anywhere (a directory copy's newest digest)

INFO_KINDS: tuple[str, ...] = (LOG_EXPIRED, DIGEST_EXPIRED, CHAIN_RESTARTED_EXPLAINED, DIGEST_UNVERIFIABLE)
ALL_KINDS: tuple[str, ...] = ALARM_KINDS + INFO_KINDS
# The night's alarming findings plus unvalidated batches: the metric template.yaml's IntegrityFindingsAlarm watches.
ALARM_METRIC = "IntegrityFindings"


def metric_name(kind: str) -> str:
    """`log_deleted` -> `IntegrityLogDeleted`: the CloudWatch metric of one finding kind."""
    if kind not in ALL_KINDS:
        raise ValueError(f"unknown finding kind {kind!r}")
    return "Integrity" + "".join(part.capitalize() for part in kind.split("_"))


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str  # the object key (for a missing digest whose name cannot be known: its day folder)
    hour: dt.datetime  # the hour the finding is about (UTC, truncated to the hour)
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ALL_KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")

    @property
    def alarming(self) -> bool:
        return self.kind in ALARM_KINDS

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "hour": self.hour.strftime("%Y-%m-%dT%H:00Z"),
            "detail": self.detail,
        }


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
