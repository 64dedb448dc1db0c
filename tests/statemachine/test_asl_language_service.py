"""The ASL passes AWS's own Amazon States Language service (npm amazon-states-language-service, pinned in
tools/asl/, installed by `make asl-tools`): its schema and rules catch what moto's interpreter accepts, such as a
float where AWS takes an integer (ToleratedFailurePercentage 100.0)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, asl, state_machine_resource

NODE = shutil.which("node")
MODULES = ROOT / ".tools" / "asl" / "node_modules"
SCRIPT = ROOT / "tools" / "asl" / "validate.js"
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="Node.js is not installed: AWS's ASL language service runs on Node"),
    pytest.mark.skipif(
        not (MODULES / "amazon-states-language-service").is_dir(),
        reason="AWS's ASL language service is not installed: run `make asl-tools`",
    ),
]


def validate(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NODE), str(SCRIPT), str(MODULES), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_state_machine_passes_aws_asl_language_service() -> None:
    result = validate(ROOT / state_machine_resource()["Properties"]["DefinitionUri"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 file(s) validated, 0 problem(s)" in result.stdout


def test_the_language_service_flags_a_float_where_aws_takes_an_integer(tmp_path: Path) -> None:
    definition = asl()
    definition["States"]["ReconcileShards"]["ToleratedFailurePercentage"] = 100.0
    planted = tmp_path / "float.asl.json"
    planted.write_text(json.dumps(definition, indent=2))  # json writes 100.0 as 100.0
    result = validate(planted)
    assert result.returncode == 1
    assert "Expected one of integer" in result.stdout
