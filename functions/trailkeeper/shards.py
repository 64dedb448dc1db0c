"""Sharded backfills: split a backfill into (month, account group) shards, and add up what they did.

A backfill of a large organization is too big for one execution (25,000 history events, 1,000 Map items)
and for one Lambda's memory and 15 minutes. PlanShards writes the shard list to S3; a Distributed Map runs
Plan -> Add -> Verify per shard as its own child execution; SummariseShards reads each shard's outcome.
A shard is bounded both in partitions (Lambda time and memory) and in statement bytes (the child's Map and
history), so every shard fits one child execution whatever the organization's size.

Files under runs/<run>/:  backfill.json (the request and shard count), shards.json (the Map's items),
shards/<id>/plan.json, shards/<id>/statements/<i>.sql, outcomes/<id>.json (written when the shard is
verified, or planned in a dry run: it is what marks a shard done), failures/<id>.json (why a shard failed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from trailkeeper import allowlist, aws
from trailkeeper.config import Settings
from trailkeeper.ddl import statement_header
from trailkeeper.discovery import no_data_alarm
from trailkeeper.envelope import cause_message
from trailkeeper.errors import InvalidInput, ShardsFailed
from trailkeeper.inputs import RunRequest
from trailkeeper.layout import backfill_key, failure_key, outcome_key, run_prefix, shards_key, summary_key
from trailkeeper.planner import ClauseBuilder, Pair, Window
from trailkeeper.reconcile import Clients, discover_pairs
from trailkeeper.schemes import PartitionScheme

# One child execution runs at most this many statements: ~13 history events each stays far below 25,000,
# and the child's Map (States.ArrayRange) allows 1,000 items.
SHARD_MAX_STATEMENTS = 500
# Accounts listed in one shard's request: keeps each Map item (and the child's input) a few KB.
SHARD_MAX_ACCOUNTS = 1_000
FAILED_IDS_SHOWN = 20
FAILURE_CHARS = 500
OUTCOME_READERS = 16


@dataclass(frozen=True)
class Shard:
    id: str
    request: RunRequest
    expected: int  # partitions the shard covers (account, region, day), present or not

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.id, "request": self.request.to_json(), "expected": self.expected}

    @classmethod
    def from_json(cls, data: Any) -> Shard:
        if not isinstance(data, dict) or not allowlist.SHARD_ID.fullmatch(str(data.get("shard"))):
            raise InvalidInput("shard: expected an item PlanShards wrote")
        return cls(data["shard"], RunRequest.from_json(data["request"]), int(data["expected"]))


def months(start: dt.date, end: dt.date) -> Iterator[tuple[dt.date, dt.date]]:
    """Calendar months of [start, end], clipped to it."""
    first = start
    while first <= end:
        next_month = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        last = min(end, next_month - dt.timedelta(days=1))
        yield first, last
        first = next_month


def split(
    request: RunRequest,
    regions_by_account: Mapping[str, tuple[str, ...]],
    pair_bytes: Mapping[Pair, int],
    max_partitions: int,
    max_clause_bytes: int,
) -> list[Shard]:
    """Months x consecutive account groups, each group as large as both bounds allow (at least one account).

    pair_bytes is the byte size of one day's ADD clause for each (account, region): a shard's clauses,
    were all of them missing, fit in max_clause_bytes, so its statements fit one child's budget.
    """
    accounts = sorted(regions_by_account)
    shards: list[Shard] = []
    for first, last in months(request.start, request.end):
        days = (last - first).days + 1
        group: list[str] = []
        partitions = clause_bytes = 0
        for account in accounts:
            regions = regions_by_account[account]
            add_partitions = len(regions) * days
            add_bytes = sum(pair_bytes[(account, region)] for region in regions) * days
            if group and (
                partitions + add_partitions > max_partitions
                or clause_bytes + add_bytes > max_clause_bytes
                or len(group) == SHARD_MAX_ACCOUNTS
            ):
                shards.append(_shard(len(shards), request, first, last, group, partitions))
                group, partitions, clause_bytes = [], 0, 0
            group.append(account)
            partitions += add_partitions
            clause_bytes += add_bytes
        if group:
            shards.append(_shard(len(shards), request, first, last, group, partitions))
    return shards


def split_within_limits(
    request: RunRequest,
    regions_by_account: Mapping[str, tuple[str, ...]],
    scheme: PartitionScheme,
    settings: Settings,
) -> list[Shard]:
    """split() with the configured shard size and SHARD_MAX_STATEMENTS statements' worth of clause bytes."""
    builder = ClauseBuilder(scheme, settings, Window(request.start, request.start))
    pair_bytes = {(a, r): builder.clause_bytes((a, r)) for a, regions in regions_by_account.items() for r in regions}
    room = settings.MAX_STATEMENT_BYTES - len(statement_header(settings.DATABASE_NAME, settings.TABLE_NAME))
    return split(
        request, regions_by_account, pair_bytes, settings.BACKFILL_SHARD_PARTITIONS, SHARD_MAX_STATEMENTS * room
    )


