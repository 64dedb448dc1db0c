"""`trailkeeper`: operate a deployed stack, or run the real state machine offline on the embedded runtime.

  trailkeeper plan     --stack NAME --start D1 --end D2 [--accounts ID ...] [--regions R ...] [--show-sql]
  trailkeeper backfill --stack NAME --start D1 --end D2 [--accounts ID ...] [--regions R ...] [--dry-run]
  trailkeeper backfill --stack NAME --resume EXECUTION     (run only the shards that did not finish there)
  trailkeeper status   --stack NAME

  trailkeeper local demo     [--out DIR] [--timeout S]
  trailkeeper local run      --logs DIR --start D1 --end D2 --out OUT [--param Name=Value ...] [--timeout S]
  trailkeeper local backfill --logs DIR --start D1 --end D2 --out OUT [--dry-run] [--param ...] [--timeout S]
  trailkeeper local generate DIR [--start D] [--days N] [--accounts N] [--regions R ...] [--seed N]

The stack commands need boto3 only; `local` needs the embedded runtime: pip install '.[local]' in a clone.
Exit status 0 only if every execution succeeded; otherwise the failed state and its cause are printed (1).
Bad arguments (days before CloudTrail existed or after today, an --out that is a file), a stack that is not
trailkeeper's, AWS errors and a local execution past its --timeout exit with 2; Ctrl-C with 130 (a followed
execution goes on: the same backfill command follows it again; a local command's outputs so far stay in OUT).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from trailkeeper import sanitise
from trailkeeper.inputs import EARLIEST_DAY
from trailkeeper_cli import operator as ops
from trailkeeper_cli.errors import Interrupted, UsageError

POLL_SECONDS = 5.0
PLAN_PARTITIONS_SHOWN = 50
LOCAL_EXTRA_HINT = "install the local extra: pip install '.[local]' from a trailkeeper clone"
INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command ended by Ctrl-C
# Kept in step with localaws.local_run.DEFAULT_TIMEOUT_SECONDS (a test compares them): main must not import the
# emulator to print its help.
LOCAL_TIMEOUT_SECONDS = 600.0
# What the `local` extra installs (pyproject.toml), by import name: a missing one means the extra is not installed.
LOCAL_EXTRA_MODULES = frozenset({"moto", "duckdb", "sqlglot", "yaml", "aws_lambda_powertools"})


@dataclass(frozen=True)
class Session:
    """Where the commands write, how the stack commands reach AWS and how they wait (tests hand in the embedded
    runtime's clients). The streams are the ones the command started with: the embedded runtime swaps
    sys.stdout/sys.stderr process-wide while a handler runs, and progress printed meanwhile must not land in
    the function's log."""

    out: TextIO
    err: TextIO
    clients: Callable[[], ops.Clients]
    poll_seconds: float = POLL_SECONDS
    timeout_seconds: float | None = None  # None: follow until the execution ends

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def progress(self, text: str) -> None:
        # One write per line: print() writes the text and its newline apart, so a log line from another thread
        # (the emulator's interpreter, stopping) could land between them and join the CLI's message.
        self.err.write(f"{text}\n")
        self.err.flush()


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: ops.Clients | None = None,
    poll_seconds: float = POLL_SECONDS,
    timeout_seconds: float | None = None,
) -> int:
    args = parser().parse_args(argv)
    session = Session(sys.stdout, sys.stderr, lambda: clients or _aws_clients(), poll_seconds, timeout_seconds)
    try:
        return int(args.handler(args, session))
    except (UsageError, ops.OperatorError, BotoCoreError, ClientError) as error:
        session.progress(f"trailkeeper: {error}")
        return 2
    except Interrupted as error:
        session.progress(f"trailkeeper: {error}")
        return INTERRUPTED
    except KeyboardInterrupt:
        session.progress("trailkeeper: interrupted (Ctrl-C)")
        return INTERRUPTED


