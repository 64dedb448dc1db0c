"""The sweep's schedule: every retained day is re-checked once in every cycle of nights, a night sweeps at most its
days per night (worst case over retentions and slices), and the lifecycle's expiration sets the retention;
the template's parameters reach the validator with the bounds it accepts."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from tests.helpers import template
from trailkeeper.integrity import sweep
from trailkeeper.integrity.lifecycle import Lifecycle
from trailkeeper.integrity.sweep import cycle_nights, days_to_sweep, retention_days

FIRST_NIGHT = dt.date(2024, 1, 1)


@pytest.mark.parametrize(("retention", "per_night"), [(365, 3), (90, 3), (400, 7), (7, 31), (3_660, 31), (30, 1)])
def test_every_retained_day_is_swept_once_per_cycle_and_no_night_sweeps_more_than_its_slice(
    retention: int, per_night: int
) -> None:
    cycle = cycle_nights(retention, per_night)
    nights = [FIRST_NIGHT + dt.timedelta(days=i) for i in range(retention + 2 * cycle)]
    swept_on: dict[dt.date, list[dt.date]] = {}
    for night in nights:
        days = days_to_sweep(night, night, retention, per_night)  # the walk covers the night's own day
        assert len(days) <= per_night
        assert all(1 <= (night - day).days < retention for day in days)
        for day in days:
            swept_on.setdefault(day, []).append(night)
    for day in nights:
        eligible = [n for n in nights if 1 <= (n - day).days < retention]
        if len(eligible) < cycle:
            continue
        sweeps = swept_on.get(day, [])
        assert sweeps and (sweeps[0] - eligible[0]).days < cycle and (eligible[-1] - sweeps[-1]).days < cycle, day
        assert all((b - a).days == cycle for a, b in itertools.pairwise(sweeps)), day


def test_the_days_the_walk_covers_are_never_swept() -> None:
    nights = [dt.date(2024, 3, 10) + dt.timedelta(days=i) for i in range(30)]
    assert all(day < dt.date(2024, 3, 8) for n in nights for day in days_to_sweep(n, dt.date(2024, 3, 8), 30, 3))


def test_a_slice_of_zero_days_turns_the_sweep_off() -> None:
    assert days_to_sweep(dt.date(2024, 3, 10), dt.date(2024, 3, 9), 365, 0) == []


def test_the_log_folders_lifecycle_expiration_is_the_retention() -> None:
    rules = [
        {"Status": "Enabled", "Filter": {"Prefix": "AWSLogs/"}, "Expiration": {"Days": 90}},
        {"Status": "Enabled", "Filter": {"Prefix": "AWSLogs/o-exampleorg1/111111111111/"}, "Expiration": {"Days": 30}},
        {"Status": "Enabled", "Filter": {"Prefix": "other/"}, "Expiration": {"Days": 1}},
    ]
    lifecycle = Lifecycle.from_rules(rules)
    root = "AWSLogs/o-exampleorg1/"
    assert retention_days(lifecycle, root, "111111111111", "us-east-1", 365) == 30
    assert retention_days(lifecycle, root, "222222222222", "us-east-1", 365) == 90
    assert retention_days(Lifecycle(), root, "222222222222", "us-east-1", 365) == 365


@pytest.mark.parametrize(
    ("parameter", "variable", "bounds"),
    [
        (
            "IntegritySweepDaysPerNight",
            "INTEGRITY_SWEEP_DAYS_PER_NIGHT",
            (sweep.DEFAULT_DAYS_PER_NIGHT, 0, sweep.MAX_DAYS_PER_NIGHT),
        ),
        (
            "IntegrityRetentionDays",
            "INTEGRITY_RETENTION_DAYS",
            (sweep.DEFAULT_RETENTION_DAYS, 1, sweep.MAX_RETENTION_DAYS),
        ),
    ],
)
def test_the_templates_sweep_parameters_reach_the_validator_with_the_bounds_it_accepts(
    parameter: str, variable: str, bounds: tuple[int, int, int]
) -> None:
    declared = template()["Parameters"][parameter]
    environment = template()["Resources"]["ValidateIntegrityFunction"]["Properties"]["Environment"]["Variables"]
    assert environment[variable] == {"Ref": parameter}
    assert (declared["Default"], declared["MinValue"], declared["MaxValue"]) == bounds
