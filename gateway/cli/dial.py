"""``flask --app gateway dial``: a feature phone in the terminal, through the real /ussd
endpoint code (in this process, or a running gateway's with --url)."""

from __future__ import annotations

import logging
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext

from gateway.cli.common import DEMO_PHONES, parse_phone

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
