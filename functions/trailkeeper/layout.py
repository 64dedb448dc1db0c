"""The one home of every results-bucket key trailkeeper writes.

Integrity validation (issue 16):
  integrity/anchors/<account>/<region>.json    the last verified digest of each chain of the pair (the anchor)
  integrity/<night>/pairs.json                 the night's work items: [[account, [region, ...]], ...]
  integrity/<night>/batches/<batch>.json       one batch's results: per pair counts and findings
  integrity/<night>/summary.json               the night's summary for the report (documented in README.md)
"""

from __future__ import annotations

import datetime as dt
import re

INTEGRITY_PREFIX = "integrity/"
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]{0,2})?-[a-z]{4,10}-[0-9]{1,2}")
_BATCH = re.compile(r"\d{1,6}")


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what}: {value!r} is not well-formed")
    return value


def integrity_anchor_key(account: str, region: str) -> str:
    return (f"{INTEGRITY_PREFIX}anchors/{_checked(_ACCOUNT, account, 'account')}/"
            f"{_checked(_REGION, region, 'region')}.json")


def integrity_night_prefix(night: dt.date) -> str:
    return f"{INTEGRITY_PREFIX}{night.isoformat()}/"


def integrity_pairs_key(night: dt.date) -> str:
    return f"{integrity_night_prefix(night)}pairs.json"


def integrity_batches_prefix(night: dt.date) -> str:
    return f"{integrity_night_prefix(night)}batches/"


def integrity_batch_key(night: dt.date, batch: str) -> str:
    return f"{integrity_batches_prefix(night)}{_checked(_BATCH, batch, 'batch')}.json"


def integrity_summary_key(night: dt.date) -> str:
    return f"{integrity_night_prefix(night)}summary.json"
