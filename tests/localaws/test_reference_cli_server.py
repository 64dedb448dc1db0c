"""The loopback server the validate-logs cross-check and the integrity bench read: its latency model."""

from __future__ import annotations

from typing import Any

import pytest

from localaws.reference_cli import delayed, loopback_aws


def test_a_delayed_server_waits_the_latency_before_it_answers() -> None:
    events: list[Any] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        events.append("answered")
        return [b"ok"]

    late = delayed(app, 0.02, sleep=lambda seconds: events.append(seconds))

    assert late({}, lambda *_: None) == [b"ok"]
    assert events == [0.02, "answered"]


def test_a_latency_is_refused_for_the_in_process_server() -> None:
    with pytest.raises(ValueError, match="own-process"), loopback_aws(latency=0.02):
        pass
