"""GET /healthz — 200 when the database and the session store answer, 503 otherwise."""

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
        with rt.db.begin() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # a health check reports failures; it does not raise them
        problems.append(f"database: {type(error).__name__}")
    try:
        rt.store.ping()
    except Exception as error:
        problems.append(f"session store: {type(error).__name__}")
    if problems:
        return Response("; ".join(problems) + "\n", status=503, mimetype="text/plain")
    return Response("ok\n", mimetype="text/plain")
