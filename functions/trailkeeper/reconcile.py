"""Reconciliation: what partitions should exist, which Glue already has, and the DDL for the rest.

The plan is written to the results bucket (statements and the missing list), and only keys and
counts travel through the state machine, whose payloads are capped at 256 KiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trailkeeper import allowlist, aws
from trailkeeper.config import Settings
from trailkeeper.ddl import pack_statements, partition_clause, statement_header
from trailkeeper.discovery import Discovery, discover
from trailkeeper.errors import InvalidInput, PartitionsStillMissing, PlanTooLarge
from trailkeeper.inputs import RunRequest
from trailkeeper.schemes import PartitionRef, PartitionScheme, scheme_for_table

# The AddPartitions Map iterates States.ArrayRange(0, count - 1, 1), which yields at most 1,000 items.
MAX_STATEMENTS_PER_RUN = 1_000
MISSING_SAMPLE = 5
ANOMALY_KEY_CHARS = 200


@dataclass(frozen=True)
class Clients:
    s3: Any
    glue: Any


def run_prefix(run_id: str) -> str:
    if not allowlist.EXECUTION_NAME.fullmatch(run_id):
        raise InvalidInput(f"run: {run_id!r} is not an execution name")
    return f"runs/{run_id}/"


def plan_run(request: RunRequest, settings: Settings, clients: Clients, run_id: str) -> dict[str, Any]:
    """Discover, diff against Glue, write the statements; return the counts and where things are."""
    prefix = run_prefix(run_id)
    scheme = _scheme(settings, clients)
    found = discover(aws.s3_lister(clients.s3, settings.TRAIL_BUCKET), settings, request.accounts, request.regions)
    _keep_only_fixed_account(found, scheme)
    days = [day.isoformat() for day in request.days]
    expected = [
        (account, region, day)
        for account, regions in sorted(found.regions_by_account.items())
        for region in regions
        for day in days
    ]
    existing = _existing(scheme, settings, clients, request, len(expected))
    missing = [ref for ref in expected if ref not in existing]

    header = statement_header(settings.DATABASE_NAME, settings.TABLE_NAME)
    clauses = (partition_clause(scheme, settings, ref) for ref in missing)
    statements = list(pack_statements(header, clauses, settings.MAX_STATEMENT_BYTES))
    if len(statements) > MAX_STATEMENTS_PER_RUN:
        raise PlanTooLarge(
            f"{len(missing)} missing partitions need {len(statements)} statements; one execution runs at most "
            f"{MAX_STATEMENTS_PER_RUN}. Narrow the backfill (fewer days or accounts)."
        )
    for index, statement in enumerate(statements):
        aws.put_text(clients.s3, settings.RESULTS_BUCKET, f"{prefix}statements/{index}.sql", statement)

    summary = {
        "mode": request.mode,
        "dry_run": request.dry_run,
        "window": {"start": request.start.isoformat(), "end": request.end.isoformat()},
        "scheme": scheme.name,
        "accounts": len(found.regions_by_account),
        "regions": len({r for regions in found.regions_by_account.values() for r in regions}),
        "days": len(days),
        "expected": len(expected),
        "existing": len(expected) - len(missing),
        "missing": len(missing),
        "added": 0,
        "statements": len(statements),
        "statements_prefix": f"{prefix}statements/",
        "statements_location": f"s3://{settings.RESULTS_BUCKET}/{prefix}statements/",
        "anomalies": _anomalies(found),
        "filtered_out": found.filtered_out,
    }
    aws.put_json(clients.s3, settings.RESULTS_BUCKET, f"{prefix}plan.json", {"summary": summary, "missing": missing})
    return summary


def verify_run(request: RunRequest, settings: Settings, clients: Clients, run_id: str) -> dict[str, Any]:
    """Every partition the plan found missing must now be in Glue; else PartitionsStillMissing."""
    plan = aws.get_json(clients.s3, settings.RESULTS_BUCKET, f"{run_prefix(run_id)}plan.json")
    summary: dict[str, Any] = plan["summary"]
    planned: list[PartitionRef] = [(a, r, d) for a, r, d in plan["missing"]]
    if planned:
        scheme = _scheme(settings, clients)
        existing = _existing(scheme, settings, clients, request, summary["expected"])
        still_missing = [ref for ref in planned if ref not in existing]
        if still_missing:
            sample = ", ".join("/".join(ref) for ref in still_missing[:MISSING_SAMPLE])
            raise PartitionsStillMissing(
                f"{len(still_missing)} of {len(planned)} partitions are still missing after adding, e.g. {sample}"
            )
    return {**summary, "added": len(planned)}


def _scheme(settings: Settings, clients: Clients) -> PartitionScheme:
    table = aws.get_table(clients.glue, settings.DATABASE_NAME, settings.TABLE_NAME)
    return scheme_for_table(table, settings)


def _existing(
    scheme: PartitionScheme, settings: Settings, clients: Clients, request: RunRequest, expected_size: int
) -> set[PartitionRef]:
    values = aws.partition_values(
        clients.glue, settings.DATABASE_NAME, settings.TABLE_NAME,
        scheme.glue_expression(request.start, request.end), expected_size=expected_size,
    )
    return {ref for v in values if (ref := scheme.ref_from_values(v)) is not None}


def _keep_only_fixed_account(found: Discovery, scheme: PartitionScheme) -> None:
    """A single-account table holds one account; other accounts' folders are not its partitions."""
    if scheme.fixed_account is None:
        return
    for account in [a for a in found.regions_by_account if a != scheme.fixed_account]:
        del found.regions_by_account[account]
        found.filtered_out += 1


def _anomalies(found: Discovery) -> dict[str, Any]:
    return {
        "count": found.anomaly_count,
        "sample": [{"kind": a.kind, "key": a.key[:ANOMALY_KEY_CHARS]} for a in found.anomaly_sample],
    }
