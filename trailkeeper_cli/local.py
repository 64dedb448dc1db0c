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
from trailkeeper_cli.errors import Interrupted, UsageError

DEMO_START = dt.date(2024, 3, 1)
DEMO_NIGHTS = 3
# Written first into a folder `local demo` creates: only a folder holding it is ever replaced by a later demo.
DEMO_MARKER = ".trailkeeper-demo"


class Session(Protocol):
    def say(self, text: str) -> None: ...

    def progress(self, text: str) -> None: ...


def run(args: argparse.Namespace, session: Session) -> int:
    _check_logs(args.logs)
    check_out(args.out)
    with _run_errors(args.out):
        nights = local_run.run_nights(
            args.logs, args.start, args.end, args.out, dict(args.param), session.progress, args.timeout
        )
    failed = [night for night in nights if night.execution.status != "SUCCEEDED"]
    session.say(f"outputs: {args.out}/<day>/execution.json, report files, and {args.out}/catalog.json")
    return 1 if failed else 0


def backfill(args: argparse.Namespace, session: Session) -> int:
    _check_logs(args.logs)
    check_out(args.out)
    with _run_errors(args.out):
        execution = local_run.run_backfill(
            args.logs, args.start, args.end, args.out, dict(args.param), args.dry_run, session.progress, args.timeout
        )
    session.say(f"outputs: {args.out}/execution.json and {args.out}/catalog.json")
    return 0 if execution.status == "SUCCEEDED" else 1


def demo(args: argparse.Namespace, session: Session) -> int:
    out: Path = args.out
    prepare_demo_folder(out)
    logs = out / "logs"
    spec = demo_spec()
    truth = generate(spec, logs)
    session.say(
        f"generated {truth.files} log files ({truth.records} events) for {len(truth.accounts)} accounts in {logs}"
    )
    first = spec.start + dt.timedelta(days=1)
    with _run_errors(out):
        nights = local_run.run_nights(
            logs, first, first + dt.timedelta(days=DEMO_NIGHTS - 1), out, {}, session.progress, args.timeout
        )
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


def prepare_demo_folder(out: Path) -> None:
    """An empty OUT with the demo's marker in it. A folder is replaced only when it holds the marker (an earlier
    demo made it): any other non-empty folder is refused, never deleted."""
    check_out(out)
    if out.is_symlink():  # replacing it would delete where it points, or fail half-way
        raise UsageError(f"--out {out}: a symbolic link; name the folder itself")
    if out.is_dir() and any(out.iterdir()):
        if not (out / DEMO_MARKER).is_file():
            raise UsageError(
                f"--out {out}: not empty and not made by an earlier demo (it has no {DEMO_MARKER}); "
                "name a new or empty folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("made by `trailkeeper local demo`, which replaces this folder on its next run\n")


def check_out(out: Path) -> None:
    """OUT must be a folder or creatable as one: the nearest part of it that exists must be a folder."""
    for existing in (out, *out.parents):
        if existing.exists():
            if not existing.is_dir():
                raise UsageError(f"--out {out}: {existing} is a file, not a folder")
            return


def _check_logs(logs: Path) -> None:
    if not logs.is_dir():
        raise UsageError(f"--logs {logs}: not a folder")


@contextmanager
def _run_errors(out: Path) -> Iterator[None]:
    """A logs folder that does not look like a trail bucket and a local timeout are one-line errors (exit 2), and
    so is Ctrl-C (exit 130). The local stack lives only as long as the command: running the same command again
    redoes every execution from the start and rewrites OUT."""
    try:
        yield
    except (local_run.LayoutError, local_run.LocalTimeout) as error:
        raise UsageError(str(error)) from None
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted (Ctrl-C); what finished is in {out}; run the same command again to redo it all"
        ) from None
