"""`trailkeeper`: run the real state machine offline on the embedded runtime, or operate a deployed stack.

  trailkeeper demo     [--out DIR]
  trailkeeper run      --logs DIR --from D1 --to D2 --out OUT [--param Name=Value ...]
  trailkeeper backfill --logs DIR --start D1 --end D2 --out OUT [--dry-run] [--param Name=Value ...]

  trailkeeper plan     --stack NAME --start D1 --end D2 [--accounts ID ...] [--regions R ...] [--show-sql]
  trailkeeper backfill --stack NAME --start D1 --end D2 [--accounts ID ...] [--regions R ...]
  trailkeeper backfill --stack NAME --resume EXECUTION     (run only the shards that did not finish there)
  trailkeeper status   --stack NAME

Exit status 0 only if every execution succeeded; otherwise the failed state and its cause are printed (1).
Bad arguments, a stack that is not trailkeeper's and AWS errors exit with 2; a follow that was interrupted
with 130 (the execution goes on: the same backfill command follows it again).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from localaws import local_run
from localaws import operator as ops
from localaws.generator import NewPrincipal, NewRegion, SilentFrom, TrailSpec, account_id, generate

DEMO_START = dt.date(2024, 3, 1)
DEMO_NIGHTS = 3
POLL_SECONDS = 5.0
PLAN_PARTITIONS_SHOWN = 50


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
        print(text, file=self.err, flush=True)


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: ops.Clients | None = None,
    poll_seconds: float = POLL_SECONDS,
    timeout_seconds: float | None = None,
) -> int:
    args = _parser().parse_args(argv)
    session = Session(sys.stdout, sys.stderr, lambda: clients or _aws_clients(), poll_seconds, timeout_seconds)
    try:
        return int(args.handler(args, session))
    except (local_run.LayoutError, ValueError, ops.OperatorError, BotoCoreError, ClientError) as error:
        session.progress(f"trailkeeper: {error}")
        return 2


def _aws_clients() -> ops.Clients:
    """The standard credential chain and region (AWS_PROFILE, AWS_REGION, ...)."""
    aws = boto3.session.Session()
    return ops.Clients(
        cloudformation=aws.client("cloudformation"),
        stepfunctions=aws.client("stepfunctions"),
        s3=aws.client("s3"),
        cloudwatch=aws.client("cloudwatch"),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trailkeeper", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate a small organization's logs and run consecutive nights")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (replaced)")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser("run", help="run the nightly execution of each night D1..D2 over a logs folder")
    run.add_argument("--logs", type=Path, required=True, help="objects as they sit in the trail bucket")
    _local_options(run, out_required=True)
    run.add_argument("--from", dest="first", type=_date, required=True, help="first report day, YYYY-MM-DD")
    run.add_argument("--to", dest="last", type=_date, required=True, help="last report day, YYYY-MM-DD")
    run.set_defaults(handler=_run)

    backfill = commands.add_parser(
        "backfill", help="one backfill execution: over a logs folder (--logs) or on a deployed stack (--stack)")
    source = backfill.add_mutually_exclusive_group(required=True)
    source.add_argument("--logs", type=Path, help="objects as they sit in the trail bucket (embedded runtime)")
    source.add_argument("--stack", help="name of a deployed trailkeeper CloudFormation stack")
    _local_options(backfill, out_required=False)
    _request_options(backfill, dates_required=False)
    backfill.add_argument("--dry-run", action="store_true", help="plan and write statements, add nothing")
    backfill.add_argument("--resume", metavar="EXECUTION",
                          help="finish an earlier backfill: run only its unfinished shards (with --stack)")
    backfill.set_defaults(handler=_backfill)

    plan = commands.add_parser("plan", help="dry-run backfill on a deployed stack: what it would add, and the SQL")
    plan.add_argument("--stack", required=True, help="name of a deployed trailkeeper CloudFormation stack")
    _request_options(plan)
    plan.add_argument("--show-sql", action="store_true", help="print the ALTER TABLE statements too")
    plan.add_argument("--limit", type=int, default=PLAN_PARTITIONS_SHOWN, metavar="N",
                      help=f"partitions listed (default {PLAN_PARTITIONS_SHOWN}; 0 lists all)")
    plan.set_defaults(handler=_plan)

    status = commands.add_parser("status", help="last nightly executions, last report day and alarms of a stack")
    status.add_argument("--stack", required=True, help="name of a deployed trailkeeper CloudFormation stack")
    status.set_defaults(handler=_status)
    return parser


def _local_options(parser: argparse.ArgumentParser, out_required: bool) -> None:
    parser.add_argument("--out", type=Path, required=out_required, help="output folder (with --logs)")
    parser.add_argument("--param", action="append", default=[], type=_param, metavar="Name=Value",
                        help="override a template parameter (repeatable), e.g. LookbackDays=7 (with --logs)")


def _request_options(parser: argparse.ArgumentParser, dates_required: bool = True) -> None:
    parser.add_argument("--start", type=_date, required=dates_required, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_date, required=dates_required, help="last day, YYYY-MM-DD")
    parser.add_argument("--accounts", nargs="+", default=[], metavar="ID",
                        help="only these 12-digit account ids (with --stack)")
    parser.add_argument("--regions", nargs="+", default=[], metavar="REGION",
                        help="only these regions (with --stack)")


# ------------------------------------------------------------------------------------------------ embedded runtime


def _run(args: argparse.Namespace, session: Session) -> int:
    _check_logs(args.logs)
    nights = local_run.run_nights(args.logs, args.first, args.last, args.out, dict(args.param), session.progress)
    failed = [night for night in nights if night.execution.status != "SUCCEEDED"]
    session.say(f"outputs: {args.out}/<day>/execution.json, report files, and {args.out}/catalog.json")
    return 1 if failed else 0


def _backfill(args: argparse.Namespace, session: Session) -> int:
    if args.resume is not None:
        if args.stack is None or args.start or args.end or args.accounts or args.regions or args.dry_run:
            raise ValueError("--resume takes only --stack: the rest comes from the execution it resumes")
    elif args.start is None or args.end is None:
        raise ValueError("backfill needs --start and --end (or --stack and --resume)")
    if args.stack is not None:
        return _backfill_stack(args, session)
    if args.out is None:
        raise ValueError("backfill --logs needs --out")
    if args.accounts or args.regions:
        raise ValueError("--accounts and --regions are for --stack")
    _check_logs(args.logs)
    execution = local_run.run_backfill(args.logs, args.start, args.end, args.out, dict(args.param),
                                       args.dry_run, session.progress)
    session.say(f"outputs: {args.out}/execution.json and {args.out}/catalog.json")
    return 0 if execution.status == "SUCCEEDED" else 1


def _demo(args: argparse.Namespace, session: Session) -> int:
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
            SilentFrom(last, account_id(3), "eu-west-1"),
        ),
    )


# ------------------------------------------------------------------------------------------------ deployed stack


def _plan(args: argparse.Namespace, session: Session) -> int:
    if args.limit < 0:
        raise ValueError("--limit must be 0 or more")
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
            session.say(f"-- s3://{stack.results_bucket}/{key}\n{ops.printable(statement)};")
    return 0


def _backfill_stack(args: argparse.Namespace, session: Session) -> int:
    if args.out is not None or args.param:
        raise ValueError("--out and --param are for --logs")
    clients = session.clients()
    stack = ops.describe_stack(clients.cloudformation, args.stack)
    if args.resume is not None:
        request = ops.resume_request(clients.stepfunctions, stack.state_machine_arn, args.resume)
    else:
        request = ops.backfill_request(args.start, args.end, args.accounts, args.regions, dry_run=args.dry_run)
    name = ops.backfill_execution_name(request)
    arn, started = ops.start_or_find(clients.stepfunctions, stack.state_machine_arn, name, request)
    session.progress(f"started {name}" if started else f"{name} already exists (same request): following it, "
              "not starting another")
    finished = _follow(clients, arn, name, session, ops.ShardTracker(clients.s3, stack.results_bucket, name))
    if finished is None:
        return 130
    session.say(ops.summary(finished))
    if finished.status == "SUCCEEDED":
        return 0
    if finished.error == "ShardsFailed":
        session.say(f"to run only the unfinished shards: trailkeeper backfill --stack {args.stack} --resume {name}")
    else:
        session.say(f"to resume it from the failed state (within 14 days of the failure): "
                    f"aws stepfunctions redrive-execution --execution-arn {arn}")
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
        return ops.follow(clients.stepfunctions, arn, session.progress, session.poll_seconds, session.timeout_seconds,
                          shards=shards)
    except (KeyboardInterrupt, ops.FollowTimeout):
        session.progress(f"stopped following {name}; the execution goes on: {arn}")
        return None


# ------------------------------------------------------------------------------------------------ arguments


def _check_logs(logs: Path) -> None:
    if not logs.is_dir():
        raise ValueError(f"--logs {logs}: not a folder")


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
