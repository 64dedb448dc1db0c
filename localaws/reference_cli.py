"""AWS's own validator, `aws cloudtrail validate-logs`, run against moto served on loopback.

The pinned awscli lives in its own virtualenv (`make tools` -> .tools/awscli; it pins its own botocore).
`loopback_aws()` serves moto (ThreadedMotoServer on 127.0.0.1, a free port) with ListPublicKeys installed
(localaws.patches.cloudtrail); with `own_process=True` the server runs in a process of its own (`python -m
localaws.reference_cli PORT`), so the emulator does not share a GIL with the client under test (werkzeug's
server still closes every connection after its response, for both validators alike). `validate_logs()` runs
the CLI against it with `AWS_ENDPOINT_URL`, so its S3, CloudTrail and Organizations clients all reach the
server, and parses what it reports.

validate-logs calls: cloudtrail DescribeTrails (to find the trail's bucket and prefix by its ARN),
organizations DescribeOrganization (organization trails), cloudtrail ListPublicKeys, s3 GetBucketLocation,
ListObjects (v1, with Marker) over the digest prefix, and GetObject of each digest and log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from localaws.patches import cloudtrail as cloudtrail_keys

REPO_ROOT = Path(__file__).resolve().parents[1]
AWS_CLI = REPO_ROOT / ".tools" / "awscli" / "bin" / "aws"
_INVALID = re.compile(r"^(?:\(backfill\) )?(Digest|Log) file\ts3://[^/]+/(\S+)\tINVALID: (.+)$")
_VALID = re.compile(r"^(?:\(backfill\) )?(Digest|Log) file\ts3://[^/]+/(\S+)\tvalid$")


@dataclass
class Loopback:
    endpoint: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client_args(self, region: str = "us-east-1") -> dict[str, str]:
        """What a boto3 client needs to reach the loopback server."""
        environment = self.environment()
        return {
            "endpoint_url": self.endpoint,
            "region_name": region,
            "aws_access_key_id": environment["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": environment["AWS_SECRET_ACCESS_KEY"],
        }

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client on the loopback server."""
        return boto3.client(service, **self.client_args(region))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def delayed(app: Any, seconds: float, sleep: Any = time.sleep) -> Any:
    """The WSGI `app`, answering each request `seconds` late: the network's round trip, which loopback lacks.
    A sleeping request thread holds no GIL, so concurrent requests wait side by side, as they do on S3."""

    def late(environ: Any, start_response: Any) -> Any:
        sleep(seconds)
        return app(environ, start_response)

    return late


def serve(port: int, latency: float = 0.0) -> None:
    """The own-process server (`python -m localaws.reference_cli PORT [LATENCY_SECONDS]`): until it is terminated.

    moto's dispatcher re-lists its own package directory (about 170 `isdir` calls) on every request to ask
    whether the Host header names a backend; that list does not change while the server runs, so it is read once.
    It serves every client alike (validate-logs too): what remains per request is moto's own work."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    cloudtrail_keys.serve_public_keys()
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    app = DomainDispatcherApplication(create_backend_app)
    if latency:
        app = delayed(app, latency)
    make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler).serve_forever()


@contextmanager
def _own_process_server(port: int, latency: float) -> Iterator[None]:
    command = [sys.executable, "-m", "localaws.reference_cli", str(port), repr(latency)]
    server = subprocess.Popen(command, cwd=REPO_ROOT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the loopback moto server did not start (exit {server.poll()})") from None
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def loopback_aws(own_process: bool = False, latency: float = 0.0) -> Iterator[Loopback]:
    """moto on 127.0.0.1 (only), empty, with ListPublicKeys serving the local digest key; in a process of its
    own (its own GIL) when `own_process`, there answering every request `latency` seconds late."""
    if latency and not own_process:
        raise ValueError("a latency needs the own-process server")
    port = _free_port()
    if own_process:
        with _own_process_server(port, latency):
            yield Loopback(f"http://127.0.0.1:{port}")
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    undo = cloudtrail_keys.serve_public_keys()
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        requests.post(f"{endpoint}/moto-api/reset", timeout=30)  # moto's backends are process-wide: start empty
        yield Loopback(endpoint)
    finally:
        server.stop()
        undo()


@dataclass
class CliReport:
    returncode: int
    valid: dict[str, set[str]] = field(default_factory=lambda: {"Digest": set(), "Log": set()})
    invalid: dict[str, str] = field(default_factory=dict)  # key -> reason
    gaps: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


def validate_logs(
    loopback: Loopback,
    trail_arn: str,
    region: str,
    start: dt.datetime,
    end: dt.datetime,
    account_id: str | None = None,
    timeout: float = 600,
) -> CliReport:
    """`aws cloudtrail validate-logs --verbose` for one account and region; its verdict per object."""
    if not AWS_CLI.exists():
        raise FileNotFoundError(f"{AWS_CLI} is missing: run `make tools`")
    command = [
        str(AWS_CLI),
        "cloudtrail",
        "validate-logs",
        "--trail-arn",
        trail_arn,
        "--region",
        region,
        "--start-time",
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--end-time",
        end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--verbose",
    ]
    if account_id:
        command += ["--account-id", account_id]
    environment = {"PATH": os.environ.get("PATH", ""), **loopback.environment()}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=timeout, check=False)  # noqa: S603
    report = CliReport(done.returncode, stdout=done.stdout, stderr=done.stderr)
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if match := _VALID.match(line):
            report.valid[match[1]].add(match[2])
        elif match := _INVALID.match(line):
            report.invalid[match[2]] = match[3]
        elif "No log files were delivered" in line:
            report.gaps.append(line)
    return report


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
