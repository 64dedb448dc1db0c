"""The README's detection table, computed from the catalog (a test checks the README holds it verbatim)."""

from __future__ import annotations

from trailkeeper.detections.catalog import CATALOG
from trailkeeper.detections.conditions import describe


def catalog_table() -> str:
    lines = ["| id | severity | condition | source |", "|---|---|---|---|"]
    for d in CATALOG:
        severity = d.severity + (f" ({d.escalation.severity} when {d.escalation.why})" if d.escalation else "")
        condition = describe(d.condition).replace("|", "\\|")
        lines.append(f"| `{d.id}` | {severity} | {condition} | {'; '.join(d.sources)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(catalog_table())
