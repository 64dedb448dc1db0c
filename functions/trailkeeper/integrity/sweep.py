"""The rotating sweep: every retained day folder re-listed for injected objects, a few days each night.

The nightly walk (trailkeeper.integrity.chain) checks the hours since each chain's anchor, so an object put later
into a day verified on an earlier night, or into any older day, would never be seen. Each night, for each pair,
the sweep re-lists the day folders `d` older than the walk's first day and within the retention period R, with
`d.toordinal() % C == night.toordinal() % C`, where C = ceil(R / days per night): every retained day is re-checked
once every C nights, and one night sweeps at most `days per night` days of a pair. Stateless: a re-run of a night
sweeps the same days, and nothing stored can steer which days are skipped.

R is the log folder's lifecycle expiration (`Expiration.Days` of a rule covering it: older days are gone), else
the IntegrityRetentionDays parameter. For day d the sweep reads the digests that can list d's logs (digest folder d,
and folder d+1 up to 02:00: the digest ending after midnight covers d's last hour), verifies each (its location and
signature, as the walk does; one that no longer verifies is `digest_forged`), and reports every object of log
folder d that no verified digest lists and that was delivered in hours they cover (or is not named as CloudTrail
names logs) as `log_injected`, the walk's own rule (chain.find_injected_in). Logs are not re-hashed.
Per pair and night: 2 LISTs (the two digest folders in one) and about 26 digest GETs per swept day; the batch
asks ListPublicKeys once per region and sweep window (chain.once_per_window).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric import rsa

from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.chain import (
    HOUR,
    PairResult,
    PublicKeySource,
    Store,
    _merged,
    _PairWalk,
    find_injected_in,
    window_keys,
)
from trailkeeper.integrity.digests import DigestKey, digest_folder, load_public_key, log_folder
from trailkeeper.integrity.lifecycle import Lifecycle

DEFAULT_DAYS_PER_NIGHT = 3
MAX_DAYS_PER_NIGHT = 31
DEFAULT_RETENTION_DAYS = 365
MAX_RETENTION_DAYS = 3_660  # ten years
NEXT_DAY_DIGESTS = dt.timedelta(hours=2)  # digests of d+1 that can list logs delivered late on d


def retention_days(lifecycle: Lifecycle, root: str, account: str, region: str, default: int) -> int:
    """How far back log folders can hold anything: the lifecycle's expiration of the pair's logs, else `default`."""
    return lifecycle.retention_days(f"{root}{account}/CloudTrail/{region}/") or default


def cycle_nights(retention: int, days_per_night: int) -> int:
    """Every retained day is re-checked once in this many nights (0: the sweep is off)."""
    return math.ceil(retention / days_per_night) if days_per_night > 0 and retention > 0 else 0


def days_to_sweep(night: dt.date, first_walked: dt.date, retention: int, days_per_night: int) -> list[dt.date]:
    """Tonight's slice: the days older than `first_walked` (the walk covers those) and younger than `retention`
    days whose turn it is. At most `days_per_night` of them."""
    cycle = cycle_nights(retention, days_per_night)
    if cycle == 0:
        return []
    oldest = night - dt.timedelta(days=retention - 1)
    turn = night.toordinal() % cycle
    first = oldest + dt.timedelta(days=(turn - oldest.toordinal()) % cycle)
    days = []
    while first < first_walked and first <= night:
        days.append(first)
        first += dt.timedelta(days=cycle)
    return days


def sweep_pair(
    store: Store,
    public_keys: PublicKeySource,
    root: str,
    account: str,
    region: str,
    days: Iterable[dt.date],
    result: PairResult,
) -> None:
    """Sweep `days` of the pair; findings and the count of swept days go into the walk's `result`."""
    days = list(days)
    if not days:
        return
    low = dt.datetime.combine(days[0], dt.time(), dt.UTC) - 2 * HOUR
    high = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(), dt.UTC) + 2 * NEXT_DAY_DIGESTS
    cache: dict[str, Mapping[str, rsa.RSAPublicKey]] = {}

    def keys_for(digest_region: str) -> Mapping[str, rsa.RSAPublicKey]:
        if digest_region not in cache:
            found = public_keys(digest_region, low, high)
            cache[digest_region] = {fp: key for fp, der in found.items() if (key := load_public_key(der))}
        return cache[digest_region]

    for day in days:
        walk = _PairWalk(store, keys_for, Lifecycle(), PairResult(account, region, result.since, result.now))
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
        listed: list[DigestKey] = []
        own = digest_folder(root, account, region, day)
        for name in window_keys(store, [own, digest_folder(root, account, region, day + dt.timedelta(days=1))]):
            parsed = DigestKey.parse(name)
            if parsed is None or parsed.account != account or parsed.region != region:
                if name.startswith(own):  # the next day's own folder is the walk's (or a later sweep's)
                    walk.find(kinds.DIGEST_FORGED, name, midnight - HOUR, "not a digest file name of this pair")
            elif name.startswith(own) or parsed.end <= midnight + NEXT_DAY_DIGESTS:
                listed.append(parsed)
        walk.prefetch(listed)
        for key in listed:
            loaded = walk.load(key)
            if loaded is None:
                continue  # a digest deleted since: the walk counted the hours it covered when it read them
            problem = loaded if isinstance(loaded, str) else walk.verify(key, loaded, None)
            if problem is not None or isinstance(loaded, str):
                walk.find(kinds.DIGEST_FORGED, key.key, key.end, f"re-checked by the sweep: {problem}")
                continue
            walk.accept(loaded.digest)
        walk.listed_logs.update(log.key for _, log in walk.log_tasks)
        find_injected_in(walk, log_folder(root, account, region, day), day, _merged(walk.spans))
        seen = {(f.kind, f.key) for f in result.findings}
        result.findings.extend(f for f in walk.result.findings if (f.kind, f.key) not in seen)
        result.days_swept += 1
