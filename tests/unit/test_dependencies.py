"""The lock files `make lock` compiles: exact pins, and the functions' pins (what ships to Lambda) are the ones the
tests run with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import ROOT, template

_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def code_uri_lock() -> Path:
    """The requirements.txt `sam build` installs: the one in the functions' CodeUri."""
    return ROOT / template()["Globals"]["Function"]["CodeUri"] / "requirements.txt"


LOCKS = {
    "functions": code_uri_lock(),
    "dev": ROOT / "requirements" / "dev.txt",
    "sam": ROOT / "requirements" / "sam.txt",
}


def requirement_lines(lock: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in lock.read_text().splitlines())
    return [line for line in lines if line]


def pins(lock: Path) -> dict[str, str]:
    found = {}
    for line in requirement_lines(lock):
        match = _PIN.fullmatch(line)
        assert match, f"{lock.name}: {line!r} is not pinned exactly (name==version)"
        found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


@pytest.mark.parametrize("lock", LOCKS.values(), ids=LOCKS.keys())
def test_every_locked_dependency_is_pinned_exactly(lock: Path) -> None:
    assert pins(lock)


def test_the_functions_lock_is_compiled_from_the_declared_dependencies() -> None:
    declared = requirement_lines(ROOT / "requirements" / "functions.in")
    assert set(declared) <= set(pins(LOCKS["functions"]))


def test_the_tests_run_the_versions_that_ship_to_lambda() -> None:
    dev = pins(LOCKS["dev"])
    assert {name: dev.get(name) for name in pins(LOCKS["functions"])} == pins(LOCKS["functions"])
