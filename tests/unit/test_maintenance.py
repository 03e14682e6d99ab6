"""GKE's maintenance availability rule: >= 48 h of windows (each >= 4 h) in any 32 days."""

from datetime import datetime, timedelta

import pytest

from gke_lab.maintenance import availability_problem, minimum_availability

T0 = datetime.fromisoformat("2020-11-29T17:00:00+00:00")


def _min(hours: float, rule: str) -> float:
    return minimum_availability(T0, T0 + timedelta(hours=hours), rule).total_seconds() / 3600


def test_article_window_passes_exactly():
    # 6 h on Saturdays and Sundays: the worst 32 days hold 8 weekend days = 48 h
    assert _min(6, "FREQ=WEEKLY;BYDAY=SA,SU") == 48
    assert (
        availability_problem("2020-11-29T17:00:00Z", "2020-11-29T23:00:00Z", "FREQ=WEEKLY;BYDAY=SA,SU")
        is None
    )


@pytest.mark.parametrize(
    "hours,rule,expected",
    [
        (4, "FREQ=WEEKLY", 16),  # a single 4 h weekly window
        (4, "FREQ=DAILY", 128),
        (3, "FREQ=DAILY", 0),  # windows shorter than 4 h do not count
        (12, "FREQ=WEEKLY;BYDAY=SU", 48),
        (24, "FREQ=MONTHLY;BYMONTHDAY=1", 24),
        (24, "FREQ=MONTHLY", 0),  # from the 29th: no 29 February 2021, so a 32-day span without any
        (6, "FREQ=DAILY;COUNT=3", 0),  # availability must continue
        (30, "FREQ=DAILY", 32 * 24),  # overlapping occurrences merge
    ],
)
def test_minimum_availability(hours, rule, expected):
    assert _min(hours, rule) == pytest.approx(expected)


def test_problems_name_the_field():
    assert availability_problem("2020-11-29T17:00:00Z", "2020-11-29T17:00:00Z", "FREQ=DAILY")[0] == ("end",)
    field, problem, accepted = availability_problem(
        "2020-11-29T17:00:00Z", "2020-11-29T21:00:00Z", "FREQ=WEEKLY"
    )
    assert field == ("recurrence",)
    assert "16 h" in problem and "48 h" in accepted
