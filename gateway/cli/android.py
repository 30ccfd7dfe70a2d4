"""``flask --app gateway android webhooks --url https://HOST/sms/android``: register our webhooks
(``sms:received``, ``sms:sent``, ``sms:delivered``, ``sms:failed``) on the office Android phone
(local-server mode) or its cloud account, through the app's own client. Run it once after
installing the phone, and again when the gateway's address or WEBHOOK_TOKEN changes: ours at an
older address are replaced, anyone else's left alone."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import click
import requests
from android_sms_gateway.errors import APIError
from flask.cli import with_appcontext

from gateway.runtime import runtime
from workers.providers.android import make_client, register_webhooks


@click.group("android")
def android_cli() -> None:
    """The office Android phone (SMS Gateway for Android)."""


@android_cli.command("webhooks")
@click.option(
    "--url",
    required=True,
    help="This gateway's /sms/android as the phone reaches it, e.g. https://gw.example/sms/android",
)
@with_appcontext
def webhooks(url: str) -> None:
    """Register the phone's webhooks to this gateway; prints what is registered."""
    config = runtime().config
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.ClickException("--url must be an http(s) address")
    if not parts.path.endswith("/sms/android") or parts.query:
        raise click.ClickException("--url must end with /sms/android (the token is added here)")
    if not config["ANDROID_SIGNING_KEY"]:
        raise click.ClickException(
            "set ANDROID_SIGNING_KEY (the app's Settings → Webhooks → Signing Key) first: "
            "without it every webhook is refused"
        )
    if config["WEBHOOK_TOKEN"]:
        url = f"{url}?{urlencode({'token': config['WEBHOOK_TOKEN']})}"
    try:
        client = make_client(
            config["ANDROID_BASE_URL"], config["ANDROID_USERNAME"], config["ANDROID_PASSWORD"]
        )
        hooks = register_webhooks(client, url)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    except APIError as error:
        raise click.ClickException(
            f"the phone refused: HTTP {error.status_code} (user name and password?)"
        ) from error
    except requests.RequestException as error:
        raise click.ClickException(
            f"cannot reach the phone at {config['ANDROID_BASE_URL']}: {type(error).__name__}"
        ) from error
    shown = url.split("?")[0]
    for hook in sorted(hooks, key=lambda h: h.event.value):
        click.echo(f"{hook.event.value:15} {shown}  (id {hook.id})")
