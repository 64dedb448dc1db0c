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
    kind: str  # "unexpected_folder" | "unexpected_object" | "other_trail_layout"
    key: str


AWSLOGS = "AWSLogs"


@dataclass
class Discovery:
    regions_by_account: dict[str, tuple[str, ...]]
    anomaly_count: int = 0
    anomaly_sample: list[Anomaly] = field(default_factory=list)
    filtered_out: int = 0  # valid accounts/regions excluded by an allow-list or the input
    without_logs: int = 0  # account folders with no CloudTrail/<region>/ folder (digests only, or a new account)

    def note(self, anomaly: Anomaly) -> None:
        self.anomaly_count += 1
        if len(self.anomaly_sample) < ANOMALY_SAMPLE:
            self.anomaly_sample.append(anomaly)

    def absorb(self, other: Discovery) -> None:
        """Fold in what one account's listing found (anomalies and filtered regions)."""
        self.anomaly_count += other.anomaly_count
        self.anomaly_sample.extend(other.anomaly_sample[: ANOMALY_SAMPLE - len(self.anomaly_sample)])
        self.filtered_out += other.filtered_out
        self.without_logs += other.without_logs


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
    if settings.ORGANIZATION_ID:
        _other_trails_beside(lister, root, result)

    account_ids = []
    for account in _children(lister, root, allowlist.is_account_id, result, accounts_level=True):
        if wanted_accounts is None or account in wanted_accounts:
            account_ids.append(account)
        else:
            result.filtered_out += 1

    def regions_of(account: str) -> tuple[str, list[str], Discovery]:
        local = Discovery(regions_by_account={})
        found = list(_children(lister, f"{root}{account}/CloudTrail/", allowlist.is_region, local))
        kept = [r for r in found if wanted_regions is None or r in wanted_regions]
        local.filtered_out = len(found) - len(kept)
        local.without_logs = 0 if found else 1
        return account, kept, local

    # One listing per account: run them side by side (S3 latency, not CPU, is the cost).
    with ThreadPoolExecutor(max_workers=LIST_PARALLELISM) as pool:
        for account, kept, local in pool.map(regions_of, account_ids):
            result.absorb(local)
            if kept:
                result.regions_by_account[account] = tuple(sorted(kept))
    return result


def _other_trails_beside(lister: Lister, root: str, result: Discovery) -> None:
    """An organization trail's root is `[prefix/]AWSLogs/o-org/`: anything else in `[prefix/]AWSLogs/` — an account
    trail's `<account>/`, another organization's `o-other/`, a trail whose prefix ends in AWSLogs — is logs this
    configuration never reads. Reported, never read: which trail to keep is the deployer's choice, not a guess."""
    awslogs = root[: -len(root.rstrip("/").rsplit("/", 1)[-1]) - 1]
    siblings = [(key, is_folder) for key, is_folder in lister(awslogs) if key != root]

    def is_noise(entry: tuple[str, bool]) -> bool:
        """`<account>/` holding no `CloudTrail/` is AWS Config's (Control Tower log buckets): not another trail."""
        key, is_folder = entry
        if not (is_folder and allowlist.is_account_id(key[len(awslogs) : -1])):
            return False
        return next(iter(lister(f"{key}CloudTrail/")), None) is None  # the first child answers it

    with ThreadPoolExecutor(max_workers=LIST_PARALLELISM) as pool:
        for (key, is_folder), noise in zip(siblings, pool.map(is_noise, siblings), strict=True):
            if not noise:
                result.note(Anomaly(_layout_kind(key[len(awslogs) :], is_folder), key))


def _layout_kind(segment: str, is_folder: bool) -> str:
    """Another trail's folder (an account id, an organization id, or a nested AWSLogs/) or just something odd."""
    name = segment[:-1] if is_folder and segment.endswith("/") else None
    if name is not None and (
        allowlist.is_account_id(name) or allowlist.ORGANIZATION_ID.fullmatch(name) or name == AWSLOGS
    ):
        return "other_trail_layout"
    return "unexpected_folder" if is_folder else "unexpected_object"


def _children(
    lister: Lister, prefix: str, valid: Callable[[str], bool], result: Discovery, accounts_level: bool = False
) -> Iterable[str]:
    for key, is_folder in lister(prefix):
        segment = key[len(prefix) :] if key.startswith(prefix) else None
        if is_folder and segment is not None and segment.endswith("/"):
            name = segment[:-1]
            if "/" not in name and valid(name):
                yield name
                continue
        plain = "unexpected_folder" if is_folder else "unexpected_object"
        result.note(Anomaly(_layout_kind(segment or "", is_folder) if accounts_level else plain, key))


def _intersect(configured: frozenset[str] | None, requested: frozenset[str] | None) -> frozenset[str] | None:
    if configured is None:
        return requested
    return configured if requested is None else configured & requested


def no_data_alarm(found: Discovery, settings: Settings) -> dict[str, str] | None:
    """None when some account was discovered; else why not, as an alarm state (never "nothing new").

    Zero accounts means a wrong organization id or prefix, allow-lists that match nothing, an empty bucket or
    one holding digests only: every night would otherwise look quiet while nothing is being watched.
    """
    if found.regions_by_account:
        return None
    where = f"s3://{settings.TRAIL_BUCKET}/{settings.logs_root}"
    if found.filtered_out:
        return {
            "reason": "allow_lists_match_nothing",
            "detail": f"{found.filtered_out} account or region folders under {where} found, none kept by "
            "AccountAllowList / RegionAllowList (or the input's accounts / regions)",
        }
    layouts = [a.key for a in found.anomaly_sample if a.kind == "other_trail_layout"]
    if layouts:
        return {
            "reason": "other_trail_layout",
            "detail": f"no account folders under {where}, but another trail's logs at {layouts[0]}: "
            "check OrganizationId and TrailKeyPrefix",
        }
    if found.anomaly_count or found.without_logs:
        return {
            "reason": "no_cloudtrail_folders",
            "detail": f"no account with CloudTrail/<region>/ folders under {where}: {found.without_logs} "
            f"account folders without logs (digests only?), {found.anomaly_count} unexpected keys",
        }
    return {
        "reason": "nothing_under_logs_root",
        "detail": f"nothing under {where}: wrong OrganizationId or TrailKeyPrefix, or an empty bucket",
    }
