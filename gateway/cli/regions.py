"""``flask --app gateway regions``: the official list of districts and villages."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from gateway.cli.common import actor_option, ensure_schema
from gateway.runtime import runtime
from gateway.staff_actions import audit
from storage.regions import import_regions

regions_cli = AppGroup("regions", help="The official region list (districts and villages).")


@regions_cli.command("import")
@click.argument(
    "csv_path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@actor_option
def regions_import(csv_path: Path | None, actor: str) -> None:
    """Load the region list from CSV_PATH (default: the bundled Kemendagri 2025 list).

    Idempotent: existing regions are updated, none are duplicated. Restart the web processes
    afterwards so they read the new list."""
    ensure_schema()
    rt = runtime()
    try:
        with rt.db.begin() as session:
            added, updated = import_regions(session, csv_path)
            audit(
                session,
                actor,
                "regions.import",
                "region",
                None,
                after={
                    "file": csv_path.name if csv_path else "(bundled)",
                    "added": added,
                    "updated": updated,
                },
            )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    rt.reload_regions()
    regions = rt.regions
    click.echo(
        f"regions: {added} added, {updated} updated; "
        f"{len(regions.districts)} districts, {len(regions.villages)} villages"
    )
