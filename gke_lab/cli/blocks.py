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
    """Register LabBlueprint, LabPool, GcpCredentials and SlackWebhook block types on the Prefect server in
    PREFECT_API_URL, save the blueprints `article-default` and `small-zonal` and the example pool
    `workshop` (each kept if it exists).
    """
    # Prefect is imported here, not at module level: the rest of the CLI works without a server.
    from prefect_gcp import GcpCredentials
    from prefect_slack import SlackWebhook

    from blocks.blueprint import LabBlueprint
    from blocks.pool import EXAMPLE_POOL, LabPool, example_pool
    from blocks.variants import VARIANTS, variant_spec

    for block_type in (LabBlueprint, LabPool, GcpCredentials, SlackWebhook):
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

    try:
        LabPool.load(EXAMPLE_POOL)
        pool_exists = True
    except ValueError:
        pool_exists = False
    if pool_exists and not overwrite:
        click.echo(f"kept pool {EXAMPLE_POOL} (exists; --overwrite replaces it)")
        return
    project = variant_spec("small-zonal").project_id
    LabPool(
        pool=example_pool(project),
        description="Example: small-zonal labs claimed with /lab claim; raise hot_size to keep labs ready.",
    ).save(EXAMPLE_POOL, overwrite=True)
    click.echo(f"saved pool {EXAMPLE_POOL}")
