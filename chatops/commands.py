"""Parsing of `/lab ...` slash-command text into a command object (no Prefect, no I/O)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

USAGE = """\
*Usage*
• `/lab up NAME [ttl=4h] [blueprint=NAME] [PATH=VALUE]...`: start a lab (PATH is a spec field, e.g. \
`cluster.num_nodes=2`)
• `/lab down NAME [project=ID]`: tear a lab down (yours, or any lab for admins)
• `/lab extend NAME 2h [project=ID]`: push a lab's expiry out (yours, or any lab for admins)
• `/lab claim POOL`: a ready lab of a pool in seconds, yours until its TTL (or wait in line when empty)
• `/lab release LAB`: give a claimed lab back (it is torn down)
• `/lab pool [POOL]`: the pools' status: ready, provisioning, claimed, failed
• `/lab status [NAME]`: state of a lab's latest runs (default: your labs)
• `/lab list`: labs started through Prefect and their state
• `/lab help`: this text"""

# Lab names become label values and resource-name parts: keep them to what GKE accepts everywhere.
_LAB_NAME = re.compile(r"[a-z]([-a-z0-9]{0,28}[a-z0-9])?")
# At most 7 digits: a duration is bounded long before float or datetime arithmetic could overflow.
_DURATION = re.compile(r"([0-9]{1,7}(?:\.[0-9]{1,4})?)\s*([mhd]?)")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_0-9][A-Za-z0-9_]{0,63}){0,9}")
_PROJECT = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")
# Parameters that the command itself sets: a PATH=VALUE override may not contradict them.
_RESERVED_PATHS = {
    "lab": "the lab name is the NAME argument",
    "ttl_hours": "use ttl=DURATION",
    "pool": "pool labs are made by the pool itself: `/lab claim POOL` takes one",
}


# Pool names (gke_lab.pool_spec.POOL_NAME) and their labs, `<pool>-<6 hex>` (gke_lab.pools.pool_lab_name).
_POOL_NAME = re.compile(r"[a-z]([-a-z0-9]{0,18}[a-z0-9])?")
_POOL_LAB = re.compile(r"(?P<pool>[a-z]([-a-z0-9]{0,18}[a-z0-9])?)-[0-9a-f]{6}")


class CommandError(ValueError):
    """The text is not a valid command; the message is shown to the user as is."""


@dataclass(frozen=True)
class Command:
    action: str  # up | down | extend | status | list | help | claim | release | pool
    lab: str | None = None
    ttl_hours: float | None = None  # up: ttl=..., extend: the extension
    blueprint: str | None = None
    overrides: list[str] = field(default_factory=list)
    project: str | None = None  # down/extend: project=ID, when the lab name alone is ambiguous
    pool: str | None = None  # claim, pool: the pool named; release: the pool the lab's name says


def shown(text: str, limit: int = 60) -> str:
    """User text quoted back in a reply: shortened, and unable to form Slack mentions, links or code."""
    text = text if len(text) <= limit else text[:limit] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def parse_duration_hours(text: str, field: str = "ttl") -> float:
    """`4h` -> 4.0, `90m` -> 1.5, `1d` -> 24.0, a bare number is hours."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise CommandError(f"{field}: `{shown(text)}` is not a duration: use e.g. `4h`, `90m` or `1d`")
    value, unit = float(match.group(1)), match.group(2) or "h"
    hours = {"m": value / 60, "h": value, "d": value * 24}[unit]
    return int(hours) if hours == int(hours) else round(hours, 4)


def _lab_name(text: str | None, action: str) -> str:
    if not text:
        raise CommandError(f"`/lab {action}` needs a lab NAME, e.g. `/lab {action} demo`")
    if not _LAB_NAME.fullmatch(text):
        raise CommandError(
            f"lab name `{shown(text)}` is not accepted: 1-30 characters, lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-'"
        )
    return text


