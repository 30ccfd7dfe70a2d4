"""The webhooks machines call: Africa's Talking's USSD, SMS and voice callbacks, and an office
Android phone's (android.py; signed).
Authenticated by the webhook token and/or address list (``auth``), never by a CSRF token."""

from __future__ import annotations

from flask import Flask

from gateway.webhooks import android, sms, ussd, voice

BLUEPRINTS = (ussd.bp, sms.bp, android.bp, voice.bp)


def init_app(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(voice.audio_bp)  # GET only, no token: players fetch it
    ussd.settle_before_replying(app)
