"""The chain walk: every digest since the anchor, newest to oldest, and the logs each one lists.

For one account, all its regions: each region's digests are grouped into chains (trail, home region,
standard or `_backfill`); each chain is walked from its newest digest back along previousDigestS3Object to
the anchor (the last digest verified on an earlier night). Each digest must be where it says it is, carry
a signature that verifies with the region's public key of its fingerprint, and hash to what its successor
says; each listed log must exist and hash to its entry. What the walk cannot account for becomes a
finding (trailkeeper.integrity.findings). Restarts are judged against the trail-control events found in
the account's verified logs, whatever region recorded them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from trailkeeper.integrity import findings as kinds
from trailkeeper.integrity.digests import (
    SIGNATURE_ALGORITHM,
    SIGNATURE_METADATA,
    TIME_FORMAT,
    Digest,
    DigestKey,
    ListedLog,
    MalformedDigest,
    digest_folder,
    load_public_key,
    log_delivery_time,
    log_folder,
    parse_digest,
    signature_verifies,
)
from trailkeeper.integrity.findings import Finding, hour_of
from trailkeeper.integrity.lifecycle import Lifecycle
from trailkeeper.integrity.logs import ControlEvent, LogCheck, check_log

HOUR = dt.timedelta(hours=1)
SILENCE = dt.timedelta(hours=2)  # "no digest for more than two hours": logging or delivery broken
FIRST_RUN_LOOKBACK = dt.timedelta(hours=24)  # a pair without an anchor is checked this far back
MAX_LOOKBACK = dt.timedelta(days=7)  # never list more days than this for one night
RESTART_SLACK = HOUR  # a control event this close to the gap explains a restart
LOG_CHECKERS = 16  # concurrent GetObjects per account: bounded S3 concurrency
NO_LIFECYCLE = Lifecycle()


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    metadata: Mapping[str, str]


class Store(Protocol):
    """The trail bucket, read-only (trailkeeper.aws.S3Store on a real or moto-backed client)."""

    bucket: str

    def keys(self, prefix: str) -> Iterable[str]: ...

    def get(self, key: str) -> StoredObject | None: ...

    def chunks(self, key: str) -> Iterable[bytes] | None: ...


# region, start, end -> {fingerprint: DER public key} (cloudtrail:ListPublicKeys in that region)
PublicKeySource = Callable[[str, dt.datetime, dt.datetime], Mapping[str, bytes]]


@dataclass(frozen=True)
class Anchor:
    """The last verified digest of one chain: tonight's walk must join it."""

    chain: str
    key: str
    end: dt.datetime
    signature: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {
            "chain": self.chain,
            "key": self.key,
            "end": self.end.strftime(TIME_FORMAT),
            "signature": self.signature,
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Anchor:
        end = dt.datetime.strptime(str(data["end"]), TIME_FORMAT).replace(tzinfo=dt.UTC)
        return cls(str(data["chain"]), str(data["key"]), end, str(data["signature"]), str(data["sha256"]))


@dataclass(frozen=True)
class Restart:
    region: str
    trail: str
    key: str  # the starting digest
    start: dt.datetime
    previous_end: dt.datetime  # the end of what came before it (an older digest or the anchor)


@dataclass
class PairResult:
    account: str
    region: str
    since: dt.datetime
    now: dt.datetime
    digests_verified: int = 0
    empty_digests: int = 0
    logs_verified: int = 0
    log_bytes_verified: int = 0  # uncompressed bytes hashed
    days_swept: int = 0  # older day folders re-listed tonight for injected objects (trailkeeper.integrity.sweep)
    not_records_objects: int = 0  # logs read tonight whose JSON is not {"Records": [...]} (trailkeeper/dropped.py)
    newest_digest_end: dt.datetime | None = None
    findings: list[Finding] = field(default_factory=list)
    anchors: dict[str, Anchor] = field(default_factory=dict)
    restarts: list[Restart] = field(default_factory=list)

    @property
    def delivery(self) -> str:
        """`arriving` while digests keep coming (empty ones included), `stopped` when they did not."""
        if self.newest_digest_end is None or self.now - self.newest_digest_end > SILENCE:
            return "stopped"
        return "arriving"

    @property
    def hours(self) -> int:
        return max(0, round((self.now - self.since) / HOUR))

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "hours": self.hours,
            "since": self.since.strftime(TIME_FORMAT),
            "until": self.now.strftime(TIME_FORMAT),
            "digests_verified": self.digests_verified,
            "empty_digests": self.empty_digests,
            "logs_verified": self.logs_verified,
            "log_bytes_verified": self.log_bytes_verified,
            "days_swept": self.days_swept,
            "not_records_objects": self.not_records_objects,
            "delivery": self.delivery,
            "newest_digest_end": self.newest_digest_end.strftime(TIME_FORMAT) if self.newest_digest_end else None,
            "findings": [f.to_json() for f in sorted(self.findings, key=_finding_order)],
        }


