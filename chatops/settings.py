"""Chatops configuration from the environment (the signing secret may come from a Prefect Secret block).

Every variable is listed, with its default, in chatops.policy.ENVIRONMENT (rendered into the docs).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chatops.policy import DEFAULT_MAX_TTL_HOURS, YEAR_HOURS, Policy, parse_ids
from gke_lab.pool_card import identity_problem

DEFAULT_MAX_BODY = 16 * 1024  # Slack slash-command payloads are about 1 KiB
SECRET_BLOCK_ENV = "GKE_LAB_CHATOPS_SECRET_BLOCK"
IDENTITIES_ENV = "GKE_LAB_CHATOPS_IDENTITIES"


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    signing_secret: str = field(repr=False)  # never printed
    policy: Policy
    api_url: str
    ui_url: str
    blueprint: str | None = None  # blueprint of `/lab up` when the command names none
    max_body: int = DEFAULT_MAX_BODY
    poll_seconds: float = 5.0
    api_timeout: float = 2.5  # per Prefect API call: Slack gives up on an answer after 3 s
    answer_seconds: float = 2.0  # a command not done by then is acknowledged, its result posted later
    check_seconds: float = 2.0  # parsing + validation, and the live-lab lookup, each at most this long
    watch_hours: float = 6.0
    max_watchers: int = 100
    deployments: dict[str, str] = field(
        default_factory=lambda: {
            "up": "provision-lab",
            "down": "teardown-lab",
            "extend": "extend-lab",
            "claim": "claim-lab",
            "release": "release-lab",
        }
    )
    # Slack user ID -> the Google account a claimed lab is granted to.
    identities: dict[str, str] = field(default_factory=dict)

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/runs/flow-run/{run_id}"


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is out of range (accepted: {low:g} to {high:g})")
    return value


def parse_identities(text: str | None) -> dict[str, str]:
    """`U123=alice@example.com, U456=bob@example.com` -> {"U123": "alice@example.com", ...}."""
    found: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        user, sep, identity = (piece.strip() for piece in part.partition("="))
        if not sep or not re.fullmatch(r"[A-Z0-9]{1,32}", user):
            raise ConfigError(
                f"{IDENTITIES_ENV}: `{part.strip()[:40]}` is not Slack-user-ID=e-mail "
                "(e.g. U123=alice@example.com)"
            )
        problem = identity_problem(identity)
        if problem:
            raise ConfigError(f"{IDENTITIES_ENV}: {user}: {problem}")
        if user in found and found[user] != identity:
            raise ConfigError(f"{IDENTITIES_ENV}: {user} is mapped twice")
        found[user] = identity
    return found


def load_settings(
    env: Mapping[str, str] | None = None, secret_loader: Callable[[str], str] | None = None
) -> Settings:
    """Read the configuration; raises ConfigError when a value is missing or malformed.

    SLACK_SIGNING_SECRET comes from the environment, or from the Prefect Secret block named by
    GKE_LAB_CHATOPS_SECRET_BLOCK (loaded through `secret_loader`).
    """
    env = os.environ if env is None else env
    secret = env.get("SLACK_SIGNING_SECRET", "").strip()
    block = env.get(SECRET_BLOCK_ENV, "").strip()
    if not secret and block and secret_loader is not None:
        try:
            secret = (secret_loader(block) or "").strip()
        except Exception as exc:  # the block's value never reaches the message
            raise ConfigError(
                f"could not load Prefect Secret block {block!r}: {type(exc).__name__}"
            ) from None
    if not secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set: export it (Slack app > Basic Information > Signing Secret) "
            f"or name a Prefect Secret block in {SECRET_BLOCK_ENV}; refusing to start without it"
        )
    api_url = env.get("PREFECT_API_URL", "").strip().rstrip("/")
    if not api_url:
        raise ConfigError("PREFECT_API_URL is not set (e.g. http://127.0.0.1:4200/api)")
    ui_url = env.get("PREFECT_UI_URL", "").strip().rstrip("/")
    if not ui_url:
        ui_url = api_url[: -len("/api")] if api_url.endswith("/api") else api_url
    policy = Policy(
        users=parse_ids(env.get("GKE_LAB_CHATOPS_USERS")),
        admins=parse_ids(env.get("GKE_LAB_CHATOPS_ADMINS")),
        projects=parse_ids(env.get("GKE_LAB_CHATOPS_PROJECTS")),
        max_ttl_hours=_number(env, "GKE_LAB_CHATOPS_MAX_TTL_HOURS", DEFAULT_MAX_TTL_HOURS, 0.1, YEAR_HOURS),
        team=env.get("GKE_LAB_CHATOPS_TEAM", "").strip() or None,
    )
    return Settings(
        signing_secret=secret,
        policy=policy,
        api_url=api_url,
        ui_url=ui_url,
        blueprint=env.get("GKE_LAB_CHATOPS_BLUEPRINT", "").strip() or None,
        max_body=int(_number(env, "GKE_LAB_CHATOPS_MAX_BODY", DEFAULT_MAX_BODY, 1024, 1024 * 1024)),
        poll_seconds=_number(env, "GKE_LAB_CHATOPS_POLL_SECONDS", 5.0, 0.1, 3600),
        api_timeout=_number(env, "GKE_LAB_CHATOPS_API_TIMEOUT", 2.5, 0.1, 300),
        check_seconds=_number(env, "GKE_LAB_CHATOPS_CHECK_SECONDS", 2.0, 0.1, 300),
        watch_hours=_number(env, "GKE_LAB_CHATOPS_WATCH_HOURS", 6.0, 0.01, 24 * 7),
        max_watchers=int(_number(env, "GKE_LAB_CHATOPS_MAX_WATCHERS", 100, 0, 10000)),
        identities=parse_identities(env.get(IDENTITIES_ENV)),
    )
