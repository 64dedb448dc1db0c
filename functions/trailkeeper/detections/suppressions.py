"""Suppressions an operator controls: which detection hits are expected, why, and until when.

The file is one JSON object in the results bucket, `config/suppressions.json` (layout.SUPPRESSIONS_KEY),
written by the operator (no file: nothing is suppressed):

    {
      "version": 1,
      "suppressions": [
        {
          "id": "ci-creates-deploy-keys",
          "detection": "iam-credentials-created",
          "account": "111122223333",
          "principal": "arn:aws:iam::111122223333:role/ci-*",
          "reason": "CI rotates the deploy user's keys every night (TICKET-42)",
          "expires": "2025-06-30"
        }
      ]
    }

A suppression matches a hit when every criterion it names matches: `detection` (a catalog id, exactly) and
the patterns `account`, `region`, `principal`, `eventsource`, `eventname`, where `*` stands for any run of
characters and everything else is literal. It must name a detection or at least one pattern that is not
only `*`, and must have a `reason` and an `expires` date (`YYYY-MM-DD`, at most 366 days after the day the
report is made): nothing is suppressed for ever, and nothing is "suppress everything". On the day after
`expires` it stops applying (the report lists it as expired).

Parsing is strict: an unknown key, a missing reason, a bad date, an unknown detection id, a duplicate id
or a file that is not this JSON is a ConfigurationError naming the entry, and the report fails
loudly rather than suppress anything or nothing. Suppressed hits are counted per suppression and shown in
the report; they are never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from trailkeeper.detections.catalog import BY_ID
from trailkeeper.errors import ConfigurationError

PATTERN_FIELDS = ("account", "region", "principal", "eventsource", "eventname")
_KEYS = frozenset({"id", "detection", "reason", "expires", *PATTERN_FIELDS})
_REQUIRED = frozenset({"id", "reason", "expires"})
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Patterns are printable ASCII without control characters; '*' is the only wildcard.
_PATTERN = re.compile(r"[\x21-\x7e]{1,512}")
_REASON_MAX = 300
MAX_SUPPRESSIONS = 500
MAX_LIFETIME = dt.timedelta(days=366)


# The operator's file cannot be read as documented: a configuration error (errors.py), nothing applied.
SuppressionsInvalid = ConfigurationError


@dataclass(frozen=True)
class Suppression:
    id: str
    detection: str | None
    patterns: tuple[tuple[str, str], ...]  # (field, pattern) for each pattern it names
    reason: str
    expires: dt.date

    def active_on(self, day: dt.date) -> bool:
        return day <= self.expires

    def matches(self, detection: str, values: dict[str, str]) -> bool:
        if self.detection is not None and self.detection != detection:
            return False
        return all(_glob(pattern).fullmatch(values.get(name, "")) for name, pattern in self.patterns)


def parse_suppressions(text: str | None, report_day: dt.date, *, source: str) -> tuple[Suppression, ...]:
    """The suppressions of the file `text` (None: no file, no suppressions); SuppressionsInvalid if bad."""
    if text is None:
        return ()
    try:
        document = json.loads(text)
    except ValueError as error:
        raise SuppressionsInvalid(f"{source}: not JSON ({error})") from error
    if not isinstance(document, dict) or set(document) != {"version", "suppressions"}:
        raise SuppressionsInvalid(f"{source}: must be an object with exactly 'version' and 'suppressions'")
    if document["version"] != 1:
        raise SuppressionsInvalid(f"{source}: version must be 1")
    entries = document["suppressions"]
    if not isinstance(entries, list) or len(entries) > MAX_SUPPRESSIONS:
        raise SuppressionsInvalid(f"{source}: 'suppressions' must be a list of at most {MAX_SUPPRESSIONS}")
    parsed = [_entry(entry, number, report_day, source) for number, entry in enumerate(entries, start=1)]
    ids = [s.id for s in parsed]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SuppressionsInvalid(f"{source}: duplicate suppression id(s) {', '.join(duplicates)}")
    return tuple(parsed)


def _entry(entry: object, number: int, report_day: dt.date, source: str) -> Suppression:
    where = f"{source} suppression #{number}"
    if not isinstance(entry, dict):
        raise SuppressionsInvalid(f"{where}: must be an object")
    unknown = sorted(set(entry) - _KEYS)
    missing = sorted(_REQUIRED - set(entry))
    if unknown or missing:
        raise SuppressionsInvalid(f"{where}: unknown key(s) {unknown}, missing key(s) {missing}")
    if not all(isinstance(value, str) for value in entry.values()):
        raise SuppressionsInvalid(f"{where}: every value must be a string")
    if not _ID.fullmatch(entry["id"]):
        raise SuppressionsInvalid(f"{where}: id must be 1-64 letters, digits, '.', '_' or '-'")
    where = f"{source} suppression {entry['id']!r}"
    detection = entry.get("detection")
    if detection is not None and detection not in BY_ID:
        raise SuppressionsInvalid(f"{where}: detection {detection[:80]!r} is not in the catalog")
    reason = entry["reason"].strip()
    if not reason or len(reason) > _REASON_MAX or not reason.isprintable():
        raise SuppressionsInvalid(f"{where}: reason must be 1-{_REASON_MAX} printable characters")
    expires = _date(entry["expires"], where)
    if expires - report_day > MAX_LIFETIME:
        raise SuppressionsInvalid(f"{where}: expires {expires} is more than {MAX_LIFETIME.days} days ahead")
    patterns = []
    for name in PATTERN_FIELDS:
        if name in entry:
            if not _PATTERN.fullmatch(entry[name]):
                raise SuppressionsInvalid(f"{where}: {name} pattern must be 1-512 printable ASCII characters")
            patterns.append((name, entry[name]))
    if detection is None and all(pattern.strip("*") == "" for _, pattern in patterns):
        raise SuppressionsInvalid(f"{where}: names no detection and no pattern narrower than '*'")
    return Suppression(entry["id"], detection, tuple(patterns), reason, expires)


def _date(value: str, where: str) -> dt.date:
    if not _DATE.fullmatch(value):
        raise SuppressionsInvalid(f"{where}: expires must be YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise SuppressionsInvalid(f"{where}: expires {value!r} is not a calendar date") from error


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


@dataclass(frozen=True)
class SuppressionCount:
    """What one suppression did on the report day (report.json's `suppressed`)."""

    id: str
    detection: str | None
    reason: str
    expires: str
    active: bool
    hits: int
    events: int


def first_match(
    suppressions: Iterable[Suppression], detection: str, values: dict[str, str], day: dt.date
) -> Suppression | None:
    """The first active suppression (file order) that matches the hit, or None."""
    for suppression in suppressions:
        if suppression.active_on(day) and suppression.matches(detection, values):
            return suppression
    return None
