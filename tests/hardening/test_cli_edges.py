"""The `trailkeeper` CLI never ends in a traceback: each odd argument, fault or interruption is one line naming
the problem (exit 2, Ctrl-C 130) or an anomaly, and running the command again afterwards gives a clean run's
outputs. Through the entry point (`trailkeeper_cli.main.main` with argv, or the command in a subprocess for
Ctrl-C), over the hand-written trail bucket (tests/fixtures/trail-bucket-src).

Its own module: the local commands start their own embedded stack, which cannot run beside another module's.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localaws import local_run
from tests.hardening.reliability import Recorder
from tests.helpers import FIXTURES
from trailgen.generator import materialise_fixture
from trailkeeper_cli import main as cli
from trailkeeper_cli.local import DEMO_MARKER

NIGHT = "2024-03-09"
REGION = "AWSLogs/o-handwritten1/111122223333/CloudTrail/us-east-1"
CLI_SUBPROCESS_SECONDS = 300  # a bound for the subprocess, not a measurement


def run_argv(logs: Path, out: Path, *extra: str) -> list[str]:
    return [*local_argv("run", str(logs), str(out), NIGHT, NIGHT), *extra]


def local_argv(command: str, logs: str, out: str, start: str, end: str) -> list[str]:
    """`local run` or `local backfill` of the days start..end over LOGS into OUT."""
    return ["local", command, "--logs", logs, "--out", out, "--start", start, "--end", end]


def outputs(out: Path) -> dict[str, object]:
    """What a run leaves in OUT, comparable between runs: every file but the functions' own log, as they are,
    but for the one value SES makes up anew each time (the email's message id)."""
    found: dict[str, object] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != "functions.log"):
        name = path.relative_to(out).as_posix()
        if path.suffix != ".json":
            found[name] = path.read_bytes()
            continue
        found[name] = document = json.loads(path.read_text())
        report = (document.get("output") or {}).get("report") if path.name == "execution.json" else None
        if isinstance(report, dict) and isinstance(report.get("email"), dict):
            report["email"].pop("message_id", None)
    return found


def one_line(err: str) -> str:
    """The last line of stderr, the message, once it is clear there was no traceback."""
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def shown(line: str, *paths: Path) -> str:
    """The line with the test's temporary folders left out, for the reliability summary."""
    for path in paths:
        line = line.replace(str(path), "TMP")
    return line


@pytest.fixture(scope="module")
def fixture_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    logs = tmp_path_factory.mktemp("logs")
    materialise_fixture(FIXTURES / "trail-bucket-src", logs)
    return logs


