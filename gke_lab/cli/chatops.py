"""`gke-lab chatops`: serve the Slack slash-command receiver."""

from __future__ import annotations

import sys
from typing import Any

import click

from gke_lab.cli import main


def _load_secret_block(name: str) -> str:
    # Imported lazily: only operators who keep the signing secret in Prefect pay for the import.
    from prefect.blocks.system import Secret

    secret: Any = Secret.load(name)  # a sync call outside an event loop
    return str(secret.get())


@main.command("chatops")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=3000, show_default=True, type=int, help="Port to listen on (0 = any free port)."
)
def chatops_command(host: str, port: int) -> None:
    """Receive Slack `/lab` commands and trigger the lab deployments through the Prefect API.

    Needs SLACK_SIGNING_SECRET (or GKE_LAB_CHATOPS_SECRET_BLOCK naming a Prefect Secret block) and
    PREFECT_API_URL; GKE_LAB_CHATOPS_USERS / GKE_LAB_CHATOPS_ADMINS are comma-separated Slack user IDs.
    """
    import uvicorn

    from chatops.app import create_app
    from chatops.settings import ConfigError, load_settings

    try:
        settings = load_settings(secret_loader=_load_secret_block)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not settings.policy.users and not settings.policy.admins:
        click.echo(
            "warning: GKE_LAB_CHATOPS_USERS and GKE_LAB_CHATOPS_ADMINS are empty: nobody may run commands",
            err=True,
        )
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="info", access_log=False)
    server = uvicorn.Server(config)
    # uvicorn prints the bound address (also for --port 0) as "Uvicorn running on http://HOST:PORT".
    server.run()
