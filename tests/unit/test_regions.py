"""Region names: every shape AWS publishes is accepted, anything that is not a region is refused.

The oracle is botocore's own data (`partitions.json`, `endpoints.json`): every region it lists and every
partition's `regionRegex` shape must pass trailkeeper's allow-list and the template's RegionAllowList pattern.
A botocore upgrade that brings a new shape fails here before a real folder is skipped as an anomaly.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import botocore
import pytest

from tests.helpers import template
from trailkeeper import allowlist

BOTOCORE_DATA = Path(botocore.__file__).parent / "data"
NOT_REGIONS = [
    "US-EAST-1",
    "us-east-9x",
    "eu-central-1 ",
    " us-east-1",
    "us-east-1\n",
    "us_east_1",
    "us-east-",
    "us--east-1",
    "us-east-1') LOCATION 's3://evil/'--",
    "../us-east-1",
    "us-east-1/",
    "aws-global",
    "us-east-123",
    "eusc-de-east-1'",
    "us-iso-east-1;",
    "useast1",
    "us-east-１",
]


@cache
def published_regions() -> dict[str, list[str]]:
    """Partition -> its regions, from botocore's partitions.json and endpoints.json (pseudo-regions left out)."""
    regions: dict[str, set[str]] = {}
    for partition in json.loads((BOTOCORE_DATA / "partitions.json").read_text())["partitions"]:
        regions.setdefault(partition["id"], set()).update(partition["regions"])
    for partition in json.loads((BOTOCORE_DATA / "endpoints.json").read_text())["partitions"]:
        regions.setdefault(partition["partition"], set()).update(partition["regions"])
    # `aws-global`, `aws-cn-global`, ...: endpoint aliases, not regions; CloudTrail never writes them as folders.
    return {p: sorted(r for r in names if not r.endswith("-global")) for p, names in regions.items()}


@cache
def shapes_of_partitions() -> list[str]:
    """A name of each partition's regionRegex shape, with new directions and numbers (regions not yet launched)."""
    names = []
    for partition in json.loads((BOTOCORE_DATA / "partitions.json").read_text())["partitions"]:
        pattern = partition["regionRegex"]
        body = pattern.removeprefix("^").removesuffix("$").replace("\\-", "-")
        alternatives = re.fullmatch(r"(.*?)\((\w+(?:\|\w+)*)\)(.*)", body)
        heads = (
            [body]
            if alternatives is None
            else [f"{alternatives[1]}{a}{alternatives[3]}" for a in alternatives[2].split("|")]
        )
        for head in heads:
            for direction, number in (("southeast", "7"), ("central", "12")):
                names.append(head.replace("\\w+", direction).replace("\\d+", number))
    return names


def template_region_pattern() -> re.Pattern[str]:
    return re.compile(template()["Parameters"]["RegionAllowList"]["AllowedPattern"])


def test_botocore_lists_the_partitions_the_allow_list_was_written_for() -> None:
    assert {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"} <= set(
        published_regions()
    )


@pytest.mark.parametrize("partition", sorted(published_regions()))
def test_every_published_region_is_a_region(partition: str) -> None:
    regions = published_regions()[partition]
    assert regions
    assert [r for r in regions if not allowlist.is_region(r)] == []
    assert [r for r in regions if not template_region_pattern().fullmatch(r)] == []


def test_every_partitions_region_shape_is_a_region_even_before_it_launches() -> None:
    names = shapes_of_partitions()
    assert any(n.startswith("eusc-de-") for n in names) and any(n.startswith("us-isof-") for n in names)
    assert [n for n in names if not allowlist.is_region(n)] == []
    assert [n for n in names if not template_region_pattern().fullmatch(n)] == []


@pytest.mark.parametrize("name", NOT_REGIONS)
def test_anything_that_is_not_a_region_is_refused(name: str) -> None:
    assert not allowlist.is_region(name)
    assert not template_region_pattern().fullmatch(name)


def test_the_template_lists_regions_of_every_partition_comma_separated() -> None:
    every = ",".join(r for regions in published_regions().values() for r in regions)
    assert template_region_pattern().fullmatch(every)
    assert not template_region_pattern().fullmatch("us-east-1,,eu-west-1")