def _shard(index: int, request: RunRequest, first: dt.date, last: dt.date, group: list[str], expected: int) -> Shard:
    shard_request = replace(request, start=first, end=last, accounts=frozenset(group), resume=None)
    return Shard(f"s{index:05d}", shard_request, expected)


def plan_shards(request: RunRequest, settings: Settings, clients: Clients, run_id: str) -> dict[str, Any]:
    """Write runs/<run>/shards.json (the Distributed Map's items); return the counts the ASL needs.

    With request.resume, the shards are those of the named earlier run that did not finish there, so a
    failed backfill is finished without redoing (or even re-planning) the shards that were done.
    """
    request_key, items_key = backfill_key(run_id), shards_key(run_id)  # the run id is checked before any work
    alarm = None  # a resumed backfill's alarm was its first run's
    if request.resume is not None:
        shards, already_done = _unfinished_shards(request, settings, clients)
    else:
        scheme, found, _ = discover_pairs(request, settings, clients)
        shards = split_within_limits(request, found.regions_by_account, scheme, settings)
        already_done = 0
        alarm = no_data_alarm(found, settings)
    aws.put_json(
        clients.s3,
        settings.RESULTS_BUCKET,
        request_key,
        {
            "request": replace(request, resume=None).to_json(),
            "shards": len(shards),
            "already_done": already_done,
            "no_data_alarm": alarm,
        },
    )
    aws.put_json(clients.s3, settings.RESULTS_BUCKET, items_key, [s.to_json() for s in shards])
    return {
        "shards": len(shards),
        "already_done": already_done,
        "resumed_from": request.resume,
        "shards_key": items_key,
        "shard_concurrency": settings.BACKFILL_SHARD_CONCURRENCY,
    }


def _unfinished_shards(request: RunRequest, settings: Settings, clients: Clients) -> tuple[list[Shard], int]:
    assert request.resume is not None
    recorded = aws.get_json_if_exists(clients.s3, settings.RESULTS_BUCKET, backfill_key(request.resume))
    if recorded is None:
        raise InvalidInput(f"resume: {request.resume!r} is not a backfill execution of this stack")
    if recorded.get("request") != replace(request, resume=None).to_json():
        raise InvalidInput(
            f"resume: {request.resume!r} was a different backfill (start, end, accounts, regions "
            "or dry_run differ); resume it with its own input"
        )
    shards = _load_shards(settings, clients, request.resume)
    outcomes = _read_outcomes(settings, clients, request.resume, shards)
    unfinished = [shard for shard, outcome in zip(shards, outcomes, strict=True) if outcome is None]
    return unfinished, int(recorded.get("already_done", 0)) + len(shards) - len(unfinished)