def _finding_order(finding: Finding) -> tuple[dt.datetime, str, str]:
    return finding.hour, finding.kind, finding.key


@dataclass
class _Loaded:
    digest: Digest
    signature: str | None  # from the object's metadata


@dataclass
class _PairWalk:
    store: Store
    keys_for: Callable[[str], Mapping[str, rsa.RSAPublicKey]]
    lifecycle: Lifecycle
    result: PairResult
    listed_logs: set[str] = field(default_factory=set)
    spans: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)  # hours present digests cover
    log_tasks: list[tuple[Digest, ListedLog]] = field(default_factory=list)
    fetched: dict[str, StoredObject | None] = field(default_factory=dict)

    def find(self, kind: str, key: str, when: dt.datetime, detail: str) -> None:
        self.result.findings.append(Finding(kind, key, hour_of(when), detail))

    def prefetch(self, keys: list[DigestKey]) -> None:
        """GET the listed digests side by side (the walk itself is sequential: each step needs the last)."""
        with ThreadPoolExecutor(max_workers=LOG_CHECKERS) as pool:
            for key, stored in zip(keys, pool.map(lambda k: self.store.get(k.key), keys), strict=True):
                self.fetched[key.key] = stored

    def load(self, key: DigestKey) -> _Loaded | str | None:
        """The digest, None when absent, or why it cannot be read."""
        stored = self.fetched.pop(key.key) if key.key in self.fetched else self.store.get(key.key)
        if stored is None:
            return None
        try:
            digest = parse_digest(self.store.bucket, key.key, stored.body)
        except MalformedDigest as error:
            return str(error)
        return _Loaded(digest, stored.metadata.get(SIGNATURE_METADATA))

    def verify(self, key: DigestKey, loaded: _Loaded, successor: Digest | None) -> str | None:
        """None when the digest verifies; otherwise why not. Unverifiable (no signature anywhere) is not an error."""
        digest = loaded.digest
        if digest.location != (self.store.bucket, key.key):
            return f"moved: it says it is s3://{digest.location[0]}/{digest.location[1]}"
        if digest.end != key.end:
            return "its digestEndTime does not match its name"
        if digest.signature_algorithm != SIGNATURE_ALGORITHM:
            return f"unexpected signature algorithm {digest.signature_algorithm!r}"
        if successor is not None:
            if successor.previous_hash != digest.sha256:
                return "its SHA-256 is not the previousDigestHashValue of the next digest"
            if loaded.signature is not None and successor.previous_signature != loaded.signature:
                return "its signature is not the previousDigestSignature of the next digest"
        signature = loaded.signature or (successor.previous_signature if successor else None)
        if signature is None:
            return None  # the caller reports it unverifiable
        public_key = self.keys_for(key.region).get(digest.fingerprint)
        if public_key is None:
            return f"no public key in {key.region} has fingerprint {digest.fingerprint}"
        if not signature_verifies(public_key, digest.string_to_sign(), signature):
            return "the signature does not verify"
        return None

    def accept(self, digest: Digest) -> None:
        self.result.digests_verified += 1
        self.result.empty_digests += not digest.logs
        self.spans.append((digest.start, digest.end))
        for log in digest.logs:
            self.log_tasks.append((digest, log))


