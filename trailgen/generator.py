"""A seeded, deterministic CloudTrail trail bucket on local disk, with its ground truth.

`generate(spec, out_dir)` writes objects exactly where a trail bucket holds them (the tree that
`aws s3 sync s3://bucket DIR` produces) and returns what a correct reader must find: the log
partitions `(account, region, delivery day)` and, per event day, the activity per principal. The
demo, the end-to-end tests and the benchmark all use it; the ground truth is computed here,
independently of the product's SQL, so the two can be compared.

Realism that matters to trailkeeper:
- folders are the *delivery* day: a file is delivered 5-15 minutes after its latest event, so
  events late on day D land in D+1 folders (docs/aws-facts.md);
- records have the shapes CloudTrail writes (IAM users, assumed roles whose session names change
  every day, AWS services without an ARN, root, console sign-ins, failures, AccessDenied);
- each account/region repeats a fixed daily routine: without plants, every event day has the same
  activity keys (account, region, principal, eventsource, eventname), so only plants are new;
- the bucket also holds what is *not* a CloudTrail log (digests, Insights, Config, folder markers,
  `_SUCCESS`), and plants put hostile keys, hostile values and corrupt objects in it (docs/threat-model.md).

Determinism: every account/region routine and every account/region/day draws from its own
`random.Random` seeded with a string, so the same spec writes identical bytes, and a plant changes
only the partitions it names.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import random
import re
import string
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeAlias

from trailgen import digests
from trailkeeper import allowlist
from trailkeeper.integrity.digests import log_folder

Record: TypeAlias = dict[str, Any]
ObjectBody: TypeAlias = bytes  # a name usable inside GroundTruth, whose `bytes` field shadows the builtin

GLOBAL_REGION = "us-east-1"  # IAM, console sign-in and root events are recorded here
TRAIL_NAME = "main-trail"
CONFIG_RESOURCE_TYPE = "AWS::IAM::Role"
ACCOUNT_BASE = 111_111_111_111
ACCOUNT_STEP = 111_111_111  # 111111111111, 111222222222, 111333333333, ... stay 12 digits up to MAX_ACCOUNTS
MAX_ACCOUNTS = 8_000
DAY_SECONDS = 86_400
# Events at or after this second of the day go to the day's last file, which may be delivered after
# midnight; every other file is delivered the same day (23:44:59 + 15 min < 24:00).
LATE_CUTOFF_SECOND = 23 * 3_600 + 45 * 60
LAST_NATURAL_SECOND = DAY_SECONDS - 2  # 23:59:58; 23:59:59 is reserved for LateEvent, so it is recognisable
DELIVERY_DELAY_SECONDS = (5 * 60, 15 * 60)
ALNUM = string.ascii_letters + string.digits
ID_ALPHABET = string.ascii_uppercase + "234567"

# Hostile values from docs/threat-model.md, for HostileRecord plants.
HOSTILE_VALUES: tuple[str, ...] = (
    "<img src=https://attacker.example/p.png>",
    "<a href='https://evil'>Verify</a>",
    "Mozilla\r\nBcc: attacker@evil.example",
    '=HYPERLINK("https://evil","click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
)
HostileField: TypeAlias = Literal["userAgent", "roleSessionName", "errorMessage", "requestParameters"]
HOSTILE_FIELDS: tuple[HostileField, ...] = ("userAgent", "roleSessionName", "errorMessage", "requestParameters")
CorruptKind: TypeAlias = Literal["truncated", "not_gzip", "not_json", "invalid_utf8", "lone_surrogate", "extra_garbage"]

_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")


# --------------------------------------------------------------------------------------------
# Plants: deliberate, named deviations from the normal bucket that later tests assert on.


@dataclass(frozen=True)
class NewPrincipal:
    """Role `role_name`, never seen before, makes calls in account/region from `day` on."""

    day: date
    account: str
    region: str
    role_name: str


@dataclass(frozen=True)
class NewRegion:
    """The account starts logging in `region` on `day`: no folder for that region exists before it."""

    day: date
    account: str
    region: str


@dataclass(frozen=True)
class SilentFrom:
    """No CloudTrail object (log, digest, Insight) is delivered for the account (and region) from `day` on."""

    day: date
    account: str
    region: str | None = None


@dataclass(frozen=True)
class QuietFrom:
    """No event (so no log file) for the account-region from `day` on, while the trail keeps running: its
    hourly digests keep arriving, empty (a quiet pair, as opposed to SilentFrom's broken one)."""

    day: date
    account: str
    region: str


@dataclass(frozen=True)
class LateLogFile:
    """The first log file of account/region delivered on `day` from 12:00 UTC is processed late by CloudTrail:
    the hourly digest does not list it, a `_backfill` digest (its own chain) does."""

    day: date
    account: str
    region: str


@dataclass(frozen=True)
class LateEvent:
    """An event at `day`T23:59:59Z, delivered in the `day + 1` folder."""

    day: date
    account: str
    region: str


@dataclass(frozen=True)
class HostileRecord:
    """One record on `day` whose `field` carries `value` (see HOSTILE_VALUES)."""

    day: date
    account: str
    region: str
    field: HostileField
    value: str


@dataclass(frozen=True)
class HostileKey:
    """An object at this exact, raw bucket key (no prefix added, nothing normalised)."""

    key: str
    body: bytes = b""


@dataclass(frozen=True)
class CorruptObject:
    """An extra object at a well-formed log key in the `day` folder whose content cannot be read."""

    day: date
    account: str
    region: str
    kind: CorruptKind


Plant: TypeAlias = (
    NewPrincipal
    | NewRegion
    | SilentFrom
    | QuietFrom
    | LateLogFile
    | LateEvent
    | HostileRecord
    | HostileKey
    | CorruptObject
)


# --------------------------------------------------------------------------------------------
# Spec and ground truth.


def account_id(index: int) -> str:
    """The 12-digit id of the spec's `index`-th account (0-based)."""
    return f"{ACCOUNT_BASE + index * ACCOUNT_STEP:012d}"


@dataclass(frozen=True)
class TrailSpec:
    start: date
    days: int
    organization_id: str | None = "o-exampleorg1"  # None: single-account layout, exactly one account
    accounts: int = 3
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1")
    prefix: str = ""
    seed: int = 7
    events_per_account_region_day: int = 12
    noise: bool = True  # also: CloudTrail's digest files (trailgen.digests)
    plants: tuple[Plant, ...] = ()
    trail_bucket: str = "trailkeeper-local-trail"  # digests name the bucket they are delivered to

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if not 1 <= self.accounts <= MAX_ACCOUNTS:
            raise ValueError(f"accounts must be between 1 and {MAX_ACCOUNTS}")
        if self.organization_id is None and self.accounts != 1:
            raise ValueError("a single-account trail (organization_id=None) has exactly one account")
        if self.organization_id is not None and not allowlist.ORGANIZATION_ID.fullmatch(self.organization_id):
            raise ValueError(f"malformed organization id {self.organization_id!r}")
        if not self.regions or len(set(self.regions)) != len(self.regions):
            raise ValueError("regions must be a non-empty tuple without duplicates")
        for region in self.regions:
            _check_region(region)
        if self.prefix and any(part in {"", ".", ".."} for part in self.prefix.split("/")):
            raise ValueError(f"malformed prefix {self.prefix!r}")
        if self.events_per_account_region_day < 0:
            raise ValueError("events_per_account_region_day must not be negative")

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(account_id(i) for i in range(self.accounts))

    @property
    def end(self) -> date:
        """The last generated event day (inclusive); its late events are delivered on end + 1."""
        return self.start + timedelta(days=self.days - 1)

    @property
    def logs_root(self) -> str:
        """`[prefix/]AWSLogs/[o-org/]`: the folder that holds one folder per account."""
        parts = [self.prefix] if self.prefix else []
        parts.append("AWSLogs")
        if self.organization_id:
            parts.append(self.organization_id)
        return "/".join(parts) + "/"

    @property
    def config_root(self) -> str:
        """`[prefix/]AWSLogs/`: AWS Config never inserts the organization id."""
        return f"{self.prefix}/AWSLogs/" if self.prefix else "AWSLogs/"


class ActivityKey(NamedTuple):
    account: str
    region: str
    principal: str
    eventsource: str
    eventname: str


@dataclass(frozen=True)
class ActivityStats:
    events: int
    failures: int  # records that failed (failed())
    first_event_time: datetime  # UTC


@dataclass(frozen=True)
class GroundTruth:
    accounts: tuple[str, ...]
    regions_by_account: Mapping[str, tuple[str, ...]]  # regions with at least one log object
    log_partitions: frozenset[tuple[str, str, date]]  # (account, region, delivery folder day)
    log_keys: frozenset[str]  # every object at a well-formed log key, corrupt ones included
    corrupt_keys: frozenset[str]
    noise_keys: frozenset[str]  # digests, Insights, Config, folder markers, _SUCCESS
    hostile_keys: frozenset[str]  # every HostileKey plant, written or not
    unrepresentable_objects: tuple[tuple[str, ObjectBody], ...]  # in the bucket, but not on disk
    plant_event_ids: Mapping[Plant, frozenset[str]]  # eventIDs each record-adding plant wrote
    files: int  # log objects (corrupt ones included)
    bytes: int  # their total size
    records: int  # records in readable log objects
    activity_by_day: Mapping[date, Mapping[ActivityKey, ActivityStats]]

    @property
    def unrepresentable_keys(self) -> frozenset[str]:
        """Keys a filesystem cannot hold (empty, `.` or `..` segments, trailing `/`, clashes).

        They are in the bucket all the same: a loader puts `unrepresentable_objects` into S3 directly.
        """
        return frozenset(key for key, _ in self.unrepresentable_objects)

    def activity(self, day: date) -> dict[ActivityKey, ActivityStats]:
        """Activity of events whose eventTime falls on `day` (UTC), whatever folder delivered them."""
        return dict(self.activity_by_day.get(day, {}))

    def expected_report(self, reported: Sequence[date], day: date, baseline_days: int) -> dict[str, Any]:
        """What the report of `day` must say when the nights of `reported` (in order, `day` among them) ran:
        new rows (absent from the reported days of the window), silent pairs with their first quiet day, and
        what is seen for the first time since the first reported night. Written from the definitions (README,
        "The baseline window") with sets, independently of the product's ledger."""
        earlier = [d for d in reported if d < day]
        window = [d for d in earlier if d >= day - timedelta(days=baseline_days)]
        today = self.activity(day)
        pairs_today = {(k.account, k.region) for k in today}
        last_active: dict[tuple[str, str], date] = {}
        for d in earlier:
            for k in self.activity(d):
                last_active[(k.account, k.region)] = d
        seen_keys = {k for d in window for k in self.activity(d)}
        principals_before = {(k.account, k.principal) for d in earlier for k in self.activity(d)}
        if not window:
            return {
                "state": "established",
                "new_activity": [],
                "silent": [],
                "first_seen": {"accounts": [], "regions": [], "principals": []},
            }
        return {
            "state": "compared",
            "new_activity": sorted(
                [
                    k.account,
                    k.region,
                    k.principal,
                    k.eventsource,
                    k.eventname,
                    s.events,
                    s.failures,
                    s.first_event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ]
                for k, s in today.items()
                if k not in seen_keys
            ),
            "silent": sorted(
                [a, r, (last + timedelta(days=1)).isoformat()]
                for (a, r), last in last_active.items()
                if (a, r) not in pairs_today
            ),
            "first_seen": {
                "accounts": sorted({a for a, _ in pairs_today} - {a for a, _ in last_active}),
                "regions": sorted([a, r] for a, r in pairs_today - set(last_active)),
                "principals": sorted([a, p] for a, p in {(k.account, k.principal) for k in today} - principals_before),
            },
        }


def principal_of(user_identity: Mapping[str, Any] | None) -> str:
    """The principal of a record; the product's SQL (sql/daily_activity.sql) implements the same rules.

    One actor is one principal, two actors are never one (README, "Principals and failures"): the role for
    AssumedRole (the session too for IAM Identity Center permission sets, AWSReservedSSO_*, whose session is
    the person), the user ARN for IAMUser (the user name without one), `root`, the invokedBy service,
    `account:<id>` or `anonymous` for AWSAccount, the federated-user ARN, `saml:`/`web:<provider>/<user>`,
    `identitycenter:<identity store>/<user id>`, and otherwise the best of invokedBy/userName/type.
    """
    identity = user_identity or {}
    kind = str(identity.get("type") or "")
    arn = str(identity.get("arn") or "")
    on_behalf = identity.get("onBehalfOf") or {}
    center = (
        f"identitycenter:{on_behalf.get('identityStoreArn') or ''}/{on_behalf['userId']}"
        if on_behalf.get("userId")
        else ""
    )
    if kind == "AssumedRole":
        issuer = str(((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn") or "")
        role = arn if "/AWSReservedSSO_" in issuer and arn else issuer or arn or kind
        return f"{role} on behalf of {center}" if center else role
    if kind == "IAMUser":
        return arn or str(identity.get("userName") or "") or kind
    if kind == "Root":
        return "root"
    if kind == "AWSService":
        return str(identity.get("invokedBy") or "") or kind
    if kind == "AWSAccount":
        account, principal = str(identity.get("accountId") or ""), str(identity.get("principalId") or "")
        if "ANONYMOUS_PRINCIPAL" in (account, principal):
            return "anonymous"
        return f"account:{account or principal or 'unknown'}"
    if kind == "FederatedUser":
        return arn or str(identity.get("principalId") or "") or kind
    if kind in ("SAMLUser", "WebIdentityUser"):
        user = str(identity.get("userName") or "") or str(identity.get("principalId") or "")
        return f"{'saml' if kind == 'SAMLUser' else 'web'}:{identity.get('identityProvider') or ''}/{user}"
    if center:
        return center
    return str(identity.get("invokedBy") or "") or str(identity.get("userName") or "") or kind or "Unknown"


_SIGN_IN_STEPS = ("CredentialChallenge", "CredentialVerification", "UserAuthentication")


def failed(record: Mapping[str, Any]) -> bool:
    """An errorCode, an errorMessage, or a documented failure outcome (the SQL's rule, written again)."""
    response, details = record.get("responseElements"), record.get("serviceEventDetails")
    response = response if isinstance(response, dict) else {}
    details = details if isinstance(details, dict) else {}
    return bool(
        record.get("errorCode")
        or record.get("errorMessage")
        or response.get("ConsoleLogin") == "Failure"
        or any(details.get(step) == "Failure" for step in _SIGN_IN_STEPS)
    )


def threat_keys(spec: TrailSpec, account: str) -> tuple[HostileKey, ...]:
    """The hostile key shapes of docs/threat-model.md, under `account`'s CloudTrail folder, dated spec.start."""
    base = f"{spec.logs_root}{account}/CloudTrail/"
    tail = f"{spec.start:%Y/%m/%d}/{account}_CloudTrail_us-east-1_{spec.start:%Y%m%d}T0000Z_AAAAAAAAAAAAAAAA.json.gz"
    return (
        HostileKey(f"{base}/{tail}"),  # empty region segment
        HostileKey(f"{base}us-east-1') LOCATION 's3://evil/'--/{tail}"),
        HostileKey(f"{base}us-east-1') OR ('1'='1/{tail}"),  # the same idea without '//': representable
        HostileKey(f"{base}../../222222222222/CloudTrail/us-east-1/{tail}"),
        HostileKey(f"{base}US-EAST-1/{tail}"),
        HostileKey(f"{base}us-east-9x/{tail}"),
        HostileKey(f"{base}eu-central-1 /{tail}"),
    )


def odd_date_folder_keys(spec: TrailSpec, account: str, region: str) -> tuple[HostileKey, ...]:
    """Names CloudTrail never writes below `account`'s `region` folder, in the year and month of spec.start:
    day folders that are not calendar dates, an odd month and year, stray files at each date level, and names
    only EncodingType=url carries (a control character) or that look percent-encoded. Each is one object."""
    base = f"{spec.logs_root}{account}/CloudTrail/{region}/"
    year, month = f"{spec.start:%Y}/", f"{spec.start:%Y/%m}/"
    name = f"{account}_CloudTrail_{region}_{spec.start:%Y%m%d}T0000Z_AAAAAAAAAAAAAAAA.json.gz"
    body = gzip.compress(b'{"Records": []}', mtime=0)
    folders = (f"{year}02/30/", f"{year}13/01/", f"{month}4/", f"{month}x/", f"{month}\x01/", f"{month}%ff/", "2o24/")
    strays = ("stray.txt", f"{year}stray.txt", f"{month}stray.txt")
    return tuple(HostileKey(f"{base}{folder}{name}", body) for folder in folders) + tuple(
        HostileKey(f"{base}{stray}", b"stray") for stray in strays
    )


# --------------------------------------------------------------------------------------------
# generate()


def generate(spec: TrailSpec, out_dir: Path) -> GroundTruth:
    """Write the trail bucket of `spec` under `out_dir` (created; must be empty) and return its ground truth."""
    plan = _Plan.of(spec)  # reject bad plants before touching the disk
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty; generate into a fresh directory")
    bucket = _Bucket(out_dir)
    truth = _Truth()

    for account in spec.account_ids:
        for region in plan.regions_of(account):
            routine = _routine(spec, account, region)
            for day in _days(spec.start, spec.end):
                if plan.has_events(account, region, day):
                    _write_partition_day(spec, plan, bucket, truth, routine, account, region, day)
    for index, plant in enumerate(spec.plants):
        if isinstance(plant, CorruptObject):
            _write_corrupt(spec, bucket, truth, index, plant)
    if spec.noise:
        _write_noise(spec, plan, bucket, truth)
    for plant in spec.plants:
        if isinstance(plant, HostileKey):
            truth.hostile_keys.add(plant.key)
            bucket.put_raw(plant.key, plant.body)

    regions: dict[str, set[str]] = {}
    for account, region, _ in truth.partitions:
        regions.setdefault(account, set()).add(region)
    return GroundTruth(
        accounts=spec.account_ids,
        regions_by_account={a: tuple(sorted(r)) for a, r in sorted(regions.items())},
        log_partitions=frozenset(truth.partitions),
        log_keys=frozenset(truth.log_keys),
        corrupt_keys=frozenset(truth.corrupt_keys),
        noise_keys=frozenset(truth.noise_keys),
        hostile_keys=frozenset(truth.hostile_keys),
        unrepresentable_objects=tuple(bucket.unrepresentable),
        plant_event_ids={p: frozenset(ids) for p, ids in truth.plant_event_ids.items()},
        files=truth.files,
        bytes=truth.bytes,
        records=truth.records,
        activity_by_day={d: dict(sorted(a.items(), key=_activity_sort)) for d, a in sorted(truth.activity.items())},
    )


def materialise_fixture(src_dir: Path, out_dir: Path) -> tuple[str, ...]:
    """Turn a hand-written fixture into bucket objects; return the keys written.

    Objects are the files under `src_dir/bucket/`: each `X.json` becomes the gzip object `X.json.gz`
    (so people review readable JSON), any other file is copied as is. Files beside `bucket/`
    (EXPECTED.md, expected.json) document the fixture and are not objects.
    """
    source = Path(src_dir) / "bucket"
    if not source.is_dir():
        raise ValueError(f"{source} does not exist")
    keys = []
    for relative in sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()):
        data = (source / relative).read_bytes()
        if relative.endswith(".json"):
            relative, data = relative + ".gz", gzip.compress(data, mtime=0)
        target = Path(out_dir).joinpath(*relative.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        keys.append(relative)
    return tuple(keys)


# --------------------------------------------------------------------------------------------
# The plan: which account/region logs on which day, and which plants touch which partition-day.


@dataclass
class _Plan:
    spec: TrailSpec
    extra_regions: dict[str, set[str]]  # NewRegion regions that are not in spec.regions
    first_day: dict[tuple[str, str], date]
    silent_from: dict[tuple[str, str | None], date]
    plants_on: dict[tuple[str, str, date], list[tuple[int, Plant]]]
    quiet_from: dict[tuple[str, str], date] = field(default_factory=dict)
    late_logs: dict[tuple[str, str], set[date]] = field(default_factory=dict)  # LateLogFile days

    @classmethod
    def of(cls, spec: TrailSpec) -> _Plan:
        plan = cls(spec, {}, {}, {}, {})
        accounts = set(spec.account_ids)
        # NewRegion first: other plants may name the region it adds.
        indexed = sorted(enumerate(spec.plants), key=lambda item: not isinstance(item[1], NewRegion))
        for index, plant in indexed:
            plan._add(index, plant, accounts)
        return plan

    def _add(self, index: int, plant: Plant, accounts: set[str]) -> None:
        spec = self.spec
        if isinstance(plant, HostileKey):
            if not plant.key:
                raise ValueError("HostileKey needs a non-empty key")
            return
        if plant.account not in accounts:
            raise ValueError(f"{plant!r}: account is not one of the spec's accounts {sorted(accounts)}")
        if not spec.start <= plant.day <= spec.end:
            raise ValueError(f"{plant!r}: day is outside {spec.start}..{spec.end}")
        if isinstance(plant, NewRegion):
            _check_region(plant.region)
            key = (plant.account, plant.region)
            self.first_day[key] = min(plant.day, self.first_day.get(key, plant.day))
            if plant.region not in spec.regions:
                self.extra_regions.setdefault(plant.account, set()).add(plant.region)
            self.plants_on.setdefault((plant.account, plant.region, plant.day), []).append((index, plant))
            return
        if plant.region is not None and plant.region not in self.regions_of(plant.account):
            raise ValueError(f"{plant!r}: region is neither a spec region nor added by a NewRegion plant")
        if isinstance(plant, SilentFrom | QuietFrom | LateLogFile):
            self._add_stop(plant)
            return
        if isinstance(plant, HostileRecord) and plant.field not in HOSTILE_FIELDS:
            raise ValueError(f"{plant!r}: field must be one of {HOSTILE_FIELDS}")
        if isinstance(plant, NewPrincipal):
            if not _ROLE_NAME.fullmatch(plant.role_name) or plant.role_name in _ROLE_NAMES:
                raise ValueError(f"{plant!r}: role name is malformed or already used by the generator")
            for day in _days(plant.day, spec.end):
                self.plants_on.setdefault((plant.account, plant.region, day), []).append((index, plant))
            return
        if isinstance(plant, LateEvent | HostileRecord):
            self.plants_on.setdefault((plant.account, plant.region, plant.day), []).append((index, plant))

    def _add_stop(self, plant: SilentFrom | QuietFrom | LateLogFile) -> None:
        """Plants that change what is delivered, or when, for a whole account-region."""
        if isinstance(plant, LateLogFile):
            self.late_logs.setdefault((plant.account, plant.region), set()).add(plant.day)
        elif isinstance(plant, QuietFrom):
            quiet = (plant.account, plant.region)
            self.quiet_from[quiet] = min(plant.day, self.quiet_from.get(quiet, plant.day))
        else:
            scope = (plant.account, plant.region)
            self.silent_from[scope] = min(plant.day, self.silent_from.get(scope, plant.day))

    def regions_of(self, account: str) -> tuple[str, ...]:
        return self.spec.regions + tuple(sorted(self.extra_regions.get(account, set()) - set(self.spec.regions)))

    def logging(self, account: str, region: str, day: date) -> bool:
        """True when the trail delivers for account/region on `day` (after NewRegion, before SilentFrom)."""
        first = self.first_day.get((account, region))
        if first is None and region not in self.spec.regions:
            return False
        return (first is None or day >= first) and day < self.silent_day(account, region)

    def has_events(self, account: str, region: str, day: date) -> bool:
        """True when the trail delivers log files for account/region on `day` (logging, and not QuietFrom)."""
        return self.logging(account, region, day) and day < self.quiet_from.get((account, region), date.max)

    def silent_day(self, account: str, region: str) -> date:
        """The first delivery day on which nothing is delivered (date.max when never silent)."""
        return min(self.silent_from.get((account, region), date.max), self.silent_from.get((account, None), date.max))


@dataclass
class _Truth:
    partitions: set[tuple[str, str, date]] = field(default_factory=set)
    log_keys: set[str] = field(default_factory=set)
    corrupt_keys: set[str] = field(default_factory=set)
    noise_keys: set[str] = field(default_factory=set)
    hostile_keys: set[str] = field(default_factory=set)
    plant_event_ids: dict[Plant, set[str]] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    records: int = 0
    activity: dict[date, dict[ActivityKey, ActivityStats]] = field(default_factory=dict)

    def log_object(self, key: str, partition: tuple[str, str, date], size: int) -> None:
        self.partitions.add(partition)
        self.log_keys.add(key)
        self.files += 1
        self.bytes += size

    def count(self, account: str, region: str, record: Record) -> None:
        self.records += 1
        when = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        key = ActivityKey(
            account, region, principal_of(record.get("userIdentity")), record["eventSource"], record["eventName"]
        )
        day = self.activity.setdefault(when.date(), {})
        old = day.get(key)
        failure = 1 if failed(record) else 0
        if old is None:
            day[key] = ActivityStats(1, failure, when)
        else:
            day[key] = ActivityStats(old.events + 1, old.failures + failure, min(old.first_event_time, when))


class _Bucket:
    """Writes objects under the output directory at exactly their key, or reports that it cannot."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs: set[str] = set()
        self.keys: set[str] = set()
        self.unrepresentable: list[tuple[str, bytes]] = []

    def put(self, key: str, body: bytes) -> None:
        """A key built by the generator: always representable, never repeated."""
        if key in self.keys:
            raise AssertionError(f"generator wrote {key!r} twice")
        self.keys.add(key)
        folder, _, _ = key.rpartition("/")
        if folder not in self.dirs:
            os.makedirs(self.root / folder, exist_ok=True)
            self.dirs.add(folder)
        (self.root / key).write_bytes(body)

    def put_raw(self, key: str, body: bytes) -> None:
        """A planted key, byte-exact; one a filesystem cannot hold is recorded, never altered or dropped."""
        if key in self.keys:
            raise ValueError(f"planted key {key!r} collides with another object")
        self.keys.add(key)
        segments = key.split("/")
        if "\0" in key or any(s in {"", ".", ".."} or len(os.fsencode(s)) > 255 for s in segments):
            self.unrepresentable.append((key, body))
            return
        path = self.root.joinpath(*segments)
        try:
            if not _exactly_absent_or_dirs(self.root, segments[:-1]) or path.exists():
                raise FileExistsError(key)  # a file where a folder is needed, a folder at the key, case folding
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as handle:
                handle.write(body)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            self.unrepresentable.append((key, body))


def _exactly_absent_or_dirs(root: Path, folders: list[str]) -> bool:
    """Each existing folder on the way is a directory with exactly this name (no case folding)."""
    current = root
    for name in folders:
        candidate = current / name
        if not candidate.exists():
            return True
        if not candidate.is_dir() or name not in os.listdir(current):
            return False
        current = candidate
    return True


# --------------------------------------------------------------------------------------------
# One account/region/day: events, files, delivery.


@dataclass
class _Ctx:
    account: str
    region: str
    day: date
    rng: random.Random

    def at(self, second: int) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC) + timedelta(seconds=second)


def _write_partition_day(
    spec: TrailSpec,
    plan: _Plan,
    bucket: _Bucket,
    truth: _Truth,
    routine: tuple[_Activity, ...],
    account: str,
    region: str,
    day: date,
) -> None:
    ctx = _Ctx(account, region, day, random.Random(f"{spec.seed}/{account}/{region}/{day.isoformat()}"))
    events = _natural_events(ctx, routine, spec.events_per_account_region_day)
    planted: dict[str, Plant] = {}
    for index, plant in plan.plants_on.get((account, region, day), []):
        prng = random.Random(f"{spec.seed}/plant/{index}/{plant!r}/{day.isoformat()}")
        for second, record in _plant_events(_Ctx(account, region, day, prng), plant):
            events.append((second, record))
            planted[record["eventID"]] = plant
    events.sort(key=lambda e: (e[0], e[1]["eventID"]))

    silent_day = plan.silent_day(account, region)
    for records, delivered in _files(ctx, events):
        if delivered.date() >= silent_day:
            continue  # the trail stopped: this file is never delivered
        key = _log_key(spec.logs_root, account, region, delivered, _unique(ctx.rng))
        body = _gzip_json({"Records": records})
        bucket.put(key, body)
        truth.log_object(key, (account, region, delivered.date()), len(body))
        for record in records:
            truth.count(account, region, record)
            if record["eventID"] in planted:
                truth.plant_event_ids.setdefault(planted[record["eventID"]], set()).add(record["eventID"])


def _log_key(root: str, account: str, region: str, delivered: datetime, unique: str) -> str:
    """The key CloudTrail gives a log file delivered at `delivered` (the inverse of integrity.digests.LOG_KEY):
    in its delivery day's folder, <account>_CloudTrail_<region>_<delivery minute>_<unique>.json.gz."""
    name = f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
    return log_folder(root, account, region, delivered.date()) + name


def _files(ctx: _Ctx, events: list[tuple[int, Record]]) -> Iterable[tuple[list[Record], datetime]]:
    """Split the day's events into 1-3 same-day files plus one file for events after the cut-off."""
    early = [event for event in events if event[0] < LATE_CUTOFF_SECOND]
    late = [event for event in events if event[0] >= LATE_CUTOFF_SECOND]
    chunks: list[list[tuple[int, Record]]] = []
    if early:
        count = min(ctx.rng.randint(1, 3), len(early))
        cuts = [0, *sorted(ctx.rng.sample(range(1, len(early)), count - 1)), len(early)]
        chunks = [early[a:b] for a, b in itertools.pairwise(cuts)]
    if late:
        chunks.append(late)
    for chunk in chunks:
        latest = ctx.at(chunk[-1][0])  # events are sorted by time
        yield [record for _, record in chunk], latest + timedelta(seconds=ctx.rng.randint(*DELIVERY_DELAY_SECONDS))


def _plant_events(ctx: _Ctx, plant: Plant) -> list[tuple[int, Record]]:
    business_hours = ctx.rng.randrange(8 * 3_600, 18 * 3_600)
    if isinstance(plant, NewPrincipal):
        role = _Role(plant.role_name, "/", lambda c, t: f"{plant.role_name.lower()}-{c.rng.randrange(10**6, 10**7)}")
        who = _assumed(ctx, role, ctx.at(business_hours))
        return [
            (business_hours, _ec2_describe_instances(ctx, ctx.at(business_hours), who)),
            (business_hours + 60, _s3_get_bucket_acl(ctx, ctx.at(business_hours + 60), who)),
        ]
    if isinstance(plant, NewRegion):
        t = ctx.at(business_hours)
        return [(business_hours, _sts_get_caller_identity(ctx, t, _assumed(ctx, _ROLES["ci"], t)))]
    if isinstance(plant, LateEvent):
        t = ctx.at(DAY_SECONDS - 1)
        return [(DAY_SECONDS - 1, _s3_get_bucket_acl(ctx, t, _assumed(ctx, _ROLES["ci"], t)))]
    if isinstance(plant, HostileRecord):
        return [(business_hours, _hostile_record(ctx, ctx.at(business_hours), plant))]
    return []


def _hostile_record(ctx: _Ctx, t: datetime, plant: HostileRecord) -> Record:
    if plant.field == "roleSessionName":
        hostile_role = _Role(_ROLES["ci"].name, _ROLES["ci"].path, lambda c, at: plant.value, web_identity=True)
        return _ec2_describe_instances(ctx, t, _assumed(ctx, hostile_role, t))
    who = _assumed(ctx, _ROLES["ci"], t)
    if plant.field == "userAgent":
        record = _ec2_describe_instances(ctx, t, who)
        record["userAgent"] = plant.value
        return record
    if plant.field == "errorMessage":
        return _s3_put_bucket_policy_denied(ctx, t, who, message=plant.value)
    record = _s3_get_bucket_acl(ctx, t, who)
    record["requestParameters"]["bucketName"] = plant.value
    return record


def _write_corrupt(spec: TrailSpec, bucket: _Bucket, truth: _Truth, index: int, plant: CorruptObject) -> None:
    rng = random.Random(f"{spec.seed}/plant/{index}/{plant!r}")
    ctx = _Ctx(plant.account, plant.region, plant.day, rng)
    delivered = ctx.at(12 * 3_600 + rng.randrange(3_600))
    key = _log_key(spec.logs_root, plant.account, plant.region, delivered, _unique(rng))  # delivered on plant.day
    record = _ec2_describe_instances(ctx, delivered, _assumed(ctx, _ROLES["ci"], delivered))
    readable = json.dumps({"Records": [record]})
    if plant.kind == "truncated":
        whole = gzip.compress(readable.encode(), mtime=0)
        body = whole[: len(whole) // 2]
    elif plant.kind == "not_gzip":
        body = readable.encode()
    elif plant.kind == "invalid_utf8":  # a string value starting with an invalid two-byte sequence
        body = gzip.compress(readable.encode().replace(b'"eventVersion": "', b'"eventVersion": "\xc3\x28', 1), mtime=0)
    elif plant.kind == "lone_surrogate":  # valid UTF-8 and JSON syntax, but "\udc80" is no character
        body = gzip.compress(readable.replace('"eventVersion": "', '"eventVersion": "\\udc80', 1).encode(), mtime=0)
    elif plant.kind == "extra_garbage":  # a whole gzip stream, then bytes that are not another one
        body = gzip.compress(readable.encode(), mtime=0) + b"data after the end of the gzip stream"
    else:
        body = gzip.compress(b'{"Records": [{"eventVersion": "1.09", ', mtime=0)
    bucket.put(key, body)
    truth.corrupt_keys.add(key)
    truth.log_object(key, (plant.account, plant.region, plant.day), len(body))


# --------------------------------------------------------------------------------------------
# Identities. Stable ids (principalId, access keys of users) are hashes, so they never depend on
# which random draws happened before.


@dataclass(frozen=True)
class _Role:
    name: str
    path: str
    session: Callable[[_Ctx, datetime], str]
    web_identity: bool = False
    ec2: bool = False


_PEOPLE = ("alice@corp.example", "bob@corp.example")
_ROLES: dict[str, _Role] = {
    # IAM Identity Center: a path in the role ARN (absent from the assumed-role ARN), people as sessions:
    # one person per account/region, so the principal (role + person) is part of the routine.
    "sso": _Role(
        "AWSReservedSSO_AdministratorAccess_5f1e2d3c4b5a6978",
        "/aws-reserved/sso.amazonaws.com/",
        lambda c, t: _PEOPLE[int(_stable_hex(2, c.account, c.region), 16) % 2],
    ),
    # CI through web identity: a new session name on every run.
    "ci": _Role(
        "github-actions-deploy", "/", lambda c, t: f"GitHubActions-{c.rng.randrange(10**9, 10**10)}", web_identity=True
    ),
    "lambda": _Role("orders-api-role", "/service-role/", lambda c, t: "orders-api"),
    # Instances are replaced daily: the session name (instance id) changes every day.
    "ec2": _Role("web-instance-role", "/", lambda c, t: "i-0" + _stable_hex(16, c.account, c.region, c.day), ec2=True),
    "admin": _Role("OrganizationAccountAccessRole", "/", lambda c, t: f"botocore-session-{int(t.timestamp()) - 7}"),
}
_ROLE_NAMES = frozenset(role.name for role in _ROLES.values())
_USERS = ("alice", "deploy-bot")


def _stable_id(prefix: str, *parts: object, length: int = 17) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return prefix + "".join(ID_ALPHABET[b % len(ID_ALPHABET)] for b in digest[:length])


def _stable_hex(length: int, *parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:length]


def _user(ctx: _Ctx, name: str) -> Record:
    return {
        "type": "IAMUser",
        "principalId": _stable_id("AIDA", ctx.account, name),
        "arn": f"arn:aws:iam::{ctx.account}:user/{name}",
        "accountId": ctx.account,
        "accessKeyId": _stable_id("AKIA", ctx.account, name, "key", length=16),
        "userName": name,
    }


def _assumed(ctx: _Ctx, role: _Role, t: datetime) -> Record:
    session = role.session(ctx, t)
    role_id = _stable_id("AROA", ctx.account, role.name)
    context: Record = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": f"arn:aws:iam::{ctx.account}:role{role.path}{role.name}",
            "accountId": ctx.account,
            "userName": role.name,
        },
        "attributes": {
            "creationDate": _iso(t - timedelta(seconds=ctx.rng.randrange(60, 3_600))),
            "mfaAuthenticated": "false",
        },
    }
    if role.web_identity:
        context["webIdFederationData"] = {
            "federatedProvider": f"arn:aws:iam::{ctx.account}:oidc-provider/token.actions.githubusercontent.com",
            "attributes": {},
        }
    else:
        context["webIdFederationData"] = {}
    if role.ec2:
        context["ec2RoleDelivery"] = "2.0"
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ctx.account}:assumed-role/{role.name}/{session}",
        "accountId": ctx.account,
        "accessKeyId": "ASIA" + "".join(ctx.rng.choices(ID_ALPHABET, k=16)),
        "sessionContext": context,
    }


def _root(ctx: _Ctx) -> Record:
    return {
        "type": "Root",
        "principalId": ctx.account,
        "arn": f"arn:aws:iam::{ctx.account}:root",
        "accountId": ctx.account,
        "accessKeyId": "",
    }


def _service(invoked_by: str) -> Record:
    return {"type": "AWSService", "invokedBy": invoked_by}


# --------------------------------------------------------------------------------------------
# The event catalogue.

_AGENTS = (
    "aws-cli/2.15.10 Python/3.11.6 Linux/6.1.61-85.141.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off",
    "Boto3/1.34.14 md/Botocore#1.34.14 ua/2.0 os/linux#5.10.205 md/arch#x86_64 lang/python#3.12.1 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.14",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.141.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "aws-internal/3 aws-sdk-java/1.12.596 Linux/5.10.201 OpenJDK_64-Bit_Server_VM/25.392-b08 java/1.8.0_392",
    "Terraform/1.6.6 (+https://www.terraform.io) terraform-provider-aws/5.31.0 aws-sdk-go-v2/1.24.0",
)
_BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
_TLS = (("TLSv1.3", "TLS_AES_128_GCM_SHA256"), ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))
_NETWORKS = ("192.0.2.", "198.51.100.", "203.0.113.")  # documentation ranges


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _unique(rng: random.Random) -> str:
    return "".join(rng.choices(ALNUM, k=16))


