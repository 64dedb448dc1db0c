"""Hostile execution input, hostile trail-bucket keys and drifted configuration, through real executions.

Every bad input of threats.md goes through StartExecution of the deployed state machine on the embedded
runtime; the outcome is read from the execution and from the stack's resources (results bucket, Glue, SES, SNS).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.patches.core import uncounted
from tests.hardening.harness import World, cause_message, failed_state, running_world
from tests.hardening.reliability import Recorder
from tests.helpers import FIXTURES
from tests.sqlcheck import parse_add_partitions
from trailgen.generator import TrailSpec, account_id, threat_keys

BASE_SPEC = TrailSpec(start=dt.date(2024, 3, 1), days=4, accounts=1, regions=("us-east-1", "eu-west-1"))
SPEC = dataclasses.replace(BASE_SPEC, plants=threat_keys(BASE_SPEC, account_id(0)))
NIGHT = {"time": "2024-03-04T01:30:00Z"}  # window 2024-03-01 .. 2024-03-05
WINDOW = (dt.date(2024, 3, 1), dt.date(2024, 3, 5))
HOSTILE_KEYS = sorted(plant.key for plant in threat_keys(BASE_SPEC, account_id(0)))
BAD_INPUTS: dict[str, list[Any]] = {
    name: case
    for name, case in json.loads((FIXTURES / "bad_execution_inputs.json").read_text()).items()
    if not name.startswith("_")
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_world(SPEC, tmp_path_factory.mktemp("logs")) as world:
        yield world


def nothing_written(world: World) -> bool:
    return world.result_keys() == [] and world.catalog() == [] and world.emails() == []


# ------------------------------------------------------------------------------------------------ execution input


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_a_bad_execution_input_ends_at_input_rejected_naming_the_field_with_nothing_written(
    name: str, fresh: World, reliability: Recorder
) -> None:
    execution_input, field = BAD_INPUTS[name]
    result = fresh.run(execution_input, "bad-input")
    reliability.record("bad inputs", name, f"{result.status} {result.error} at {failed_state(result)}")
    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert result.states == ["ValidateInput", "DescribeRejection", "InputRejected"]
    assert cause_message(result).split(":", 1)[0].strip("'") == field
    assert nothing_written(fresh) and fresh.notifications() == []


@pytest.mark.parametrize("name", ["night.2024-03-04", "nächte", "run!1"])
def test_an_execution_name_step_functions_accepts_but_a_run_cannot_keep_ends_at_input_rejected(
    name: str, fresh: World, reliability: Recorder
) -> None:
    result = fresh.run(NIGHT, name)
    reliability.record(
        "bad inputs", f"execution name {name!r}", f"{result.status} {result.error} at {failed_state(result)}"
    )
    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert result.states == ["ValidateInput", "DescribeRejection", "InputRejected"]
    assert cause_message(result).startswith("execution name: ")
    assert nothing_written(fresh) and fresh.notifications() == []


def test_malformed_json_input_is_refused_by_start_execution_itself(fresh: World, reliability: Recorder) -> None:
    with pytest.raises(ClientError) as refused:
        fresh.aws.run_execution(raw_input="{", name="malformed-json")
    reliability.record("bad inputs", "malformed JSON '{'", f"refused by {refused.value.operation_name}")
    assert refused.value.operation_name == "StartExecution"
    with uncounted():
        executions = fresh.aws.client("stepfunctions").list_executions(stateMachineArn=fresh.aws.state_machine_arn)
    assert [e for e in executions["executions"] if e["name"] == "malformed-json"] == []
    assert nothing_written(fresh)


# ------------------------------------------------------------------------------------------------ trail-bucket keys


@pytest.fixture(scope="module")
def hostile_night(world: World) -> dict[str, Any]:
    """One nightly execution over a bucket holding every hostile key shape of threats.md."""
    world.reset()
    result = world.run(NIGHT, "hostile-keys")
    assert result.status == "SUCCEEDED", result.cause
    output = result.output or {}
    statements = [world.text(f"{output['statements_prefix']}{i}.sql") or "" for i in range(output["statements"])]
    return {"result": result, "statements": statements}


def validated_location(world: World, account: str, region: str, day: str) -> str:
    """The one LOCATION a partition may have: the configured bucket and root, then validated values only."""
    assert re.fullmatch(r"[0-9]{12}", account) and re.fullmatch(r"[a-z]{2}-[a-z]+-[0-9]", region), (account, region)
    folder = dt.date.fromisoformat(day).strftime("%Y/%m/%d")
    return f"s3://{world.trail_bucket}/{SPEC.logs_root}{account}/CloudTrail/{region}/{folder}/"


def test_statements_hold_exactly_the_expected_partitions_at_validated_locations(
    world: World, hostile_night: dict[str, Any]
) -> None:
    added = [p for sql in hostile_night["statements"] for p in parse_add_partitions(sql).partitions]
    found = [(p.values["account"], p.values["region"], p.values["dt"]) for p in added]
    assert sorted(found) == sorted(world.expected_catalog(*WINDOW))
    assert all(p.location == validated_location(world, *values) for p, values in zip(added, found, strict=True))


def hostile_segment(key: str) -> str:
    return repr(key.split("/CloudTrail/", 1)[1].split("/", 1)[0])


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=hostile_segment)
def test_a_hostile_key_is_counted_as_an_anomaly_and_never_reaches_sql(
    key: str, world: World, hostile_night: dict[str, Any], reliability: Recorder
) -> None:
    output = hostile_night["result"].output
    base = f"{SPEC.logs_root}{account_id(0)}/CloudTrail/"
    folder = key[len(base) :].split("/", 1)[0]
    # The anomaly names the listed folder: base + the hostile segment (up to the next '/'), never base alone.
    reported = [a for a in output["anomalies"]["sample"] if key.startswith(a["key"]) and len(a["key"]) > len(base)]
    in_sql = [
        sql for sql in hostile_night["statements"] if f"/CloudTrail/{folder}/" in sql or f"region='{folder}'" in sql
    ]
    reliability.record(
        "hostile keys",
        f"folder {hostile_segment(key)}",
        f"{'reported as anomaly' if reported else 'NOT reported'}, {'IN SQL' if in_sql else 'absent from SQL'}",
    )
    assert reported and in_sql == []
    assert output["anomalies"]["count"] >= len(HOSTILE_KEYS)


def test_every_hostile_and_noise_key_is_really_in_the_trail_bucket(world: World) -> None:
    """Guards the tests above: a key that never reached the bucket would be 'ignored' vacuously. Noise is what a
    real trail bucket also holds (digests, Insights, Config, folder markers, _SUCCESS)."""
    s3 = world.aws.client("s3")
    with uncounted():
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=world.trail_bucket)
        keys = {o["Key"] for page in pages for o in page.get("Contents", [])}
    assert world.truth.hostile_keys <= keys and world.truth.noise_keys <= keys
    assert {"CloudTrail-Digest", "CloudTrail-Insight", "Config", "_SUCCESS"} <= {
        part for key in world.truth.noise_keys for part in key.split("/")
    }


# ------------------------------------------------------------------------------------------------ configuration


DRIFTED_ENVIRONMENT = {
    "account allow-list set but empty (',')": ("ACCOUNT_ALLOWLIST", ","),
    "organization id malformed": ("ORGANIZATION_ID", "o-BAD'--"),
    "region allow-list upper-case": ("REGION_ALLOWLIST", "US-EAST-1"),
    "key prefix with '..'": ("TRAIL_PREFIX", "logs/../other"),
    "key prefix with '//'": ("TRAIL_PREFIX", "logs//x"),
    "database name injected": ("DATABASE_NAME", "trailkeeper`; DROP TABLE x; --"),
}


@pytest.mark.parametrize("name", sorted(DRIFTED_ENVIRONMENT))
def test_a_deployment_whose_environment_bypassed_the_template_fails_at_validate_input_with_nothing_written(
    name: str, fresh: World, reliability: Recorder
) -> None:
    """Someone edits a function's environment by hand (the template's AllowedPattern never saw the value)."""
    variable, value = DRIFTED_ENVIRONMENT[name]
    lambda_ = fresh.aws.client("lambda")
    function = fresh.aws.physical["ValidateInputFunction"]
    with uncounted():
        original = lambda_.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        lambda_.update_function_configuration(
            FunctionName=function, Environment={"Variables": {**original, variable: value}}
        )
    try:
        result = fresh.run(NIGHT, "drifted-config")
    finally:
        with uncounted():
            lambda_.update_function_configuration(FunctionName=function, Environment={"Variables": original})
    reliability.record(
        "bad configuration", f"environment: {name}", f"{result.status} {result.error} at {failed_state(result)}"
    )
    assert (result.status, result.error, failed_state(result)) == ("FAILED", "ConfigurationError", "ValidateInput")
    assert variable in cause_message(result)
    assert nothing_written(fresh) and len(fresh.notifications()) == 1
