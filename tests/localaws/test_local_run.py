"""`trailkeeper run` uploads for night D only what CloudTrail had delivered when the schedule starts it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from localaws.local_run import delivered_by, delivery_time, trail_objects
from tests.helpers import FIXTURES
from trailgen.generator import TrailSpec, generate

KEY = "AWSLogs/o-exampleorg1/111122223333/CloudTrail/us-east-1/2024/03/10/"
NIGHT_STARTS = dt.datetime(2024, 3, 10, 1, 30)  # night 2024-03-09, scheduled at 01:30 on the 10th


def test_the_delivery_time_is_read_from_the_file_name_to_the_minute_or_second() -> None:
    log = f"{KEY}111122223333_CloudTrail_us-east-1_20240310T0112Z_Zp4nV7cY1hG8wQ3e.json.gz"
    digest = (
        "AWSLogs/o-exampleorg1/111122223333/CloudTrail-Digest/us-east-1/2024/03/10/"
        "111122223333_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20240310T012959Z.json.gz"
    )
    assert delivery_time(log) == dt.datetime(2024, 3, 10, 1, 12)
    assert delivery_time(digest) == dt.datetime(2024, 3, 10, 1, 29, 59)


def test_a_file_delivered_after_the_schedule_waits_for_the_next_night(tmp_path: Path) -> None:
    early = f"{KEY}111122223333_CloudTrail_us-east-1_20240310T0112Z_Aaaaaaaaaaaaaaaa.json.gz"
    late = f"{KEY}111122223333_CloudTrail_us-east-1_20240310T0311Z_Bbbbbbbbbbbbbbbb.json.gz"
    objects = [(early, tmp_path / "a", delivery_time(early)), (late, tmp_path / "b", delivery_time(late))]
    assert [key for key, _ in delivered_by(objects, NIGHT_STARTS)] == [early]
    assert [key for key, _ in delivered_by(objects, NIGHT_STARTS + dt.timedelta(days=1))] == [early, late]


def test_unnamed_files_count_from_their_folders_day_and_undated_ones_from_the_start() -> None:
    assert delivery_time(f"{KEY}_SUCCESS") == dt.datetime(2024, 3, 10)
    assert delivery_time("AWSLogs/o-exampleorg1/111122223333/CloudTrail/us-east-1/2024/02/30/x.json") is None
    assert delivery_time("AWSLogs/o-exampleorg1/_SUCCESS") is None


def test_every_log_file_the_generator_and_the_published_fixture_write_has_its_delivery_time_read(
    tmp_path: Path,
) -> None:
    """The class: a CloudTrail file whose name is not understood would be uploaded on its folder's first night."""
    generate(TrailSpec(start=dt.date(2024, 3, 1), days=2), tmp_path)
    for root in (tmp_path, FIXTURES / "trail-bucket-src" / "bucket"):
        logs = [(key, at) for key, _, at in trail_objects(root) if "_CloudTrail" in key.rsplit("/", 1)[-1]]
        assert logs
        for key, at in logs:
            stamp = key.rsplit("_", 2)[-2] if "CloudTrail-Digest" not in key else key.rsplit("_", 1)[-1][:16]
            assert at is not None and at.strftime("%Y%m%dT%H%M") == stamp[:13], key
