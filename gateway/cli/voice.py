"""``flask --app gateway voice``: the voice call-backs' prompts and calls (issue 13)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import click
from flask.cli import AppGroup

from flows.voice import fixed_sentences, list_sentences
from gateway.cli.common import ensure_schema
from gateway.runtime import runtime
from gateway.voice_audio import AudioError

voice_cli = AppGroup("voice", help="Voice call-backs: prompts and calls.")


@voice_cli.command("render")
@click.option("--fixed-only", is_flag=True, help="Not the district and village lists.")
@click.option("--jobs", default=2, show_default=True, help="Sentences rendered at once.")
def voice_render(fixed_only: bool, jobs: int) -> None:
    """Synthesize every fixed prompt in every language ahead (and, unless --fixed-only, every
    district and village list as the menus number them), so no call waits for espeak-ng.
    What is already rendered is skipped; run it again after changing a catalog."""
    ensure_schema()
    rt = runtime()
    wanted = set(fixed_sentences(rt.ussd_engine))
    if not fixed_only:
        regions = rt.regions
        lists = [[d.name for d in regions.districts]] + [
            [v.name for v in regions.villages_of(d.code)] for d in regions.districts
        ]
        for code, catalog in rt.catalogs.items():
            for labels in lists:
                wanted.update((code, s) for s in list_sentences(catalog, labels))
    audio = rt.voice_audio
    missing = [(lang, s) for lang, s in sorted(wanted) if audio.path(audio.name(lang, s)) is None]
    started = time.perf_counter()
    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(audio.render, lang, s) for lang, s in missing]:
            try:
                future.result()
            except AudioError as error:
                failed += 1
                if failed == 1:
                    click.echo(f"error: {error}", err=True)
    seconds = time.perf_counter() - started
    click.echo(
        f"{len(wanted)} prompt(s) in {len(rt.catalogs)} language(s): "
        f"{len(missing) - failed} rendered in {seconds:.1f} s, "
        f"{len(wanted) - len(missing)} already there, {failed} failed"
    )
    if failed:
        raise SystemExit(1)
