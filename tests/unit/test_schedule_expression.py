"""ScheduleExpression: only a schedule that fires exactly once a day at a UTC hour from 1 to 23 deploys (issue 12).

A report day counts as delivered an hour after it ends (trailkeeper.inputs.DELIVERY_LAG), so an earlier start is
refused by ValidateInput every night; a rate runs the nightly job every N minutes; day, month and year fields can
skip days or never fire (cron(0 3 30 2 ? *)). Syntax from the EventBridge Scheduler user guide ("Schedule types":
cron fields, one of day-of-month and day-of-week '?'); the pattern tested is the template's own, and the property
test fires every admitted expression through an independent cron evaluator over a leap year.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import template
from trailkeeper.inputs import DELIVERY_LAG

ONCE_A_DAY = [
    "cron(30 1 * * ? *)",
    "cron(0 1 * * ? *)",
    "cron(0 10 * * ? *)",
    "cron(59 23 * * ? *)",
    "cron(15 12 ? * * *)",
    "cron(05 02 * * ? *)",
]
REFUSED = {
    "hour 0 (before the report day is delivered)": "cron(30 0 * * ? *)",
    "hour 00": "cron(30 00 * * ? *)",
    "hour 25 (never fires)": "cron(30 25 * * ? *)",
    "minute 60": "cron(60 1 * * ? *)",
    "rate(1 minute) (every minute)": "rate(1 minute)",
    "rate(1 day) (fires at deploy time, any hour)": "rate(1 day)",
    "February 30 (never fires)": "cron(0 3 30 2 ? *)",
    "one day a month": "cron(0 8 1 * ? *)",
    "weekdays only": "cron(0 18 ? * MON-FRI *)",
    "one year only": "cron(30 1 * * ? 2030)",
    "twice a day": "cron(0 1,13 * * ? *)",
    "every ten minutes": "cron(0/10 2 * * ? *)",
    "every hour": "cron(30 * * * ? *)",
    "an hour range": "cron(30 1-3 * * ? *)",
    "both day fields given": "cron(30 1 * * * *)",
    "both day fields '?'": "cron(30 1 ? * ? *)",
    "five fields (Unix cron)": "cron(30 1 * * ?)",
    "bare Unix cron": "30 1 * * *",
    "trailing space": "cron(30 1 * * ? *) ",
    "empty": "",
}


def pattern() -> re.Pattern[str]:
    return re.compile(template()["Parameters"]["ScheduleExpression"]["AllowedPattern"])


@pytest.mark.parametrize("expression", ONCE_A_DAY)
def test_a_schedule_firing_once_a_day_after_the_delivery_lag_is_accepted(expression: str) -> None:
    assert pattern().fullmatch(expression)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_schedule_that_does_not_fire_once_a_day_after_the_delivery_lag_is_refused(name: str) -> None:
    assert not pattern().fullmatch(REFUSED[name])


def test_the_schedule_time_zone_is_utc_only() -> None:
    parameter = template()["Parameters"]["ScheduleTimezone"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("UTC", ["UTC"])


# ---- the property: an independent evaluator of EventBridge cron expressions --------------------------------

_NAMES = {
    **{name.upper(): number for number, name in enumerate(calendar.month_abbr) if name},
    **{name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)},
}
_RANGES = {"minute": (0, 59), "hour": (0, 23), "dom": (1, 31), "month": (1, 12), "dow": (1, 7), "year": (1970, 2199)}


def _values(field: str, text: str) -> set[int] | None:
    """The values a field matches (None for '?'): lists, ranges, steps and names, as the user guide defines them."""
    if text == "?":
        return None
    low, high = _RANGES[field]
    found: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        else:
            a, _, b = span.partition("-")
            first = _NAMES.get(a) or int(a)
            last = (_NAMES.get(b) or int(b)) if b else (high if step else first)
        found.update(range(first, last + 1, int(step) if step else 1))
    return found


def firings(expression: str, day: dt.date) -> list[dt.time]:
    """The UTC times of `day` at which `expression` fires (ScheduleTimezone is UTC)."""
    inner = re.fullmatch(r"cron\((.*)\)", expression)
    assert inner, expression
    fields = dict(zip(_RANGES, inner.group(1).split(" "), strict=True))
    values = {field: _values(field, text) for field, text in fields.items()}
    dom, dow = values["dom"], values["dow"]
    assert (dom is None) != (dow is None), "exactly one of day-of-month and day-of-week is '?'"
    if day.month not in (values["month"] or set()) or day.year not in (values["year"] or set()):
        return []
    weekday = day.isoweekday() % 7 + 1  # EventBridge: 1 = Sunday
    if (dom is not None and day.day not in dom) or (dow is not None and weekday not in dow):
        return []
    return [dt.time(h, m) for h in sorted(values["hour"] or ()) for m in sorted(values["minute"] or ())]


LEAP_YEAR = [dt.date(2028, 1, 1) + dt.timedelta(days=n) for n in range(366)]
EARLIEST_START = (dt.datetime.min + DELIVERY_LAG).time()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_schedule_the_pattern_admits_fires_exactly_once_a_day_after_the_delivery_lag(data: st.DataObject) -> None:
    expression = data.draw(st.from_regex(pattern(), fullmatch=True))
    for day in LEAP_YEAR:
        [fires] = firings(expression, day)
        assert fires >= EARLIEST_START, f"{expression} fires at {fires} UTC, before the report day is delivered"


@pytest.mark.parametrize(
    ("expression", "fires_on"),
    [
        ("cron(0 3 30 2 ? *)", 0),
        ("cron(0 8 1 * ? *)", 12),
        ("cron(0 18 ? * MON-FRI *)", 260),
        ("cron(0 1,13 * * ? *)", 732),
    ],
)
def test_the_evaluator_counts_firings_of_refused_schedules(expression: str, fires_on: int) -> None:
    """Guards the property: the evaluator does find the days and times that refused schedules get wrong."""
    assert sum(len(firings(expression, day)) for day in LEAP_YEAR) == fires_on


def test_the_default_schedule_is_accepted_and_starts_after_the_delivery_lag() -> None:
    default = template()["Parameters"]["ScheduleExpression"]["Default"]
    assert pattern().fullmatch(default)
    assert [t for day in LEAP_YEAR for t in firings(default, day)] == [dt.time(1, 30)] * len(LEAP_YEAR)