def validate_account(
    store: Store,
    public_keys: PublicKeySource,
    root: str,
    account: str,
    regions: Iterable[str],
    anchors: Mapping[str, Mapping[str, Anchor]],
    now: dt.datetime,
    lifecycle: Lifecycle = NO_LIFECYCLE,
    first_run_lookback: dt.timedelta = FIRST_RUN_LOOKBACK,
) -> list[PairResult]:
    """Validate every chain of `account` in each of `regions` up to `now`; `anchors[region]` by chain."""
    results: list[PairResult] = []
    events: list[ControlEvent] = []
    for region in regions:
        result, control = _validate_pair(
            store, public_keys, root, account, region, anchors.get(region, {}), now, lifecycle, first_run_lookback
        )
        results.append(result)
        events.extend(control)
    for result in results:
        for restart in result.restarts:
            kind, detail = _judge_restart(restart, events)
            result.findings.append(Finding(kind, restart.key, hour_of(restart.start), detail))
    return results


def _validate_pair(
    store: Store,
    public_keys: PublicKeySource,
    root: str,
    account: str,
    region: str,
    anchors: Mapping[str, Anchor],
    now: dt.datetime,
    lifecycle: Lifecycle,
    lookback: dt.timedelta,
) -> tuple[PairResult, list[ControlEvent]]:
    since = min((a.end for a in anchors.values() if not a.chain.endswith("_backfill")), default=now - lookback)
    since = max(since, now - MAX_LOOKBACK)  # a chain silent for longer is reported silent, not re-read every night
    result = PairResult(account, region, since, now, anchors=dict(anchors))
    cache: dict[str, Mapping[str, rsa.RSAPublicKey]] = {}

    def keys_for(digest_region: str) -> Mapping[str, rsa.RSAPublicKey]:
        if digest_region not in cache:
            found = public_keys(digest_region, since - 2 * HOUR, now + 2 * HOUR)
            cache[digest_region] = {fp: key for fp, der in found.items() if (key := load_public_key(der))}
        return cache[digest_region]

    walk = _PairWalk(store, keys_for, lifecycle, result)
    chains: dict[str, list[DigestKey]] = {}
    for day in _days(since.date(), now.date()):
        for key in store.keys(digest_folder(root, account, region, day)):
            parsed = DigestKey.parse(key)
            if parsed is None or parsed.account != account or parsed.region != region:
                walk.find(kinds.DIGEST_FORGED, key, now, "not a digest file name of this account and region")
                continue
            if parsed.end <= now:  # a digest "from the future" is tomorrow's business
                chains.setdefault(parsed.chain, []).append(parsed)
    for chain in sorted(set(chains) | {c for c in anchors if not c.endswith("_backfill")}):
        listed = sorted(chains.get(chain, []), key=lambda k: k.end)
        _walk_chain(walk, chain, listed, anchors.get(chain), since, now)
    if not any(not c.endswith("_backfill") for c in chains) and not anchors:
        walk.find(
            kinds.DIGEST_SILENCE,
            digest_folder(root, account, region, now.date()),
            now,
            f"no digest at all since {since.strftime(TIME_FORMAT)}: is log file validation enabled?",
        )
    control = _check_logs(walk, now)
    _find_injected(walk, root, account, region, since, now)
    return result, control


def _walk_chain(
    walk: _PairWalk,
    chain: str,
    listed: list[DigestKey],
    anchor: Anchor | None,
    since: dt.datetime,
    now: dt.datetime,
) -> None:
    if anchor is not None:
        listed = [k for k in listed if k.end > anchor.end]
    _ChainWalk(walk, chain, listed, anchor, since, now).run()


