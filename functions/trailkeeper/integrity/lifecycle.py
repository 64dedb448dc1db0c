"""The trail bucket's lifecycle expiration: an absent object past it is "expired", never "deleted".

S3 adds a rule's `Expiration.Days` to the object's creation time and rounds up to the next midnight UTC
(S3 user guide, "Setting lifecycle configuration"); `Expiration.Date` expires everything older at that
date. A rule whose filter also names tags or sizes is taken to apply (trailkeeper cannot see tags of an
object that is gone): it only ever turns a "deleted" into an "expired".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExpirationRule:
    prefix: str
    days: int | None
    date: dt.datetime | None

    def expires(self, key: str, created: dt.datetime, now: dt.datetime) -> bool:
        if not key.startswith(self.prefix):
            return False
        if self.date is not None and now >= self.date and created < self.date:
            return True
        if self.days is not None:
            due = (created + dt.timedelta(days=self.days)).replace(hour=0, minute=0, second=0, microsecond=0)
            if due < created + dt.timedelta(days=self.days):
                due += dt.timedelta(days=1)
            return now >= due
        return False


@dataclass(frozen=True)
class Lifecycle:
    rules: tuple[ExpirationRule, ...] = ()

    def expired(self, key: str, created: dt.datetime, now: dt.datetime) -> bool:
        return any(rule.expires(key, created, now) for rule in self.rules)

    def retention_days(self, folder: str) -> int | None:
        """The fewest `Expiration.Days` of a rule covering every object under `folder`; None when none does."""
        days = [rule.days for rule in self.rules if rule.days is not None and folder.startswith(rule.prefix)]
        return min(days) if days else None

    @classmethod
    def from_rules(cls, rules: Iterable[Mapping[str, Any]]) -> Lifecycle:
        """From GetBucketLifecycleConfiguration's Rules (enabled rules with an Expiration only)."""
        parsed = []
        for rule in rules:
            expiration = rule.get("Expiration") or {}
            if rule.get("Status") != "Enabled" or not ("Days" in expiration or "Date" in expiration):
                continue
            parsed.append(ExpirationRule(_prefix(rule), expiration.get("Days"), _utc(expiration.get("Date"))))
        return cls(tuple(parsed))


def _prefix(rule: Mapping[str, Any]) -> str:
    if "Prefix" in rule:  # the legacy form
        return str(rule["Prefix"] or "")
    found = rule.get("Filter") or {}
    if "Prefix" in found:
        return str(found["Prefix"] or "")
    return str((found.get("And") or {}).get("Prefix") or "")


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC)
