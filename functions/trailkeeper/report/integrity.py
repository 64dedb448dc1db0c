"""The report's view of the night's integrity validation (README "Integrity"): read and validate
`integrity/<night>/summary.json`, grade silent pairs with it, and give the report.json block and the email's
Integrity section.

Everything in the summary came from the trail bucket (object keys, hours): attacker-influenced text
(docs/threat-model.md). It is validated here (kinds from the findings vocabulary, account and region from the
allow-list patterns, counts as non-negative integers) and every value is rendered through trailkeeper.sanitise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trailkeeper import allowlist, aws
from trailkeeper.errors import InvalidInput
from trailkeeper.integrity import findings as kinds
from trailkeeper.layout import integrity_summary_key
from trailkeeper.report.medium import Line, Untrusted, line

# report.json silent[].state: digests prove the pair is alive (quiet) or show delivery stopped (broken).
QUIET = "quiet"
BROKEN = "broken"
UNKNOWN = "unknown"
DELIVERY_ARRIVING = "arriving"
DELIVERY_STOPPED = "stopped"
_DELIVERIES = frozenset({DELIVERY_ARRIVING, DELIVERY_STOPPED})


@dataclass(frozen=True)
class IntegrityFinding:
    account: str
    region: str
    kind: str
    key: str
    hour: str

    @property
    def alarming(self) -> bool:
        return self.kind in kinds.ALARM_KINDS

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "key": self.key, "hour": self.hour}


@dataclass(frozen=True)
class IntegrityPair:
    account: str
    region: str
    hours: int
    digests_verified: int
    logs_verified: int
    delivery: str
    findings: tuple[IntegrityFinding, ...]
    not_records_objects: int | None = None  # None: a summary written before the count existed

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "hours": self.hours,
            "digests_verified": self.digests_verified,
            "logs_verified": self.logs_verified,
            "delivery": self.delivery,
            "findings": [f.to_json() for f in self.findings],
            "not_records_objects": self.not_records_objects,
        }


@dataclass(frozen=True)
class IntegritySummary:
    night: str
    pairs: tuple[IntegrityPair, ...]
    unvalidated_batches: int

    @property
    def findings(self) -> list[IntegrityFinding]:
        """Every finding, alarming ones first (then by account, region, hour)."""
        every = [f for p in self.pairs for f in p.findings]
        return sorted(every, key=lambda f: (not f.alarming, f.account, f.region, f.hour, f.kind, f.key))

    @property
    def alarming(self) -> list[IntegrityFinding]:
        return [f for f in self.findings if f.alarming]

    @property
    def not_records_objects(self) -> int | None:
        """Logs read tonight whose JSON is not {"Records": [...]} (trailkeeper/dropped.py); None unless every batch
        was validated and every pair counted them: a partial count would read as a smaller one."""
        counts = [p.not_records_objects for p in self.pairs]
        if self.unvalidated_batches or any(c is None for c in counts):
            return None
        return sum(c for c in counts if c is not None)

    def silence_state(self, account: str, region: str) -> str:
        """quiet when the pair's (empty) digests keep arriving, broken when they stopped, unknown otherwise."""
        for pair in self.pairs:
            if (pair.account, pair.region) == (account, region):
                return QUIET if pair.delivery == DELIVERY_ARRIVING else BROKEN
        return UNKNOWN

    def to_json(self) -> dict[str, Any]:
        """report.json `integrity`."""
        return {
            "night": self.night,
            "unvalidated_batches": self.unvalidated_batches,
            "alarming_findings": len(self.alarming),
            "pairs": [p.to_json() for p in self.pairs],
        }


def silence_state(summary: IntegritySummary | None, account: str, region: str) -> str:
    return UNKNOWN if summary is None else summary.silence_state(account, region)


def read_summary(s3: Any, bucket: str, night: Any) -> IntegritySummary | None:
    """The night's summary, or None when the night was not validated (no summary.json)."""
    key = integrity_summary_key(night)
    data = aws.get_json_if_exists(s3, bucket, key)
    return None if data is None else parse_summary(data, f"s3://{bucket}/{key}")