def _ip(ctx: _Ctx) -> str:
    return ctx.rng.choice(_NETWORKS) + str(ctx.rng.randrange(1, 255))


def _key_id(ctx: _Ctx) -> str:
    """The account's one KMS key in the region (stable across days)."""
    return str(uuid.UUID(hex=_stable_hex(32, ctx.account, ctx.region, "kms"), version=4))


def _bucket_name(ctx: _Ctx) -> str:
    return ctx.rng.choice(["app-assets", "terraform-state", "data-lake-raw"]) + f"-{ctx.account}-{ctx.region}"


def _record(
    ctx: _Ctx,
    t: datetime,
    who: Record,
    source: str,
    name: str,
    *,
    read_only: bool,
    params: Record | None = None,
    response: Record | None = None,
    resources: list[Record] | None = None,
    error: tuple[str | None, str] | None = None,
    event_type: str = "AwsApiCall",
    version: str = "1.09",
    agent: str | None = None,
    ip: str | None = None,
    host: str | None = None,
    extra: Record | None = None,
) -> Record:
    """One record, fields in the order CloudTrail writes them.

    `error` is (errorCode, errorMessage); a failed console sign-in has a message but no code.
    """
    invoked_by = who.get("invokedBy")
    record: Record = {
        "eventVersion": version,
        "userIdentity": who,
        "eventTime": _iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": ctx.region,
        "sourceIPAddress": ip or invoked_by or _ip(ctx),
        "userAgent": agent or invoked_by or ctx.rng.choice(_AGENTS),
    }
    error_code, error_message = error if error else (None, None)
    if error_code:
        record["errorCode"] = error_code
    if error_message:
        record["errorMessage"] = error_message
    record["requestParameters"] = params
    record["responseElements"] = None if error_code else response
    if extra:
        record.update(extra)
    if event_type != "AwsServiceEvent":
        record["requestID"] = _uuid(ctx.rng)
    record["eventID"] = _uuid(ctx.rng)
    record["readOnly"] = read_only
    if resources:
        record["resources"] = resources
    record["eventType"] = event_type
    record["managementEvent"] = True
    record["recipientAccountId"] = ctx.account
    if invoked_by and event_type == "AwsApiCall":
        record["sharedEventID"] = _uuid(ctx.rng)
    record["eventCategory"] = "Management"
    if who.get("type") not in (None, "AWSService"):
        tls_version, cipher = ctx.rng.choice(_TLS)
        record["tlsDetails"] = {
            "tlsVersion": tls_version,
            "cipherSuite": cipher,
            "clientProvidedHostHeader": host or f"{source.split('.')[0]}.{ctx.region}.amazonaws.com",
        }
    return record


