"""Imports every handler from the `sam build` artifact under the functions' runtime Python, in isolation.

Usage: python tools/check_build.py PYTHON [BUILD_DIR]. Reads the built template (.aws-sam/build/template.yaml),
and for each function runs PYTHON -I -S with only that function's artifact folder on sys.path, so a module
missing from the artifact, or one that does not import under the runtime's Python, fails here, not in Lambda.

Compiled extensions are checked by their ELF header: each must be built for the function's architecture
(`Architectures`, arm64 by default). This machine cannot load another architecture's extensions, so when it
differs, those top-level modules alone are imported from PYTHON's own installation (a shim folder before the
artifact on sys.path); every other module, the product's included, still comes from the artifact.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from cfnlint.decode import cfn_yaml

IMPORT = (
    "import sys; sys.path[0:0] = sys.argv[1].split(':'); sys.argv[1] = sys.path[1]; import importlib; "
    "module, _, name = sys.argv[2].rpartition('.'); handler = getattr(importlib.import_module(module), name); "
    "assert callable(handler), sys.argv[2]; "
    "import boto3, aws_lambda_powertools; "
    "assert all(m.__file__.startswith(sys.argv[1]) for m in (boto3, aws_lambda_powertools)), 'not from the artifact'"
)
# ELF e_machine of each Lambda architecture (System V ABI, processor supplements).
ELF_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}
HOST_ARCHITECTURE = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}.get(
    platform.machine().lower(), platform.machine()
)
LOCATE = (
    "import importlib.util, sys; spec = importlib.util.find_spec(sys.argv[1]); "
    "print(spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin)"
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
        architecture = (properties.get("Architectures") or built["Globals"]["Function"].get("Architectures"))[0]
        wrong = [so for so in artifact.rglob("*.so") if _elf_machine(so) != ELF_MACHINE[architecture]]
        if wrong:
            failures += 1
            print(f"{logical_id}: {len(wrong)} compiled extension(s) not built for {architecture}, e.g. {wrong[0]}")
            continue
        with tempfile.TemporaryDirectory() as shim:
            if architecture != HOST_ARCHITECTURE:
                for name in sorted({so.relative_to(artifact).parts[0].split(".")[0] for so in artifact.rglob("*.so")}):
                    located = subprocess.run([python, "-c", LOCATE, name], capture_output=True, text=True, check=True)
                    origin = Path(located.stdout.strip())
                    (Path(shim) / origin.name).symlink_to(origin)
            result = subprocess.run(
                [python, "-I", "-S", "-c", IMPORT, f"{shim}:{artifact.resolve()}", handler],
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


def _elf_machine(path: Path) -> int:
    with path.open("rb") as binary:
        header = binary.read(20)
    return int.from_bytes(header[18:20], "little" if header[5:6] == b"\x01" else "big")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2] if len(sys.argv) > 2 else ".aws-sam/build")))
