"""Discovery: which accounts and regions have CloudTrail folders in the trail bucket.

Listing is by delimiter, level by level: `<logs root>` -> accounts -> `<account>/CloudTrail/` -> regions.
A child is used only if it is exactly a 12-digit account id or a well-formed region name; anything
else (digest/insight/Config folders, odd or hostile names, stray objects) is skipped, counted and
reported, because an unexpected key in a trail bucket is itself a security signal. Keys are compared
segment by segment and never normalised, so `..` or `//` cannot alias another folder.

Below a region CloudTrail writes only `YYYY/MM/DD/` folders, the day a calendar date ("Finding your CloudTrail
log files", CloudTrail user guide). `scan_date_folders` lists those levels for the months a window touches,
one page each, and reports every other name (`2024/02/30/`, `2024/13/`, `2024/03/4/`, a stray file) the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from trailkeeper import allowlist
from trailkeeper.config import Settings

# lister(prefix) yields (key, is_common_prefix) for the direct children of prefix (delimiter '/').
Lister = Callable[[str], Iterable[tuple[str, bool]]]
# page_lister(prefix) -> (the first page's children, whether S3 has more): exactly one ListObjectsV2 call.
PageLister = Callable[[str], tuple[list[tuple[str, bool]], bool]]

ANOMALY_SAMPLE = 20
LIST_PARALLELISM = 16


@dataclass(frozen=True)
class Anomaly:
    kind: str  # "unexpected_folder" | "unexpected_object" | "other_trail_layout" | "listing_truncated"
    key: str


AWSLOGS = "AWSLogs"


@dataclass
class Discovery:
    regions_by_account: dict[str, tuple[str, ...]]
    anomaly_count: int = 0
    anomaly_sample: list[Anomaly] = field(default_factory=list)
    filtered_out: int = 0  # valid accounts/regions excluded by an allow-list or the input
    without_logs: int = 0  # account folders with no CloudTrail/<region>/ folder (digests only, or a new account)
    date_listings: int = 0  # ListObjectsV2 calls of scan_date_folders

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
        self.date_listings += other.date_listings


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


# ------------------------------------------------------------------------------------------------ date folders

_YEAR, _TWO_DIGITS = re.compile(r"[0-9]{4}"), re.compile(r"[0-9]{2}")
FIRST_YEAR = 2013  # CloudTrail launched in November 2013 (trailkeeper.inputs.EARLIEST_DAY)


def date_folder(parts: Sequence[str]) -> bool:
    """True when `parts` (year, then month, then day, each without '/') is a folder path CloudTrail writes below a
    region: a 4-digit year from FIRST_YEAR, a 2-digit month, a 2-digit day of that month. The one classifier of
    the date levels (the local runner reads a folder's day with `folder_day`)."""
    if not 1 <= len(parts) <= 3 or not _YEAR.fullmatch(parts[0]) or int(parts[0]) < FIRST_YEAR:
        return False
    if any(not _TWO_DIGITS.fullmatch(part) for part in parts[1:]):
        return False
    numbers = [int(part) for part in parts] + [1] * (3 - len(parts))
    try:
        dt.date(*numbers)
    except ValueError:
        return False
    return True


def folder_day(parts: Sequence[str]) -> dt.date | None:
    """The day of a `YYYY`, `MM`, `DD` day folder, None when CloudTrail would not write that folder."""
    return dt.date(*(int(p) for p in parts)) if len(parts) == 3 and date_folder(parts) else None


def date_listing_prefixes(
    root: str, account: str, region: str, start: dt.date, end: dt.date
) -> list[tuple[str, tuple[str, ...]]]:
    """The folders scan_date_folders lists for one pair, each with its date levels: the region (its years), each
    year of the window (its months) and each month the window touches (its days). 1 + years + months calls,
    whatever the bucket holds."""
    if not (allowlist.is_account_id(account) and allowlist.is_region(region)):
        raise ValueError(f"refusing to list an unvalidated pair {(account, region)!r}")
    base = f"{root}{account}/CloudTrail/{region}/"
    months = sorted({(start + dt.timedelta(days=i)).strftime("%Y/%m") for i in range((end - start).days + 1)})
    years = sorted({month[:4] for month in months})
    levels = [(), *((year,) for year in years), *(tuple(month.split("/")) for month in months)]
    return [(base + "".join(f"{part}/" for part in parts), parts) for parts in levels]


def scan_date_folders(
    page_lister: PageLister,
    root: str,
    pairs: Iterable[tuple[str, str]],
    start: dt.date,
    end: dt.date,
    result: Discovery,
) -> None:
    """Note every child of the listed date levels that CloudTrail does not write (README "Bucket anomalies").

    One page per folder bounds the calls; a folder holding more than a page (1,000 names: never CloudTrail's) is
    reported as `listing_truncated`, its first page classified. Nothing found here is read or registered."""
    folders = [f for account, region in pairs for f in date_listing_prefixes(root, account, region, start, end)]

    def scan(folder: tuple[str, tuple[str, ...]]) -> Discovery:
        prefix, parts = folder
        local = Discovery(regions_by_account={}, date_listings=1)
        children, truncated = page_lister(prefix)
        if truncated:  # first: the sample must show it before a thousand odd names
            local.note(Anomaly("listing_truncated", prefix))
        for key, is_folder in children:
            segment = key[len(prefix) :] if key.startswith(prefix) else ""
            name = segment[:-1] if is_folder and segment.endswith("/") else None
            if name is not None and "/" not in name and date_folder((*parts, name)):
                continue
            local.note(Anomaly("unexpected_folder" if is_folder else "unexpected_object", key))
        return local

    with ThreadPoolExecutor(max_workers=LIST_PARALLELISM) as pool:
        for local in pool.map(scan, folders):
            result.absorb(local)


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