def _ec2_describe_instances(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _record(
        ctx,
        t,
        who,
        "ec2.amazonaws.com",
        "DescribeInstances",
        read_only=True,
        params={"instancesSet": {}, "filterSet": {}},
    )


def _ec2_run_instances_denied(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _record(
        ctx,
        t,
        who,
        "ec2.amazonaws.com",
        "RunInstances",
        read_only=False,
        params={
            "instancesSet": {"items": [{"imageId": "ami-0c7217cdde317cfec", "minCount": 1, "maxCount": 1}]},
            "instanceType": "t3.micro",
        },
        error=(
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation. "
            f"User: {who['arn']} is not authorized to perform: ec2:RunInstances",
        ),
    )


def _s3_get_bucket_acl(ctx: _Ctx, t: datetime, who: Record) -> Record:
    bucket = _bucket_name(ctx)
    return _record(
        ctx,
        t,
        who,
        "s3.amazonaws.com",
        "GetBucketAcl",
        read_only=True,
        params={"bucketName": bucket, "Host": f"{bucket}.s3.{ctx.region}.amazonaws.com", "acl": ""},
        resources=[{"accountId": ctx.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        extra={
            "additionalEventData": {
                "SignatureVersion": "SigV4",
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": f"{ctx.rng.getrandbits(128):032x}",
            }
        },
        host=f"{bucket}.s3.{ctx.region}.amazonaws.com",
    )


def _s3_put_bucket_policy_denied(ctx: _Ctx, t: datetime, who: Record, message: str = "Access Denied") -> Record:
    bucket = _bucket_name(ctx)
    return _record(
        ctx,
        t,
        who,
        "s3.amazonaws.com",
        "PutBucketPolicy",
        read_only=False,
        params={"bucketName": bucket, "Host": f"{bucket}.s3.{ctx.region}.amazonaws.com", "policy": ""},
        resources=[{"accountId": ctx.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        error=("AccessDenied", message),
        host=f"{bucket}.s3.{ctx.region}.amazonaws.com",
    )


def _lambda_list_functions(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _record(ctx, t, who, "lambda.amazonaws.com", "ListFunctions20150331", read_only=True, version="1.08")


def _logs_create_log_stream(ctx: _Ctx, t: datetime, who: Record) -> Record:
    stream = f"{t:%Y/%m/%d}/[$LATEST]{ctx.rng.getrandbits(128):032x}"
    return _record(
        ctx,
        t,
        who,
        "logs.amazonaws.com",
        "CreateLogStream",
        read_only=False,
        params={"logGroupName": "/aws/lambda/orders-api", "logStreamName": stream},
        agent="awslambda-worker/1.0 rusoto/0.48.0 rust/1.69.0 linux",
    )


def _kms_decrypt(ctx: _Ctx, t: datetime, who: Record) -> Record:
    key_arn = f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{_key_id(ctx)}"
    return _record(
        ctx,
        t,
        who,
        "kms.amazonaws.com",
        "Decrypt",
        read_only=True,
        params={
            "encryptionContext": {
                "aws:lambda:FunctionArn": f"arn:aws:lambda:{ctx.region}:{ctx.account}:function:orders-api"
            },
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        },
        resources=[{"accountId": ctx.account, "type": "AWS::KMS::Key", "ARN": key_arn}],
    )


def _kms_rotate_key(ctx: _Ctx, t: datetime, who: Record) -> Record:
    key_id = _key_id(ctx)
    return _record(
        ctx,
        t,
        who,
        "kms.amazonaws.com",
        "RotateKey",
        read_only=False,
        event_type="AwsServiceEvent",
        version="1.08",
        resources=[
            {
                "accountId": ctx.account,
                "type": "AWS::KMS::Key",
                "ARN": f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{key_id}",
            }
        ],
        extra={"serviceEventDetails": {"rotationType": "AUTOMATIC", "keyId": key_id}},
    )


# The role each service assumes for its workload.
_ROLE_OF_SERVICE = {"lambda.amazonaws.com": "lambda", "ec2.amazonaws.com": "ec2"}


def _sts_assume_role_by_service(ctx: _Ctx, t: datetime, who: Record) -> Record:
    role = _ROLES[_ROLE_OF_SERVICE[who["invokedBy"]]]
    role_arn = f"arn:aws:iam::{ctx.account}:role{role.path}{role.name}"
    session = role.session(ctx, t)
    return _record(
        ctx,
        t,
        who,
        "sts.amazonaws.com",
        "AssumeRole",
        read_only=True,
        params={"roleArn": role_arn, "roleSessionName": session},
        response={
            "credentials": {
                "accessKeyId": "ASIA" + "".join(ctx.rng.choices(ID_ALPHABET, k=16)),
                "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                "expiration": (t + timedelta(hours=1)).strftime("%b %d, %Y, %I:%M:%S %p"),
            }
        },
        resources=[{"accountId": ctx.account, "type": "AWS::IAM::Role", "ARN": role_arn}],
    )


def _sts_get_caller_identity(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _record(ctx, t, who, "sts.amazonaws.com", "GetCallerIdentity", read_only=True)


def _iam_list_roles(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _record(ctx, t, who, "iam.amazonaws.com", "ListRoles", read_only=True, host="iam.amazonaws.com")


def _iam_create_access_key_denied(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _record(
        ctx,
        t,
        who,
        "iam.amazonaws.com",
        "CreateAccessKey",
        read_only=False,
        params={"userName": "deploy-bot"},
        host="iam.amazonaws.com",
        error=(
            "AccessDenied",
            f"User: {who['arn']} is not authorized to perform: iam:CreateAccessKey on "
            f"resource: user deploy-bot because no identity-based policy allows the "
            f"iam:CreateAccessKey action",
        ),
    )


def _console_login(ctx: _Ctx, t: datetime, who: Record) -> Record:
    mfa = ctx.rng.random() < 0.7
    return _console_sign_in(ctx, t, {**who, "accessKeyId": ""}, succeeded=True, mfa=mfa)


def _console_login_failure(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _console_sign_in(ctx, t, who, succeeded=False, mfa=False)


def _root_console_login(ctx: _Ctx, t: datetime, who: Record) -> Record:
    return _console_sign_in(ctx, t, who, succeeded=True, mfa=True)


def _console_sign_in(ctx: _Ctx, t: datetime, who: Record, *, succeeded: bool, mfa: bool) -> Record:
    """A ConsoleLogin record: a failed one has an errorMessage and no errorCode, as CloudTrail writes it."""
    return _record(
        ctx,
        t,
        who,
        "signin.amazonaws.com",
        "ConsoleLogin",
        read_only=False,
        response={"ConsoleLogin": "Success" if succeeded else "Failure"},
        error=None if succeeded else (None, "Failed authentication"),
        event_type="AwsConsoleSignIn",
        version="1.08",
        agent=_BROWSER,
        host="signin.aws.amazon.com",
        extra={"additionalEventData": _login_data(mfa)},
    )


def _login_data(mfa: bool) -> Record:
    return {
        "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
        "MobileVersion": "No",
        "MFAUsed": "Yes" if mfa else "No",
    }


# --------------------------------------------------------------------------------------------
# The routine. One catalogue entry is one activity key per account/region: the call (eventsource,
# eventname) and who makes it (the normalised principal). Everything else (session names, IPs,
# agents, ids, parameters, times, counts) is drawn per day.

Identity: TypeAlias = Callable[[_Ctx, datetime], Record]
EventBuilder: TypeAlias = Callable[[_Ctx, datetime, Record], Record]


@dataclass(frozen=True)
class _Activity:
    weight: int  # how likely the routine includes it, and how often it repeats within a day
    build: EventBuilder
    who: Identity


def _as_role(name: str) -> Identity:
    role = _ROLES[name]
    return lambda ctx, t: _assumed(ctx, role, t)


def _as_user(name: str) -> Identity:
    return lambda ctx, t: _user(ctx, name)


def _as_service(invoked_by: str) -> Identity:
    return lambda ctx, t: _service(invoked_by)


def _as_root(ctx: _Ctx, t: datetime) -> Record:
    return _root(ctx)


def _as_aws_internal(ctx: _Ctx, t: datetime) -> Record:
    # A service event with no userIdentity.type at all (as in the CloudTrail user guide).
    return {"accountId": ctx.account, "invokedBy": "AWS Internal"}


def _as_failed_sign_in(ctx: _Ctx, t: datetime) -> Record:
    # A failed sign-in names no ARN (and hides unknown user names), as CloudTrail writes it: the principal
    # is the user name, one per account so the routine keeps its keys from day to day.
    name = ("alice", "HIDDEN_DUE_TO_SECURITY_REASONS")[int(_stable_hex(2, ctx.account), 16) % 2]
    return {"type": "IAMUser", "principalId": "", "accountId": ctx.account, "accessKeyId": "", "userName": name}


_REGIONAL: tuple[_Activity, ...] = (
    _Activity(2, _ec2_describe_instances, _as_role("sso")),
    _Activity(2, _ec2_describe_instances, _as_role("ec2")),
    _Activity(2, _ec2_describe_instances, _as_role("admin")),
    _Activity(2, _s3_get_bucket_acl, _as_role("sso")),
    _Activity(2, _s3_get_bucket_acl, _as_role("ci")),
    _Activity(1, _s3_put_bucket_policy_denied, _as_role("ci")),
    _Activity(1, _s3_put_bucket_policy_denied, _as_role("ec2")),
    _Activity(1, _lambda_list_functions, _as_role("sso")),
    _Activity(1, _lambda_list_functions, _as_role("admin")),
    _Activity(3, _logs_create_log_stream, _as_role("lambda")),
    _Activity(3, _kms_decrypt, _as_role("lambda")),
    _Activity(2, _sts_assume_role_by_service, _as_service("lambda.amazonaws.com")),
    _Activity(1, _sts_assume_role_by_service, _as_service("ec2.amazonaws.com")),
    _Activity(2, _sts_get_caller_identity, _as_user("deploy-bot")),
    _Activity(1, _ec2_run_instances_denied, _as_user("deploy-bot")),
    _Activity(1, _kms_rotate_key, _as_aws_internal),
)
_GLOBAL: tuple[_Activity, ...] = (  # recorded in GLOBAL_REGION only
    _Activity(2, _iam_list_roles, _as_user("alice")),
    _Activity(1, _iam_list_roles, _as_role("sso")),
    _Activity(1, _iam_create_access_key_denied, _as_role("ci")),
    _Activity(2, _console_login, _as_user("alice")),
    _Activity(1, _console_login_failure, _as_failed_sign_in),
    _Activity(1, _root_console_login, _as_root),
)


def _routine(spec: TrailSpec, account: str, region: str) -> tuple[_Activity, ...]:
    """What account/region does every day: drawn once from (seed, account, region), never from the day.

    Real accounts repeat the same daily routine, so one day's activity keys are the next day's and the
    daily report only shows what a plant added. The routine holds a third to two thirds of the day's
    events' worth of activities (busier and quieter account/regions), the other events repeat them, so
    counts vary from day to day.
    """
    rng = random.Random(f"{spec.seed}/routine/{account}/{region}")
    pool = list(_REGIONAL + _GLOBAL if region == GLOBAL_REGION else _REGIONAL)
    events = spec.events_per_account_region_day
    size = min(len(pool), rng.randint((events + 2) // 3, (2 * events + 2) // 3))  # ceil(n/3)..ceil(2n/3) <= n
    routine = []
    for _ in range(size):  # weighted draws without replacement
        routine.append(pool.pop(rng.choices(range(len(pool)), [a.weight for a in pool])[0]))
    return tuple(routine)


def _natural_events(ctx: _Ctx, routine: tuple[_Activity, ...], total: int) -> list[tuple[int, Record]]:
    """`total` events of the day: each routine activity once, the rest repeats drawn by weight.

    The first occurrence of each activity happens before LATE_CUTOFF_SECOND, so it is in a file
    delivered the same day: a day's keys never depend on the late file, which is lost when the trail
    goes silent the next day. Repeats may fall anywhere, so late files still cross midnight.
    """
    repeats = ctx.rng.choices(routine, [a.weight for a in routine], k=total - len(routine)) if routine else []
    timed = [(ctx.rng.randrange(LATE_CUTOFF_SECOND), a) for a in routine]
    timed += [(ctx.rng.randrange(LAST_NATURAL_SECOND + 1), a) for a in repeats]
    timed.sort(key=lambda item: item[0])
    return [(second, a.build(ctx, ctx.at(second), a.who(ctx, ctx.at(second)))) for second, a in timed]


# --------------------------------------------------------------------------------------------
# Noise: objects in a trail bucket that are not CloudTrail logs.


def _write_noise(spec: TrailSpec, plan: _Plan, bucket: _Bucket, truth: _Truth) -> None:
    root = spec.logs_root
    first = spec.account_ids[0]
    markers = [spec.config_root, root, f"{root}{first}/", f"{root}{first}/CloudTrail/"]
    if spec.prefix:
        markers.insert(0, f"{spec.prefix}/")
    for marker in dict.fromkeys(markers):  # zero-byte "folder" objects, as the S3 console creates them
        truth.noise_keys.add(marker)
        bucket.put_raw(marker, b"")
    success = f"{root}{first}/CloudTrail/_SUCCESS"
    bucket.put(success, b"")
    truth.noise_keys.add(success)

    _write_digests(spec, plan, bucket, truth)

    for account in spec.account_ids:
        _put_noise(bucket, truth, f"{spec.config_root}{account}/Config/ConfigWritabilityCheckFile", b"")
        for day in _days(spec.start, spec.end):
            _put_noise(bucket, truth, *_config_history(spec, account, day))
    region = spec.regions[0]
    if plan.logging(first, region, spec.start):
        _put_noise(bucket, truth, *_insight(spec, first, region, spec.start))


def _put_noise(bucket: _Bucket, truth: _Truth, key: str, body: bytes) -> None:
    bucket.put(key, body)
    truth.noise_keys.add(key)


def _partition_of(spec: TrailSpec, key: str) -> tuple[str, str, date]:
    account, _, region, year, month, day, _ = key[len(spec.logs_root) :].split("/")
    return account, region, date(int(year), int(month), int(day))


def _write_digests(spec: TrailSpec, plan: _Plan, bucket: _Bucket, truth: _Truth) -> None:
    """CloudTrail's hourly, signed digests of every account/region's delivery days (trailgen.digests), each
    with its signature metadata in a sidecar file beside it."""
    logs: dict[tuple[str, str], list[digests.LogEntry]] = {}
    for key in sorted(truth.log_keys - truth.corrupt_keys):
        account, region, _ = _partition_of(spec, key)
        logs.setdefault((account, region), []).append(digests.log_entry(key, (bucket.root / key).read_bytes()))
    for account in spec.account_ids:
        for region in plan.regions_of(account):
            entries = logs.get((account, region), [])
            days = {e.delivered.date() for e in entries}
            days |= {d for d in _days(spec.start, spec.end) if plan.logging(account, region, d)}
            late = _late_entries(entries, plan.late_logs.get((account, region), set()))
            on_time = [e for e in entries if e not in late]
            for digest in [
                *digests.pair_digests(
                    spec.trail_bucket,
                    spec.logs_root,
                    account,
                    region,
                    TRAIL_NAME,
                    GLOBAL_REGION,
                    digests.runs_of(days),
                    on_time,
                    spec.seed,
                ),
                *digests.backfill_digests(
                    spec.trail_bucket, spec.logs_root, account, region, TRAIL_NAME, GLOBAL_REGION, late
                ),
            ]:
                _put_noise(bucket, truth, digest.key, digest.body)
                digests.write_sidecar(bucket.root / digest.key, digest.metadata)


def _late_entries(entries: list[digests.LogEntry], days: set[date]) -> list[digests.LogEntry]:
    """LateLogFile: per day, the first log file delivered from 12:00 UTC."""
    late = []
    for day in sorted(days):
        afternoon = sorted(
            (e for e in entries if e.delivered.date() == day and e.delivered.hour >= 12),
            key=lambda e: (e.delivered, e.key),
        )
        late += afternoon[:1]
    return late


def _config_history(spec: TrailSpec, account: str, day: date) -> tuple[str, bytes]:
    region = spec.regions[0]
    stamp = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    key = (
        f"{spec.config_root}{account}/Config/{region}/{day.year}/{day.month}/{day.day}/ConfigHistory/"
        f"{account}_Config_{region}_ConfigHistory_{CONFIG_RESOURCE_TYPE}_{stamp:%Y%m%dT%H%M%SZ}_"
        f"{stamp:%Y%m%dT%H%M%SZ}_1.json.gz"
    )
    body = {
        "fileVersion": "1.0",
        "configurationItems": [
            {
                "configurationItemVersion": "1.3",
                "configurationItemCaptureTime": _iso(stamp),
                "configurationItemStatus": "OK",
                "resourceType": CONFIG_RESOURCE_TYPE,
                "awsAccountId": account,
                "awsRegion": "global",
                "resourceName": "web-instance-role",
                "ARN": f"arn:aws:iam::{account}:role/web-instance-role",
            }
        ],
    }
    return key, _gzip_json(body)


def _insight(spec: TrailSpec, account: str, region: str, day: date) -> tuple[str, bytes]:
    rng = random.Random(f"{spec.seed}/insight/{account}/{region}/{day.isoformat()}")
    t = datetime(day.year, day.month, day.day, 14, 5, tzinfo=UTC)
    key = (
        f"{spec.logs_root}{account}/CloudTrail-Insight/{region}/{day:%Y/%m/%d}/"
        f"{account}_CloudTrail-Insight_{region}_{t:%Y%m%dT%H%MZ}_{_unique(rng)}.json.gz"
    )
    body = {
        "Records": [
            {
                "eventVersion": "1.07",
                "eventTime": _iso(t - timedelta(minutes=5)),
                "awsRegion": region,
                "eventID": _uuid(rng),
                "eventType": "AwsCloudTrailInsight",
                "recipientAccountId": account,
                "sharedEventID": _uuid(rng),
                "insightDetails": {
                    "state": "Start",
                    "eventSource": "ec2.amazonaws.com",
                    "eventName": "RunInstances",
                    "insightType": "ApiCallRateInsight",
                    "insightContext": {"statistics": {"baseline": {"average": 0.1}, "insight": {"average": 5.0}}},
                },
                "eventCategory": "Insight",
            }
        ]
    }
    return key, _gzip_json(body)


# --------------------------------------------------------------------------------------------
# Small helpers.


def _gzip_json(document: object) -> bytes:
    # Compact UTF-8 JSON as CloudTrail writes it; mtime=0 keeps the gzip header deterministic.
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _check_region(region: str) -> None:
    if not allowlist.REGION.fullmatch(region):  # every region shape AWS publishes
        raise ValueError(f"malformed region {region!r} (plant hostile folder names with HostileKey)")


def _activity_sort(item: tuple[ActivityKey, ActivityStats]) -> tuple[str, ...]:
    key = item[0]
    return key.account, key.region, key.principal, key.eventsource, key.eventname
