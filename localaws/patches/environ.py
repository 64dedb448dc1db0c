"""The process environment a Lambda handler sees: its own, in its own thread (installed by awslambda).

per_invocation_environment os.environ                                 key-by-key environment swaps broke
                                                                      threads creating clients meanwhile
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager

from localaws.patches import Undo


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """os.environ with these variables set, for this thread only while run_lambda_in_process is installed
    (a Lambda has its own environment; other threads, such as shards running side by side, keep reading
    the process's, which is never changed under them); else process-wide, exactly as before afterwards."""
    if isinstance(os.environ, InvocationEnviron):
        data = dict(os.environ.process)
        data.update({_checked(name): _checked(str(value)) for name, value in variables.items()})
        _invocation.data = data
        try:
            yield
        finally:
            del _invocation.data
        return
    saved = dict(os.environ)
    os.environ.update({name: str(value) for name, value in variables.items()})
    try:
        yield
    finally:
        restore_environment(saved)


_invocation = threading.local()


def _checked(text: str) -> str:
    """os.environ's own check (its encodekey/encodevalue): keys and values are str."""
    if not isinstance(text, str):
        raise TypeError(f"str expected, not {type(text).__name__}")
    return text


class InvocationEnviron(MutableMapping[str, str]):
    """os.environ whose contents are, in a thread running a Lambda invocation, that invocation's environment,
    and in every other thread the process's. Swapping the process environment key by key instead breaks a
    thread that copies it meanwhile (botocore does, creating a client): KeyError, or a dict changed size.

    A mapping in front of the process's os.environ (never a subclass of CPython's private os._Environ): other
    threads read and write the process's environment through it unchanged. In an invocation's thread it
    behaves as os.environ does on its own data: a write or delete also reaches the C environment
    (putenv/unsetenv, what child processes inherit), iteration runs over a snapshot of the keys."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process

    def _own(self) -> dict[str, str] | None:
        own: dict[str, str] | None = getattr(_invocation, "data", None)
        return own

    def __getitem__(self, name: str) -> str:
        own = self._own()
        return self.process[name] if own is None else own[name]

    def __setitem__(self, name: str, value: str) -> None:
        own = self._own()
        if own is None:
            self.process[name] = value
            return
        os.putenv(_checked(name), _checked(value))
        own[name] = value

    def __delitem__(self, name: str) -> None:
        own = self._own()
        if own is None:
            del self.process[name]
            return
        os.unsetenv(_checked(name))
        del own[name]

    def __iter__(self) -> Iterator[str]:
        own = self._own()
        return iter(list(self.process if own is None else own))

    def __len__(self) -> int:
        own = self._own()
        return len(self.process if own is None else own)

    def __repr__(self) -> str:
        return f"environ({dict(self)!r})"

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __or__(self, other: Mapping[str, str]) -> dict[str, str]:
        return {**self, **other}

    def __ror__(self, other: Mapping[str, str]) -> dict[str, str]:
        return {**other, **self}

    def __ior__(self, other: Mapping[str, str]) -> InvocationEnviron:
        self.update(other)
        return self


def per_invocation_environment() -> Undo:
    process = os.environ
    os.environ = InvocationEnviron(process)  # type: ignore[assignment]  # noqa: B003  # a view, nothing cleared

    def undo() -> None:
        os.environ = process  # noqa: B003

    return undo


def restore_environment(saved: Mapping[str, str]) -> None:
    """Make os.environ equal to saved, key by key: never empty in between (other threads read it)."""
    for name in [name for name in os.environ if name not in saved]:
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