@dataclass
class _ChainWalk:
    """One chain, newest to oldest. `remaining` is the listing not yet visited (ascending: popped from the end)."""

    walk: _PairWalk
    chain: str
    listed: list[DigestKey]
    anchor: Anchor | None
    since: dt.datetime
    now: dt.datetime
    remaining: list[DigestKey] = field(default_factory=list)
    marks: list[dt.datetime] = field(default_factory=list)  # end times seen or inferred: the silence check's points
    reached: bool = False
    successor: Digest | None = None
    current: DigestKey | None = None
    newest_verified: tuple[DigestKey, _Loaded, str] | None = None

    @property
    def backfill(self) -> bool:
        return self.chain.endswith("_backfill")

    def run(self) -> None:
        self.remaining = list(self.listed)
        self.walk.prefetch(self.listed)
        self.reached = self.anchor is None or not self.listed  # nothing new since the anchor: silence, not a break
        if self.anchor is not None and not self.backfill:
            self.marks.append(self.anchor.end)
        self.advance(None)
        while self.current is not None:
            self.step(self.current)
        self.finish()

    def advance(self, successor: Digest | None) -> None:
        """To the next older listed digest; `successor` vouches for it (None: the link is broken)."""
        self.successor = successor
        self.current = self.remaining.pop() if self.remaining else None

    def forged(self, key: DigestKey, why: str) -> None:
        self.walk.find(kinds.DIGEST_FORGED, key.key, key.end, why)
        self.marks.append(key.end)

    def step(self, current: DigestKey) -> None:
        loaded = self.walk.load(current)
        if loaded is None or isinstance(loaded, str):
            if isinstance(loaded, str):
                self.forged(current, f"unreadable: {loaded}")
            self.advance(None)
            return
        problem = self.walk.verify(current, loaded, self.successor)
        if problem is not None:
            self.forged(current, problem)
            self.advance(None)
            return
        self.accept(current, loaded)
        self.follow(current, loaded.digest)

    def accept(self, current: DigestKey, loaded: _Loaded) -> None:
        signature = loaded.signature or (self.successor.previous_signature if self.successor else None)
        if signature is None:
            self.walk.find(
                kinds.DIGEST_UNVERIFIABLE,
                current.key,
                current.end,
                "no signature metadata and no later digest to vouch for it (a directory copy?)",
            )
        elif self.newest_verified is None:
            self.newest_verified = (current, loaded, signature)
        self.walk.accept(loaded.digest)
        self.marks.append(current.end)
        newest = self.walk.result.newest_digest_end
        if not self.backfill and (newest is None or loaded.digest.end > newest):
            self.walk.result.newest_digest_end = loaded.digest.end

    def follow(self, current: DigestKey, digest: Digest) -> None:
        """Along previousDigestS3Object: to the anchor, the next listed digest, or a gap."""
        older = self.remaining[-1] if self.remaining else None
        if digest.previous_key is None:  # a starting digest
            self.restarted(current, digest, older)
            self.advance(None)
            return
        target = DigestKey.parse(digest.previous_key)
        anchor = self.anchor
        if anchor is not None and (digest.previous_key == anchor.key or (target and target.end <= anchor.end)):
            self.join_anchor(anchor, digest)
            self.current = None
            return
        if target is None or digest.previous_bucket != self.walk.store.bucket:
            self.forged(
                current, f"its previous digest s3://{digest.previous_bucket}/{digest.previous_key} is not a digest here"
            )
            self.advance(None)
            return
        if any(k.key == target.key for k in self.remaining):
            while self.remaining[-1].key != target.key:  # listed digests the chain skips are not CloudTrail's
                self.forged(self.remaining.pop(), "not on the chain: no digest links to it")
            self.advance(digest)
            return
        if target.end < self.since:  # the window's edge (first night, or an anchor older than MAX_LOOKBACK)
            self.reached = True
            self.current = None
            return
        # The link's target is not in the listing: deleted (or expired).
        missing_from = older.end if older else (anchor.end if anchor else None)
        _missing_digests(self.walk, target, digest.start, missing_from, self.now)
        self.marks.extend(_missing_ends(target, digest.start, missing_from))
        self.reached = self.reached or (older is None and anchor is not None)  # the gap back to it is counted
        self.advance(None)

    def restarted(self, current: DigestKey, digest: Digest, older: DigestKey | None) -> None:
        previous_end = older.end if older else (self.anchor.end if self.anchor else None)
        if previous_end is not None and not self.backfill:
            self.walk.result.restarts.append(
                Restart(current.region, current.trail, current.key, digest.start, previous_end)
            )
            self.reached = self.reached or older is None

    def join_anchor(self, anchor: Anchor, digest: Digest) -> None:
        if digest.previous_key != anchor.key:
            self.walk.find(
                kinds.CHAIN_TRUNCATED,
                anchor.key,
                anchor.end,
                f"the chain links to {digest.previous_key}, past the anchor",
            )
        elif self.walk.store.get(anchor.key) is None:
            self.walk.find(kinds.CHAIN_TRUNCATED, anchor.key, anchor.end, "the anchor digest is gone")
        elif digest.previous_signature != anchor.signature or digest.previous_hash != anchor.sha256:
            self.walk.find(
                kinds.CHAIN_TRUNCATED, anchor.key, anchor.end, "the anchor digest is not the one verified before"
            )
        self.reached = True

    def finish(self) -> None:
        if not self.backfill:
            _find_silence(self.walk, self.chain, sorted(self.marks), self.now, self.listed)
        if self.anchor is not None and not self.reached:
            self.walk.find(
                kinds.CHAIN_TRUNCATED, self.anchor.key, self.anchor.end, "tonight's chain does not reach the anchor"
            )
        if self.newest_verified is not None:
            key, loaded, signature = self.newest_verified
            self.walk.result.anchors[self.chain] = Anchor(self.chain, key.key, key.end, signature, loaded.digest.sha256)


