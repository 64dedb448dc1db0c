"""The CloudTrail generator writes a realistic, deterministic trail bucket and tells the truth about it.

The ground truth is checked against `reread`, a small reader written here independently of the
generator (its own key pattern, its own principal rule), and the hand-written fixture is checked
against the same reader.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES
from trailgen.generator import (
    ActivityKey,
    CorruptObject,
    GroundTruth,
    HostileKey,
    HostileRecord,
    LateEvent,
    NewPrincipal,
    NewRegion,
    SilentFrom,
    TrailSpec,
    account_id,
    failed,
    generate,
    materialise_fixture,
    principal_of,
    threat_keys,
)

FIXTURE_SRC = FIXTURES / "trail-bucket-src"
START = date(2024, 1, 1)
A0, A1 = account_id(0), account_id(1)

LOG_KEY = re.compile(
    r"(?:(?P<prefix>.+)/)?AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<account>[0-9]{12})/CloudTrail/"
    r"(?P<region>[a-z]{2}-[a-z]+-[0-9])/(?P<y>[0-9]{4})/(?P<m>[0-9]{2})/(?P<d>[0-9]{2})/"
    r"(?P=account)_CloudTrail_(?P=region)_(?P<stamp>[0-9]{8}T[0-9]{4}Z)_[A-Za-z0-9]{16}\.json\.gz"
)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

Stats = tuple[int, int, str]  # events, errors, first eventTime


# --------------------------------------------------------------------------------------------
# An independent reader.


def principal(identity: dict[str, Any] | None) -> str:
    identity = identity or {}
    match identity.get("type"):
        case "AssumedRole":  # Identity Center permission sets keep the person (the session)
            issuer = identity.get("sessionContext", {}).get("sessionIssuer", {}).get("arn") or "AssumedRole"
            return identity["arn"] if "/AWSReservedSSO_" in issuer else issuer
        case "IAMUser":
            return identity.get("arn") or identity.get("userName") or "IAMUser"
        case "Root":
            return "root"
        case "AWSService":
            return identity.get("invokedBy") or "AWSService"
        case None | "":
            return identity.get("invokedBy") or identity.get("userName") or "Unknown"
        case other:
            return str(other)


@dataclass
class Reread:
    partitions: set[tuple[str, str, date]] = field(default_factory=set)
    activity: dict[date, dict[tuple[str, str, str | None, str, str], Stats]] = field(default_factory=dict)
    records: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # eventID -> (key, record)
    files: int = 0
    bytes: int = 0


def keys_on_disk(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def read_records(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def reread(root: Path, skip: frozenset[str] = frozenset()) -> Reread:
    result = Reread()
    for key in keys_on_disk(root):
        match = LOG_KEY.fullmatch(key)
        if match is None or key in skip:
            continue
        account, region = match["account"], match["region"]
        result.partitions.add((account, region, date(int(match["y"]), int(match["m"]), int(match["d"]))))
        result.files += 1
        result.bytes += (root / key).stat().st_size
        for record in read_records(root / key):
            result.records[record["eventID"]] = (key, record)
            when = datetime.strptime(record["eventTime"], TIME_FORMAT)
            group = (account, region, principal(record.get("userIdentity")), record["eventSource"], record["eventName"])
            day = result.activity.setdefault(when.date(), {})
            events, errors, first = day.get(group, (0, 0, record["eventTime"]))
            day[group] = (events + 1, errors + (1 if failed(record) else 0), min(first, record["eventTime"]))
    return result


def truth_activity(truth: GroundTruth, day: date) -> dict[tuple[str, str, str | None, str, str], Stats]:
    return {
        (k.account, k.region, k.principal, k.eventsource, k.eventname): (
            s.events,
            s.failures,
            s.first_event_time.strftime(TIME_FORMAT),
        )
        for k, s in truth.activity(day).items()
    }


def all_records(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from reread(root).records.values()


def folder_day(key: str) -> date:
    match = LOG_KEY.fullmatch(key)
    assert match is not None, key
    return date(int(match["y"]), int(match["m"]), int(match["d"]))


def build(tmp_path: Path, name: str = "bucket", **fields: Any) -> tuple[Path, GroundTruth]:
    spec = TrailSpec(**{"start": START, "days": 3, **fields})
    out = tmp_path / name
    return out, generate(spec, out)


def keys_by_day(truth: GroundTruth, days: list[date]) -> dict[date, set[ActivityKey]]:
    return {day: set(truth.activity(day)) for day in days}


def routine_of(keys: set[ActivityKey]) -> dict[tuple[str, str], set[tuple[str, str, str]]]:
    """(account, region) -> its (principal, eventsource, eventname)s."""
    routines: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
    for key in keys:
        routines.setdefault((key.account, key.region), set()).add((key.principal, key.eventsource, key.eventname))
    return routines


# --------------------------------------------------------------------------------------------
# Determinism, layout, file format.


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    first_dir, first = build(tmp_path, "one", plants=(LateEvent(START, A0, "us-east-1"),))
    second_dir, second = build(tmp_path, "two", plants=(LateEvent(START, A0, "us-east-1"),))

    assert keys_on_disk(first_dir) == keys_on_disk(second_dir)
    for key in keys_on_disk(first_dir):
        assert (first_dir / key).read_bytes() == (second_dir / key).read_bytes(), key
    assert first == second


def test_another_seed_writes_other_events(tmp_path: Path) -> None:
    first_dir, _ = build(tmp_path, "one", seed=1)
    second_dir, _ = build(tmp_path, "two", seed=2)

    assert set(reread(first_dir).records).isdisjoint(reread(second_dir).records)


def test_organization_log_keys_follow_the_cloudtrail_layout(tmp_path: Path) -> None:
    out, truth = build(tmp_path, prefix="cloudtrail/o-exampleorg1")

    assert truth.log_keys
    for key in truth.log_keys:
        match = LOG_KEY.fullmatch(key)
        assert match is not None, key
        assert (match["prefix"], match["org"]) == ("cloudtrail/o-exampleorg1", "o-exampleorg1")
        assert match["stamp"].startswith(f"{match['y']}{match['m']}{match['d']}T")  # folder = delivery day
        assert (out / key).is_file()


def test_single_account_layout_has_one_account_and_no_organization_segment(tmp_path: Path) -> None:
    _, truth = build(tmp_path, organization_id=None, accounts=1)

    assert truth.accounts == (A0,)
    assert {account for account, _, _ in truth.log_partitions} == {A0}
    for key in truth.log_keys:
        assert key.startswith(f"AWSLogs/{A0}/CloudTrail/")
        match = LOG_KEY.fullmatch(key)
        assert match is not None and match["org"] is None


def test_single_account_layout_rejects_several_accounts() -> None:
    with pytest.raises(ValueError, match="exactly one account"):
        TrailSpec(start=START, days=1, organization_id=None, accounts=2)


def test_log_objects_are_gzip_json_records_of_their_partition(tmp_path: Path) -> None:
    out, truth = build(tmp_path)

    for key in truth.log_keys:
        match = LOG_KEY.fullmatch(key)
        assert match is not None
        records = read_records(out / key)
        assert records
        assert {(r["recipientAccountId"], r["awsRegion"]) for r in records} == {(match["account"], match["region"])}


def test_a_file_is_delivered_5_to_15_minutes_after_its_latest_event(tmp_path: Path) -> None:
    out, truth = build(tmp_path)

    for key in truth.log_keys:
        match = LOG_KEY.fullmatch(key)
        assert match is not None
        delivered = datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ")
        latest = max(datetime.strptime(r["eventTime"], TIME_FORMAT) for r in read_records(out / key))
        # The file name keeps minutes only, so the delay seen through it is 4-15 minutes.
        assert timedelta(minutes=4) <= delivered - latest <= timedelta(minutes=15), key


def test_generate_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "leftover").write_text("x")

    with pytest.raises(ValueError, match="not empty"):
        generate(TrailSpec(start=START, days=1), tmp_path / "bucket")


# --------------------------------------------------------------------------------------------
# Ground truth.


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"organization_id": None, "accounts": 1, "prefix": "trails/main", "regions": ("eu-west-1", "us-east-1")},
        {
            "accounts": 4,
            "plants": (
                NewPrincipal(START, A1, "us-east-1", "intruder"),
                NewRegion(START + timedelta(days=1), A0, "ap-southeast-2"),
                SilentFrom(START + timedelta(days=2), A1, None),
                LateEvent(START, A0, "eu-west-1"),
                HostileRecord(START, A0, "us-east-1", "roleSessionName", "x\r\nBcc: y"),
            ),
        },
    ],
    ids=["organization", "single-account-with-prefix", "with-plants"],
)
def test_ground_truth_matches_an_independent_reread(tmp_path: Path, fields: dict[str, Any]) -> None:
    out, truth = build(tmp_path, **fields)
    seen = reread(out)

    assert truth.log_partitions == seen.partitions
    assert (truth.files, truth.bytes, truth.records) == (seen.files, seen.bytes, len(seen.records))
    for day in sorted(seen.activity.keys() | truth.activity_by_day.keys()):
        assert truth_activity(truth, day) == seen.activity.get(day, {}), day
    assert truth.regions_by_account == {
        account: tuple(sorted({r for a, r, _ in seen.partitions if a == account}))
        for account in sorted({a for a, _, _ in seen.partitions})
    }


def test_events_late_on_a_day_reach_the_next_days_folder_without_any_plant(tmp_path: Path) -> None:
    out, _ = build(tmp_path, accounts=20)

    crossed = [(key, r) for key, r in all_records(out) if folder_day(key) > date.fromisoformat(r["eventTime"][:10])]

    assert crossed
    assert all(r["eventTime"][11:] >= "23:45:00" for _, r in crossed)


def test_late_event_lands_in_the_next_days_folder_and_counts_on_its_event_day(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    plant = LateEvent(day, A0, "eu-west-1")
    _, base = build(tmp_path, "base")
    out, truth = build(tmp_path, "late", plants=(plant,))

    (event_id,) = truth.plant_event_ids[plant]
    key, record = reread(out).records[event_id]
    assert record["eventTime"] == f"{day}T23:59:59Z"
    assert folder_day(key) == day + timedelta(days=1)
    group = (A0, "eu-west-1", principal(record["userIdentity"]), record["eventSource"], record["eventName"])
    before = truth_activity(base, day).get(group, (0, 0, ""))[0]
    assert truth_activity(truth, day)[group][0] == before + 1
    assert truth_activity(truth, day + timedelta(days=1)) == truth_activity(base, day + timedelta(days=1))


# --------------------------------------------------------------------------------------------
# The daily routine.


def test_without_plants_every_account_region_repeats_the_same_activity_keys_every_day(tmp_path: Path) -> None:
    _, truth = build(tmp_path, accounts=20, days=4)  # 20 accounts: some late files cross midnight

    routines = [routine_of(set(truth.activity(START + timedelta(days=n)))) for n in range(4)]

    assert len(routines[0]) == 20 * 2
    assert all(routines[0].values())
    assert routines[1] == routines[0] and routines[2] == routines[0] and routines[3] == routines[0]


def test_every_daily_activity_starts_before_the_late_file_so_no_day_depends_on_late_delivery(
    tmp_path: Path,
) -> None:
    _, truth = build(tmp_path, accounts=20)

    starts = [s.first_event_time.time() for d in truth.activity_by_day for s in truth.activity(d).values()]

    assert starts and max(starts).isoformat() < "23:45:00"


def test_the_day_before_silent_from_keeps_every_activity_key(tmp_path: Path) -> None:
    day = START + timedelta(days=2)
    silent = tuple(SilentFrom(day, account_id(i), None) for i in range(20))
    _, base = build(tmp_path, "base", accounts=20, noise=False)
    _, truth = build(tmp_path, "silent", accounts=20, noise=False, plants=silent)

    previous = day - timedelta(days=1)
    assert set(truth.activity(previous)) == set(base.activity(previous))


def test_routine_roles_take_new_session_names_every_day_under_the_same_principal(tmp_path: Path) -> None:
    out, _ = build(tmp_path, accounts=10)
    daily = ("github-actions-deploy", "web-instance-role", "OrganizationAccountAccessRole")
    sessions: dict[str, set[str]] = {}
    principals: dict[str, set[str]] = {}
    for _, r in all_records(out):
        identity = r["userIdentity"]
        if identity.get("type") == "AssumedRole" and identity["arn"].split("/")[1] in daily:
            sessions.setdefault(r["eventTime"][:10], set()).add(identity["arn"])
            principals.setdefault(r["eventTime"][:10], set()).add(f"{r['awsRegion']} {principal(identity)}")

    first, second, third = (sessions[d] for d in sorted(sessions))
    assert first and first.isdisjoint(second) and second.isdisjoint(third)
    assert len({frozenset(p) for p in principals.values()}) == 1


def test_events_per_account_region_day_is_the_number_of_events_of_each_day(tmp_path: Path) -> None:
    _, truth = build(tmp_path, noise=False, events_per_account_region_day=7)

    for day in truth.activity_by_day:
        per_partition: dict[tuple[str, str], int] = {}
        for key, stats in truth.activity(day).items():
            per_partition[key.account, key.region] = per_partition.get((key.account, key.region), 0) + stats.events
        assert set(per_partition.values()) == {7}, day


# --------------------------------------------------------------------------------------------
# Plants.


def test_new_principal_appears_first_on_its_day(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    _, truth = build(tmp_path, plants=(NewPrincipal(day, A1, "eu-west-1", "intruder"),))
    arn = f"arn:aws:iam::{A1}:role/intruder"

    def days_seen() -> list[date]:
        return [d for d in truth.activity_by_day if any(k.principal == arn for k in truth.activity(d))]

    assert days_seen() == [day, day + timedelta(days=1)]
    assert {k.region for d in days_seen() for k in truth.activity(d) if k.principal == arn} == {"eu-west-1"}


def test_new_principal_adds_exactly_its_keys_on_its_day_and_nothing_else_changes(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    _, truth = build(tmp_path, plants=(NewPrincipal(day, A1, "eu-west-1", "intruder"),))
    arn = f"arn:aws:iam::{A1}:role/intruder"

    before, on = keys_by_day(truth, [day - timedelta(days=1), day]).values()

    assert on - before == {
        ActivityKey(A1, "eu-west-1", arn, "ec2.amazonaws.com", "DescribeInstances"),
        ActivityKey(A1, "eu-west-1", arn, "s3.amazonaws.com", "GetBucketAcl"),
    }
    assert before - on == set()


def test_new_region_adds_only_keys_of_its_region_on_its_day(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    _, truth = build(tmp_path, plants=(NewRegion(day, A0, "ap-southeast-2"),))

    before, on, after = keys_by_day(truth, [day - timedelta(days=1), day, day + timedelta(days=1)]).values()

    assert on - before and {(k.account, k.region) for k in on - before} == {(A0, "ap-southeast-2")}
    assert before - on == set()
    assert after - on == set()  # from its day on, the region repeats its own routine


def test_silent_from_removes_only_keys_of_its_account_region(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    _, truth = build(tmp_path, plants=(SilentFrom(day, A1, "eu-west-1"),))

    before, on = keys_by_day(truth, [day - timedelta(days=1), day]).values()

    assert before - on and {(k.account, k.region) for k in before - on} == {(A1, "eu-west-1")}
    assert on - before == set()


def test_new_region_has_no_folder_before_its_day(tmp_path: Path) -> None:
    day = START + timedelta(days=2)
    out, truth = build(tmp_path, plants=(NewRegion(day, A1, "eu-west-1"),))

    assert sorted(d for a, r, d in truth.log_partitions if (a, r) == (A1, "eu-west-1"))[0] == day
    assert not any(
        k.startswith(f"AWSLogs/o-exampleorg1/{A1}/CloudTrail/eu-west-1/") and folder_day(k) < day
        for k in keys_on_disk(out)
        if LOG_KEY.fullmatch(k)
    )
    assert (A0, "eu-west-1", START) in truth.log_partitions  # other accounts are unaffected


def test_new_region_outside_the_spec_regions_is_logged_from_its_day(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    _, truth = build(tmp_path, plants=(NewRegion(day, A0, "ap-southeast-2"),))

    assert min(d for a, r, d in truth.log_partitions if r == "ap-southeast-2") == day
    assert {a for a, r, _ in truth.log_partitions if r == "ap-southeast-2"} == {A0}
    assert "ap-southeast-2" in truth.regions_by_account[A0]


def test_silent_from_stops_every_cloudtrail_object_of_the_account_region(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    late = LateEvent(START, A0, "us-east-1")  # would be delivered on `day`: never delivered
    out, truth = build(tmp_path, plants=(SilentFrom(day, A0, "us-east-1"), late))

    assert {d for a, r, d in truth.log_partitions if (a, r) == (A0, "us-east-1")} == {START}
    assert late not in truth.plant_event_ids
    silenced = re.compile(rf".*/{A0}/CloudTrail(-Digest|-Insight)?/us-east-1/(?P<d>\d{{4}}/\d\d/\d\d)/.*")
    for key in keys_on_disk(out):
        match = silenced.fullmatch(key)
        if match:
            assert date.fromisoformat(match["d"].replace("/", "-")) < day, key
    assert (A0, "eu-west-1", day + timedelta(days=1)) in truth.log_partitions


def test_silent_from_without_a_region_silences_the_whole_account(tmp_path: Path) -> None:
    day = START + timedelta(days=1)
    _, truth = build(tmp_path, plants=(SilentFrom(day, A1, None),))

    assert {d for a, _, d in truth.log_partitions if a == A1} == {START}
    assert (A0, "us-east-1", day) in truth.log_partitions


@pytest.mark.parametrize("field_name", ["userAgent", "roleSessionName", "errorMessage", "requestParameters"])
def test_hostile_record_puts_its_value_in_its_field(tmp_path: Path, field_name: Any) -> None:
    value = "<img src=https://attacker.example/p.png>\r\nBcc: attacker@evil.example"
    plant = HostileRecord(START, A0, "eu-west-1", field_name, value)
    out, truth = build(tmp_path, plants=(plant,))

    (event_id,) = truth.plant_event_ids[plant]
    _, record = reread(out).records[event_id]
    identity = record["userIdentity"]
    found = {
        "userAgent": record["userAgent"],
        "roleSessionName": identity["arn"].split("/", 2)[2],
        "errorMessage": record.get("errorMessage"),
        "requestParameters": (record["requestParameters"] or {}).get("bucketName"),
    }
    assert found[field_name] == value
    assert [name for name, seen in found.items() if seen == value] == [field_name]


@pytest.mark.parametrize(
    "value", [r["value"] for r in json.loads((FIXTURES / "hostile_records.json").read_text())["records"]]
)
def test_hostile_values_survive_gzip_and_json_byte_exact(tmp_path: Path, value: str) -> None:
    plant = HostileRecord(START, A0, "us-east-1", "userAgent", value)
    out, truth = build(tmp_path, days=1, plants=(plant,))

    (event_id,) = truth.plant_event_ids[plant]
    assert reread(out).records[event_id][1]["userAgent"] == value


def test_representable_hostile_keys_are_written_at_exactly_their_key(tmp_path: Path) -> None:
    spec = TrailSpec(start=START, days=1)
    plants = threat_keys(spec, A0)
    out, truth = build(tmp_path, days=1, plants=plants)

    written = {p.key for p in plants} - truth.unrepresentable_keys
    assert {k.split("/CloudTrail/")[1].split("/")[0] for k in written} == {
        "us-east-1') OR ('1'='1",
        "US-EAST-1",
        "us-east-9x",
        "eu-central-1 ",
    }
    assert written <= set(keys_on_disk(out))
    assert truth.hostile_keys == {p.key for p in plants}


def test_unrepresentable_hostile_keys_are_reported_with_their_body_not_dropped(tmp_path: Path) -> None:
    spec = TrailSpec(start=START, days=1)
    odd = (
        HostileKey(f"AWSLogs/o-exampleorg1/{A0}/CloudTrail/us-east-1/", b""),
        HostileKey(f"AWSLogs/o-exampleorg1/{A0}/CloudTrail/./us-east-1/x.json.gz", b"dot"),
    )
    plants = (*threat_keys(spec, A0), *odd)
    out, truth = build(tmp_path, days=1, plants=plants)

    expected = {
        p.key: p.body for p in plants if "//" in p.key or "/../" in p.key or "/./" in p.key or p.key.endswith("/")
    }
    assert len(expected) == 5
    assert {k: b for k, b in truth.unrepresentable_objects if k in truth.hostile_keys} == expected
    assert not any("evil" in k or "222222222222" in k or "/./" in k for k in keys_on_disk(out))
    assert not (out.parent / "222222222222").exists()


def test_a_hostile_key_below_an_existing_object_is_reported_unrepresentable(tmp_path: Path) -> None:
    _, plain = build(tmp_path, "plain", days=1)
    log_key = min(plain.log_keys)
    clash = HostileKey(f"{log_key}/shadow.json.gz", b"x")

    _, truth = build(tmp_path, "clash", days=1, plants=(clash,))

    assert (clash.key, b"x") in truth.unrepresentable_objects


def test_hostile_keys_are_neither_log_partitions_nor_noise(tmp_path: Path) -> None:
    spec = TrailSpec(start=START, days=1)
    _, truth = build(tmp_path, days=1, plants=threat_keys(spec, A0))

    assert {r for _, r, _ in truth.log_partitions} == {"us-east-1", "eu-west-1"}
    assert truth.hostile_keys.isdisjoint(truth.log_keys | truth.noise_keys)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("truncated", EOFError), ("not_gzip", gzip.BadGzipFile), ("not_json", json.JSONDecodeError)],
)
def test_corrupt_object_sits_at_a_log_key_and_cannot_be_read(tmp_path: Path, kind: Any, error: type) -> None:
    plant = CorruptObject(START, A0, "us-east-1", kind)
    _, base = build(tmp_path, "base")
    out, truth = build(tmp_path, "corrupt", plants=(plant,))

    (key,) = truth.corrupt_keys
    assert LOG_KEY.fullmatch(key) and folder_day(key) == START and key in truth.log_keys
    with pytest.raises(error):
        read_records(out / key)
    assert truth.records == base.records
    assert truth.files == base.files + 1


@pytest.mark.parametrize(
    "plant",
    [
        LateEvent(START, "999999999999", "us-east-1"),
        LateEvent(START + timedelta(days=9), A0, "us-east-1"),
        LateEvent(START, A0, "ap-south-1"),
        NewPrincipal(START, A0, "us-east-1", "github-actions-deploy"),
    ],
    ids=["unknown-account", "day-outside-range", "region-not-logged", "role-name-taken"],
)
def test_a_plant_naming_something_the_spec_lacks_is_rejected_before_writing(tmp_path: Path, plant: Any) -> None:
    with pytest.raises(ValueError):
        generate(TrailSpec(start=START, days=2, plants=(plant,)), tmp_path / "bucket")
    assert not (tmp_path / "bucket").exists()


def test_a_plant_changes_only_the_partitions_it_names(tmp_path: Path) -> None:
    base_dir, _ = build(tmp_path, "base")
    out, _ = build(tmp_path, "planted", plants=(NewPrincipal(START, A1, "eu-west-1", "intruder"),))

    touched = (f"/{A1}/CloudTrail/eu-west-1/", f"/{A1}/CloudTrail-Digest/eu-west-1/")
    untouched = [k for k in keys_on_disk(base_dir) if not any(t in k for t in touched)]
    assert untouched == [k for k in keys_on_disk(out) if not any(t in k for t in touched)]
    assert all((base_dir / k).read_bytes() == (out / k).read_bytes() for k in untouched)


# --------------------------------------------------------------------------------------------
# Noise.


def test_noise_objects_exist_and_are_not_log_partitions(tmp_path: Path) -> None:
    out, truth = build(tmp_path)
    on_disk = set(keys_on_disk(out))

    assert truth.noise_keys <= on_disk | truth.unrepresentable_keys
    assert not any(LOG_KEY.fullmatch(k) for k in truth.noise_keys)
    kinds = {"/CloudTrail-Digest/", "/CloudTrail-Insight/", "/Config/", "/_SUCCESS"}
    assert all(any(kind in k for k in truth.noise_keys) for kind in kinds)
    assert any(k.endswith("/") for k in truth.noise_keys)  # zero-byte folder markers
    assert {k for k in on_disk if LOG_KEY.fullmatch(k)} == truth.log_keys


def test_without_noise_only_log_objects_are_written(tmp_path: Path) -> None:
    out, truth = build(tmp_path, noise=False)

    assert set(keys_on_disk(out)) == truth.log_keys
    assert truth.noise_keys == frozenset() and truth.unrepresentable_objects == ()


# --------------------------------------------------------------------------------------------
# Record realism.


def test_records_carry_cloudtrail_field_types(tmp_path: Path) -> None:
    out, _ = build(tmp_path)

    uuid_shape = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    for _, record in all_records(out):
        assert record["eventVersion"] in {"1.08", "1.09"}
        assert isinstance(record["readOnly"], bool) and record["managementEvent"] is True
        assert record["eventCategory"] == "Management"
        assert record["eventType"] in {"AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent"}
        assert uuid_shape.fullmatch(record["eventID"])
        assert record["requestParameters"] is None or isinstance(record["requestParameters"], dict)
        for resource in record.get("resources", []):
            assert set(resource) == {"ARN", "accountId", "type"}


def test_identities_cover_users_roles_services_root_and_failed_sign_ins(tmp_path: Path) -> None:
    out, _ = build(tmp_path, events_per_account_region_day=40)
    records = [r for _, r in all_records(out)]

    assert {r["userIdentity"].get("type") for r in records} == {"IAMUser", "AssumedRole", "AWSService", "Root", None}
    services = [r for r in records if r["userIdentity"].get("type") == "AWSService"]
    assert all(
        "arn" not in r["userIdentity"] and r["sourceIPAddress"] == r["userIdentity"]["invokedBy"] for r in services
    )
    failures = [r for r in records if (r.get("responseElements") or {}).get("ConsoleLogin") == "Failure"]
    assert failures and all("arn" not in r["userIdentity"] and "errorCode" not in r for r in failures)
    assert any(r.get("errorCode") == "AccessDenied" for r in records)
    assert any(r["eventType"] == "AwsServiceEvent" for r in records)


def test_global_service_events_are_recorded_in_us_east_1(tmp_path: Path) -> None:
    out, _ = build(tmp_path, events_per_account_region_day=40)
    records = [r for _, r in all_records(out)]

    global_events = [r for r in records if r["eventSource"] in {"iam.amazonaws.com", "signin.amazonaws.com"}]
    assert global_events
    assert {r["awsRegion"] for r in global_events} == {"us-east-1"}


def test_role_sessions_change_daily_while_the_normalised_principal_stays(tmp_path: Path) -> None:
    out, _ = build(tmp_path, events_per_account_region_day=40)
    by_day: dict[str, set[str]] = {}
    issuers = set()
    for _, r in all_records(out):
        identity = r["userIdentity"]
        if identity.get("type") == "AssumedRole" and identity["arn"].startswith(f"arn:aws:sts::{A0}:assumed-role/web"):
            by_day.setdefault(r["eventTime"][:10], set()).add(identity["arn"])
            issuers.add(principal(identity))

    assert len(by_day) == 3
    first, second, third = (by_day[d] for d in sorted(by_day))
    assert first.isdisjoint(second) and second.isdisjoint(third)
    assert issuers == {f"arn:aws:iam::{A0}:role/web-instance-role"}


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (
            {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::1:assumed-role/R/s",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/p/R"}},
            },
            "arn:aws:iam::1:role/p/R",
        ),
        (
            {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_A_1/ann",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:role/aws-reserved/AWSReservedSSO_A_1"}},
            },
            "arn:aws:sts::1:assumed-role/AWSReservedSSO_A_1/ann",
        ),
        ({"type": "IAMUser", "arn": "arn:aws:iam::1:user/u"}, "arn:aws:iam::1:user/u"),
        ({"type": "IAMUser", "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}, "HIDDEN_DUE_TO_SECURITY_REASONS"),
        ({"type": "Root", "arn": "arn:aws:iam::1:root"}, "root"),
        ({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, "ec2.amazonaws.com"),
        ({"type": "AWSService"}, "AWSService"),
        ({"type": "", "invokedBy": "AWS Internal"}, "AWS Internal"),
        ({"invokedBy": "AWS Internal"}, "AWS Internal"),
        (None, "Unknown"),
    ],
)
def test_principal_rule(identity: dict[str, Any] | None, expected: str | None) -> None:
    assert principal_of(identity) == expected == principal(identity)


# --------------------------------------------------------------------------------------------
# The hand-written fixture.


def test_fixture_materialises_each_json_source_as_a_gzip_object(tmp_path: Path) -> None:
    keys = materialise_fixture(FIXTURE_SRC, tmp_path)

    assert keys == tuple(keys_on_disk(tmp_path))
    assert all(k.endswith(".json.gz") for k in keys)
    for key in keys:
        source = FIXTURE_SRC / "bucket" / key.removesuffix(".gz")
        assert gzip.decompress((tmp_path / key).read_bytes()) == source.read_bytes()


def test_fixture_expected_ground_truth_matches_a_reread_of_its_records(tmp_path: Path) -> None:
    expected = json.loads((FIXTURE_SRC / "expected.json").read_text())
    materialise_fixture(FIXTURE_SRC, tmp_path)
    seen = reread(tmp_path)

    assert seen.partitions == {(a, r, date.fromisoformat(d)) for a, r, d in expected["log_partitions"]}
    assert (seen.files, len(seen.records)) == (expected["log_files"], expected["records"])
    assert sorted(seen.activity) == sorted(date.fromisoformat(d) for d in expected["activity"])
    for day, rows in expected["activity"].items():
        assert seen.activity[date.fromisoformat(day)] == {
            (r["account"], r["region"], r["principal"], r["eventsource"], r["eventname"]): (
                r["events"],
                r["failures"],
                r["first_event_time"],
            )
            for r in rows
        }
    noise = set(keys_on_disk(tmp_path)) - {k for k in keys_on_disk(tmp_path) if LOG_KEY.fullmatch(k)}
    assert noise == set(expected["noise_keys"])
    assert all(k.startswith("AWSLogs/o-handwritten1/") for k in keys_on_disk(tmp_path) if LOG_KEY.fullmatch(k))
