"""The small changes moto 5.2.5 needs to run trailkeeper's state machine offline: one module per patched service,
as moto lays out its backends. localaws/README.md lists every patch: what it replaces, why, and what upstream
change would let it go.

Each patch replaces the fewest moto attributes that fix one gap, says why, and returns the callable that puts
moto back exactly (`replace` below is the one place that swaps an attribute). They are tied to moto==5.2.5
(pinned): each has tests in tests/localaws/test_patches.py, so an upgrade shows exactly which one broke.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Undo = Callable[[], None]


def undo_all(undos: list[Undo]) -> Undo:
    def undo() -> None:
        for each in reversed(undos):
            each()

    return undo


def replace(owner: Any, name: str, replacement: Any) -> Undo:
    """Set owner.name (a class or module attribute) and return what restores the exact original object."""
    original = owner.__dict__[name]
    setattr(owner, name, replacement)

    def undo() -> None:
        setattr(owner, name, original)

    return undo