def _missing_ends(target: DigestKey, successor_start: dt.datetime, older_end: dt.datetime | None) -> list[dt.datetime]:
    """End times of the digests that should sit between `older_end` and the successor (newest first)."""
    count = 1 if older_end is None else max(1, round((successor_start - older_end) / HOUR))
    return [target.end - i * HOUR for i in range(count)]


def _missing_digests(
    walk: _PairWalk,
    target: DigestKey,
    successor_start: dt.datetime,
    older_end: dt.datetime | None,
    now: dt.datetime,
) -> None:
    for index, end in enumerate(_missing_ends(target, successor_start, older_end)):
        key = target.key if index == 0 else digest_folder(target.root, target.account, target.region, end.date())
        if walk.lifecycle.expired(key, end, now):
            walk.find(kinds.DIGEST_EXPIRED, key, end, "absent, past the bucket's lifecycle expiration")
        else:
            walk.find(kinds.DIGEST_DELETED, key, end, f"the digest ending about {end.strftime(TIME_FORMAT)} is missing")


def _find_silence(
    walk: _PairWalk,
    chain: str,
    marks: list[dt.datetime],
    now: dt.datetime,
    listed: list[DigestKey],
) -> None:
    folder_key = listed[-1].key if listed else chain
    for older, newer in itertools.pairwise(marks):
        if newer - older > SILENCE:
            walk.find(
                kinds.DIGEST_SILENCE,
                folder_key,
                older + HOUR,
                f"no digest of {chain} between {older.strftime(TIME_FORMAT)} and {newer.strftime(TIME_FORMAT)}",
            )
    if marks and now - marks[-1] > SILENCE:
        walk.find(
            kinds.DIGEST_SILENCE,
            folder_key,
            marks[-1] + HOUR,
            f"no digest of {chain} since {marks[-1].strftime(TIME_FORMAT)}: logging or delivery broken",
        )


