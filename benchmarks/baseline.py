"""The baseline window at 1,000 accounts: one BuildReport comparison of a day with a full window's ledger.

What BuildReport does after the query, on local files as in Lambda's /tmp (the S3 transfers around it are
streamed and not measured): parse the day's Athena CSV, read the previous day's ledger as streams, merge, write
the next ledger. Measured in a child process so the peak memory is this work's alone.

The organization: `accounts` accounts with `rows_per_account` activity keys a day (a routine), of which
`churn` are new every day (CI sessions that are principals, one-off calls); the previous ledger holds the
routine plus `window - 1` days of churn, as it would after `window` days.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from trailkeeper.report.activity import COLUMNS, parse_activity_csv
from trailkeeper.report.diff import KEY_FIELDS, LedgerState, advance, read_keys, read_principals, write_row

DAY = dt.date(2024, 3, 20)
REGIONS = ("us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2")
SOURCES = ("ec2.amazonaws.com", "s3.amazonaws.com", "iam.amazonaws.com", "kms.amazonaws.com", "sts.amazonaws.com")


@dataclass(frozen=True)
class BaselineFigures:
    accounts: int
    rows_per_day: int
    window: int
    ledger_keys: int
    bytes_read: int  # today's result + the previous ledger
    bytes_written: int  # the next ledger
    seconds: float
    peak_rss_mb: float
    new_rows: int


def _values(account: str, n: int, day_tag: str) -> dict[str, str]:
    """One row of the day's Athena result, by column name (a row is written in COLUMNS' order from this)."""
    return {
        "account": account,
        "region": REGIONS[n % len(REGIONS)],
        "principal": f"arn:aws:iam::{account}:role/role-{n % 40:02d}{day_tag}",
        "eventsource": SOURCES[n % len(SOURCES)],
        "eventname": f"Call{n:05d}{day_tag}",
        "events": "3",
        "failures": "0",
        "first_at": f"{DAY}T10:00:00Z",
        "sample_source_ips": "192.0.2.1 | 198.51.100.2",
        "sample_user_agents": "aws-cli/2.15.10 Python/3.11.6",
        "sample_sessions": "",
        "writes": "1",
        "detections": "",
        "dropped": "",
    }


def _row(values: dict[str, str]) -> list[str]:
    """The values in COLUMNS' order; a column the benchmark does not fill in is a KeyError, not a shifted row."""
    return [values[column] for column in COLUMNS]


def _key(values: dict[str, str]) -> tuple[str, ...]:
    """The row's activity key: its first KEY_FIELDS columns, as the ledger stores them."""
    return tuple(_row(values)[:KEY_FIELDS])


