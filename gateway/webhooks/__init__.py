"""The webhooks machines call: Africa's Talking's USSD and SMS callbacks, an office Android
phone's (android.py; signed) (and, later, voice).
Authenticated by the webhook token and/or address list (``auth``), never by a CSRF token."""

from __future__ import annotations

from flask import Flask

from gateway.webhooks import android, sms, ussd

BLUEPRINTS = (ussd.bp, sms.bp, android.bp)


def init_app(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    ussd.settle_before_replying(app)
