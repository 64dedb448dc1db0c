"""`trailkeeper local generate DIR`: the generator behind the CLI's options (no emulator involved)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from trailgen.generator import TrailSpec, generate
from trailkeeper_cli import main as cli


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_writes_the_bucket_of_the_spec_its_options_name(tmp_path: Path) -> None:
    argv = [
        "local",
        "generate",
        str(tmp_path / "cli"),
        "--start",
        "2024-02-28",
        "--days",
        "2",
        "--accounts",
        "2",
        "--regions",
        "us-east-1",
        "eu-central-1",
        "--seed",
        "11",
    ]
    assert cli.main(argv) == 0
    generate(
        TrailSpec(start=dt.date(2024, 2, 28), days=2, accounts=2, regions=("us-east-1", "eu-central-1"), seed=11),
        tmp_path / "direct",
    )
    assert files(tmp_path / "cli") == files(tmp_path / "direct") != {}


@pytest.mark.parametrize(
    "options", [["--regions", "not-a-region"], ["--accounts", "9000"]], ids=["bad region", "too many accounts"]
)
def test_generate_refuses_impossible_options_with_one_line(
    options: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["local", "generate", str(tmp_path / "out"), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trailkeeper: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_generate_never_writes_into_a_folder_that_holds_something(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert cli.main(["local", "generate", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert files(tmp_path) == {"keep.txt": b"mine"}