def _check_logs(walk: _PairWalk, now: dt.datetime) -> list[ControlEvent]:
    store = walk.store
    tasks = [(digest, log) for digest, log in walk.log_tasks if log.bucket == store.bucket]
    walk.listed_logs.update(log.key for _, log in walk.log_tasks)

    def one(task: tuple[Digest, ListedLog]) -> tuple[Digest, ListedLog, LogCheck | None]:
        digest, log = task
        chunks = store.chunks(log.key)
        return digest, log, None if chunks is None else check_log(chunks)

    control: list[ControlEvent] = []
    with ThreadPoolExecutor(max_workers=LOG_CHECKERS) as pool:
        for digest, log, check in pool.map(one, tasks):
            if check is None:
                created = log_delivery_time(log.key) or digest.start
                if walk.lifecycle.expired(log.key, created, now):
                    walk.find(
                        kinds.LOG_EXPIRED, log.key, digest.start, "absent, past the bucket's lifecycle expiration"
                    )
                else:
                    walk.find(kinds.LOG_DELETED, log.key, digest.start, f"listed by {digest.key}")
                continue
            walk.result.not_records_objects += check.not_records_object  # Athena reads it, matching hash or not
            if check.trailing_bytes:
                what = "an extra gzip member" if check.extra_member else "data"
                walk.find(
                    kinds.LOG_APPENDED,
                    log.key,
                    digest.start,
                    f"{what} ({check.trailing_bytes} bytes) after the end of the gzip stream",
                )
            if not check.readable:
                walk.find(kinds.LOG_MODIFIED, log.key, digest.start, "not a complete gzip stream")
            elif check.sha256 != log.hash_value:
                walk.find(kinds.LOG_MODIFIED, log.key, digest.start, "its SHA-256 does not match its digest entry")
            else:
                walk.result.logs_verified += 1
                walk.result.log_bytes_verified += check.uncompressed_bytes
                control.extend(check.control_events)
    return control


def _find_injected(walk: _PairWalk, root: str, account: str, region: str, since: dt.datetime, now: dt.datetime) -> None:
    """Objects in the log folders that no digest lists, delivered inside hours that present digests cover."""
    spans = _merged(walk.spans)
    for day in _days(since.date(), now.date()):
        find_injected_in(walk, log_folder(root, account, region, day), day, spans)


def find_injected_in(walk: _PairWalk, folder: str, day: dt.date, spans: list[tuple[dt.datetime, dt.datetime]]) -> None:
    """The rule for one log folder (the nightly walk's and the sweep's, trailkeeper.integrity.sweep)."""
    for key in walk.store.keys(folder):
        if key in walk.listed_logs:
            continue
        delivered = log_delivery_time(key)
        if delivered is None:
            walk.find(
                kinds.LOG_INJECTED,
                key,
                dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC),
                "not a CloudTrail log file name, and no digest lists it",
            )
        elif any(start <= delivered and delivered + dt.timedelta(minutes=1) <= end for start, end in spans):
            walk.find(kinds.LOG_INJECTED, key, delivered, "delivered in hours whose digests do not list it")


def _judge_restart(restart: Restart, events: list[ControlEvent]) -> tuple[str, str]:
    low, high = restart.previous_end - RESTART_SLACK, restart.start + RESTART_SLACK
    for event in events:
        try:
            when = dt.datetime.strptime(event.time, TIME_FORMAT).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        names_trail = event.trail == restart.trail or event.trail.endswith(f":trail/{restart.trail}")
        if names_trail and low <= when <= high:
            return kinds.CHAIN_RESTARTED_EXPLAINED, f"{event.name} at {event.time} ({event.region})"
    return kinds.CHAIN_RESTARTED, (
        f"a starting digest after {restart.previous_end.strftime(TIME_FORMAT)} and no "
        "StopLogging, DeleteTrail or UpdateTrail of the trail in the account's logs"
    )


def _merged(spans: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
