"""Every command README's Deploy section gives is one this repository provides and exercises."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()
DEPLOY = README.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
COMMANDS = [
    line.split("#", 1)[0].split()
    for block in re.findall(r"```sh\n(.*?)```", DEPLOY, flags=re.DOTALL)
    for line in block.splitlines()
    if line.strip()
]
MAKEFILE = (ROOT / "Makefile").read_text()
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"


def test_the_deploy_section_gives_commands() -> None:
    assert [c[0] for c in COMMANDS] == ["make", ".tools/sam/bin/sam"]


def test_each_make_command_is_a_target_that_make_test_runs() -> None:
    test_recipe = MAKEFILE.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    runtime_check = MAKEFILE.split("\nruntime-check:", 1)[1].split("\n\n", 1)[0]
    for command in (c for c in COMMANDS if c[0] == "make"):
        target = command[1]
        assert re.search(rf"^{target}:", MAKEFILE, flags=re.MULTILINE), target
        assert target in test_recipe or target in runtime_check, target


def test_the_sam_cli_is_the_one_the_makefile_installs_pinned() -> None:
    assert "SAM       := $(SAM_VENV)/bin/sam" in MAKEFILE and "SAM_VENV  := $(TOOLS)/sam" in MAKEFILE
    pins = (ROOT / "requirements" / "sam.txt").read_text()
    assert re.search(r"^aws-sam-cli==[0-9.]+$", pins, flags=re.MULTILINE)


@pytest.mark.skipif(not SAM.exists(), reason="the SAM CLI is not installed yet: `make validate` installs it")
def test_the_pinned_sam_cli_takes_the_deploy_options_the_readme_gives() -> None:
    for command in (c for c in COMMANDS if c[0] == ".tools/sam/bin/sam"):
        subcommand, options = command[1], [o for o in command[2:] if o.startswith("--")]
        shown = subprocess.run(
            [str(SAM), subcommand, "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin"},
        ).stdout
        assert all(option in shown for option in options), (subcommand, options)
