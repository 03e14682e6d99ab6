"""GKE's maintenance-window availability rule, checked before the API sees the window.

GKE requires at least 48 hours of maintenance availability in any 32-day rolling window, counting only
contiguous windows of at least 4 hours. Occurrences are expanded from the RFC 5545 recurrence.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from datetime import datetime, timedelta

from dateutil.rrule import rrulestr

REQUIRED = timedelta(hours=48)
SPAN = timedelta(days=32)
MIN_WINDOW = timedelta(hours=4)
HORIZON = timedelta(days=366)  # one year of rolling spans covers every weekly/monthly/yearly pattern
MAX_OCCURRENCES = 20000

# The recurrences GKE documents for maintenance windows: DAILY, WEEKLY and MONTHLY rules on one line, no
# DTSTART (the window's start is the rule's start; a second one would move the windows silently). Checked
# before any expansion: a rule like FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30 never matches and would spin.
_RRULE = re.compile(r"(RRULE:)?FREQ=(DAILY|WEEKLY|MONTHLY)(;[A-Z]{2,10}=[-+A-Z0-9,]{1,60}){0,8}")
_RRULE_KEYS = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST", "COUNT", "UNTIL"}
_BYDAY = re.compile(r"([-+]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February counts its leap day
RECURRENCE_ACCEPTED = (
    "one RFC 5545 RRULE line with FREQ=DAILY, WEEKLY or MONTHLY, like FREQ=WEEKLY;BYDAY=SA,SU (no DTSTART)"
)


def recurrence_problem(value: str) -> str | None:
    """What is wrong with a recurrence's form (None when GKE accepts the form)."""
    if "DTSTART" in value.upper():
        return f"{value!r} sets DTSTART"
    if not _RRULE.fullmatch(value):
        return f"{value!r} is not an accepted recurrence"
    keys = [part.split("=", 1)[0] for part in value.removeprefix("RRULE:").split(";")]
    unknown = [k for k in keys if k not in _RRULE_KEYS]
    if unknown or len(set(keys)) != len(keys):
        return f"{value!r} has unknown or repeated parts {unknown or keys}"
    return _never_matches(value)


def _never_matches(value: str) -> str | None:
    """Why a rule can never produce a window, or None. dateutil searches such a rule up to the year 9999
    (seconds of CPU); the only impossible combinations left by the form above are checked here."""
    parts = dict(part.split("=", 1) for part in value.removeprefix("RRULE:").split(";"))
    try:
        months = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else list(range(1, 13))
        days = [int(d) for d in parts["BYMONTHDAY"].split(",")] if "BYMONTHDAY" in parts else [1]
    except ValueError:
        return f"{value!r} has a BYMONTH or BYMONTHDAY that is not a list of numbers"
    if any(not 1 <= m <= 12 for m in months) or any(not 1 <= abs(d) <= 31 for d in days):
        return f"{value!r} has a month outside 1..12 or a day outside 1..31"
    if not any(abs(d) <= _MONTH_DAYS[m - 1] for m in months for d in days):
        return f"{value!r} names no day that exists in its months"
    if "BYDAY" in parts and not all(_BYDAY.fullmatch(day) for day in parts["BYDAY"].split(",")):
        return f"{value!r} has a BYDAY outside MO..SU (with an optional week number -5..5)"
    for key in ("INTERVAL", "COUNT"):
        if key in parts and not re.fullmatch(r"[1-9][0-9]{0,3}", parts[key]):
            return f"{value!r} has {key} outside 1..9999"
    return None


def _windows(start: datetime, end: datetime, recurrence: str) -> list[tuple[datetime, datetime]]:
    rule = rrulestr(recurrence.removeprefix("RRULE:"), dtstart=start)
    length = end - start
    limit = start + HORIZON + SPAN
    merged: list[list[datetime]] = []
    for count, occurrence in enumerate(rule):
        if occurrence > limit or count >= MAX_OCCURRENCES:
            break
        lo, hi = occurrence, occurrence + length
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged if hi - lo >= MIN_WINDOW]


def minimum_availability(start: datetime, end: datetime, recurrence: str) -> timedelta:
    """Least maintenance time inside any 32-day span starting within a year of `start`."""
    windows = _windows(start, end, recurrence)
    if not windows:
        return timedelta(0)
    starts = [lo for lo, _ in windows]
    # The minimum over sliding spans is reached when a span starts at the end of a window (or at the
    # first start), so those are the only candidates to evaluate.
    candidates = [start] + [hi for _, hi in windows if hi <= start + HORIZON]
    best: timedelta | None = None
    for t in candidates:
        t_end = t + SPAN
        total = timedelta(0)
        i = max(bisect_left(starts, t) - 1, 0)
        while i < len(windows) and windows[i][0] < t_end:
            lo, hi = windows[i]
            overlap = min(hi, t_end) - max(lo, t)
            if overlap > timedelta(0):
                total += overlap
            i += 1
        if best is None or total < best:
            best = total
    return best or timedelta(0)


def availability_problem(start: str, end: str, recurrence: str) -> tuple[tuple[str], str, str] | None:
    """None when the window is acceptable, else (field, problem, accepted)."""
    form = recurrence_problem(recurrence)
    if form is not None:
        return ("recurrence",), form, RECURRENCE_ACCEPTED
    t0, t1 = datetime.fromisoformat(start), datetime.fromisoformat(end)
    if t1 <= t0:
        return ("end",), f"end {end} is not after start {start}", "an RFC 3339 time after start"
    try:
        found = minimum_availability(t0, t1, recurrence)
    except (ValueError, TypeError, OverflowError) as exc:
        return (
            ("recurrence",),
            f"cannot expand the recurrence ({exc})",
            "an RRULE like FREQ=WEEKLY;BYDAY=SA,SU",
        )
    if found < REQUIRED:
        hours = found.total_seconds() / 3600
        return (
            ("recurrence",),
            f"only {hours:g} h of maintenance availability in some 32-day span",
            "windows totalling at least 48 h in any 32 days (each at least 4 h), "
            "e.g. 6 h on FREQ=WEEKLY;BYDAY=SA,SU",
        )
    return None