def parse_summary(data: Any, source: str) -> IntegritySummary:
    """Validate a summary.json document; a malformed one is a one-line InvalidInput naming `source`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("pairs"), list):
        raise InvalidInput(f"{source}: not an integrity summary (no pairs list)")
    unvalidated = data.get("unvalidated_batches", [])
    pairs = tuple(_pair(item, f"{source} pair {i}") for i, item in enumerate(data["pairs"]))
    return IntegritySummary(
        night=_text(data.get("night"), source, "night"),
        pairs=pairs,
        unvalidated_batches=len(unvalidated) if isinstance(unvalidated, list) else 0,
    )


def _pair(item: Any, source: str) -> IntegrityPair:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{source}: not an object")
    if not allowlist.is_account_id(item.get("account")) or not allowlist.is_region(item.get("region")):
        raise InvalidInput(f"{source}: account or region does not match the allow-list patterns")
    account, region = str(item["account"]), str(item["region"])
    delivery = str(item.get("delivery"))
    if delivery not in _DELIVERIES:
        raise InvalidInput(f"{source}: delivery must be one of {sorted(_DELIVERIES)}")
    found = item.get("findings")
    if not isinstance(found, list):
        raise InvalidInput(f"{source}: findings is not a list")
    return IntegrityPair(
        account=account,
        region=region,
        hours=_count(item, "hours", source),
        digests_verified=_count(item, "digests_verified", source),
        logs_verified=_count(item, "logs_verified", source),
        delivery=delivery,
        findings=tuple(_finding(account, region, f, f"{source} finding {i}") for i, f in enumerate(found)),
        not_records_objects=None if "not_records_objects" not in item else _count(item, "not_records_objects", source),
    )


def _finding(account: str, region: str, item: Any, source: str) -> IntegrityFinding:
    if not isinstance(item, Mapping) or item.get("kind") not in kinds.ALL_KINDS:
        raise InvalidInput(f"{source}: unknown finding kind")
    return IntegrityFinding(
        account,
        region,
        str(item["kind"]),
        _text(item.get("key"), source, "key"),
        _text(item.get("hour"), source, "hour"),
    )


def _count(item: Mapping[str, Any], name: str, source: str) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{source}: {name} is not a count")
    return value


def _text(value: Any, source: str, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{source}: {name} is not a string")
    return value


# ------------------------------------------------------------------------------------------------ email
# What the email shows of the summary; report/templates/ lay it out (the Integrity blocks).
@dataclass(frozen=True)
class IntegrityOpening:
    """The alarming findings, first thing in the email."""

    count: int
    findings: tuple[Line, ...]
    hidden: int


@dataclass(frozen=True)
class IntegritySection:
    """The Integrity section; `totals` is None when the night was not validated (no summary)."""

    totals: Line | None
    findings: tuple[Line, ...] = ()
    hidden: int = 0
    silent: tuple[Line, ...] = ()  # silent (account, region) pairs graded by their digests


def _value(raw: str) -> Untrusted:
    return Untrusted(raw, empty="")


def _finding_line(f: IntegrityFinding) -> Line:
    level = "ALARM" if f.alarming else "info"
    return line(f"{level} {{}} {{}} {{}} {{}}: {{}}", *map(_value, (f.kind, f.account, f.region, f.hour, f.key)))


def _shown(items: Sequence[IntegrityFinding], max_rows: int) -> tuple[Sequence[IntegrityFinding], int]:
    return items[:max_rows], max(0, len(items) - max_rows)


def opening(summary: IntegritySummary | None, max_rows: int) -> IntegrityOpening | None:
    """The alarming findings (None when there are none)."""
    if summary is None or not summary.alarming:
        return None
    shown, hidden = _shown(summary.alarming, max_rows)
    return IntegrityOpening(len(summary.alarming), tuple(_finding_line(f) for f in shown), hidden)


def _totals_line(summary: IntegritySummary) -> str:
    hours = sum(p.hours for p in summary.pairs)
    digests = sum(p.digests_verified for p in summary.pairs)
    logs = sum(p.logs_verified for p in summary.pairs)
    stopped = sum(p.delivery == DELIVERY_STOPPED for p in summary.pairs)
    return (
        f"Night {summary.night}: {len(summary.pairs):,} account-regions, {hours:,} hours, {digests:,} digests "
        f"and {logs:,} log files verified; {len(summary.findings):,} findings ({len(summary.alarming):,} "
        f"alarming); digest delivery stopped in {stopped:,}; unvalidated batches: {summary.unvalidated_batches:,}."
    )


_SILENCE_WORDS = {
    QUIET: "quiet: its empty digests keep arriving",
    BROKEN: "broken: its digests stopped",
    UNKNOWN: "unknown: no integrity data",
}


def section(
    summary: IntegritySummary | None, max_rows: int, silent: Sequence[tuple[str, str]] = ()
) -> IntegritySection:
    """The Integrity section; `silent` (account, region) pairs are graded with the digests."""
    if summary is None:
        return IntegritySection(None)
    shown, hidden = _shown(summary.findings, max_rows)
    return IntegritySection(
        # the night is the summary's own text: shown whole, sanitised like every value from the bucket
        totals=line("{}", Untrusted(_totals_line(summary), None, empty="")),
        findings=tuple(_finding_line(f) for f in shown),
        hidden=hidden,
        silent=tuple(
            line(f"{{}} {{}}: {_SILENCE_WORDS[summary.silence_state(a, r)]}", _value(a), _value(r))
            for a, r in silent[:max_rows]
        ),
    )
