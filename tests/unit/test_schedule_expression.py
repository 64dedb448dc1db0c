"""ScheduleExpression: an expression EventBridge Scheduler could never fire is refused at deploy (AllowedPattern).

Cases come from the EventBridge Scheduler user guide ("Schedule types": cron and rate expressions, field ranges,
the rule that one of day-of-month and day-of-week is '?'); the pattern tested is the template's own.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers import template

FIRES = [
    "cron(30 1 * * ? *)",
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 1 L * ? *)",
    "cron(0 1 15W * ? *)",
    "cron(0 1 ? * 6L *)",
    "cron(0 0,12 1 */2 ? *)",
    "cron(59 23 31 DEC ? 2199)",
    "cron(0 2 ? JAN-MAR SUN 2030)",
    "rate(1 day)",
    "rate(12 hours)",
    "rate(5 minutes)",
]
NEVER_FIRES = {
    "hour 25": "cron(30 25 * * ? *)",
    "minute 60": "cron(60 1 * * ? *)",
    "day-of-month 32": "cron(30 1 32 * ? *)",
    "month 13": "cron(30 1 * 13 ? *)",
    "day-of-week 8": "cron(30 1 ? * 8 *)",
    "both day fields given": "cron(30 1 * * * *)",
    "both day fields '?'": "cron(30 1 ? * ? *)",
    "five fields (Unix cron)": "cron(30 1 * * ?)",
    "bare Unix cron": "30 1 * * *",
    "year before 1970": "cron(30 1 * * ? 1969)",
    "rate of zero": "rate(0 days)",
    "rate in seconds": "rate(5 seconds)",
    "plural unit for one": "rate(1 days)",
    "singular unit for many": "rate(2 day)",
    "trailing space": "cron(30 1 * * ? *) ",
    "empty": "",
}


def pattern() -> re.Pattern[str]:
    return re.compile(template()["Parameters"]["ScheduleExpression"]["AllowedPattern"])


@pytest.mark.parametrize("expression", FIRES)
def test_a_schedule_eventbridge_can_fire_is_accepted(expression: str) -> None:
    assert pattern().fullmatch(expression)


@pytest.mark.parametrize("name", sorted(NEVER_FIRES))
def test_a_schedule_that_can_never_fire_is_refused(name: str) -> None:
    assert not pattern().fullmatch(NEVER_FIRES[name])


def test_the_default_schedule_is_accepted_and_starts_after_the_delivery_lag() -> None:
    from trailkeeper.inputs import DELIVERY_LAG

    default = template()["Parameters"]["ScheduleExpression"]["Default"]
    minute, hour = map(int, re.fullmatch(r"cron\((\d+) (\d+) \* \* \? \*\)", default).groups())  # type: ignore[union-attr]
    assert pattern().fullmatch(default)
    assert hour * 60 + minute >= DELIVERY_LAG.total_seconds() / 60
