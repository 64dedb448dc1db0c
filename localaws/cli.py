"""`trailkeeper`: run the real state machine offline on the embedded runtime.

  trailkeeper demo     [--out DIR]
  trailkeeper run      --logs DIR --from D1 --to D2 --out OUT [--param Name=Value ...]
  trailkeeper backfill --logs DIR --start D1 --end D2 --out OUT [--dry-run] [--param Name=Value ...]

Exit status 0 only if every execution succeeded; otherwise the failed state and its cause are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from localaws import local_run
from localaws.generator import NewPrincipal, NewRegion, SilentFrom, TrailSpec, account_id, generate

DEMO_START = dt.date(2024, 3, 1)
DEMO_NIGHTS = 3


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (local_run.LayoutError, ValueError) as error:
        print(f"trailkeeper: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trailkeeper", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate a small organization's logs and run consecutive nights")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (replaced)")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser("run", help="run the nightly execution of each night D1..D2 over a logs folder")
    _common(run)
    run.add_argument("--from", dest="first", type=_date, required=True, help="first report day, YYYY-MM-DD")
    run.add_argument("--to", dest="last", type=_date, required=True, help="last report day, YYYY-MM-DD")
    run.set_defaults(handler=_run)

    backfill = commands.add_parser("backfill", help="one manual backfill execution over a logs folder")
    _common(backfill)
    backfill.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    backfill.add_argument("--end", type=_date, required=True, help="last day, YYYY-MM-DD")
    backfill.add_argument("--dry-run", action="store_true", help="plan and write statements, add nothing")
    backfill.set_defaults(handler=_backfill)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--logs", type=Path, required=True, help="objects as they sit in the trail bucket")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--param", action="append", default=[], type=_param, metavar="Name=Value",
                        help="override a template parameter (repeatable), e.g. LookbackDays=7")


def _run(args: argparse.Namespace) -> int:
    _check_logs(args.logs)
    nights = local_run.run_nights(args.logs, args.first, args.last, args.out, dict(args.param), _progress)
    failed = [night for night in nights if night.execution.status != "SUCCEEDED"]
    print(f"outputs: {args.out}/<day>/execution.json, report files, and {args.out}/catalog.json")
    return 1 if failed else 0


def _backfill(args: argparse.Namespace) -> int:
    _check_logs(args.logs)
    execution = local_run.run_backfill(args.logs, args.start, args.end, args.out, dict(args.param),
                                       args.dry_run, _progress)
    print(f"outputs: {args.out}/execution.json and {args.out}/catalog.json")
    return 0 if execution.status == "SUCCEEDED" else 1


def _demo(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    logs = out / "logs"
    spec = demo_spec()
    truth = generate(spec, logs)
    print(f"generated {truth.files} log files ({truth.records} events) for {len(truth.accounts)} accounts "
          f"in {logs}")
    first = spec.start + dt.timedelta(days=1)
    nights = local_run.run_nights(logs, first, first + dt.timedelta(days=DEMO_NIGHTS - 1), out, {}, _progress)
    print(f"\noutputs: {out}/<day>/execution.json (and the daily report files), {out}/catalog.json")
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
            SilentFrom(last, account_id(3), "eu-west-1"),
        ),
    )


def _check_logs(logs: Path) -> None:
    if not logs.is_dir():
        raise ValueError(f"--logs {logs}: not a folder")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _date(text: str) -> dt.date:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not Name=Value")
    return name, value


if __name__ == "__main__":
    sys.exit(main())
