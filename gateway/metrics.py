"""GET /metrics for Prometheus (docs/product.md): request latency, queue depth, messages by status
and by provider and status, which SMS providers are up, delivery reports waiting for their
message and those dropped, voice call-backs (by status, answered by journey, minutes, cost).

Latency is per web process (scrape each, or put them behind one job label); queue depth and the
outbox counts are read from Redis and the database at scrape time, so every process reports
the same numbers for them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, request
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.health import providers_down
from gateway.runtime import Runtime, runtime
from storage import counters, outbox, voice_calls
from workers.queue import RQJobQueue
from workers.routing import RoutingProvider

bp = Blueprint("metrics", __name__)

registry = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "gateway_request_seconds",
    "Time to answer a request, by endpoint",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=registry,
)
QUEUE_DEPTH = Gauge(
    "gateway_send_jobs_queued", "Send jobs waiting in the RQ queue", registry=registry
)
DB_CHECKED_OUT = Gauge(
    "gateway_db_connections_checked_out",
    "Database connections in use by this process (returns to 0 between requests)",
    registry=registry,
)
DB_POOL_SIZE = Gauge(
    "gateway_db_pool_size",
    "Database connections this process keeps open per pool (it has two)",
    registry=registry,
)
REDIS_IN_USE = Gauge(
    "gateway_redis_connections_in_use",
    "Redis connections in use by this process (returns to 0 between requests)",
    registry=registry,
)
OUTBOX = Gauge(
    "gateway_outbox_messages", "Outbox messages by status", ["status"], registry=registry
)
OUTBOX_BY_PROVIDER = Gauge(
    "gateway_outbox_messages_by_provider",
    "Outbox messages a provider took, by provider and status",
    ["provider", "status"],
    registry=registry,
)
PROVIDER_UP = Gauge(
    "gateway_sms_provider_up",
    "1 while an SMS provider takes calls, 0 while it is down (no SMPP bind, failing)",
    ["provider"],
    registry=registry,
)
REPORTS_UNMATCHED = Gauge(
    "gateway_delivery_reports_unmatched",
    "Delivery reports waiting for a message with their id (dropped after a while)",
    registry=registry,
)


class StoredCounter:
    """A running total kept in the database (storage/counters.py), shown as a Prometheus
    counter: every process reports the same value, and it survives restarts."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation, self.value = name, documentation, 0

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.value)


REPORTS_DROPPED = StoredCounter(
    "gateway_delivery_reports_dropped",
    "Delivery reports dropped because no message of ours had their id in time",
)
registry.register(REPORTS_DROPPED)


_seen_pairs: set[tuple[str, str]] = set()  # (provider, status) this process has reported

VOICE_CALLS = Gauge(
    "gateway_voice_calls", "Voice call-backs by status", ["status"], registry=registry
)


class VoiceTotals:
    """Voice call-backs as running totals, read from their rows at scrape time."""

    def __init__(self) -> None:
        self.totals: dict[str, Any] = {"seconds": 0, "by_journey": {}, "cost": {}}

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "gateway_voice_call_seconds", "Seconds of voice calls", value=self.totals["seconds"]
        )
        answered = CounterMetricFamily(
            "gateway_voice_calls_answered", "Answered voice calls by journey", labels=["journey"]
        )
        for journey, n in sorted(self.totals["by_journey"].items()):
            answered.add_metric([journey], n)
        yield answered
        cost = CounterMetricFamily(
            "gateway_voice_cost", "What voice calls cost, as reported", labels=["currency"]
        )
        for currency, amount in sorted(self.totals["cost"].items()):
            cost.add_metric([currency], float(amount))
        yield cost


VOICE_TOTALS = VoiceTotals()
registry.register(VOICE_TOTALS)


STARTED = "gateway.started"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    inner = app.wsgi_app

    def timed(environ: dict[str, Any], start_response: Any) -> Any:
        environ[STARTED] = time.perf_counter()  # (no before_request hook: cheaper per hop)
        return inner(environ, start_response)

    app.wsgi_app = timed  # type: ignore[method-assign]

    @app.after_request
    def _observe(response: Response) -> Response:
        started = request.environ.get(STARTED)
        endpoint = request.endpoint
        if started is not None and endpoint:
            _histogram(endpoint).observe(time.perf_counter() - started)
        return response


@functools.cache
def _histogram(endpoint: str) -> Any:
    return REQUEST_SECONDS.labels(endpoint)  # (labels() takes a lock and builds a key each call)


@bp.get("/metrics")
def metrics() -> Response:
    rt = runtime()
    DB_POOL_SIZE.set(rt.db.engine.pool.size())  # type: ignore[attr-defined]
    DB_CHECKED_OUT.set(rt.db.connections_checked_out())
    if rt.redis is not None:
        [_idle, (in_use, _)] = rt.redis.connection_pool.get_connection_count()
        REDIS_IN_USE.set(in_use)
    if isinstance(rt.jobs, RQJobQueue):
        QUEUE_DEPTH.set(rt.jobs.queue.count)
    with rt.db.begin() as session:
        counts = outbox.counts_by_status(session)
        by_provider = outbox.counts_by_provider(session)
        REPORTS_UNMATCHED.set(outbox.unmatched_reports(session))
        REPORTS_DROPPED.value = counters.value(session, counters.DELIVERY_REPORTS_DROPPED)
        calls = voice_calls.counts_by_status(session)
        VOICE_TOTALS.totals = voice_calls.totals(session)
    for status in ("queued", "calling", "answered", "completed", "no_answer", "failed"):
        VOICE_CALLS.labels(status).set(calls.get(status, 0))
    for status in ("queued", "sending", "sent", "delivered", "failed", "cancelled"):
        OUTBOX.labels(status).set(counts.get(status, 0))
    _seen_pairs.update(by_provider)  # a pair that emptied since the last scrape shows 0
    for provider, status in _seen_pairs:
        OUTBOX_BY_PROVIDER.labels(provider, status).set(by_provider.get((provider, status), 0))
    down, _ = providers_down(rt)
    for name in _provider_names(rt):
        PROVIDER_UP.labels(name).set(0 if name in down else 1)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _provider_names(rt: Runtime) -> list[str]:
    provider = rt.sms_provider
    return list(provider.providers) if isinstance(provider, RoutingProvider) else [provider.name]
