"""The `trailkeeper` CLI on a trail bucket written by hand (not by the generator)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from localaws.local_run import LOCAL_PARAMETERS, delivered_by, trail_objects
from tests.e2e.conftest import days
from tests.helpers import FIXTURES, parse_email
from trailgen.generator import materialise_fixture
from trailkeeper_cli import main as cli

pytestmark = pytest.mark.e2e
SOURCE = FIXTURES / "trail-bucket-src"
EXPECTED = json.loads((SOURCE / "expected.json").read_text())
NEW_ACTIVITY_COLUMNS = ["account", "region", "principal", "eventsource", "eventname", "events"]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    materialise_fixture(SOURCE, tmp_path / "logs")
    return tmp_path / "logs"


def _local_run(logs: Path, start: str, end: str, out: Path) -> int:
    return cli.main(["local", "run", "--logs", str(logs), "--start", start, "--end", end, "--out", str(out)])


def activity_keys(day: str) -> set[tuple[str, ...]]:
    return {tuple(str(row[c]) for c in NEW_ACTIVITY_COLUMNS) for row in EXPECTED["activity"][day]}


def test_run_reconciles_and_reports_each_night_of_a_hand_written_bucket(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _local_run(logs, "2024-03-09", "2024-03-10", out) == 0

    catalog = json.loads((out / "catalog.json").read_text())
    assert (catalog["database"], catalog["table"], catalog["partition_keys"]) == (
        "trailkeeper",
        "cloudtrail",
        ["account", "region", "dt"],
    )
    pairs = {(account, region) for account, region, _ in EXPECTED["log_partitions"]}
    # Night 1 (starts 2024-03-10 01:30) sees only what was delivered by then: a pair whose first file came
    # later (111122223333 eu-west-1, delivered 11:17) is found by night 2, whose window starts on 03-08.
    by_night_1 = {
        tuple(key.split("/")[2:5:2])
        for key, _ in delivered_by(trail_objects(logs), dt.datetime(2024, 3, 10, 1, 30))
        if key.split("/")[3:4] == ["CloudTrail"]
    }
    assert pairs - by_night_1 == {("111122223333", "eu-west-1")}
    window = {
        pair: days(dt.date(2024, 3, 7) if pair in by_night_1 else dt.date(2024, 3, 8), dt.date(2024, 3, 12))
        for pair in pairs
    }  # night 1 from 03-07, night 2 from 03-08, up to 03-12
    assert {tuple(p["values"].values()) for p in catalog["partitions"]} == {
        (a, r, d) for (a, r), pair_days in window.items() for d in pair_days
    }

    first = json.loads((out / "2024-03-09" / "execution.json").read_text())
    assert first["status"] == "SUCCEEDED" and first["output"]["report"]["baseline_state"] == "established"
    with (out / "2024-03-10" / "new_activity.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0])[:6] == NEW_ACTIVITY_COLUMNS
    assert {tuple(row[c] for c in NEW_ACTIVITY_COLUMNS) for row in rows} == activity_keys("2024-03-10") - activity_keys(
        "2024-03-09"
    )
    assert "Daily activity report for 2024-03-10" in (out / "2024-03-10" / "report.txt").read_text()
    assert json.loads((out / "2024-03-10" / "report.json").read_text())["attention"] == []


def test_a_local_night_writes_the_exact_email_it_would_send(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _local_run(logs, "2024-03-10", "2024-03-10", out) == 0
    night = out / "2024-03-10"
    email = parse_email((night / "email.eml").read_bytes())  # the results bucket's reports/D/email.eml, as SES gets it
    assert email.subject == json.loads((night / "report.json").read_text())["subject"]
    assert email.to == (LOCAL_PARAMETERS["ReportRecipients"],)
    assert (email.text, email.html) == ((night / "report.txt").read_text(), (night / "report.html").read_text())


def test_backfill_dry_run_plans_every_partition_and_adds_none(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "local",
                "backfill",
                "--logs",
                str(logs),
                "--start",
                "2024-03-09",
                "--end",
                "2024-03-10",
                "--out",
                str(out),
                "--dry-run",
            ]
        )
        == 0
    )
    execution = json.loads((out / "execution.json").read_text())
    assert (execution["output"]["missing"], execution["output"]["added"]) == (8, 0)
    assert json.loads((out / "catalog.json").read_text())["partitions"] == []


def test_backfill_prints_each_shard_as_it_finishes(
    logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert (
        cli.main(
            [
                "local",
                "backfill",
                "--logs",
                str(logs),
                "--start",
                "2024-02-28",
                "--end",
                "2024-03-10",
                "--out",
                str(out),
                "--param",
                "BackfillShardPartitions=100",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    finished = re.findall(
        r"^  shard (s[0-9]{5}) \[([12])/2\] ([0-9-]+)\.\.([0-9-]+), 2 account\(s\): ([0-9]+) added",
        err,
        flags=re.MULTILINE,
    )
    assert {(shard, first, last, added) for shard, _, first, last, added in finished} == {
        ("s00000", "2024-02-28", "2024-02-29", "8"),
        ("s00001", "2024-03-01", "2024-03-10", "40"),
    }
    assert sorted(count for _, count, _, _, _ in finished) == ["1", "2"]  # in the order they finished
    assert "backfill: SUCCEEDED; 48 partitions added" in err and "2 of 2 shard(s)" in err


def test_a_failed_night_exits_non_zero_naming_the_state_and_cause(
    logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An unreadable object is left out of the report by its name (`"$path" NOT IN`); one whose name no allow-list
    # admits cannot be, so the night fails, and says where.
    broken = logs / "AWSLogs/o-handwritten1/444455556666/CloudTrail/us-east-1/2024/03/09/broken'.json.gz"
    broken.write_bytes(b"not gzip")
    code = cli.main(
        [
            "local",
            "run",
            "--logs",
            str(logs),
            "--start",
            "2024-03-09",
            "--end",
            "2024-03-09",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    assert "FAILED at ExcludeUnreadableLogs: UnreadableLogsNotExcludable" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["local", "run", "--logs", "{logs}", "--start", "2024-03-10", "--end", "2024-03-09", "--out", "{out}"],
        ["local", "run", "--logs", "{out}/missing", "--start", "2024-03-09", "--end", "2024-03-09", "--out", "{out}"],
    ],
    ids=["reversed nights", "no such folder"],
)
def test_bad_arguments_exit_with_a_clear_message_and_nothing_run(
    argv: list[str], logs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert cli.main([a.format(logs=logs, out=out) for a in argv]) == 2
    assert capsys.readouterr().err.startswith("trailkeeper: ")
    assert not (out / "catalog.json").exists()
