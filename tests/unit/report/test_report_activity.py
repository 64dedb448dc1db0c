"""Parsing a day's Athena CSV result: strict, so a corrupt baseline never reads as an empty one."""

from __future__ import annotations

import pytest

from tests.unit.report.report_kit import athena_csv, row
from trailkeeper.errors import BaselineUnreadable
from trailkeeper.report.activity import COLUMNS, parse_activity_csv

ALICE = ("111111111111", "us-east-1", "arn:aws:iam::111111111111:user/alice", "iam.amazonaws.com", "ListUsers")


def test_athena_csv_parses_into_rows_with_integer_counts() -> None:
    text = athena_csv([(*ALICE, "12", "3", "2024-01-05T10:00:00Z", "192.0.2.1", "aws-cli/2.15", "")])
    assert parse_activity_csv(text) == [row(events=12, failures=3)]


def test_null_values_read_as_empty_strings() -> None:
    [parsed] = parse_activity_csv(athena_csv([(*ALICE, "1", "0", "2024-01-05T10:00:00Z", None, None, None)]))
    assert (parsed.sample_source_ips, parsed.sample_user_agents) == ("", "")


def test_header_only_is_a_day_without_activity() -> None:
    assert parse_activity_csv(athena_csv([])) == []


def test_quoted_line_break_stays_inside_its_value() -> None:
    agent = 'Mozilla\r\nBcc: attacker@evil.example\u2028"next"'
    [parsed] = parse_activity_csv(athena_csv([(*ALICE, "1", "0", "2024-01-05T10:00:00Z", "192.0.2.1", agent, "")]))
    assert parsed.sample_user_agents == agent


def test_key_compares_parsed_values_not_the_raw_quoting() -> None:
    quoted = athena_csv([(*ALICE, "1", "0", "2024-01-05T10:00:00Z", "192.0.2.1", "a", "")])
    unquoted = ",".join(COLUMNS) + "\n" + ",".join(ALICE) + ",7,1,2024-01-05T11:00:00Z,,b,,0,,\n"
    assert parse_activity_csv(quoted)[0].key == parse_activity_csv(unquoted)[0].key == ALICE


def test_empty_text_is_unreadable() -> None:
    with pytest.raises(BaselineUnreadable, match="no header"):
        parse_activity_csv("")


def test_wrong_header_is_unreadable() -> None:
    header = ("account", "region", "principal", "eventsource", "eventname", "events", "errors")
    with pytest.raises(BaselineUnreadable, match="expected header"):
        parse_activity_csv(athena_csv([], header=header))


def test_row_with_missing_values_is_unreadable() -> None:
    text = athena_csv([]) + '"111111111111","us-east-1","x"\n'
    with pytest.raises(BaselineUnreadable, match="3 values, expected 14"):
        parse_activity_csv(text)


@pytest.mark.parametrize("count", ["abc", "", "-1", " 7", "+7", "1_000", "1.0", "\u0663"])
def test_count_that_is_not_plain_digits_is_unreadable(count: str) -> None:
    text = athena_csv([(*ALICE, count, "0", "2024-01-05T10:00:00Z", "", "", "")])
    with pytest.raises(BaselineUnreadable, match=r"events .* is not a whole number"):
        parse_activity_csv(text)


def test_malformed_quoting_is_unreadable() -> None:
    text = athena_csv([]) + '"111111111111","us-east-1"x,"p","s","n","1","0","t","",""\n'
    with pytest.raises(BaselineUnreadable, match="not a readable CSV"):
        parse_activity_csv(text)


def test_unreadable_message_names_the_source_and_escapes_the_bad_value() -> None:
    text = athena_csv([(*ALICE, "1\r\nBcc: attacker@evil.example", "0", "2024-01-05T10:00:00Z", "", "", "")])
    with pytest.raises(BaselineUnreadable) as raised:
        parse_activity_csv(text, source="s3://results/daily/2024-01-04.csv")
    message = str(raised.value)
    assert message.startswith("s3://results/daily/2024-01-04.csv row 1:")  # data rows, not physical lines
    assert "\r" not in message and "\n" not in message
