from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.helpers import make_settings, moto_client, table_input
from trailkeeper.config import Settings
from trailkeeper.reconcile import Clients


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    """moto-backed S3 and Glue with the trail bucket, the results bucket and the template's table."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = moto_client("s3")
        glue = moto_client("glue")
        for bucket in ("trail-bucket", "results-bucket"):
            s3.create_bucket(Bucket=bucket)
        glue.create_database(DatabaseInput={"Name": "trailkeeper"})
        glue.create_table(DatabaseName="trailkeeper", TableInput=table_input())
        yield Clients(s3=s3, glue=glue)
