"""What the embedded runtime did, for the benchmark and for users: API calls and Athena reads."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class QueryStats:
    query_execution_id: str
    statement_type: str  # "DDL" or "DML", as Athena reports it
    state: str  # SUCCEEDED / FAILED
    objects_read: int = 0
    bytes_read: int = 0
    partitions_read: int = 0


@dataclass
class Counters:
    api_calls: Counter[str] = field(default_factory=Counter)  # key: "service.Operation", e.g. "glue.GetPartitions"
    queries: list[QueryStats] = field(default_factory=list)
    # StateEntered events of the executions run through EmbeddedAws.run_execution (Map iterations included).
    state_transitions: int = 0
    # Task attempts after the first (Retry). AWS bills each as a state transition too: billed = both added.
    retries: int = 0
    # Seconds Wait states and Retry intervals would have waited in AWS (locally they wait x WAIT_TIME_SCALE).
    simulated_wait_seconds: float = 0.0

    def calls_by_service(self) -> dict[str, int]:
        by_service: Counter[str] = Counter()
        for key, count in self.api_calls.items():
            by_service[key.split(".", 1)[0]] += count
        return dict(sorted(by_service.items()))

    def reset(self) -> None:
        self.api_calls.clear()
        self.queries.clear()
        self.state_transitions = 0
        self.retries = 0
        self.simulated_wait_seconds = 0.0
