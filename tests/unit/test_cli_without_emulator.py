"""The operator's commands never load the emulator; the offline ones load it only when they run, and say what
to install when it is missing. Each case runs in a fresh interpreter, so what it imports is all its own."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers import ROOT
from trailkeeper_cli import main

EMULATOR = ("moto", "duckdb", "sqlglot", "localaws")
PATHS = [str(ROOT / "functions"), str(ROOT)]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PYTHONPATH": ":".join(PATHS), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def loaded_after(argv: list[str]) -> list[str]:
    """The top-level packages loaded by running `trailkeeper ARGV` (argument parsing, --help) in a fresh process."""
    probe = f"""
import contextlib, io, json, sys
from trailkeeper_cli import main
args = main.parser().parse_args({argv!r}) if "--help" not in {argv!r} else None
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main.parser().parse_args({argv!r} + ["--help"])
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""
    done = run_python(probe)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--stack", "prod"],
        ["plan", "--stack", "prod", "--start", "2024-03-09", "--end", "2024-03-10"],
        ["backfill", "--stack", "prod", "--resume", "backfill-2024-03-09-2024-03-10-0123456789"],
    ],
    ids=["status", "plan", "backfill"],
)
def test_a_stack_command_loads_no_emulator_module(argv: list[str]) -> None:
    loaded = loaded_after(argv)
    assert "boto3" in loaded and "trailkeeper_cli" in loaded
    assert [name for name in EMULATOR if name in loaded] == []


def test_parsing_a_local_command_loads_no_emulator_module() -> None:
    assert [name for name in EMULATOR if name in loaded_after(["local", "demo", "--out", "x"])] == []


@pytest.mark.parametrize("missing", ["moto", "duckdb"])
def test_a_local_command_without_the_extra_says_what_to_install(missing: str, tmp_path: Path) -> None:
    argv = [
        "local",
        "run",
        "--logs",
        str(tmp_path),
        "--start",
        "2024-03-09",
        "--end",
        "2024-03-09",
        "--out",
        str(tmp_path / "out"),
    ]
    done = run_python(
        f"import sys; sys.modules[{missing!r}] = None\n"  # what an uninstalled package looks like
        f"from trailkeeper_cli import main; sys.exit(main.main({argv!r}))"
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"trailkeeper: local run needs the embedded runtime ({missing} is not installed)")
    assert done.stderr.strip().endswith(main.LOCAL_EXTRA_HINT)
    assert not (tmp_path / "out").exists()


def test_each_module_the_local_commands_check_for_comes_with_the_local_extra() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    named = {re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-") for requirement in extra}
    distributions = importlib.metadata.packages_distributions()
    for module in main.LOCAL_EXTRA_MODULES:
        assert {d.lower().replace("_", "-") for d in distributions[module]} & named, module
