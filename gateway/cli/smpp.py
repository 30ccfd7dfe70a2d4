"""``flask --app gateway smpp``: the one process that holds the SMPP bind (the Procfile's
``smpp:``). The bind itself is workers/smpp/bind.py; this wires it to the outbox (receipts) and
to the inbound handling residents' SMS share with /sms/inbound."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click
import redis
from flask import current_app
from flask.cli import with_appcontext

from gateway.runtime import runtime
from gateway.webhooks.sms import receive_sms
from workers.providers import DeliveryReport, InboundSms
from workers.smpp.bind import SmppBind, SmppSettings
from workers.smpp.receipts import record_receipt


@click.command("smpp")
@with_appcontext
def smpp() -> None:
    """Hold the SMPP bind (SMS_PROVIDER = "smpp"): submit what the workers hand over, record
    delivery receipts, answer residents' SMS. Exactly one per SMSC account; stops on SIGTERM
    (what is in flight gets its answers, then it unbinds)."""
    rt = runtime()
    config = rt.config
    routed = any("smpp" in (r.get("providers") or []) for r in config["SMS_ROUTES"] or [])
    if config["SMS_PROVIDER"] != "smpp" and not routed:
        raise click.ClickException('neither SMS_PROVIDER nor SMS_ROUTES names "smpp": no bind')
    if not config["REDIS_URL"]:
        raise click.ClickException("SMPP needs REDIS_URL: the workers hand messages over there")
    if not config["SMPP_HOST"] or not config["SMPP_SYSTEM_ID"]:
        raise click.ClickException("set SMPP_HOST and SMPP_SYSTEM_ID (and SMPP_PASSWORD)")
    try:
        settings = SmppSettings.from_settings(config)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def inbound(message: InboundSms) -> str:
        with app.app_context():
            answer = receive_sms(rt, message)
        if answer is None:
            raise ValueError("source_addr is not a phone number")
        return answer

    def receipt(report: DeliveryReport) -> str:
        return record_receipt(rt.db, report)

    client = redis.Redis.from_url(config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
    bind = SmppBind(settings, client, on_receipt=receipt, on_inbound=inbound)
    stop = threading.Event()

    def stop_on_signal(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    click.echo(f"SMPP: binding to {settings.host}:{settings.port} as {settings.system_id}")
    bind.run(stop)
    click.echo("SMPP: stopped")
