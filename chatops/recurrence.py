"""The maintenance recurrences chat accepts: only the RRULE forms GKE documents, checked in linear time.

GKE's RecurringMaintenanceWindow takes `FREQ=DAILY`, `FREQ=WEEKLY;BYDAY=...` and monthly forms
(`FREQ=MONTHLY;BYSETPOS=1;BYDAY=SA,SU`, `FREQ=MONTHLY;BYDAY=1SA`, `FREQ=MONTHLY;BYMONTHDAY=1,15`); HOURLY,
MINUTELY and SECONDLY are not supported, and INTERVAL needs a `delay_until` the spec does not carry.
Anything else is refused here, before the core expands the rule (an arbitrary RRULE can take seconds of
CPU to expand, e.g. `FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30`, which never occurs).
"""

from __future__ import annotations

import re

MAX_LENGTH = 200
_DAY = r"(MO|TU|WE|TH|FR|SA|SU)"
_DAYS = re.compile(rf"{_DAY}(,{_DAY}){{0,6}}")
_ORDINAL_DAYS = re.compile(rf"(-1|[1-4]){_DAY}(,(-1|[1-4]){_DAY}){{0,6}}")
_MONTH_DAYS = re.compile(r"(-1|[1-9]|[12][0-9]|3[01])(,(-1|[1-9]|[12][0-9]|3[01])){0,30}")
_SETPOS = re.compile(r"-1|[1-4]")

# FREQ -> the parts allowed with it, each with its value grammar (which combinations: see problem()).
_FORMS: dict[str, dict[str, re.Pattern[str]]] = {
    "DAILY": {},
    "WEEKLY": {"BYDAY": _DAYS},
    "MONTHLY": {
        "BYDAY": re.compile(f"{_DAYS.pattern}|{_ORDINAL_DAYS.pattern}"),
        "BYSETPOS": _SETPOS,
        "BYMONTHDAY": _MONTH_DAYS,
    },
}
ACCEPTED = (
    "FREQ=DAILY, FREQ=WEEKLY;BYDAY=SA,SU, FREQ=MONTHLY;BYSETPOS=1;BYDAY=SA,SU, FREQ=MONTHLY;BYDAY=1SA "
    "or FREQ=MONTHLY;BYMONTHDAY=1,15 (no DTSTART, INTERVAL, COUNT or UNTIL)"
)


def problem(recurrence: object) -> str | None:
    """None when `recurrence` is one of GKE's forms, else what is wrong (a short sentence)."""
    if not isinstance(recurrence, str):
        return "is not text"
    if len(recurrence) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    text = recurrence.removeprefix("RRULE:")
    parts: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if not sep or not re.fullmatch(r"[A-Z]{2,10}", key):
            return f"part `{part[:30]}` is not NAME=VALUE"
        if key in parts:
            return f"{key} is given twice"
        parts[key] = value
    freq = parts.pop("FREQ", None)
    if freq not in _FORMS:
        return f"FREQ={freq} is not one GKE accepts" if freq else "FREQ is missing"
    allowed = _FORMS[freq]
    for key, value in parts.items():
        grammar = allowed.get(key)
        if grammar is None:
            return f"{key} is not accepted with FREQ={freq}"
        if not grammar.fullmatch(value):
            return f"{key}={value[:30]} is not accepted"
    if freq == "WEEKLY" and "BYDAY" not in parts:
        return "FREQ=WEEKLY needs BYDAY"
    if freq == "MONTHLY":
        if "BYSETPOS" in parts and not _DAYS.fullmatch(parts.get("BYDAY", "")):
            return "BYSETPOS needs BYDAY with plain days (e.g. BYSETPOS=1;BYDAY=SA,SU)"
        if "BYSETPOS" not in parts and "BYDAY" in parts and not _ORDINAL_DAYS.fullmatch(parts["BYDAY"]):
            return "BYDAY of a monthly rule needs an ordinal (e.g. 1SA) or BYSETPOS"
        if "BYMONTHDAY" in parts and "BYDAY" in parts:
            return "give BYMONTHDAY or BYDAY, not both"
        if not parts.keys() & {"BYDAY", "BYMONTHDAY"}:
            return "FREQ=MONTHLY needs BYDAY or BYMONTHDAY"
    return None
