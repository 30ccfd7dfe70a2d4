"""``flask --app gateway residents``: who is told what, in which language, about which village;
loaded in bulk from the office's CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import click
from flask.cli import AppGroup

from gateway.cli.common import actor_option, ensure_schema
from gateway.phones import to_e164
from gateway.runtime import runtime
from gateway.staff_actions import audit
from storage import queries

residents_cli = AppGroup("residents", help="Residents: phone, village, language, opt-out.")


@residents_cli.command("import")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@actor_option
def residents_import(csv_path: Path, actor: str) -> None:
    """Add or update residents from a CSV with columns phone, village (code or name) and
    language (id, en; optional). Bad rows are reported with their reasons and skipped; the
    rest of the file is imported. The audit log gets a row per resident added or changed
    (before and after) and one for the import."""
    ensure_schema()
    rt = runtime()
    languages = set(rt.catalogs)
    added = updated = 0
    rejected: list[str] = []
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = {c.strip().lower() for c in reader.fieldnames or []}
            if not {"phone", "village"} <= columns:
                raise click.ClickException(
                    f"{csv_path}: needs columns phone and village "
                    f"(found: {', '.join(sorted(columns)) or 'none'})"
                )
            rows = [
                {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                for row in reader
            ]
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{csv_path}: not UTF-8 text ({error.reason})") from error
    seen: set[str] = set()
    with rt.db.begin() as session:
        for line, row in enumerate(rows, start=2):
            phone = to_e164(row.get("phone", ""))
            if phone is None:
                rejected.append(f"line {line}: '{row.get('phone', '')}' is not a phone number")
                continue
            if phone in seen:
                rejected.append(f"line {line}: {phone} appears twice in the file")
                continue
            try:
                village = rt.regions.find_village(row.get("village", ""))
            except ValueError as error:
                rejected.append(f"line {line}: {error}")
                continue
            language = row.get("language") or "id"
            if language not in languages:
                rejected.append(
                    f"line {line}: unknown language '{language}' "
                    f"(one of {', '.join(sorted(languages))})"
                )
                continue
            seen.add(phone)
            found = queries.get_resident(session, phone)
            before = None if found is None else _audited(found.village_code, found.language)
            after = _audited(village.code, language)
            queries.upsert_resident(session, phone, village_code=village.code, language=language)
            updated += found is not None
            added += found is None
            if before != after:
                action = "resident.update" if found is not None else "resident.add"
                audit(session, actor, action, "resident", phone, before, after)
        audit(
            session,
            actor,
            "residents.import",
            "resident",
            None,
            after={
                "file": csv_path.name,
                "added": added,
                "updated": updated,
                "rejected": len(rejected),
            },
        )
    for phone in seen:
        rt.store.forget_profile(phone)  # cached language/village may have changed
    click.echo(f"residents: {added} added, {updated} updated, {len(rejected)} rejected")
    for reason in rejected:
        click.echo(f"  rejected {reason}")


def _audited(village_code: str | None, language: str | None) -> dict[str, str | None]:
    return {"village_code": village_code, "language": language}
