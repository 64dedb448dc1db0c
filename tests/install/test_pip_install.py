"""`pip install .` in a fresh virtualenv gives a working operator CLI, without the emulator (no `local` extra).

Needs a package index (PyPI in CI) for boto3 and the build backend. One venv for the module: it takes a while.
"""

from __future__ import annotations

import shutil
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT
from trailkeeper_cli import main

pytestmark = pytest.mark.install
# What the wheel is built from: a copy, so the build writes no build/ or egg-info into the checkout.
SOURCES = ("pyproject.toml", "README.md", "functions", "trailkeeper_cli", "localaws", "trailgen")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ folder of a fresh venv holding `pip install <copy of the project>`."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, source / name)
    venv.create(base / "venv", with_pip=True)
    bin_dir = base / "venv" / "bin"
    done = subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    yield bin_dir


def run(bin_dir: Path, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
    )


def test_the_installed_trailkeeper_shows_its_commands(installed: Path) -> None:
    done = run(installed, installed / "trailkeeper", "--help")
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in ("plan", "backfill", "status", "local"))


def test_the_installed_status_command_parses_its_arguments(installed: Path) -> None:
    done = run(installed, installed / "trailkeeper", "status", "--help")
    assert done.returncode == 0, done.stderr
    assert "--stack" in done.stdout


def test_the_emulator_is_not_installed_without_the_local_extra(installed: Path) -> None:
    for package in ("moto", "duckdb"):
        done = run(installed, installed / "python", "-c", f"import {package}")
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, package


def test_a_local_command_there_says_to_install_the_extra(installed: Path, tmp_path: Path) -> None:
    done = run(
        installed,
        installed / "trailkeeper",
        "local",
        "run",
        "--logs",
        tmp_path,
        "--start",
        "2024-03-09",
        "--end",
        "2024-03-09",
        "--out",
        tmp_path / "out",
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(main.LOCAL_EXTRA_HINT) and done.stderr.count("\n") == 1
