"""Reconciliation: what partitions should exist, which Glue already has, and the DDL for the rest.

The plan is written to the results bucket (statements, and the (account, region) pairs for verify),
and only keys and counts travel through the state machine, whose payloads are capped at 256 KiB.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from trailkeeper import aws
from trailkeeper.config import Settings
from trailkeeper.ddl import pack_statements, relocation_statements, statement_header
from trailkeeper.discovery import ANOMALY_SAMPLE, Discovery, discover, no_data_alarm, scan_date_folders
from trailkeeper.errors import PartitionsStillMissing, PlanTooLarge
from trailkeeper.inputs import RunRequest
from trailkeeper.layout import outcome_key, plan_key, shard_prefix, statement_key, statements_prefix
from trailkeeper.planner import ClauseBuilder, Drift, ExistingIndex, Pair, Window
from trailkeeper.schemes import PartitionScheme, scheme_for_table

# The AddPartitions Map iterates States.ArrayRange(0, count - 1, 1), which yields at most 1,000 items.
MAX_STATEMENTS_PER_RUN = 1_000
MISSING_SAMPLE = 5
ANOMALY_KEY_CHARS = 200


@dataclass(frozen=True)
class Clients:
    s3: Any
    glue: Any


def discover_pairs(
    request: RunRequest, settings: Settings, clients: Clients
) -> tuple[PartitionScheme, Discovery, list[Pair]]:
    """The table's scheme, what the bucket holds for the request, and its (account, region) pairs in order."""
    scheme = _scheme(settings, clients)
    found = discover(aws.s3_lister(clients.s3, settings.TRAIL_BUCKET), settings, request.accounts, request.regions)
    _keep_only_fixed_account(found, scheme)
    pairs = sorted((account, region) for account, regions in found.regions_by_account.items() for region in regions)
    return scheme, found, pairs


def plan_run(
    request: RunRequest, settings: Settings, clients: Clients, run_id: str, shard: str | None = None
) -> dict[str, Any]:
    """Discover, diff against Glue, write the statements; return the counts and where things are."""
    prefix = shard_prefix(run_id, shard)
    scheme, found, pairs = discover_pairs(request, settings, clients)
    window = Window(request.start, request.end)
    if request.mode == "nightly":  # the window's date folders, for names CloudTrail does not write (bounded)
        lister = aws.s3_page_lister(clients.s3, settings.TRAIL_BUCKET)
        scan_date_folders(lister, settings.logs_root, pairs, window.start, window.end, found)
    builder = ClauseBuilder(scheme, settings, window)
    existing = _existing(scheme, window, settings, clients, pairs, builder)
    header = statement_header(settings.DATABASE_NAME, settings.TABLE_NAME)

    missing = sum(existing.missing_days(pair) for pair in pairs)
    _refuse_oversized(builder, pairs, existing, header, settings.MAX_STATEMENT_BYTES)
    statements = 0
    folder = statements_prefix(prefix)
    added = pack_statements(header, builder.missing_clauses(pairs, existing), settings.MAX_STATEMENT_BYTES)
    # Drifted partitions are repaired in place: the same Map runs these statements after the ADDs.
    relocated = relocation_statements(
        settings.DATABASE_NAME, settings.TABLE_NAME, (builder.relocation_clause(drift) for drift in existing.drifted)
    )
    for statement in itertools.chain(added, relocated):
        aws.put_text(clients.s3, settings.RESULTS_BUCKET, statement_key(folder, statements), statement)
        statements += 1

    summary = {
        "mode": request.mode,
        "dry_run": request.dry_run,
        "window": {"start": request.start.isoformat(), "end": request.end.isoformat()},
        "scheme": scheme.name,
        "accounts": len(found.regions_by_account),
        "regions": len({region for _, region in pairs}),
        "days": len(window),
        "expected": len(pairs) * len(window),
        "existing": len(pairs) * len(window) - missing,
        "missing": missing,
        "added": 0,
        "relocated": len(existing.drifted),
        "statements": statements,
        "ddl_concurrency": settings.ATHENA_DDL_CONCURRENCY,
        "statements_prefix": folder,
        "statements_location": f"s3://{settings.RESULTS_BUCKET}/{folder}",
        "anomalies": _anomalies(found, builder, existing.drifted),
        "filtered_out": found.filtered_out,
        "date_listings": found.date_listings,
        # Zero accounts is an alarm, not a quiet night (the report shows it; the NoData alarm watches the metric).
        "no_data_alarm": no_data_alarm(found, settings),
    }
    aws.put_json(clients.s3, settings.RESULTS_BUCKET, plan_key(prefix), {"summary": summary, "pairs": pairs})
    if shard is not None and request.dry_run:
        aws.put_json(clients.s3, settings.RESULTS_BUCKET, outcome_key(run_id, shard), summary)
    return summary


