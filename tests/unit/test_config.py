"""Configuration fails at start-up with a clear message, never later in SQL."""

from __future__ import annotations

import pytest

from tests.helpers import make_settings
from trailkeeper.config import ATHENA_QUERY_LIMIT_BYTES, DEFAULT_MAX_STATEMENT_BYTES, MAX_STATEMENT_BYTES_CAP
from trailkeeper.errors import ConfigurationError

BAD_CONFIG = {
    "empty account allow-list": ({"ACCOUNT_ALLOWLIST": ""}, "ACCOUNT_ALLOWLIST"),
    "account allow-list of commas": ({"ACCOUNT_ALLOWLIST": ", ,"}, "ACCOUNT_ALLOWLIST"),
    "malformed account in allow-list": ({"ACCOUNT_ALLOWLIST": "111111111111,12"}, "ACCOUNT_ALLOWLIST"),
    "empty region allow-list": ({"REGION_ALLOWLIST": ""}, "REGION_ALLOWLIST"),
    "malformed organization id": ({"ORGANIZATION_ID": "o-x'--"}, "ORGANIZATION_ID"),
    "prefix with traversal": ({"TRAIL_PREFIX": "logs/../other"}, "TRAIL_PREFIX"),
    "prefix with doubled slash": ({"TRAIL_PREFIX": "logs//x"}, "TRAIL_PREFIX"),
    "prefix with quote": ({"TRAIL_PREFIX": "logs'"}, "TRAIL_PREFIX"),
    "bucket with quote": ({"TRAIL_BUCKET": "bucket'"}, "TRAIL_BUCKET"),
    "table name with backtick": ({"TABLE_NAME": "cloudtrail`"}, "TABLE_NAME"),
    "missing results bucket": ({"RESULTS_BUCKET": ""}, "RESULTS_BUCKET"),
    "statement limit above Athena's": ({"MAX_STATEMENT_BYTES": "262145"}, "MAX_STATEMENT_BYTES"),
    "statement limit above the payload cap": (
        {"MAX_STATEMENT_BYTES": str(MAX_STATEMENT_BYTES_CAP + 1)},
        "MAX_STATEMENT_BYTES",
    ),
    "lookback not a number": ({"LOOKBACK_DAYS": "three"}, "LOOKBACK_DAYS"),
}


@pytest.mark.parametrize(("overrides", "name"), BAD_CONFIG.values(), ids=BAD_CONFIG.keys())
def test_bad_configuration_fails_naming_the_variable(overrides: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        make_settings(**overrides)


def test_absent_allow_lists_mean_no_restriction() -> None:
    settings = make_settings()
    assert settings.ACCOUNT_ALLOWLIST is None and settings.REGION_ALLOWLIST is None


def test_logs_root_joins_prefix_and_organization() -> None:
    assert make_settings(TRAIL_PREFIX="a/b").logs_root == "a/b/AWSLogs/o-exampleorg1/"
    assert make_settings(ORGANIZATION_ID="").logs_root == "AWSLogs/"


def test_statement_limit_defaults_to_the_cap_that_fits_step_functions_payloads() -> None:
    """The cap itself is computed against the payload limit in test_payload_limits.py."""
    assert make_settings().MAX_STATEMENT_BYTES == DEFAULT_MAX_STATEMENT_BYTES == MAX_STATEMENT_BYTES_CAP
    assert MAX_STATEMENT_BYTES_CAP < ATHENA_QUERY_LIMIT_BYTES


def test_shards_times_statements_at_once_must_fit_athena_ddl_limit() -> None:
    assert make_settings(ATHENA_DDL_CONCURRENCY="5", BACKFILL_SHARD_CONCURRENCY="4").BACKFILL_SHARD_CONCURRENCY == 4
    with pytest.raises(ConfigurationError, match=r"ATHENA_DDL_CONCURRENCY=5 x BACKFILL_SHARD_CONCURRENCY=5 .* 20"):
        make_settings(ATHENA_DDL_CONCURRENCY="5", BACKFILL_SHARD_CONCURRENCY="5")
