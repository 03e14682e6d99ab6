"""The chat policy: who may do what through `/lab`, stated once as data (no Prefect, no I/O).

`/lab help` and the "Chat policy" section of docs/operations.md are both rendered from the tables
below, so what users are told, what operators read and what the receiver enforces cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chatops.commands import Command, shown
from gke_lab.spec import LabSpec

# Chat's default scope: the project of the default lab.
DEFAULT_PROJECT: str = LabSpec.model_fields["project_id"].default

# Commands that act on an existing lab and so need its owner (or an admin).
OWNER_ACTIONS = {"down", "extend"}

DEFAULT_MAX_TTL_HOURS = 24.0
# Nobody, admins included, may push a lab's expiry more than a year out in one command: the expiry
# label and the reaper's arithmetic stay far from the year-9999 edge.
YEAR_HOURS = 366 * 24.0


@dataclass(frozen=True)
class UserPath:
    """A spec path a listed (non-admin) user may set, and the only value shape accepted for it."""

    path: str
    pattern: str  # full-string match, checked before the value is parsed
    accepted: str  # shown when the value does not match

    def accepts(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value) is not None


# The short allowlist of overrides for non-admins. Everything else (project, region, network, roles,
# hardening flags, authorized networks, maintenance window, delete_default_network...) is admin-only.
# `ttl` is the command's own key (`ttl=4h`), bounded by the TTL cap below.
USER_PATHS: tuple[UserPath, ...] = (
    UserPath("cluster.num_nodes", r"[0-9]{1,3}", "a whole number of nodes per zone, e.g. 2"),
    UserPath(
        "cluster.machine_type",
        r"[a-z][a-z0-9]{0,15}(-[a-z0-9]{1,16}){1,3}",
        "a machine type, e.g. e2-standard-2",
    ),
    UserPath("echo.replicas", r"[0-9]{1,3}", "a whole number of replicas, e.g. 2"),
)
USER_PATH_NAMES: tuple[str, ...] = ("ttl", *(p.path for p in USER_PATHS))


@dataclass(frozen=True)
class Permission:
    """One row of the policy table: a command, what listed users may do, what admins may do."""

    command: str
    users: str
    admins: str


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "`/lab up NAME`",
        "a new lab, or one they started through chat; refused when the name is taken by a live lab or any "
        "earlier run they did not start (chat, CLI, UI or schedule)",
        "any lab name",
    ),
    Permission(
        "`up ... PATH=VALUE`",
        "only " + ", ".join(f"`{p}`" for p in USER_PATH_NAMES),
        "any spec path",
    ),
    Permission(
        "`up ... ttl=`",
        "more than 0, at most the TTL cap",
        "0 (never expires) up to one year",
    ),
    Permission(
        "`up ... blueprint=NAME`",
        "any saved blueprint whose project chat may target",
        "the same",
    ),
    Permission(
        "project",
        "the blueprint's project, if chat may target it",
        "`project_id=` among the projects chat may target",
    ),
    Permission(
        "`delete_default_network`",
        "always off",
        "off unless set with `delete_default_network=true`",
    ),
    Permission(
        "`/lab down NAME [project=ID]`",
        "labs they started; tears down the spec recorded by `up`",
        "any lab started through chat",
    ),
    Permission(
        "`/lab extend NAME DURATION [project=ID]`",
        "labs they started; more than 0, at most the TTL cap",
        "any chat lab; at most one year",
    ),
    Permission(
        "`/lab claim POOL`",
        "a ready lab of a pool whose claimers include their Google account (GKE_LAB_CHATOPS_IDENTITIES)",
        "the same",
    ),
    Permission(
        "`/lab release LAB`",
        "labs they claimed; the lab is torn down",
        "any claimed lab",
    ),
    Permission("`/lab status [NAME]`, `/lab list`, `/lab pool [POOL]`", "yes", "yes"),
    Permission("`/lab help`", "anyone in the workspace", "yes"),
)


@dataclass(frozen=True)
class Setting:
    """An environment variable of the chat receiver."""

    name: str
    default: str
    meaning: str


ENVIRONMENT: tuple[Setting, ...] = (
    Setting(
        "SLACK_SIGNING_SECRET",
        "(required)",
        "Slack app signing secret; the server refuses to start without it",
    ),
    Setting(
        "GKE_LAB_CHATOPS_SECRET_BLOCK",
        "(none)",
        "name of a Prefect `Secret` block holding the signing secret instead",
    ),
    Setting("PREFECT_API_URL", "(required)", "the Prefect API the runs are created on"),
    Setting("PREFECT_UI_URL", "`PREFECT_API_URL` without `/api`", "base of the run links"),
    Setting("PREFECT_API_KEY", "(none)", "sent as a bearer token (Prefect Cloud)"),
    Setting("GKE_LAB_CHATOPS_USERS", "(nobody)", "comma-separated Slack user IDs allowed to run commands"),
    Setting(
        "GKE_LAB_CHATOPS_ADMINS", "(nobody)", "comma-separated Slack user IDs with the admin column's rights"
    ),
    Setting("GKE_LAB_CHATOPS_TEAM", "(any)", "Slack workspace ID (`team_id`) commands must come from"),
    Setting(
        "GKE_LAB_CHATOPS_PROJECTS",
        "the default lab's project",
        "comma-separated project IDs chat may target (everyone, admins included)",
    ),
    Setting(
        "GKE_LAB_CHATOPS_MAX_TTL_HOURS",
        f"{DEFAULT_MAX_TTL_HOURS:g}",
        "the TTL cap: longest `ttl=` and `extend` for non-admins",
    ),
    Setting(
        "GKE_LAB_CHATOPS_BLUEPRINT",
        "(LabSpec's defaults)",
        "blueprint of `/lab up` when the command names none",
    ),
    Setting(
        "GKE_LAB_CHATOPS_IDENTITIES",
        "(nobody)",
        "comma-separated `U123=alice@example.com`: a Slack user ID and the Google account its claimed labs "
        "are granted to",
    ),
    Setting("GKE_LAB_CHATOPS_MAX_BODY", "16384", "largest accepted request body in bytes"),
    Setting(
        "GKE_LAB_CHATOPS_API_TIMEOUT", "2.5", "seconds per Prefect API call while answering (Slack waits 3 s)"
    ),
    Setting(
        "GKE_LAB_CHATOPS_CHECK_SECONDS",
        "2",
        "time limit for validating a command and for looking for live labs",
    ),
    Setting(
        "GOOGLE_APPLICATION_CREDENTIALS",
        "Application Default Credentials",
        "read-only access to the projects, to look for live labs before `up`",
    ),
    Setting(
        "GKE_LAB_EMULATOR_HOST", "(none)", "look for live labs in the local emulator instead (tests, demo)"
    ),
    Setting("GKE_LAB_CHATOPS_POLL_SECONDS", "5", "how often an outcome watcher polls its run"),
    Setting("GKE_LAB_CHATOPS_WATCH_HOURS", "6", "how long an outcome watcher follows a run before giving up"),
    Setting(
        "GKE_LAB_CHATOPS_MAX_WATCHERS",
        "100",
        "outcome watchers at once; beyond it the answer only links the run",
    ),
)


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def permission_table() -> str:
    """Who may do what, as a Markdown table (the same text in `/lab help` and the docs)."""
    rows = [_row(("command", "listed users", "admins")), "|---|---|---|"]
    rows += [_row((p.command, p.users, p.admins)) for p in PERMISSIONS]
    return "\n".join(rows)


def environment_table() -> str:
    rows = [_row(("variable", "default", "meaning")), "|---|---|---|"]
    rows += [_row((f"`{s.name}`", s.default, s.meaning)) for s in ENVIRONMENT]
    return "\n".join(rows)


class Refused(Exception):
    """The user may not run this command; the message is shown to them."""


def parse_ids(text: str | None) -> frozenset[str]:
    """`U1, U2,,U3` -> {"U1", "U2", "U3"}."""
    return frozenset(part.strip() for part in (text or "").split(",") if part.strip())


@dataclass(frozen=True)
class Policy:
    """The configured policy: who is listed, who is an admin, where chat may act, the TTL cap."""

    users: frozenset[str]
    admins: frozenset[str]
    # Projects chat may target; empty = the default lab's project (resolved by the caller).
    projects: frozenset[str] = field(default_factory=frozenset)
    max_ttl_hours: float = DEFAULT_MAX_TTL_HOURS
    team: str | None = None

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def check_team(self, team_id: str) -> None:
        if self.team and team_id != self.team:
            raise Refused(
                "this Slack workspace may not run lab commands (team_id is not GKE_LAB_CHATOPS_TEAM)"
            )

    def check_user(self, user_id: str, command: Command) -> None:
        """Refuse users outside the allowlist (admins are always allowed); `help` is open to all."""
        if command.action == "help":
            return
        if user_id not in self.users and user_id not in self.admins:
            raise Refused(
                f"you (<@{user_id}>) are not allowed to run lab commands: ask an admin to add your Slack "
                "user ID to GKE_LAB_CHATOPS_USERS"
            )

    def check_owner(self, user_id: str, command: Command, owner: str | None) -> None:
        """`down`/`extend` of a lab: only its owner or an admin. An unknown owner means admins only."""
        if command.action not in OWNER_ACTIONS or self.is_admin(user_id) or owner == user_id:
            return
        who = f"<@{owner}>" if owner else "someone outside chat (no recorded owner)"
        raise Refused(
            f"lab `{command.lab}` belongs to {who}: only its owner or an admin can {command.action} it"
        )

    def check_overrides(self, user_id: str, command: Command) -> None:
        """Non-admins may set only the allowlisted paths, each with a plain value of the expected shape."""
        if self.is_admin(user_id):
            return
        allowed = {p.path: p for p in USER_PATHS}
        for override in command.overrides:
            path, _, value = override.partition("=")
            rule = allowed.get(path)
            if rule is None:
                raise Refused(
                    f"`{path}`: admin-only; you may set only {', '.join(USER_PATH_NAMES)} "
                    "(ask an admin, or pick a blueprint with `blueprint=NAME`)"
                )
            if not rule.accepts(value):
                raise Refused(f"`{path}`: `{shown(value)}` is not accepted (accepted: {rule.accepted})")

    def check_ttl(self, user_id: str, hours: float, what: str) -> None:
        """`what` (ttl or duration) within this user's bounds: (0, cap] for users, [0, a year] for admins."""
        if self.is_admin(user_id):
            low_ok = hours >= 0 if what == "ttl" else hours > 0
            if not low_ok or hours > YEAR_HOURS:
                lowest = "0 (never expires)" if what == "ttl" else "more than 0"
                raise Refused(
                    f"{what}: {hours:g}h is not accepted (accepted: {lowest} up to {YEAR_HOURS:g}h)"
                )
            return
        if not 0 < hours <= self.max_ttl_hours:
            raise Refused(
                f"{what}: {hours:g}h is not accepted (accepted: more than 0 and at most "
                f"{self.max_ttl_hours:g}h, GKE_LAB_CHATOPS_MAX_TTL_HOURS; longer labs: ask an admin)"
            )

    @property
    def allowed_projects(self) -> frozenset[str]:
        return self.projects or frozenset({DEFAULT_PROJECT})

    def check_project(self, project_id: str) -> None:
        allowed = self.allowed_projects
        if project_id not in allowed:
            raise Refused(
                f"project_id: `{project_id}` is not a project chat may target "
                f"(accepted: {', '.join(sorted(allowed))}; GKE_LAB_CHATOPS_PROJECTS)"
            )