def _prepare(folder: Path, accounts: int, rows_per_account: int, churn: int, window: int) -> int:
    """Write the previous day's ledger and the day's Athena result into `folder`; the ledger's key count."""
    ids = [f"{100000000000 + n:012d}" for n in range(accounts)]
    routine = rows_per_account - churn
    previous = LedgerState(DAY - dt.timedelta(days=1), DAY - dt.timedelta(days=window))
    ledger_rows: list[tuple[tuple[str, ...], dt.date]] = []
    principals: dict[tuple[str, str], dt.date] = {}
    for account in ids:
        for region in REGIONS:
            previous.pairs[(account, region)] = (previous.started, previous.day)
        for n in range(routine):
            values = _values(account, n, "")
            ledger_rows.append((_key(values), previous.day))
            principals.setdefault((account, values["principal"]), previous.started)
        for back in range(1, window):
            for n in range(churn):
                values = _values(account, routine + n, f"-d{back}")
                ledger_rows.append((_key(values), DAY - dt.timedelta(days=back)))
                principals.setdefault((account, values["principal"]), DAY - dt.timedelta(days=back))
    (folder / "state.json").write_text(json.dumps(previous.to_json()))
    with (folder / "keys-in.csv").open("w", newline="") as sink:
        writer = csv.writer(sink)
        for key, seen in sorted(ledger_rows):
            write_row(writer, key, seen)
    with (folder / "principals-in.csv").open("w", newline="") as sink:
        writer = csv.writer(sink)
        for pair, first in sorted(principals.items()):
            write_row(writer, pair, first)
    with (folder / "today.csv").open("w", newline="") as sink:
        writer = csv.writer(sink, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(COLUMNS)
        for account in ids:
            for n in range(routine):
                writer.writerow(_row(_values(account, n, "")))
            for n in range(churn):
                writer.writerow(_row(_values(account, routine + n, "-d0")))
    return len(ledger_rows)


def _measure(folder: Path, window: int) -> tuple[float, float, int, int, int]:
    """What BuildReport does with the day's result and the previous ledger, in a fresh process."""
    started = time.perf_counter()
    today_csv = (folder / "today.csv").read_text()
    today = parse_activity_csv(today_csv)
    del today_csv
    previous = LedgerState.from_json(json.loads((folder / "state.json").read_text()), "state.json")
    keys_out, principals_out = folder / "keys-out.csv", folder / "principals-out.csv"
    with (
        (folder / "keys-in.csv").open(newline="") as k_in,
        (folder / "principals-in.csv").open(newline="") as p_in,
        keys_out.open("w", newline="") as k_out,
        principals_out.open("w", newline="") as p_out,
    ):
        k_writer, p_writer = csv.writer(k_out), csv.writer(p_out)
        diff, state = advance(
            DAY,
            today,
            previous,
            read_keys(k_in, "keys"),
            read_principals(p_in, "principals"),
            window,
            lambda k, d: write_row(k_writer, k, d),
            lambda k, d: write_row(p_writer, k, d),
        )
    seconds = time.perf_counter() - started
    written = keys_out.stat().st_size + principals_out.stat().st_size + len(json.dumps(state.to_json()))
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, written, len(diff.new_rows), len(today)


def measure(accounts: int = 1_000, rows_per_account: int = 250, churn: int = 25, window: int = 14) -> BaselineFigures:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="trailkeeper-bench-") as work:
        folder = Path(work)
        ledger_keys = _prepare(folder, accounts, rows_per_account, churn, window)
        read = sum(
            (folder / name).stat().st_size for name in ("today.csv", "keys-in.csv", "principals-in.csv", "state.json")
        )
        # A pool of one fresh process: its peak memory is this work's alone, and its exception is raised here
        # (a bare Process with a queue waits forever for a child that failed).
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            seconds, peak, written, new_rows, rows = pool.submit(_measure, folder, window).result()
    return BaselineFigures(
        accounts=accounts,
        rows_per_day=rows,
        window=window,
        ledger_keys=ledger_keys,
        bytes_read=read,
        bytes_written=written,
        seconds=seconds,
        peak_rss_mb=peak,
        new_rows=new_rows,
    )


def build_report_memory_mb() -> int:
    """BuildReport's MemorySize as template.yaml declares it."""
    from localaws.template import load_template  # the template reader the embedded runtime uses

    template = load_template(Path(__file__).resolve().parents[1] / "template.yaml")
    return int(template["Resources"]["BuildReportFunction"]["Properties"]["MemorySize"])


def report(runs: list[BaselineFigures], lambda_memory_mb: int) -> list[str]:
    lines = [
        "Baseline window: one BuildReport comparison of the day with the previous day's ledger (local files, as",
        f"in Lambda's /tmp; BuildReport has {lambda_memory_mb:,} MB)",
        "  accounts  rows/day  window  ledger keys   bytes read  bytes written  seconds  peak MB  new rows",
    ]
    lines += [
        f"  {f.accounts:>8,} {f.rows_per_day:>9,} {f.window:>7} {f.ledger_keys:>12,} {f.bytes_read:>12,} "
        f"{f.bytes_written:>14,} {f.seconds:>8.2f} {f.peak_rss_mb:>8.0f} {f.new_rows:>9,}"
        for f in runs
    ]
    lines.append("  (the peak is the whole process: Python, the day's rows parsed, and the merge; the ledger is")
    lines.append("   streamed, so its size does not change the peak)")
    return lines
