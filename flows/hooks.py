"""Flow-run state hooks that tell a chat channel how a lab run ended.

They post through a prefect-slack `SlackWebhook` block when one is configured, and do nothing otherwise.
The block's name comes from the environment variable GKE_LAB_SLACK_WEBHOOK_BLOCK or, failing that,
the Prefect variable `gke_lab_slack_webhook_block`. The webhook URL stays inside the block (a secret):
it is never logged. A notification problem is logged and never fails the run.

Attach with `@flow(on_completion=[notify_completion], on_failure=[notify_failure], on_crashed=[...])`.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.logging import get_logger

BLOCK_ENV = "GKE_LAB_SLACK_WEBHOOK_BLOCK"
BLOCK_VARIABLE = "gke_lab_slack_webhook_block"

log = get_logger("gke_lab.hooks")


def webhook_block_name() -> str | None:
    name = os.environ.get(BLOCK_ENV, "").strip()
    if name:
        return name
    try:
        from prefect.variables import Variable

        value = Variable.get(BLOCK_VARIABLE, default=None)
    except Exception as exc:  # no API reachable: no notification
        log.debug("could not read variable %s: %s", BLOCK_VARIABLE, type(exc).__name__)
        return None
    return (str(value).strip() or None) if value else None


def _ui_link(flow_run: Any) -> str:
    from prefect.settings import PREFECT_UI_URL

    base = (PREFECT_UI_URL.value() or "").rstrip("/")
    return f"{base}/runs/flow-run/{flow_run.id}" if base else str(flow_run.id)


def total_time(flow_run: Any, state: Any) -> str:
    """How long the run took, from its start to the state it ended in (`7m12s`), or "" when unknown."""
    from gke_lab.progress import duration

    started, ended = getattr(flow_run, "start_time", None), getattr(state, "timestamp", None)
    if started is None or ended is None:
        return ""
    return duration((ended - started).total_seconds())


def message(flow: Any, flow_run: Any, state: Any) -> str:
    labs = ", ".join(t.split(":", 1)[1] for t in (flow_run.tags or []) if t.startswith("lab:")) or "?"
    icon = ":white_check_mark:" if state.is_completed() else ":x:"
    took = total_time(flow_run, state)
    ended = f"ended {state.name}" + (f" after {took}" if took else "")
    text = f"{icon} {flow.name} `{flow_run.name}` (lab {labs}) {ended}: {_ui_link(flow_run)}"
    if not state.is_completed() and state.message:
        text += f"\n{state.message[:500]}"
    return text


def notify(flow: Any, flow_run: Any, state: Any) -> bool:
    """Post the outcome when a webhook block is configured; returns whether a message was sent."""
    name = webhook_block_name()
    if not name:
        return False
    try:
        from prefect_slack import SlackWebhook

        SlackWebhook.load(name).notify(message(flow, flow_run, state))
    except Exception as exc:  # never fail (or leak the URL of) the run because chat is down
        log.warning("chat notification through block %r failed: %s", name, type(exc).__name__)
        return False
    return True


def notify_completion(flow: Any, flow_run: Any, state: Any) -> None:
    notify(flow, flow_run, state)


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    notify(flow, flow_run, state)
