"""GET /metrics for Prometheus (SPEC §6): request latency, queue depth, messages by status.

Latency is per web process (scrape each, or put them behind one job label); queue depth and the
outbox counts are read from Redis and the database at scrape time, so every process reports
the same numbers for them.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.runtime import runtime
from storage import outbox
from workers.queue import RQJobQueue

bp = Blueprint("metrics", __name__)

registry = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "gateway_request_seconds", "Time to answer a request, by endpoint", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=registry)
QUEUE_DEPTH = Gauge("gateway_send_jobs_queued", "Send jobs waiting in the RQ queue",
                    registry=registry)
OUTBOX = Gauge("gateway_outbox_messages", "Outbox messages by status", ["status"],
               registry=registry)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("started")
        if started is not None and request.endpoint:
            REQUEST_SECONDS.labels(request.endpoint).observe(time.perf_counter() - started)
        return response


@bp.get("/metrics")
def metrics() -> Response:
    rt = runtime()
    if isinstance(rt.jobs, RQJobQueue):
        QUEUE_DEPTH.set(rt.jobs.queue.count)
    with rt.db.begin() as session:
        counts = outbox.counts_by_status(session)
    for status in ("queued", "sending", "sent", "delivered", "failed", "cancelled"):
        OUTBOX.labels(status).set(counts.get(status, 0))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
