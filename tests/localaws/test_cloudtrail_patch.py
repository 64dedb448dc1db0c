"""localaws.patches.cloudtrail: ListPublicKeys, which moto 5.2.5 does not implement, serves the local digest key."""

from __future__ import annotations

import datetime as dt

import boto3
from moto import mock_aws
from moto.cloudtrail.responses import CloudTrailResponse

from localaws.patches import cloudtrail as cloudtrail_keys
from trailgen import digests as signer
from trailkeeper import aws

UTC = dt.UTC


def test_list_public_keys_on_the_embedded_runtime_serves_the_local_key_in_its_regions_only() -> None:
    with mock_aws():
        undo = cloudtrail_keys.serve_public_keys([cloudtrail_keys.local_key(regions=["us-east-1"])])
        try:
            start, end = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 2, tzinfo=UTC)
            east = aws.public_keys(boto3.client("cloudtrail", region_name="us-east-1"), start, end)
            west = aws.public_keys(boto3.client("cloudtrail", region_name="eu-west-1"), start, end)
        finally:
            undo()
    assert east == {signer.fingerprint(): signer.public_key_der()}
    assert west == {}


def test_the_patch_undoes_to_moto_as_it_was() -> None:
    assert "list_public_keys" not in CloudTrailResponse.__dict__
    undo = cloudtrail_keys.serve_public_keys()
    assert "list_public_keys" in CloudTrailResponse.__dict__
    undo()
    assert "list_public_keys" not in CloudTrailResponse.__dict__


def test_keys_outside_the_requested_time_range_are_not_listed() -> None:
    old = cloudtrail_keys.ServedKey(signer.public_key_der(), "old", valid_until=dt.datetime(2015, 1, 1, tzinfo=UTC))
    with mock_aws():
        undo = cloudtrail_keys.serve_public_keys([old])
        try:
            found = aws.public_keys(
                boto3.client("cloudtrail", region_name="us-east-1"),
                dt.datetime(2024, 1, 1, tzinfo=UTC),
                dt.datetime(2024, 1, 2, tzinfo=UTC),
            )
        finally:
            undo()
    assert found == {}
