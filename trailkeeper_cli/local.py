"""`trailkeeper local demo|run|backfill`: the template's stack on the embedded runtime, over a folder of trail
objects. Importing this module imports the emulator (moto, DuckDB): trailkeeper_cli.main imports it only when a
`local` command runs, so the stack commands never pay for it (and work without the `local` extra)."""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from localaws import local_run
from trailgen.generator import NewPrincipal, NewRegion, QuietFrom, SilentFrom, TrailSpec, account_id, generate
from trailkeeper_cli.errors import UsageError

DEMO_START = dt.date(2024, 3, 1)
DEMO_NIGHTS = 3


class Session(Protocol):
    def say(self, text: str) -> None: ...

    def progress(self, text: str) -> None: ...


def run(args: argparse.Namespace, session: Session) -> int:
    _check_logs(args.logs)
    with _layout_errors():
        nights = local_run.run_nights(args.logs, args.start, args.end, args.out, dict(args.param), session.progress)
    failed = [night for night in nights if night.execution.status != "SUCCEEDED"]
    session.say(f"outputs: {args.out}/<day>/execution.json, report files, and {args.out}/catalog.json")
    return 1 if failed else 0


def backfill(args: argparse.Namespace, session: Session) -> int:
    _check_logs(args.logs)
    with _layout_errors():
        execution = local_run.run_backfill(args.logs, args.start, args.end, args.out, dict(args.param),
                                           args.dry_run, session.progress)
    session.say(f"outputs: {args.out}/execution.json and {args.out}/catalog.json")
    return 0 if execution.status == "SUCCEEDED" else 1


def demo(args: argparse.Namespace, session: Session) -> int:
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    logs = out / "logs"
    spec = demo_spec()
    truth = generate(spec, logs)
    session.say(f"generated {truth.files} log files ({truth.records} events) for {len(truth.accounts)} accounts "
                f"in {logs}")
    first = spec.start + dt.timedelta(days=1)
    nights = local_run.run_nights(logs, first, first + dt.timedelta(days=DEMO_NIGHTS - 1), out, {}, session.progress)
    session.say(f"\noutputs: {out}/<day>/execution.json (and the daily report files), {out}/catalog.json")
    return 0 if all(n.execution.status == "SUCCEEDED" for n in nights) else 1


def demo_spec() -> TrailSpec:
    """A small organization where the last night has something new to say."""
    last = DEMO_START + dt.timedelta(days=DEMO_NIGHTS)
    return TrailSpec(
        start=DEMO_START,
        days=DEMO_NIGHTS + 2,
        accounts=4,
        regions=("us-east-1", "eu-west-1"),
        plants=(
            NewPrincipal(last, account_id(1), "us-east-1", "ci-deployer"),
            NewRegion(last, account_id(2), "ap-southeast-2"),
            SilentFrom(last, account_id(3), "eu-west-1"),  # logs and digests stop: silent, broken
            QuietFrom(last, account_id(0), "eu-west-1"),  # no events, empty digests keep arriving: silent, quiet
        ),
    )


def _check_logs(logs: Path) -> None:
    if not logs.is_dir():
        raise UsageError(f"--logs {logs}: not a folder")


@contextmanager
def _layout_errors() -> Iterator[None]:
    """A logs folder that does not look like a trail bucket is the operator's argument, not a bug."""
    try:
        yield
    except local_run.LayoutError as error:
        raise UsageError(str(error)) from None