def _aws_clients() -> ops.Clients:
    """The standard credential chain and region (AWS_PROFILE, AWS_REGION, ...)."""
    aws = boto3.session.Session()
    return ops.Clients(
        cloudformation=aws.client("cloudformation"),
        stepfunctions=aws.client("stepfunctions"),
        s3=aws.client("s3"),
        cloudwatch=aws.client("cloudwatch"),
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="trailkeeper", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="dry-run backfill on a deployed stack: what it would add, and the SQL")
    _stack_option(plan)
    _request_options(plan)
    plan.add_argument("--show-sql", action="store_true", help="print the ALTER TABLE statements too")
    plan.add_argument(
        "--limit",
        type=_count,
        default=PLAN_PARTITIONS_SHOWN,
        metavar="N",
        help=f"partitions listed (default {PLAN_PARTITIONS_SHOWN}; 0 lists all)",
    )
    plan.set_defaults(handler=_plan)

    backfill = commands.add_parser("backfill", help="one backfill execution on a deployed stack")
    _stack_option(backfill)
    _request_options(backfill, dates_required=False)
    backfill.add_argument("--dry-run", action="store_true", help="plan and write statements, add nothing")
    backfill.add_argument(
        "--resume",
        metavar="EXECUTION",
        help="finish an earlier backfill: run only its unfinished shards (takes only --stack)",
    )
    backfill.set_defaults(handler=_backfill)

    status = commands.add_parser("status", help="last nightly executions, last report day and alarms of a stack")
    _stack_option(status)
    status.set_defaults(handler=_status)

    local = commands.add_parser(
        "local",
        help="run the real state machine offline on the embedded runtime (the local extra)",
        description="Offline commands: the template's stack on the embedded runtime (moto + DuckDB), over a "
        f"folder of trail objects. All but generate need the emulator; {LOCAL_EXTRA_HINT}.",
    )
    offline = local.add_subparsers(dest="local_command", required=True)

    demo = offline.add_parser("demo", help="generate a small organization's logs and run consecutive nights")
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("out/demo"),
        help="output folder: new, empty, or an earlier demo's (replaced); anything else is refused",
    )
    _timeout_option(demo)
    demo.set_defaults(handler=_local("demo"))

    run = offline.add_parser("run", help="run the nightly execution of each night D1..D2 over a logs folder")
    _logs_options(run)
    _day_range_options(run, "report day")
    _timeout_option(run)
    run.set_defaults(handler=_local("run"))

    local_backfill = offline.add_parser("backfill", help="one backfill execution over a logs folder")
    _logs_options(local_backfill)
    _day_range_options(local_backfill)
    local_backfill.add_argument("--dry-run", action="store_true", help="plan and write statements, add nothing")
    _timeout_option(local_backfill)
    local_backfill.set_defaults(handler=_local("backfill"))

    generate = offline.add_parser("generate", help="write a synthetic organization's trail bucket into a folder")
    generate.add_argument("out", type=Path, metavar="DIR", help="folder to write (created; must be empty)")
    generate.add_argument("--start", type=_date, default=dt.date(2024, 3, 1), help="first event day, YYYY-MM-DD")
    generate.add_argument("--days", type=_positive, default=3, help="event days (default 3)")
    generate.add_argument("--accounts", type=_positive, default=3, metavar="N", help="member accounts (default 3)")
    generate.add_argument(
        "--regions",
        nargs="+",
        default=["us-east-1", "eu-west-1"],
        metavar="REGION",
        help="regions each account logs in (default us-east-1 eu-west-1)",
    )
    generate.add_argument("--seed", type=int, default=7, help="the same seed writes the same bytes (default 7)")
    generate.set_defaults(handler=_generate)
    return top


def _stack_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--stack", required=True, help="name of a deployed trailkeeper CloudFormation stack")


def _request_options(command: argparse.ArgumentParser, dates_required: bool = True) -> None:
    _day_range_options(command, required=dates_required)
    command.add_argument("--accounts", nargs="+", default=[], metavar="ID", help="only these 12-digit account ids")
    command.add_argument("--regions", nargs="+", default=[], metavar="REGION", help="only these regions")


