"""EmbeddedAws.running(): what it takes (parameters, scale, mock config), what it refuses, what it leaves behind.
Each test starts its own stack, so none shares this module with test_runtime.py's module-wide stack."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from moto.awslambda.models import LambdaFunction

from localaws.runtime import EmbeddedAws, ExecutionTimeout
from localaws.template import TemplateError
from tests.helpers import FIXTURES

FIXTURE = FIXTURES / "runtime"
TEMPLATE = FIXTURE / "template.yaml"


def fixture_copy(tmp_path: Path, replace: tuple[str, str]) -> Path:
    """The fixture stack in tmp_path, with one edit to its state machine definition."""
    shutil.copytree(FIXTURE, tmp_path / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    asl = tmp_path / "runtime" / "statemachine.asl.json"
    text = asl.read_text()
    assert replace[0] in text
    asl.write_text(text.replace(*replace))
    return tmp_path / "runtime" / "template.yaml"


def test_parameter_override_reaches_handlers_and_conditions() -> None:
    with EmbeddedAws.running(TEMPLATE, {"Stage": "prod"}) as aws:
        result = aws.run_execution({"case": "echo"})
        buckets = {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}

    assert result.output["stage"] == "prod"
    assert "trailkeeper-prod-123456789012" in buckets


def test_each_embedded_aws_imports_handlers_afresh_in_its_own_environment() -> None:
    stages = []
    for stage in ("test", "prod"):
        with EmbeddedAws.running(TEMPLATE, {"Stage": stage}) as aws:
            result = aws.run_execution({"case": "echo"})
            stages.append(result.output["stage_at_import"])

    assert stages == ["test", "prod"]


def test_exit_restores_environment_moto_and_the_import_path() -> None:
    environment, invoke, path = dict(os.environ), LambdaFunction.__dict__["_invoke_lambda"], list(sys.path)

    with EmbeddedAws.running(TEMPLATE) as aws:
        aws.run_execution({"case": "echo"})

    assert dict(os.environ) == environment
    assert LambdaFunction.__dict__["_invoke_lambda"] is invoke
    assert sys.path == path
    assert not [name for name in sys.modules if name.startswith("_localaws_")]


def test_only_one_embedded_aws_runs_at_a_time() -> None:
    with (
        EmbeddedAws.running(TEMPLATE),
        pytest.raises(RuntimeError, match="already running"),
        EmbeddedAws.running(TEMPLATE),
    ):
        pass


def test_invalid_parameter_fails_before_anything_starts() -> None:
    with pytest.raises(TemplateError, match="Stage"), EmbeddedAws.running(TEMPLATE, {"Stage": "nope"}):
        pass

    with EmbeddedAws.running(TEMPLATE) as aws:  # nothing was left half-started
        assert aws.parameters["Stage"] == "test"


def test_placeholder_without_a_substitution_fails_loudly(tmp_path: Path) -> None:
    template = fixture_copy(tmp_path, ('"${TopicArn}"', '"${TopicArn}${Unknown}"'))

    with (
        pytest.raises(TemplateError, match=r"Machine: placeholders without a DefinitionSubstitutions.*Unknown"),
        EmbeddedAws.running(template),
    ):
        pass


def test_substitution_never_used_fails_loudly(tmp_path: Path) -> None:
    template = fixture_copy(tmp_path, ('"TopicArn": "${TopicArn}"', '"TopicArn": "arn:aws:sns:us-east-1:1:t"'))

    with (
        pytest.raises(TemplateError, match=r"never used in the definition: \['TopicArn'\]"),
        EmbeddedAws.running(template),
    ):
        pass


def test_run_execution_timeout_stops_a_really_waiting_execution() -> None:
    with EmbeddedAws.running(TEMPLATE, wait_time_scale=1) as aws:
        with pytest.raises(ExecutionTimeout, match=r"states so far: \['Route', 'WaitAnHour'\]"):
            aws.run_execution({"case": "wait"}, timeout=2)  # ample to enter WaitAnHour on a loaded machine
        stopped = aws.client("stepfunctions").list_executions(stateMachineArn=aws.state_machine_arn)

    assert [e["status"] for e in stopped["executions"]] == ["ABORTED"]


def test_wait_time_scale_environment_variable_applies_without_the_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAIT_TIME_SCALE", "1")

    with EmbeddedAws.running(TEMPLATE) as aws, pytest.raises(ExecutionTimeout):
        aws.run_execution({"case": "wait"}, timeout=0.2)


def test_sfn_mock_config_environment_variable_provides_the_test_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFN_MOCK_CONFIG", str(FIXTURE / "mock_config.json"))

    with EmbeddedAws.running(TEMPLATE) as aws:
        result = aws.run_execution({"case": "retry", "failures": 0}, test_case="FlakyMockedThenOk")

    assert result.output == {"attempts": "mocked"}
