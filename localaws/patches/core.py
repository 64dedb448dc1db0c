"""moto's core: count every mocked request (BotocoreStubber is the one place every request passes).

count_api_calls            BotocoreStubber.__call__                   the product's AWS calls, by operation
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber

from localaws.counters import Counters
from localaws.patches import Undo, replace

_uncounted: contextvars.ContextVar[bool] = contextvars.ContextVar("localaws_uncounted", default=False)


@contextmanager
def uncounted() -> Iterator[None]:
    """Requests made in this block (in this thread) are the harness's own bookkeeping, not the product's."""
    token = _uncounted.set(True)
    try:
        yield
    finally:
        _uncounted.reset(token)


def count_api_calls(counters: Counters) -> Undo:
    """Every request a boto3 client makes while moto is active passes moto's `before-send` handler,
    `BotocoreStubber.__call__(event_name="before-send.<service>.<Operation>", ...)`: the test's clients, the
    handlers' clients and the state machine interpreter's. Count them there as "<service>.<Operation>"
    (botocore's service id: s3, glue, athena, lambda, sfn, sns, sesv2 ...), except inside `uncounted()`."""
    original = BotocoreStubber.__dict__["__call__"]
    lock = threading.Lock()

    def __call__(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if self.enabled and not _uncounted.get():
            parts = event_name.split(".")
            if len(parts) >= 3:
                with lock:
                    counters.api_calls[f"{parts[1]}.{parts[2]}"] += 1
        return original(self, event_name, request, **kwargs)

    return replace(BotocoreStubber, "__call__", __call__)
