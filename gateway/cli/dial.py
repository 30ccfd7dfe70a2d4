"""``flask --app gateway dial``: a feature phone in the terminal, through the real /ussd
endpoint code (in this process, or a running gateway's with --url)."""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from gateway.cli.common import DEMO_PHONES, parse_phone
from gateway.runtime import runtime
from gateway.session_store import MemoryStore

Poster = Callable[[dict[str, str]], tuple[int, str]]


@click.command("dial")
@with_appcontext
@click.argument("phone", default=DEMO_PHONES["grandmother"])
@click.option(
    "--session",
    "session_id",
    help="Session id (default: a new one). Reuse one to "
    "replay; dial again within 10 minutes with a new one to see the resume offer.",
)
@click.option(
    "-k",
    "--keys",
    multiple=True,
    help="Inputs to send without prompting, in order (e.g. -k 1 -k 9).",
)
@click.option(
    "--url",
    help="Dial a running gateway instead (e.g. http://127.0.0.1:5000/ussd); "
    "default: this app's endpoint code, in this process.",
)
def dial(phone: str, session_id: str | None, keys: tuple[str, ...], url: str | None) -> None:
    """Run a USSD session in the terminal, through the real /ussd endpoint code.

    Type the number of your choice and Enter; 0 back, 00 main menu, 98 next page.
    Ctrl-D or Ctrl-C hangs up."""
    e164 = parse_phone(phone, "PHONE")
    session_id = session_id or f"dial-{secrets.token_hex(6)}"
    token = current_app.config["WEBHOOK_TOKEN"]
    code = current_app.config["USSD_SERVICE_CODE"]
    post = _remote_poster(url) if url else _local_poster(token)
    kept = None if url else _KeptCall(e164)  # the embedded store dies with this process
    if kept:
        kept.restore()
    try:
        _session(post, session_id, code, e164, keys)
    finally:
        if kept:
            kept.keep()


def _session(post: Poster, session_id: str, code: str, e164: str, keys: tuple[str, ...]) -> None:
    inputs: list[str] = []
    pending = list(keys)
    click.echo(f"Dialling {code} from {e164} (session {session_id})")
    while True:
        status, body = post(
            {
                "sessionId": session_id,
                "serviceCode": code,
                "phoneNumber": e164,
                "networkCode": "51010",
                "text": "*".join(inputs),
            }
        )
        click.echo("┌" + "─" * 30)
        for line in body.split("\n"):
            click.echo("│ " + line)
        click.echo(f"└ {len(body)} chars, HTTP {status}")
        if status != 200 or not body.startswith("CON "):
            return
        if pending:
            answer = pending.pop(0)
            click.echo(f"> {answer}")
        elif keys:
            return  # scripted run: stop when the script ends
        else:
            try:
                answer = click.prompt(">", default="", show_default=False, prompt_suffix=" ")
            except (click.Abort, EOFError):
                click.echo("\n(hung up)")
                return
        inputs.append(answer)


class _KeptCall:
    """On the embedded default the call record lives in this process's memory, so a dropped
    terminal session could not be resumed by the next ``dial``: it is kept beside the embedded
    database (``instance/dial-<phone>.json``, with when it was written) and put back when the
    same phone dials again within USSD_RESUME_MINUTES. With Redis the record is already kept
    there, by the gateway itself."""

    def __init__(self, phone: str) -> None:
        rt = runtime()
        self.store = rt.store if isinstance(rt.store, MemoryStore) else None
        self.phone = phone
        database = rt.db.engine.url.database
        folder = (
            Path(database).parent
            if rt.db.engine.dialect.name == "sqlite" and database
            else Path(current_app.instance_path)
        )
        self.path = folder / f"dial-{phone.lstrip('+')}.json"
        self.window = int(current_app.config["USSD_RESUME_MINUTES"]) * 60

    def restore(self) -> None:
        if self.store is None or not self.path.exists():
            return
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
            if time.time() - float(kept["at"]) < self.window:
                self.store.save(self.phone, kept["call"], [])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged file: a fresh start, as after the window

    def keep(self) -> None:
        if self.store is None:
            return
        call, _profile = self.store.load(self.phone)
        if call is None:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"at": time.time(), "call": call}), encoding="utf-8")


def _local_poster(token: str) -> Poster:
    # In-process, the "webhooks are open" warning is about nobody: keep the terminal clean.
    logging.getLogger("gateway.webhooks.auth").setLevel(logging.ERROR)
    client = current_app.test_client()
    path = "/ussd" + (f"?token={token}" if token else "")

    def post(form: dict[str, str]) -> tuple[int, str]:
        reply = client.post(path, data=form)
        return reply.status_code, reply.get_data(as_text=True)

    return post


def _remote_poster(url: str) -> Poster:
    def post(form: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode()
        try:
            with urllib.request.urlopen(url, data=data, timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            raise click.ClickException(f"cannot reach {url}: {error}") from error

    return post