def _day_range_options(command: argparse.ArgumentParser, day: str = "day", required: bool = True) -> None:
    command.add_argument("--start", type=_date, required=required, help=f"first {day}, YYYY-MM-DD")
    command.add_argument("--end", type=_date, required=required, help=f"last {day}, YYYY-MM-DD")


def _logs_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--logs", type=Path, required=True, help="objects as they sit in the trail bucket")
    command.add_argument("--out", type=Path, required=True, help="output folder")
    command.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param,
        metavar="Name=Value",
        help="override a template parameter (repeatable), e.g. LookbackDays=7",
    )


def _timeout_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--timeout",
        type=_seconds,
        default=LOCAL_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"stop an execution still running after this long (default {LOCAL_TIMEOUT_SECONDS:g})",
    )


# ------------------------------------------------------------------------------------------------ deployed stack


def _plan(args: argparse.Namespace, session: Session) -> int:
    _check_window(args.start, args.end)
    clients = session.clients()
    stack = ops.describe_stack(clients.cloudformation, args.stack)
    request = ops.backfill_request(args.start, args.end, args.accounts, args.regions, dry_run=True)
    name = ops.plan_execution_name(request)
    arn = ops.start(clients.stepfunctions, stack.state_machine_arn, name, request)
    session.progress(f"started {name}")
    finished = _follow(clients, arn, name, session, ops.ShardTracker(clients.s3, stack.results_bucket, name))
    if finished is None:
        return 130
    session.say(ops.summary(finished))
    if finished.status != "SUCCEEDED" or finished.output is None:
        return 1
    output = finished.output
    missing = int(output.get("missing", 0))
    keys = ops.statement_keys(clients.s3, stack.results_bucket, name, output)
    if missing:
        # Statements are read lazily: a long backfill's plan can hold hundreds of 256 KB statements.
        session.say(f"partitions it would add ({missing}):")
        lines = ops.partitions(ops.read_statements(clients.s3, stack.results_bucket, keys))
        for line in itertools.islice(lines, args.limit or None):
            session.say(f"  {line}")
        if 0 < args.limit < missing:
            session.say(f"  ... and {missing - args.limit} more (--limit 0 lists all)")
    session.say(f"statements: s3://{stack.results_bucket}/{output['runs_prefix']}shards/<shard>/statements/")
    if args.show_sql:
        statements = ops.read_statements(clients.s3, stack.results_bucket, keys)
        for key, statement in zip(keys, statements, strict=True):
            session.say(f"-- s3://{stack.results_bucket}/{key}\n{sanitise.terminal(statement)};")
    return 0


def _backfill(args: argparse.Namespace, session: Session) -> int:
    if args.resume is not None:
        if args.start or args.end or args.accounts or args.regions or args.dry_run:
            raise UsageError("--resume takes only --stack: the rest comes from the execution it resumes")
    elif args.start is None or args.end is None:
        raise UsageError("backfill needs --start and --end (or --resume)")
    else:
        _check_window(args.start, args.end)
    clients = session.clients()
    stack = ops.describe_stack(clients.cloudformation, args.stack)
    if args.resume is not None:
        request = ops.resume_request(clients.stepfunctions, stack.state_machine_arn, args.resume)
    else:
        request = ops.backfill_request(args.start, args.end, args.accounts, args.regions, dry_run=args.dry_run)
    name = ops.backfill_execution_name(request)
    arn, started = ops.start_or_find(clients.stepfunctions, stack.state_machine_arn, name, request)
    session.progress(
        f"started {name}" if started else f"{name} already exists (same request): following it, not starting another"
    )
    finished = _follow(clients, arn, name, session, ops.ShardTracker(clients.s3, stack.results_bucket, name))
    if finished is None:
        return 130
    session.say(ops.summary(finished))
    if finished.status == "SUCCEEDED":
        return 0
    if finished.error == "ShardsFailed":
        session.say(f"to run only the unfinished shards: trailkeeper backfill --stack {args.stack} --resume {name}")
    else:
        session.say(
            f"to resume it from the failed state (within 14 days of the failure): "
            f"aws stepfunctions redrive-execution --execution-arn {arn}"
        )
    return 1


