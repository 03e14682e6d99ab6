"""`gke-lab blocks register`: register the block types and save the default blueprints."""

from __future__ import annotations

import click

from gke_lab.cli import main


@main.group("blocks")
def blocks_group() -> None:
    """Prefect blocks: saved lab blueprints (LabBlueprint), GCP credentials, chat webhooks."""


@blocks_group.command("register")
@click.option("--overwrite", is_flag=True, help="Replace saved blueprints of the same name (loses UI edits).")
def register_command(overwrite: bool) -> None:
    """Register LabBlueprint, GcpCredentials and SlackWebhook block types on the Prefect server in
    PREFECT_API_URL, and save the blueprints `article-default` and `small-zonal` (kept if they exist).
    """
    # Prefect is imported here, not at module level: the rest of the CLI works without a server.
    from prefect_gcp import GcpCredentials
    from prefect_slack import SlackWebhook

    from blocks.blueprint import LabBlueprint
    from blocks.variants import VARIANTS, variant_spec

    for block_type in (LabBlueprint, GcpCredentials, SlackWebhook):
        block_type.register_type_and_schema()
        click.echo(f"registered block type {block_type.get_block_type_slug()}")
    for name, (description, _overrides) in VARIANTS.items():
        try:
            LabBlueprint.load(name)
            exists = True
        except ValueError:
            exists = False
        if exists and not overwrite:
            click.echo(f"kept blueprint {name} (exists; --overwrite replaces it)")
            continue
        LabBlueprint(spec=variant_spec(name), description=description).save(name, overwrite=True)
        click.echo(f"saved blueprint {name}")
