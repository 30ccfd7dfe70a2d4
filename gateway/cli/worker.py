"""``flask --app gateway worker``: a send worker in the foreground, for a single machine or a
look at what the workers do; production runs ``rq worker`` itself (the Procfile)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from gateway.runtime import runtime


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker(burst: bool) -> None:
    """Run a send worker in the foreground (RQ, with its scheduler and the outbox sweep).

    In production run as many as you like, on any machines, as the Procfile does:

        rq worker --with-scheduler --worker-class workers.worker.OutboxWorker -u $REDIS_URL outbox

    with DATABASE_URL, REDIS_URL and the provider settings (GATEWAY_CONFIG, AT_USERNAME,
    AT_API_KEY) in the environment. On the embedded default (no REDIS_URL) no worker is
    needed: the web process sends in a thread of its own."""
    rt = runtime()
    if rt.redis is None:
        raise click.ClickException(
            "no REDIS_URL: on the embedded default the web process "
            "sends by itself; no worker is needed"
        )
    from rq import Queue

    from workers.worker import OutboxWorker

    queue = Queue(rt.config["RQ_QUEUE"], connection=rt.redis)
    OutboxWorker([queue], connection=rt.redis).work(burst=burst, with_scheduler=True)
