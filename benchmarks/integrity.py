"""Integrity validation: trailkeeper vs `aws cloudtrail validate-logs` on the same generated bucket, served by
moto on 127.0.0.1, plus the validator's CPU throughput and its nightly S3 and Lambda use.

validate-logs validates one account and one region per run, so an organization takes accounts x regions
runs, one after the other (that is how the CLI is used); trailkeeper validates batches of accounts as
ValidateBatch does (IntegrityBatchAccounts accounts each, one after the other, their regions side by side, one
ListPublicKeys per region and batch), here up to WORKERS batches at once, each in a process of its own with
its own clients, as the state machine runs IntegrityConcurrency batches at once, each on its own Lambda (one
process of threads would make the batches share one GIL, which no deployment does). Both read the same server
(moto in a process of its own), the same bucket, on the same machine, one after the other. Nothing is cached
between the two runs; each counts its own requests and its own CPU (the batch processes', the CLI processes').
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from localaws.reference_cli import AWS_CLI, loopback_aws, validate_logs
from trailgen import digests as signer
from trailgen.generator import TrailSpec, generate
from trailkeeper import aws
from trailkeeper.integrity.chain import S3_CONNECTIONS, once_per_window, validate_account
from trailkeeper.integrity.digests import load_public_key, parse_digest, signature_verifies
from trailkeeper.integrity.lifecycle import Lifecycle
from trailkeeper.integrity.logs import check_log
from trailkeeper.integrity.nightly import DEFAULT_BATCH_ACCOUNTS
from trailkeeper.integrity.sweep import DEFAULT_DAYS_PER_NIGHT

BUCKET = "trailkeeper-local-trail"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2")
START = dt.date(2024, 3, 4)
# Loopback answers in microseconds; S3 does not. AWS's performance whitepaper (docs/aws-facts.md): for small
# requests (under 512 KB) "median latencies are often in the tens of milliseconds"; the low end is taken.
S3_LATENCY = 0.020
WORKERS = 4  # batches validated side by side here (the state machine runs IntegrityConcurrency batches)
LAMBDA_GB = 1.0  # ValidateIntegrityFunction's MemorySize
LOGS_PER_PAIR_DAY = 288  # an active region delivers a log file about every 5 minutes (assumption, stated)
DIGESTS_PER_PAIR_DAY = 24  # one an hour
SWEPT_DIGESTS_PER_DAY = 26  # a swept day's digests and the next day's first two (sweep.py)


@dataclass(frozen=True)
class Comparison:
    label: str
    pairs: int
    digests: int
    logs: int
    trailkeeper_seconds: float
    trailkeeper_cpu_seconds: float  # the batch processes' CPU time (the emulator's is in its own process)
    batch_seconds: float  # the batches' durations added up: what their Lambdas would be billed for (high here:
    # WORKERS batches share this machine's cores, where each Lambda has its own)
    trailkeeper_findings: int
    requests: Mapping[str, int]  # trailkeeper's, by operation
    cli_seconds: float | None
    cli_cpu_seconds: float | None  # the CLI processes' CPU time
    cli_invalid: int | None
    cli_valid_digests: int | None


def compare(
    accounts: int, regions: tuple[str, ...] = REGIONS, days: int = 1, run_cli: bool = True, latency: float = 0.0
) -> Comparison:
    """Both validators on one generated bucket; every request answered `latency` seconds late (0: loopback)."""
    with tempfile.TemporaryDirectory() as folder, loopback_aws(own_process=True, latency=latency) as loopback:
        organizations = loopback.client("organizations")
        org_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        spec = TrailSpec(
            start=START,
            days=days,
            accounts=accounts,
            organization_id=org_id,
            regions=regions,
            events_per_account_region_day=24,
        )
        generate(spec, Path(folder))
        s3 = loopback.client("s3")
        _upload(s3, Path(folder))
        trail = loopback.client("cloudtrail").create_trail(
            Name="main-trail",
            S3BucketName=BUCKET,
            IsMultiRegionTrail=True,
            IsOrganizationTrail=True,
            EnableLogFileValidation=True,
        )
        until = dt.datetime.combine(spec.end + dt.timedelta(days=1), dt.time(), dt.UTC)  # the night after the last day
        lifecycle = Lifecycle.from_rules(aws.lifecycle_rules(s3, BUCKET))
        ids = list(spec.account_ids)
        jobs = [
            _Batch(
                loopback.client_args(),
                ids[i : i + DEFAULT_BATCH_ACCOUNTS],
                regions,
                spec.logs_root,
                until,
                lifecycle,
                dt.timedelta(days=days + 1),
            )
            for i in range(0, len(ids), DEFAULT_BATCH_ACCOUNTS)
        ]
        workers = min(WORKERS, len(jobs))
        context = multiprocessing.get_context("spawn")  # not fork: a fresh interpreter, as a Lambda's
        ready = context.Barrier(workers + 1)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_ready, initargs=(ready,)) as pool:
            for _ in range(workers):
                pool.submit(int)  # starts every worker: its imports happen before the clock starts, as a warm Lambda's
            ready.wait(timeout=300)
            began = time.perf_counter()
            done = list(pool.map(_validate_batch, jobs))  # the Map's concurrent batches, each its own process
            ours = time.perf_counter() - began
        results = [r for found, _, _, _ in done for r in found]
        durations = [seconds for _, seconds, _, _ in done]
        ours_cpu = sum(cpu for _, _, cpu, _ in done)
        requests = sum((calls for _, _, _, calls in done), Counter[str]())
        cli_seconds = cli_cpu = cli_invalid = cli_valid = None
        if run_cli and AWS_CLI.exists():
            began, children = time.perf_counter(), _children_cpu()
            reports = [
                validate_logs(
                    loopback,
                    trail["TrailARN"],
                    region,
                    dt.datetime.combine(spec.start, dt.time(), dt.UTC),
                    until,
                    account_id=account,
                )
                for account in spec.account_ids
                for region in regions
            ]
            cli_seconds, cli_cpu = time.perf_counter() - began, _children_cpu() - children
            cli_invalid = sum(len(r.invalid) for r in reports)
            cli_valid = sum(len(r.valid["Digest"]) for r in reports)
    return Comparison(
        f"{accounts} account(s) x {len(regions)} regions x {days} day(s)"
        + (f", +{latency * 1000:.0f} ms a request" if latency else ""),
        len(results),
        sum(r.digests_verified for r in results),
        sum(r.logs_verified for r in results),
        ours,
        ours_cpu,
        sum(durations),
        sum(len(r.findings) for r in results),
        dict(sorted(requests.items())),
        cli_seconds,
        cli_cpu,
        cli_invalid,
        cli_valid,
    )


@dataclass(frozen=True)
class _Batch:
    """One Map item as ValidateBatch receives it, and where its S3 is."""

    client_args: Mapping[str, str]
    accounts: list[str]
    regions: tuple[str, ...]
    root: str
    until: dt.datetime
    lifecycle: Lifecycle
    first_run_lookback: dt.timedelta


def _ready(barrier: Any) -> None:
    barrier.wait(timeout=300)


def _validate_batch(batch: _Batch) -> tuple[list[Any], float, float, Counter[str]]:
    """ValidateBatch's work in a process of its own (a Lambda): its clients, its accounts one after the other,
    each account's regions side by side, one ListPublicKeys per region. (results, seconds, CPU seconds, requests)"""
    started, cpu = time.perf_counter(), time.process_time()
    requests: Counter[str] = Counter()
    counting = threading.Lock()

    def count(event_name: str, **_: Any) -> None:
        with counting:
            requests[event_name.rsplit(".", 1)[-1]] += 1

    pooled = aws.trail_reader(S3_CONNECTIONS, **batch.client_args)
    pooled.meta.events.register("before-call.s3.*", count)
    store = aws.S3Store(pooled, BUCKET)
    clients = {}
    for region in batch.regions:
        clients[region] = boto3.client("cloudtrail", **{**batch.client_args, "region_name": region})
        clients[region].meta.events.register("before-call.cloudtrail.*", count)

    @once_per_window
    def public_keys(region: str, start: dt.datetime, end: dt.datetime) -> Mapping[str, bytes]:
        return aws.public_keys(clients[region], start, end)

    found = []
    for account in batch.accounts:
        found += validate_account(
            store,
            public_keys,
            batch.root,
            account,
            batch.regions,
            {},
            batch.until,
            batch.lifecycle,
            first_run_lookback=batch.first_run_lookback,
        )
    return found, time.perf_counter() - started, time.process_time() - cpu, requests