@pytest.fixture(scope="module")
def clean_run(fixture_logs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The outputs of an undisturbed `local run` of the night, for the re-runs to converge to."""
    out = tmp_path_factory.mktemp("clean") / "out"
    assert cli.main(run_argv(fixture_logs, out)) == 0
    return outputs(out)


# Each day range at one edge of the calendar, against a day that is fine.
EDGE_RANGES = {"--start 0001-01-01": ("0001-01-01", NIGHT), "--end 9999-12-31": (NIGHT, "9999-12-31")}
# argv templates: {logs} and {out} are filled in per test.
DATE_EDGES = {
    **{
        f"{command} {edge}": [command, "--stack", "s", "--start", start, "--end", end]
        for command in ("plan", "backfill")
        for edge, (start, end) in EDGE_RANGES.items()
    },
    **{
        f"local {command} {edge}": local_argv(command, "{logs}", "{out}", start, end)
        for command in ("run", "backfill")
        for edge, (start, end) in EDGE_RANGES.items()
    },
    "local generate --start 0001-01-01": ["local", "generate", "{out}", "--start", "0001-01-01"],
    "local generate --start 9999-12-31": ["local", "generate", "{out}", "--start", "9999-12-31", "--days", "3"],
}


@pytest.mark.parametrize("name", sorted(DATE_EDGES))
def test_days_at_the_calendars_edges_are_a_one_line_error_and_nothing_is_written(
    name: str, fixture_logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability: Recorder
) -> None:
    """No stack is reached (a stack command fails on its first AWS call otherwise: there is none here)."""
    out = tmp_path / "out"
    argv = [a.format(logs=fixture_logs, out=out) for a in DATE_EDGES[name]]
    code = cli.main(argv, clients=None)
    line = one_line(capsys.readouterr().err)
    reliability.record("operator CLI", f"date at the calendar's edge: {name}", f"exit {code}: {shown(line, tmp_path)}")
    assert code == 2
    assert line.startswith("trailkeeper: ") and ("before CloudTrail existed" in line or "in the future" in line)
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "backfill", "demo"])
@pytest.mark.parametrize("where", ["a file", "inside a file"])
def test_an_out_that_is_a_file_is_a_one_line_error_and_the_file_is_kept(
    command: str,
    where: str,
    fixture_logs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reliability: Recorder,
) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("mine\n")
    out = existing if where == "a file" else existing / "out"
    argv = ["local", command, "--out", str(out)]
    if command != "demo":
        argv += ["--logs", str(fixture_logs), "--start", NIGHT, "--end", NIGHT]
    code = cli.main(argv)
    line = one_line(capsys.readouterr().err)
    reliability.record("operator CLI", f"local {command} --out {where}", f"exit {code}: {shown(line, tmp_path)}")
    assert code == 2 and line == f"trailkeeper: --out {out}: {existing} is a file, not a folder"
    assert existing.read_text() == "mine\n"


def test_ctrl_c_during_a_local_run_is_one_line_exit_130_and_the_next_run_converges(
    fixture_logs: Path, clean_run: dict[str, object], tmp_path: Path, reliability: Recorder
) -> None:
    """A real SIGINT to `python -m trailkeeper_cli.main` once the night's execution is running. The CLI starts
    with SIGINT's terminal default: a suite started in the background (`make test &`) inherits SIGINT ignored,
    and Python then installs no KeyboardInterrupt handler, so the signal would do nothing and the night finish."""
    out = tmp_path / "out"
    as_in_a_terminal = (
        "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('trailkeeper_cli.main', run_name='__main__', alter_sys=True)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", as_in_a_terminal, *run_argv(fixture_logs, out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # progress goes to stderr; wait for the execution to start
        seen.append(line)
        if "running ..." in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest_err = process.communicate(timeout=CLI_SUBPROCESS_SECONDS)
    err = "".join(seen) + rest_err
    assert "Traceback" not in err
    # The message is the CLI's last line; the emulator's interpreter thread, stopped on the way out, may still log
    # a warning of its own after it.
    messages = [line for line in err.splitlines() if line.startswith("trailkeeper: ")]
    assert len(messages) == 1, f"exit {process.returncode}, stderr:\n{err}"
    [last] = messages
    reliability.record(
        "operator CLI", "Ctrl-C during a local run", f"exit {process.returncode}: {shown(last, tmp_path)}"
    )
    assert process.returncode == 130
    assert (
        last == f"trailkeeper: interrupted (Ctrl-C); what finished is in {out}; run the same command again to "
        "redo it all"
    )
    assert cli.main(run_argv(fixture_logs, out)) == 0
    assert outputs(out) == clean_run


def test_a_local_execution_past_its_timeout_is_one_line_with_the_outputs_so_far_and_a_rerun_converges(
    fixture_logs: Path,
    clean_run: dict[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reliability: Recorder,
) -> None:
    """--timeout 0.001: no night finishes that fast (it invokes several Lambda functions), so it is stopped."""
    out = tmp_path / "out"
    code = cli.main(run_argv(fixture_logs, out, "--timeout", "0.001"))
    line = one_line(capsys.readouterr().err)
    reliability.record("operator CLI", "a local execution past its timeout", f"exit {code}: {shown(line, tmp_path)}")
    assert code == 2
    assert line.startswith(f"trailkeeper: nightly-{NIGHT} was still running after 0.001 s, the local timeout")
    assert "raise it with --timeout SECONDS" in line
    stopped = json.loads((out / NIGHT / "execution.json").read_text())
    assert stopped["status"] == "ABORTED"
    assert (out / "catalog.json").is_file()
    assert cli.main(run_argv(fixture_logs, out)) == 0
    assert outputs(out) == clean_run


def test_the_clis_local_timeout_default_is_the_runners() -> None:
    assert cli.LOCAL_TIMEOUT_SECONDS == local_run.DEFAULT_TIMEOUT_SECONDS


def test_a_rerun_over_a_non_utf8_name_and_a_day_folder_that_is_not_a_date_converges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability: Recorder
) -> None:
    """That the first run finishes and names what it skipped is test_local_runs.py's; here: no traceback, and
    the same command again gives the same outputs."""
    logs = tmp_path / "logs"
    materialise_fixture(FIXTURES / "trail-bucket-src", logs)
    region = logs / REGION
    (region / "2024" / "02" / "30").mkdir(parents=True)
    (region / "2024" / "02" / "30" / "x.json.gz").write_bytes(gzip.compress(b'{"Records": []}'))
    with open(bytes(region / "2024" / "03" / "09") + b"/\xff.json.gz", "wb") as stream:
        stream.write(gzip.compress(b'{"Records": []}'))
    out = tmp_path / "out"
    code = cli.main(run_argv(logs, out))
    first = outputs(out)
    rerun = cli.main(run_argv(logs, out))
    err = capsys.readouterr().err
    reliability.record(
        "operator CLI",
        "local run twice over a non-UTF-8 name and a day folder 2024/02/30",
        f"exit {code} then {rerun}, same outputs: {outputs(out) == first}",
    )
    assert "Traceback" not in err
    assert code == rerun == 0
    assert outputs(out) == first


def test_demo_refuses_a_folder_it_did_not_create_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability: Recorder
) -> None:
    out = tmp_path / "work"
    (out / "src").mkdir(parents=True)
    (out / "src" / "keep.py").write_text("precious\n")
    code = cli.main(["local", "demo", "--out", str(out)])
    line = one_line(capsys.readouterr().err)
    reliability.record(
        "operator CLI", "local demo --out a folder it did not create", f"exit {code}: {shown(line, tmp_path)}"
    )
    assert code == 2
    assert line == (
        f"trailkeeper: --out {out}: not empty and not made by an earlier demo (it has no {DEMO_MARKER}); "
        "name a new or empty folder"
    )
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["src", "src/keep.py"]


def test_demo_replaces_a_folder_an_earlier_demo_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability: Recorder
) -> None:
    """--timeout 0.001 stops the first night at once: what is checked is the folder, not the nights."""
    out = tmp_path / "demo"
    out.mkdir()
    (out / DEMO_MARKER).write_text("")
    (out / "stale.txt").write_text("from an earlier demo\n")
    code = cli.main(["local", "demo", "--out", str(out), "--timeout", "0.001"])
    line = one_line(capsys.readouterr().err)
    reliability.record(
        "operator CLI", "local demo --out an earlier demo's folder", f"exit {code}: {shown(line, tmp_path)}"
    )
    assert code == 2 and "the local timeout" in line
    assert not (out / "stale.txt").exists()
    assert (out / DEMO_MARKER).is_file() and (out / "logs" / "AWSLogs").is_dir()


def test_demo_refuses_a_symbolic_link_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability: Recorder
) -> None:
    """Even to a folder an earlier demo made: replacing a link would delete where it points."""
    target = tmp_path / "earlier-demo"
    target.mkdir()
    (target / DEMO_MARKER).write_text("")
    (target / "keep.txt").write_text("kept\n")
    link = tmp_path / "demo"
    link.symlink_to(target)
    code = cli.main(["local", "demo", "--out", str(link)])
    line = one_line(capsys.readouterr().err)
    reliability.record("operator CLI", "local demo --out a symbolic link", f"exit {code}: {shown(line, tmp_path)}")
    assert code == 2 and line == f"trailkeeper: --out {link}: a symbolic link; name the folder itself"
    assert (target / "keep.txt").read_text() == "kept\n" and link.is_symlink()