def verify_run(
    request: RunRequest, settings: Settings, clients: Clients, run_id: str, shard: str | None = None
) -> dict[str, Any]:
    """Every expected partition of the plan must now be in Glue; else PartitionsStillMissing.

    A verified shard records its outcome (runs/<run>/outcomes/<id>.json): that file is what marks the
    shard done for the summary, for progress, and for a resumed backfill.
    """
    prefix = shard_prefix(run_id, shard)
    plan = aws.get_json(clients.s3, settings.RESULTS_BUCKET, plan_key(prefix))
    summary: dict[str, Any] = plan["summary"]
    if summary["missing"] or summary.get("relocated"):
        pairs: list[Pair] = [(account, region) for account, region in plan["pairs"]]
        window = Window(request.start, request.end)
        scheme = _scheme(settings, clients)
        builder = ClauseBuilder(scheme, settings, window)
        existing = _existing(scheme, window, settings, clients, pairs, builder)
        still_missing = sum(existing.missing_days(pair) for pair in pairs)
        if still_missing:
            sample = itertools.islice(
                (
                    f"{account}/{region}/{day.isoformat()}"
                    for account, region in pairs
                    for index, day in enumerate(window.days)
                    if not existing.has((account, region), index)
                ),
                MISSING_SAMPLE,
            )
            raise PartitionsStillMissing(
                f"{still_missing} of {summary['expected']} expected partitions are still missing after adding, "
                f"e.g. {', '.join(sample)}"
            )
        if existing.drifted:
            drifted = [
                f"{builder.describe(d)} at {d.location[:ANOMALY_KEY_CHARS]}" for d in existing.drifted[:MISSING_SAMPLE]
            ]
            raise PartitionsStillMissing(
                f"{len(existing.drifted)} partitions still point away from their folder after repairing, "
                f"e.g. {', '.join(drifted)}"
            )
    outcome = {**summary, "added": summary["missing"]}
    if shard is not None:
        aws.put_json(clients.s3, settings.RESULTS_BUCKET, outcome_key(run_id, shard), outcome)
    return outcome


def _scheme(settings: Settings, clients: Clients) -> PartitionScheme:
    table = aws.get_table(clients.glue, settings.DATABASE_NAME, settings.TABLE_NAME)
    return scheme_for_table(table, settings)


def _existing(
    scheme: PartitionScheme,
    window: Window,
    settings: Settings,
    clients: Clients,
    pairs: list[Pair],
    builder: ClauseBuilder,
) -> ExistingIndex:
    """What Glue has of these pairs over the window, and which of those point away from their folder. Only their
    accounts' range is listed, and only their bitmaps kept: a shard of an organization reads and holds its own
    partitions, not the whole month's."""
    index = ExistingIndex(scheme, window, only=frozenset(pairs), location_of=builder.location)
    accounts = (pairs[0][0], pairs[-1][0]) if pairs else None  # pairs are sorted
    for values, location in aws.partitions(
        clients.glue,
        settings.DATABASE_NAME,
        settings.TABLE_NAME,
        scheme.glue_expression(window.start, window.end, accounts),
        expected_size=len(pairs) * len(window),
    ):
        index.add(values, location)
    return index


def _refuse_oversized(
    builder: ClauseBuilder, pairs: list[Pair], existing: ExistingIndex, header: str, limit: int
) -> None:
    """Fail before writing anything when the plan cannot fit one execution's Map."""
    clause_bytes = sum(existing.missing_days(pair) * builder.clause_bytes(pair) for pair in pairs)
    at_least = math.ceil(clause_bytes / (limit - len(header))) + len(existing.drifted)  # one per relocation
    if at_least > MAX_STATEMENTS_PER_RUN:
        raise PlanTooLarge(
            f"the missing partitions need at least {at_least} statements; one execution runs at most "
            f"{MAX_STATEMENTS_PER_RUN}. Run a backfill over the window: backfills are split into shards that fit."
        )


def _keep_only_fixed_account(found: Discovery, scheme: PartitionScheme) -> None:
    """A single-account table holds one account; other accounts' folders are not its partitions."""
    if scheme.fixed_account is None:
        return
    for account in [a for a in found.regions_by_account if a != scheme.fixed_account]:
        del found.regions_by_account[account]
        found.filtered_out += 1


def _anomalies(found: Discovery, builder: ClauseBuilder, drifted: list[Drift]) -> dict[str, Any]:
    """Bucket anomalies, then every partition whose LOCATION was repaired: drift hides a folder's logs from
    Athena, and someone with glue:UpdatePartition can cause it on purpose, so each repair is reported."""
    repairs = [
        {
            "kind": "partition_location_repaired",
            "key": f"{builder.describe(d)} pointed at {d.location}"[:ANOMALY_KEY_CHARS],
        }
        for d in drifted
    ]
    bucket = [{"kind": a.kind, "key": a.key[:ANOMALY_KEY_CHARS]} for a in found.anomaly_sample]
    return {
        "count": found.anomaly_count + len(drifted),
        "sample": (repairs + bucket)[:ANOMALY_SAMPLE],
    }
