"""Health: ``GET /healthz`` (dependencies) and ``GET /livez`` (this process).

``/healthz`` answers 200 when the database and the session store answer, 503 naming what does
not. It asks through the very pools the USSD hop uses, with their short timeouts, so it
answers within about a second either way. Monitoring alerts on it.

``/livez`` answers 200 whenever this process can serve a request. It is what a load balancer
polls: every web process shares one Redis and one database, so when either is down, taking the
processes out of rotation would only turn the polite "layanan sedang gangguan" reply into a
connection error at Africa's Talking; the processes heal by themselves when it is back.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text

from gateway.runtime import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    rt = runtime()
    problems = []
    try:
        rt.db.read(text("SELECT 1"))
    except Exception as error:  # a health check reports failures; it does not raise them
        problems.append(f"database: {type(error).__name__}")
    try:
        rt.store.ping()
    except Exception as error:
        problems.append(f"session store: {type(error).__name__}")
    if problems:
        return Response("; ".join(problems) + "\n", status=503, mimetype="text/plain")
    return Response("ok\n", mimetype="text/plain")


@bp.get("/livez")
def livez() -> Response:
    return Response("ok\n", mimetype="text/plain")