def parse(text: str) -> Command:
    """Parse the text after `/lab`. Raises CommandError with a message meant for the user."""
    try:
        words = shlex.split(text or "")
    except ValueError as exc:
        raise CommandError(f"could not read the command: {exc}") from None
    if not words:
        return Command("help")
    action, args = words[0].lower(), words[1:]
    if action == "help":
        return Command("help")
    if action == "list":
        if args:
            raise CommandError("`/lab list` takes no arguments")
        return Command("list")
    if action == "status":
        if len(args) > 1:
            raise CommandError("`/lab status` takes at most one lab NAME")
        return Command("status", lab=_lab_name(args[0], "status") if args else None)
    if action == "down":
        args, project = _project_argument(args, "down")
        if len(args) != 1:
            raise CommandError("`/lab down` takes exactly one lab NAME, e.g. `/lab down demo`")
        return Command("down", lab=_lab_name(args[0], "down"), project=project)
    if action == "extend":
        args, project = _project_argument(args, "extend")
        if len(args) != 2:
            raise CommandError("`/lab extend` takes a lab NAME and a duration, e.g. `/lab extend demo 2h`")
        hours = parse_duration_hours(args[1], field="duration")
        if hours <= 0:
            raise CommandError("duration: the extension must be longer than zero")
        return Command("extend", lab=_lab_name(args[0], "extend"), ttl_hours=hours, project=project)
    if action == "up":
        return _parse_up(args)
    if action == "claim":
        if len(args) != 1:
            raise CommandError("`/lab claim` takes exactly one pool NAME, e.g. `/lab claim workshop`")
        return Command("claim", pool=_pool_name(args[0]))
    if action == "pool":
        if len(args) > 1:
            raise CommandError("`/lab pool` takes at most one pool NAME")
        return Command("pool", pool=_pool_name(args[0]) if args else None)
    if action == "release":
        if len(args) != 1:
            raise CommandError(
                "`/lab release` takes exactly one lab NAME, e.g. `/lab release workshop-1a2b3c`"
            )
        lab = _lab_name(args[0], "release")
        match = _POOL_LAB.fullmatch(lab)
        if not match:
            raise CommandError(
                f"lab `{lab}` is not a pool lab (pool labs are named POOL-xxxxxx, as `/lab claim` answered); "
                "other labs end with `/lab down`"
            )
        return Command("release", lab=lab, pool=match.group("pool"))
    raise CommandError(
        f"unknown command `{shown(action)}`: use up, down, extend, claim, release, pool, status, list or help"
    )


def _pool_name(text: str) -> str:
    if not _POOL_NAME.fullmatch(text):
        raise CommandError(
            f"pool name `{shown(text)}` is not accepted: 1-20 characters, lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-'"
        )
    return text


def _project_argument(args: list[str], action: str) -> tuple[list[str], str | None]:
    """The words without a trailing `project=ID`, and that project."""
    if not args or not args[-1].startswith("project="):
        return args, None
    project = args[-1].partition("=")[2]
    if not _PROJECT.fullmatch(project):
        raise CommandError(
            f"project: `{shown(project)}` is not a project ID (e.g. `/lab {action} demo project=my-project`)"
        )
    return args[:-1], project


def _parse_up(args: list[str]) -> Command:
    if not args or "=" in args[0]:
        raise CommandError("`/lab up` needs a lab NAME first, e.g. `/lab up demo ttl=4h`")
    lab = _lab_name(args[0], "up")
    ttl: float | None = None
    blueprint: str | None = None
    overrides: list[str] = []
    for arg in args[1:]:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise CommandError(f"`{shown(arg)}` is not KEY=VALUE (e.g. `ttl=4h` or `cluster.num_nodes=2`)")
        if key == "ttl":
            ttl = parse_duration_hours(value)
        elif key == "blueprint":
            if not re.fullmatch(r"[a-z0-9][-a-z0-9]{0,62}", value):
                raise CommandError(
                    f"blueprint name `{shown(value)}` is not a block name (lowercase, digits, '-')"
                )
            blueprint = value
        elif key in _RESERVED_PATHS:
            raise CommandError(f"`{key}=` cannot be set here: {_RESERVED_PATHS[key]}")
        elif not _PATH.fullmatch(key):
            raise CommandError(f"`{shown(key)}` is not a spec field path (e.g. `cluster.num_nodes`)")
        else:
            overrides.append(f"{key}={value}")
    return Command("up", lab=lab, ttl_hours=ttl, blueprint=blueprint, overrides=overrides)