def summarise_shards(request: RunRequest, settings: Settings, clients: Clients, run_id: str) -> dict[str, Any]:
    """Add up the shards' outcomes; ShardsFailed (after writing the summary) if any shard did not finish."""
    prefix = run_prefix(run_id)
    backfill = aws.get_json(clients.s3, settings.RESULTS_BUCKET, backfill_key(run_id))
    shards = _load_shards(settings, clients, run_id)
    outcomes = _read_outcomes(settings, clients, run_id, shards)
    done = [outcome for outcome in outcomes if outcome is not None]
    failed = [shard.id for shard, outcome in zip(shards, outcomes, strict=True) if outcome is None]
    first_failure = _failure(settings, clients, run_id, failed[0]) if failed else None
    already_done = int(backfill.get("already_done", 0))
    summary = {
        "mode": "backfill",
        "dry_run": request.dry_run,
        "window": {"start": request.start.isoformat(), "end": request.end.isoformat()},
        "shards": {
            "total": len(shards) + already_done,
            "run": len(shards),
            "done": len(done),
            "failed": len(failed),
            "failed_ids": failed[:FAILED_IDS_SHOWN],
            "already_done": already_done,
            "resumed_from": request.resume,
        },
        "accounts": len({account for shard in shards for account in shard.request.accounts or ()}),
        "days": len(Window(request.start, request.end)),
        **{
            field: sum(int(outcome[field]) for outcome in done)
            for field in ("expected", "existing", "missing", "added", "statements")
        },
        "relocated": sum(int(outcome.get("relocated", 0)) for outcome in done),  # each shard its own partitions
        "anomalies": {"count": max((int(o["anomalies"]["count"]) for o in done), default=0)},
        "no_data_alarm": backfill.get("no_data_alarm"),
        "runs_prefix": prefix,
    }
    aws.put_json(clients.s3, settings.RESULTS_BUCKET, summary_key(run_id), summary)
    if failed:
        raise ShardsFailed(
            f"{len(failed)} of {len(shards)} shards did not finish ({', '.join(failed[:FAILED_IDS_SHOWN])}"
            f"{', ...' if len(failed) > FAILED_IDS_SHOWN else ''}); {failed[0]}: {first_failure}. "
            f"The other {len(done)} added {summary['added']} partitions. Finish it with the same input plus "
            f'"resume": "{run_id}" (trailkeeper backfill --stack STACK --resume {run_id}): only '
            "unfinished shards run again."
        )
    return summary


def _load_shards(settings: Settings, clients: Clients, run_id: str) -> list[Shard]:
    return [Shard.from_json(item) for item in aws.get_json(clients.s3, settings.RESULTS_BUCKET, shards_key(run_id))]


def _failure(settings: Settings, clients: Clients, run_id: str, shard: str) -> str:
    """Why a shard failed, as its child execution recorded it (runs/<run>/failures/<id>.json)."""
    recorded = aws.get_json_if_exists(clients.s3, settings.RESULTS_BUCKET, failure_key(run_id, shard))
    if not isinstance(recorded, dict):
        return "no failure recorded (the child execution was stopped, timed out or never started)"
    return f"{recorded.get('Error')}: {readable_cause(recorded.get('Cause'))}"


def readable_cause(cause: Any) -> str:
    """A Lambda error envelope's message alone; other causes as they are, cut to FAILURE_CHARS."""
    text = cause_message(str(cause))
    return text if len(text) <= FAILURE_CHARS else text[: FAILURE_CHARS - 3] + "..."


def _read_outcomes(
    settings: Settings, clients: Clients, run_id: str, shards: Sequence[Shard]
) -> list[dict[str, Any] | None]:
    """Each shard's outcome, or None if it has none (failed or never ran)."""

    def outcome(shard: Shard) -> dict[str, Any] | None:
        data: dict[str, Any] | None = aws.get_json_if_exists(
            clients.s3, settings.RESULTS_BUCKET, outcome_key(run_id, shard.id)
        )
        return data

    with ThreadPoolExecutor(max_workers=OUTCOME_READERS) as pool:  # S3 latency, not CPU, is the cost
        return list(pool.map(outcome, shards))
