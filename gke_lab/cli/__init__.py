"""The `gke-lab` command line: one click group; each command lives in its own module."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gke-lab")
def main() -> None:
    """Ephemeral, hardened GKE labs as Prefect 3 workflows."""


def _register() -> None:
    # Each module adds its commands to `main`; only commands that work are registered.
    from gke_lab.cli import (
        blocks,  # noqa: F401
        chatops,  # noqa: F401
        demo,  # noqa: F401
        emulator,  # noqa: F401
        lab,  # noqa: F401
        plan,  # noqa: F401
        teardown,  # noqa: F401
    )


_register()