def _status(args: argparse.Namespace, session: Session) -> int:
    clients = session.clients()
    stack = ops.describe_stack(clients.cloudformation, args.stack)
    session.say(ops.render_status(ops.stack_status(clients, stack)))
    return 0


def _follow(
    clients: ops.Clients, arn: str, name: str, session: Session, shards: ops.ShardTracker | None = None
) -> ops.Finished | None:
    """The finished execution, or None when following stopped (Ctrl-C, timeout): the execution goes on."""
    try:
        return ops.follow(
            clients.stepfunctions, arn, session.progress, session.poll_seconds, session.timeout_seconds, shards=shards
        )
    except (KeyboardInterrupt, ops.FollowTimeout):
        session.progress(f"stopped following {name}; the execution goes on: {arn}")
        return None


# ------------------------------------------------------------------------------------------------ offline


def _local(command: str) -> Callable[[argparse.Namespace, Session], int]:
    """The `local` command's handler, importing the embedded runtime only when it runs."""

    def handler(args: argparse.Namespace, session: Session) -> int:
        for package in sorted(LOCAL_EXTRA_MODULES):  # some load only mid-run: check them all before starting
            try:
                importlib.import_module(package)
            except ImportError:
                raise UsageError(
                    f"local {command} needs the embedded runtime ({package} is not installed): {LOCAL_EXTRA_HINT}"
                ) from None
        local = importlib.import_module("trailkeeper_cli.local")
        if command in {"run", "backfill"}:
            _check_window(args.start, args.end)
        handle: Callable[[argparse.Namespace, Session], int] = getattr(local, command)
        return handle(args, session)

    return handler


def _generate(args: argparse.Namespace, session: Session) -> int:
    """Generating needs no emulator: trailgen is stdlib only."""
    from trailgen.generator import TrailSpec, generate

    try:
        last = args.start + dt.timedelta(days=args.days - 1)
    except OverflowError:  # past 9999-12-31, so in the future all the same
        last = dt.date.max
    _check_window(args.start, last, end_flag="--days")
    try:
        spec = TrailSpec(
            start=args.start, days=args.days, accounts=args.accounts, regions=tuple(args.regions), seed=args.seed
        )
        if args.out.exists() and not args.out.is_dir():
            raise UsageError(f"{args.out}: not a folder")
        if args.out.is_dir() and any(args.out.iterdir()):
            raise UsageError(f"{args.out} is not empty; generate into a fresh folder")
    except ValueError as error:  # TrailSpec's own checks: the options' values
        raise UsageError(str(error)) from None
    truth = generate(spec, args.out)
    session.say(
        f"generated {truth.files} log files ({truth.records} events) for {len(truth.accounts)} accounts "
        f"in {len(spec.regions)} region(s), {spec.start}..{spec.end}, in {args.out}"
    )
    return 0


# ------------------------------------------------------------------------------------------------ arguments


def _check_window(start: dt.date, end: dt.date, end_flag: str = "--end") -> None:
    """Every day the CLI takes lies between CloudTrail's start and today (UTC): no logs exist outside, and the
    state machine refuses such days too (trailkeeper.inputs). It also keeps date arithmetic away from the
    calendar's edges (a night D runs on D+1; 9999-12-31 has no next day)."""
    if start > end:
        raise UsageError(f"--start {start} is after {end_flag} {end}")
    if start < EARLIEST_DAY:
        raise UsageError(f"--start {start} is before CloudTrail existed ({EARLIEST_DAY})")
    today = dt.datetime.now(dt.UTC).date()
    if end > today:
        shown = f"the last day {end}" if end_flag == "--days" else f"--end {end}"
        raise UsageError(f"{shown} is in the future (today is {today}, UTC)")


def _date(text: str) -> dt.date:
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number 0 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number 1 or more")
    return value


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not Name=Value")
    return name, value


if __name__ == "__main__":
    sys.exit(main())
