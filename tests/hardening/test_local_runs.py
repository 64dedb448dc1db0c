"""The offline runner over trail folders as people really have them: layouts detected right, and names
CloudTrail never writes (a day folder that is not a date, a stray file, a non-UTF-8 name) kept or skipped and
named, never a crash of the whole run. Through `detect_layout`/`trail_objects` and the CLI (`trailkeeper run`).

Its own module: the CLI starts its own embedded stack, which cannot run beside another module's.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from localaws.local_run import LayoutError, detect_layout, skipped_objects, trail_objects
from tests.hardening.reliability import Recorder
from tests.helpers import FIXTURES
from trailgen.generator import materialise_fixture
from trailkeeper_cli import main as cli

LOCAL_LAYOUTS = {
    "organization trail": ("AWSLogs/o-exampleorg1/111111111111/CloudTrail/us-east-1", "", "o-exampleorg1"),
    "account trail beside an organization trail": (
        "AWSLogs/o-exampleorg1/111111111111/CloudTrail/us-east-1|AWSLogs/222222222222/CloudTrail/us-east-1",
        "",
        "o-exampleorg1",
    ),
    "prefix that is itself AWSLogs": (
        "AWSLogs/AWSLogs/o-exampleorg1/111111111111/CloudTrail/us-east-1",
        "AWSLogs",
        "o-exampleorg1",
    ),
    "prefix containing AWSLogs": (
        "logs/AWSLogs/archive/AWSLogs/111111111111/CloudTrail/us-east-1",
        "logs/AWSLogs/archive",
        "",
    ),
}


@pytest.mark.parametrize("name", sorted(LOCAL_LAYOUTS))
def test_the_local_runtime_detects_the_trails_layout(name: str, tmp_path: Path, reliability: Recorder) -> None:
    folders, prefix, organization = LOCAL_LAYOUTS[name]
    for path in folders.split("|"):
        (tmp_path / path / "2024" / "03" / "03").mkdir(parents=True)
    detected = detect_layout(tmp_path)
    reliability.record(
        "bucket layouts",
        f"local layout: {name}",
        f"prefix {detected['TrailKeyPrefix']!r}, organization {detected['OrganizationId']!r}",
    )
    assert detected == {"TrailKeyPrefix": prefix, "OrganizationId": organization}


def test_the_local_runtime_refuses_two_trails_it_cannot_choose_between(tmp_path: Path) -> None:
    for path in ("a/AWSLogs/111111111111/CloudTrail", "b/AWSLogs/222222222222/CloudTrail"):
        (tmp_path / path).mkdir(parents=True)
    with pytest.raises(LayoutError, match="expected exactly one AWSLogs/ folder holding trail folders"):
        detect_layout(tmp_path)


def test_local_objects_with_names_cloudtrail_never_writes_are_kept_or_skipped_never_a_crash(
    tmp_path: Path, reliability: Recorder
) -> None:
    region = tmp_path / "AWSLogs" / "111111111111" / "CloudTrail" / "us-east-1"
    for day in ("2024/03/03", "2024/02/30", "2024/13/01"):
        (region / day).mkdir(parents=True)
        (region / day / "x.json.gz").write_bytes(b"")
    (region / "stray.txt").write_bytes(b"")
    non_utf8 = bytes(region / "2024/03/03") + b"/\xff\xfe.json.gz"
    with open(non_utf8, "wb"):
        pass
    objects = {key: day for key, _, day in trail_objects(tmp_path)}
    reliability.record(
        "bucket layouts",
        "local names: not a date, stray file, non-UTF-8",
        f"{len(objects)} objects kept, non-UTF-8 skipped",
    )
    base = "AWSLogs/111111111111/CloudTrail/us-east-1/"
    assert objects == {
        f"{base}2024/03/03/x.json.gz": dt.datetime(2024, 3, 3),
        f"{base}2024/02/30/x.json.gz": None,
        f"{base}2024/13/01/x.json.gz": None,
        f"{base}stray.txt": None,
    }
    assert skipped_objects(tmp_path) == [f"{base}2024/03/03/\\xff\\xfe.json.gz"]


def test_a_local_run_over_odd_names_finishes_and_names_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability: Recorder
) -> None:
    """Through the CLI (`trailkeeper run`): a day folder that is not a date, a stray file and a non-UTF-8 name."""
    logs = tmp_path / "logs"
    materialise_fixture(FIXTURES / "trail-bucket-src", logs)
    region = logs / "AWSLogs" / "o-handwritten1" / "111122223333" / "CloudTrail" / "us-east-1"
    (region / "2024" / "02" / "30").mkdir(parents=True)
    (region / "2024" / "02" / "30" / "x.json.gz").write_bytes(gzip.compress(b'{"Records": []}'))
    (region / "2024" / "stray.txt").write_bytes(b"stray")
    with open(bytes(region / "2024" / "03" / "09") + b"/\xff.json.gz", "wb") as stream:
        stream.write(gzip.compress(b'{"Records": []}'))
    out = tmp_path / "out"
    code = cli.main(
        ["local", "run", "--logs", str(logs), "--start", "2024-03-09", "--end", "2024-03-09", "--out", str(out)]
    )
    printed = capsys.readouterr()
    execution = json.loads((out / "2024-03-09" / "execution.json").read_text())
    reliability.record(
        "bucket layouts",
        "trailkeeper run over a non-date day folder, a stray file, a non-UTF-8 name",
        f"exit {code}, {execution['status']}",
    )
    assert code == 0 and execution["status"] == "SUCCEEDED"
    assert "anomaly: 1 file(s) skipped, their names are not UTF-8" in printed.out + printed.err
    assert "\\xff.json.gz" in printed.out + printed.err
