"""Glue: partition access serialised (shards side by side mutated moto's partition dict while it was iterated).

glue_partitions_thread_safe
                           FakeTable partition methods                GetPartitions raced ALTER TABLE ADD
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from moto.glue.models import FakeTable

from localaws.patches import Undo, replace, undo_all

# moto keeps a table's partitions in a dict that GetPartitions iterates unguarded: a Distributed Map runs
# shards side by side, and one shard's ALTER TABLE ADD (a write) during another's GetPartitions (a read)
# fails with "OrderedDict mutated during iteration". The Glue service has no such race: take one lock for
# every partition access (the embedded Athena engine reads table.partitions under it too).
GLUE_PARTITIONS_LOCK: Final = threading.RLock()
GLUE_PARTITION_METHODS: Final = (
    "create_partition",
    "get_partitions",
    "get_partition",
    "update_partition",
    "delete_partition",
)


def glue_partitions_thread_safe() -> Undo:
    def locked(original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: FakeTable, *args: Any, **kwargs: Any) -> Any:
            with GLUE_PARTITIONS_LOCK:
                return original(self, *args, **kwargs)

        return method

    return undo_all([replace(FakeTable, name, locked(FakeTable.__dict__[name])) for name in GLUE_PARTITION_METHODS])
