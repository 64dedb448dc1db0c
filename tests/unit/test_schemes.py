"""Partition schemes: values, Glue expressions and recognition from the table's keys."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers import make_settings, table_input
from trailkeeper.errors import ConfigurationError, UnsupportedPartitionScheme
from trailkeeper.schemes import ORGANIZATION_KEYS, SINGLE_ACCOUNT_KEYS, PartitionScheme, scheme_for_table


def table_with(keys: tuple[str, ...], location: str = "s3://trail-bucket/AWSLogs/") -> dict[str, object]:
    return {
        "Name": "t",
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
        "StorageDescriptor": {"Location": location},
    }


def test_template_table_uses_the_trailkeeper_scheme() -> None:
    assert scheme_for_table(table_input(), make_settings()).name == "trailkeeper"


def test_documented_organization_table_uses_the_organization_scheme() -> None:
    assert scheme_for_table(table_with(ORGANIZATION_KEYS), make_settings()).name == "aws-organization"


def test_single_account_scheme_takes_the_account_from_the_table_location() -> None:
    location = "s3://trail-bucket/AWSLogs/o-exampleorg1/111111111111/CloudTrail/"
    scheme = scheme_for_table(table_with(SINGLE_ACCOUNT_KEYS, location), make_settings())
    assert (scheme.name, scheme.fixed_account) == ("aws-single-account", "111111111111")


def test_single_account_table_outside_the_trail_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="LOCATION"):
        scheme_for_table(
            table_with(SINGLE_ACCOUNT_KEYS, "s3://other-bucket/AWSLogs/111111111111/CloudTrail/"), make_settings()
        )


@pytest.mark.parametrize("keys", [("timestamp",), ("region", "dt"), ()], ids=["projection", "no account", "none"])
def test_unknown_scheme_is_a_clear_start_up_error(keys: tuple[str, ...]) -> None:
    with pytest.raises(UnsupportedPartitionScheme, match="supported"):
        scheme_for_table(table_with(keys), make_settings())


def test_dt_expression_is_one_range() -> None:
    scheme = PartitionScheme("s", ("account", "region", "dt"))
    expression = scheme.glue_expression(dt.date(2024, 1, 30), dt.date(2024, 2, 2))
    assert expression == "dt BETWEEN '2024-01-30' AND '2024-02-02'"


def test_year_month_day_expression_uses_whole_years_and_months() -> None:
    scheme = PartitionScheme("s", ORGANIZATION_KEYS)
    expression = scheme.glue_expression(dt.date(2023, 12, 30), dt.date(2025, 2, 3))
    assert expression == (
        "(year = '2023' AND month = '12' AND day BETWEEN '30' AND '31') OR (year = '2024') OR "
        "(year = '2025' AND month = '01') OR (year = '2025' AND month = '02' AND day BETWEEN '01' AND '03')"
    )


def test_a_shard_lists_only_its_account_range() -> None:
    days = (dt.date(2024, 1, 30), dt.date(2024, 2, 2))
    accounts = ("111111111111", "222222222222")
    assert PartitionScheme("s", ("account", "region", "dt")).glue_expression(*days, accounts) == (
        "account BETWEEN '111111111111' AND '222222222222' AND (dt BETWEEN '2024-01-30' AND '2024-02-02')"
    )
    assert (
        PartitionScheme("s", ORGANIZATION_KEYS)
        .glue_expression(*days, accounts)
        .startswith("account BETWEEN '111111111111' AND '222222222222' AND ((year = '2024' AND month = '01'")
    )
    single = PartitionScheme("s", SINGLE_ACCOUNT_KEYS, fixed_account="111111111111")
    assert single.glue_expression(*days, accounts) == single.glue_expression(*days)


def test_an_account_range_is_validated_before_it_reaches_the_expression() -> None:
    with pytest.raises(ValueError, match="unvalidated"):
        PartitionScheme("s", ORGANIZATION_KEYS).glue_expression(
            dt.date(2024, 1, 1), dt.date(2024, 1, 2), ("111111111111", "1' OR '1'='1")
        )
