"""Health: ``GET /healthz`` (dependencies) and ``GET /livez`` (this process).

``/healthz`` answers 200 when the database and the session store answer, 503 naming what does
not. It asks through the very pools the USSD hop uses, with their short timeouts, so it
answers within about a second either way. Monitoring alerts on it.

It also names each SMS provider that is down (SMPP without a bind, a provider failing past
SMS_FAILOVER_AFTER_SECONDS: workers/routing.py) — in the body, with the status unchanged while
another provider of the route still carries its numbers; 503 only when every provider of a
route is down, so no SMS can leave for those numbers (docs/decisions.md, "Routing and
failover").

``/livez`` answers 200 whenever this process can serve a request. It is what a load balancer
polls: every web process shares one Redis and one database, so when either is down, taking the
processes out of rotation would only turn the polite "layanan sedang gangguan" reply into a
connection error at Africa's Talking; the processes heal by themselves when it is back.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text

from gateway.runtime import Runtime, runtime
from workers.routing import RoutingProvider
from workers.smpp import handoff

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
    down, unreachable = providers_down(rt)
    notes = [f"sms provider {name}: {why}" for name, why in down.items()]
    notes += [f"no SMS can leave for {prefix}" for prefix in unreachable]
    if problems or unreachable:
        return Response("; ".join(problems + notes) + "\n", status=503, mimetype="text/plain")
    return Response("; ".join(notes or ["ok"]) + "\n", mimetype="text/plain")


def providers_down(rt: Runtime) -> tuple[dict[str, str], list[str]]:
    """The SMS providers that are down and why, and the destinations (route prefixes) none of
    whose providers is up."""
    provider = rt.sms_provider
    try:
        if isinstance(provider, RoutingProvider):
            down = provider.down()
            routes = provider.routes_down(down)
            return down, [r.prefix or "the other numbers" for r in routes]
        if provider.name == "smpp" and rt.redis is not None and not handoff.is_bound(rt.redis):
            return {"smpp": "no SMPP bind"}, ["every number"]
    except Exception as error:  # Redis is down: the session store's check says so already
        return {"all": f"state unknown ({type(error).__name__})"}, []
    return {}, []


@bp.get("/livez")
def livez() -> Response:
    return Response("ok\n", mimetype="text/plain")
