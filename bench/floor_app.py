"""A reference point for ``bench/ussd_load.py --floor``: the issue's "handler doing one Redis GET
and SET", served by the same gunicorn settings as the bare app and the gateway.

``POST /ussd`` reads the form, GETs and SETs one Redis key per caller (what any session store
must do per hop), and returns the constant main menu. No flow, no database. It tells apart what
the machine charges for a hop's two session-store round trips (which any USSD gateway pays)
from what the gateway's own code adds; the first swings with the machine much more than bare
Flask does.

Run it by hand with: ``REDIS_URL=redis://127.0.0.1:6379/14 gunicorn --pythonpath bench
floor_app:app``.
"""

from __future__ import annotations

import os

import redis
from bare_app import MENU
from flask import Flask, Response, request

app = Flask(__name__)
store = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))


@app.post("/ussd")
def ussd() -> Response:
    key = "floor:" + request.form.get("phoneNumber", "")
    store.get(key)
    store.set(key, request.form.get("text", ""), ex=600)
    return Response(MENU, mimetype="text/plain")


@app.get("/healthz")
def healthz() -> Response:
    """Readiness probe, the same path the gateway answers."""
    return Response("ok\n", mimetype="text/plain")
