"""Imports every handler from the `sam build` artifact under the functions' runtime Python, in isolation.

Usage: python tools/check_build.py PYTHON [BUILD_DIR]. Reads the built template (.aws-sam/build/template.yaml),
and for each function runs PYTHON -I -S with only that function's artifact folder on sys.path, so a module
missing from the artifact, or one that does not import under the runtime's Python, fails here, not in Lambda.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

IMPORT = (
    "import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
    "module, _, name = sys.argv[2].rpartition('.'); handler = getattr(importlib.import_module(module), name); "
    "assert callable(handler), sys.argv[2]; "
    "import boto3, aws_lambda_powertools; "
    "assert all(m.__file__.startswith(sys.argv[1]) for m in (boto3, aws_lambda_powertools)), 'not from the artifact'"
)
# What Lambda sets for every function; handlers create their clients at import, which needs a region.
LAMBDA_ENVIRONMENT = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}


def main(python: str, build_dir: Path) -> int:
    built = cfn_yaml.load(str(build_dir / "template.yaml"))
    runtime = built["Globals"]["Function"]["Runtime"]
    version = subprocess.run(
        [python, "-c", "import sys; print(f'python{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != runtime:
        print(f"{python} is {version}, the functions run on {runtime}")
        return 1
    failures = 0
    functions = {
        lid: r["Properties"] for lid, r in built["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    for logical_id, properties in functions.items():
        artifact = build_dir / properties["CodeUri"]
        handler = properties["Handler"]
        result = subprocess.run(
            [python, "-I", "-S", "-c", IMPORT, str(artifact.resolve()), handler],
            capture_output=True,
            text=True,
            check=False,
            env=LAMBDA_ENVIRONMENT,
        )
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"{logical_id}: {handler} from {artifact} under {version}: {status}")
        if result.returncode:
            failures += 1
            print(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.stdout)
    print(f"{len(functions)} handler(s) imported from the build, {failures} failed")
    return 1 if failures or not functions else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else ".aws-sam/build")))
