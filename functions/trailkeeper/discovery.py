"""Discovery: which accounts and regions have CloudTrail folders in the trail bucket.

Listing is by delimiter, level by level: `<logs root>` -> accounts -> `<account>/CloudTrail/` -> regions.
A child is used only if it is exactly a 12-digit account id or a well-formed region name; anything
else (digest/insight/Config folders, odd or hostile names, stray objects) is skipped, counted and
reported, because an unexpected key in a trail bucket is itself a security signal. Keys are compared
segment by segment and never normalised, so `..` or `//` cannot alias another folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from trailkeeper import allowlist
from trailkeeper.config import Settings

# lister(prefix) yields (key, is_common_prefix) for the direct children of prefix (delimiter '/').
Lister = Callable[[str], Iterable[tuple[str, bool]]]

ANOMALY_SAMPLE = 20
LIST_PARALLELISM = 16


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "unexpected_folder" | "unexpected_object"
    key: str


@dataclass
class Discovery:
    regions_by_account: dict[str, tuple[str, ...]]
    anomaly_count: int = 0
    anomaly_sample: list[Anomaly] = field(default_factory=list)
    filtered_out: int = 0  # valid accounts/regions excluded by an allow-list or the input

    def note(self, anomaly: Anomaly) -> None:
        self.anomaly_count += 1
        if len(self.anomaly_sample) < ANOMALY_SAMPLE:
            self.anomaly_sample.append(anomaly)

    def absorb(self, other: Discovery) -> None:
        """Fold in what one account's listing found (anomalies and filtered regions)."""
        self.anomaly_count += other.anomaly_count
        self.anomaly_sample.extend(other.anomaly_sample[: ANOMALY_SAMPLE - len(self.anomaly_sample)])
        self.filtered_out += other.filtered_out


def discover(
    lister: Lister,
    settings: Settings,
    accounts: frozenset[str] | None = None,
    regions: frozenset[str] | None = None,
) -> Discovery:
    """Accounts -> regions with CloudTrail folders, restricted by the configured and requested lists."""
    result = Discovery(regions_by_account={})
    root = settings.logs_root
    wanted_accounts = _intersect(settings.ACCOUNT_ALLOWLIST, accounts)
    wanted_regions = _intersect(settings.REGION_ALLOWLIST, regions)

    account_ids = []
    for account in _children(lister, root, allowlist.is_account_id, result):
        if wanted_accounts is None or account in wanted_accounts:
            account_ids.append(account)
        else:
            result.filtered_out += 1

    def regions_of(account: str) -> tuple[str, list[str], Discovery]:
        local = Discovery(regions_by_account={})
        found = list(_children(lister, f"{root}{account}/CloudTrail/", allowlist.is_region, local))
        kept = [r for r in found if wanted_regions is None or r in wanted_regions]
        local.filtered_out = len(found) - len(kept)
        return account, kept, local

    # One listing per account: run them side by side (S3 latency, not CPU, is the cost).
    with ThreadPoolExecutor(max_workers=LIST_PARALLELISM) as pool:
        for account, kept, local in pool.map(regions_of, account_ids):
            result.absorb(local)
            if kept:
                result.regions_by_account[account] = tuple(sorted(kept))
    return result


def _children(lister: Lister, prefix: str, valid: Callable[[str], bool], result: Discovery) -> Iterable[str]:
    for key, is_folder in lister(prefix):
        segment = key[len(prefix):] if key.startswith(prefix) else None
        if is_folder and segment is not None and segment.endswith("/"):
            name = segment[:-1]
            if "/" not in name and valid(name):
                yield name
                continue
        result.note(Anomaly("unexpected_folder" if is_folder else "unexpected_object", key))


def _intersect(configured: frozenset[str] | None, requested: frozenset[str] | None) -> frozenset[str] | None:
    if configured is None:
        return requested
    return configured if requested is None else configured & requested
