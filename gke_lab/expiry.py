"""When a lab expires, and how to move that date.

The expiry lives in the `gke-lab-expires` label (unix seconds, 0 = never). A missing or corrupt label
never means "expire now": the fallback is the server-side creation time plus a TTL, so a damaged label
can at worst delay a reap, never make one early.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

EXPIRES_LABEL = "gke-lab-expires"
MAX_EXTEND_HOURS = 24 * 365  # like the spec's TTL: no lab is stamped to live more than a year ahead
DEFAULT_TTL_HOURS = 8  # the spec's default ttl_hours; used only when a label is missing or corrupt


@dataclass(frozen=True)
class Expiry:
    at: int | None  # unix seconds; None = never expires
    source: str  # "label", "createTime+ttl" or "unknown"

    def passed(self, now: float) -> bool:
        return self.at is not None and now >= self.at

    def describe(self) -> str:
        if self.at is None:
            return "never" if self.source == "label" else "unknown"
        when = format_unix(self.at)
        return when if self.source == "label" else f"{when} ({self.source})"


def format_unix(value: object) -> str:
    """A unix time as `YYYY-MM-DD HH:MM:SS UTC`; never raises (an expiry read from a label is anyone's)."""
    try:
        return _dt.datetime.fromtimestamp(int(value), _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")  # type: ignore[call-overload]
    except (OverflowError, OSError, ValueError, TypeError):
        text = str(value) if isinstance(value, int) else repr(value)
        return f"unix time {text[:24]}{'...' if len(text) > 24 else ''} (out of range)"


def parse_expires(value: object) -> int | None:
    """The label's value as unix seconds (0 = never); None when missing or corrupt."""
    if value is None:
        return None
    text = str(value).strip()
    # ASCII digits only and at most 12 of them ("²" is a digit to str.isdigit; a thousand digits is no date)
    if not re.fullmatch(r"[0-9]{1,12}", text):  # rejects "", "-1", "1.5", "abc"
        return None
    return int(text)


def parse_time(value: object) -> float | None:
    """A server timestamp (RFC 3339 string, datetime or protobuf Timestamp) as unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        return stamp.timestamp()
    if hasattr(value, "timestamp") and callable(value.timestamp):  # DatetimeWithNanoseconds
        return float(value.timestamp())
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        stamp = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_dt.UTC)
    return stamp.timestamp()


def expiry_from(
    labels: dict[str, str] | None, create_time: object, ttl_hours: float = DEFAULT_TTL_HOURS
) -> Expiry:
    """The lab's expiry: the label when it is valid, else createTime + ttl_hours."""
    value = parse_expires((labels or {}).get(EXPIRES_LABEL))
    if value is not None:
        return Expiry(None if value == 0 else value, "label")
    created = parse_time(create_time)
    if created is None:
        return Expiry(None, "unknown")  # no label and no creation time: never reap on a guess
    return Expiry(int(created + ttl_hours * 3600), "createTime+ttl")


def extended(current: Expiry, hours: float, now: float) -> int:
    """The new `gke-lab-expires` value: N hours from the later of now and the current expiry."""
    if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= MAX_EXTEND_HOURS:
        raise ValueError(
            f"hours: must be a number of hours above 0 and at most {MAX_EXTEND_HOURS} (a year), got {hours!r}"
        )
    if current.at is None and current.source == "label":
        raise ValueError("the lab never expires (gke-lab-expires=0); extending would shorten its life")
    base = max(now, current.at) if current.at is not None else now
    if base + hours * 3600 > now + MAX_EXTEND_HOURS * 3600:
        raise ValueError(
            f"hours: the lab would expire more than a year from now (at most {MAX_EXTEND_HOURS} hours ahead)"
        )
    return int(base + hours * 3600)