def _upload(s3: Any, folder: Path) -> None:
    """The generated bucket, objects with their metadata (the digests' signatures); side by side, as a latency
    would otherwise make the set-up as slow as the CLI."""
    s3.create_bucket(Bucket=BUCKET)

    def put(path: Path) -> None:
        key = path.relative_to(folder).as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes(), Metadata=signer.read_sidecar(path))

    with ThreadPoolExecutor(max_workers=10) as pool:  # botocore's default connection pool
        list(pool.map(put, sorted(p for p in folder.rglob("*") if p.is_file() and not signer.is_sidecar(p))))


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the validate-logs runs; the emulator is reaped only later)."""
    times = os.times()
    return times.children_user + times.children_system


@dataclass(frozen=True)
class Throughput:
    log_bytes: int
    log_seconds: float
    digests: int
    digest_seconds: float


def throughput(accounts: int = 4, days: int = 2) -> Throughput:
    """CPU only, one core: gunzip + SHA-256 of every log; parse + RSA verify of every digest."""
    with tempfile.TemporaryDirectory() as folder:
        generate(
            TrailSpec(start=START, days=days, accounts=accounts, regions=REGIONS, events_per_account_region_day=400),
            Path(folder),
        )
        files = sorted(Path(folder).rglob("*.json.gz"))
        logs = [p.read_bytes() for p in files if "/CloudTrail/" in p.as_posix()]
        digest_files = [
            (p, p.read_bytes(), signer.read_sidecar(p)) for p in files if "/CloudTrail-Digest/" in p.as_posix()
        ]
    key = load_public_key(signer.public_key_der())
    assert key is not None
    began = time.process_time()
    total = sum(
        check_log([body[i : i + 1 << 20] for i in range(0, len(body), 1 << 20)]).uncompressed_bytes for body in logs
    )
    log_seconds = time.process_time() - began
    began = time.process_time()
    for path, body, metadata in digest_files:
        digest = parse_digest(BUCKET, path.name, body)
        signature_verifies(key, digest.string_to_sign(), metadata["signature"])
    return Throughput(total, log_seconds, len(digest_files), time.process_time() - began)


def nightly_use(accounts: int, regions: int, seconds_per_pair: float) -> dict[str, float]:
    """A night's requests (chain.py, sweep.py): per pair the walk reads its ~24 digests and every log they list and
    lists its window once per folder kind (one page up to 1,000 keys); the sweep lists each swept day's log folder and
    its two digest folders (one listing) and reads ~26 digests; one ListPublicKeys per region and batch."""
    pairs = accounts * regions
    swept = DEFAULT_DAYS_PER_NIGHT
    batches = -(-accounts // DEFAULT_BATCH_ACCOUNTS)
    return {
        "pairs": pairs,
        "s3_gets": pairs * (DIGESTS_PER_PAIR_DAY + LOGS_PER_PAIR_DAY + swept * SWEPT_DIGESTS_PER_DAY),
        # the digest window in one page; the log window (two days of logs) in pages of 1,000; the sweep's two
        "s3_lists": pairs * (1 + -(-(2 * LOGS_PER_PAIR_DAY) // 1_000) + swept * 2),
        "list_public_keys": batches * regions * 2,  # the walk's key window, and the sweep's
        "lambda_gb_seconds": pairs * seconds_per_pair * LAMBDA_GB,
    }


def report(comparisons: list[Comparison], speed: Throughput) -> list[str]:
    lines = [
        "Integrity validation: trailkeeper vs aws cloudtrail validate-logs (awscli, .tools/awscli), same bucket",
        "served by moto in its own process on 127.0.0.1; validate-logs runs once per account and region, as it must",
    ]
    for c in comparisons:
        cli = (
            "not run (make tools)"
            if c.cli_seconds is None
            else f"validate-logs {c.cli_seconds:7.1f} s ({c.cli_valid_digests} digests valid, {c.cli_invalid} invalid)"
        )
        ratio = f"  -> {c.cli_seconds / c.trailkeeper_seconds:.1f}x faster" if c.cli_seconds else ""
        lines.append(
            f"  {c.label:50} {c.pairs:3} pairs, {c.digests:5} digests, {c.logs:5} logs: "
            f"trailkeeper {c.trailkeeper_seconds:6.1f} s ({c.trailkeeper_findings} findings); {cli}{ratio}"
        )
        calls = ", ".join(f"{count:,} {operation}" for operation, count in c.requests.items())
        cli_cpu = (
            f"; validate-logs {c.cli_cpu_seconds:.1f} s CPU -> {c.cli_cpu_seconds / c.trailkeeper_cpu_seconds:.1f}x"
            if c.cli_cpu_seconds
            else ""
        )
        lines.append(f"      trailkeeper {c.trailkeeper_cpu_seconds:.1f} s CPU, requests: {calls}{cli_cpu}")
    lines.append(
        f"  verified log bytes (gunzip + SHA-256) {speed.log_bytes / speed.log_seconds / 1e6:,.0f} MB/s/core; "
        f"digests (parse + RSA verify) {speed.digests / speed.digest_seconds:,.0f} /s/core"
    )
    org = comparisons[-1]
    per_pair = org.batch_seconds / max(org.pairs, 1)
    for accounts in (100, 1_000):
        use = nightly_use(accounts, 2, per_pair)
        lines.append(
            f"  per night at {accounts:,} accounts x 2 regions: {use['s3_gets']:,.0f} S3 GETs "
            f"({LOGS_PER_PAIR_DAY} logs per region-day assumed, sweep included), {use['s3_lists']:,.0f} LISTs, "
            f"{use['list_public_keys']:,.0f} ListPublicKeys, ~{use['lambda_gb_seconds']:,.0f} Lambda GB-s "
            f"(measured {per_pair:.2f} batch-s per pair here)"
        )
    return lines


def comparisons(organization: int = 20) -> list[Comparison]:
    """One account; an organization on loopback; the same organization with S3's latency."""
    return [compare(1), compare(organization), compare(organization, latency=S3_LATENCY)]


def main() -> None:
    print("\n".join(report(comparisons(int(os.environ.get("BENCH_INTEGRITY_ACCOUNTS", "20"))), throughput())))


if __name__ == "__main__":
    main()
