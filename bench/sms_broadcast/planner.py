"""The planner: a process of its own (so its memory is its own) doing what ``flask visits
publish`` does — the app from GATEWAY_CONFIG, a visit published in one transaction (the outbox
rows), then the send jobs enqueued: by the product's sweep, or (``--per-message``) one
``send_batch([id])`` job per message. It reports as JSON lines on stdout: "planned", then
"enqueued".

Run by ``bench/broadcast.py`` as ``python -m bench.sms_broadcast.planner --village CODE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from rq import Queue
from sqlalchemy import select

from common.local_time import local_today
from gateway import create_app
from storage import outbox, queries
from storage.models import OutboxMessage


def report(event: str, **values: Any) -> None:
    print(json.dumps({"event": event, **values}), flush=True)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sms_broadcast.planner")
    parser.add_argument("--village", required=True)
    parser.add_argument("--per-message", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rt = create_app().extensions["gateway"]
    assert rt.regions.villages  # read at start-up, as a web process has them

    cpu0 = sum(os.times()[:2])
    started = time.time()
    with rt.db.begin() as session:
        visit = queries.add_visit(
            session,
            village_code=args.village,
            visit_date=local_today() + dt.timedelta(days=10),
            start_time=dt.time(9),
            end_time=dt.time(12),
            place="Balai Desa",
            bring="KK dan KTP-el lama",
        )
        broadcast = rt.resident_sms.visit_published(session, visit, created_by="bench")
        broadcast_id, planned = int(broadcast.id), int(broadcast.recipients)
    planned_at = time.time()
    cpu1 = sum(os.times()[:2])
    report(
        "planned",
        broadcast_id=broadcast_id,
        planned=planned,
        plan_s=planned_at - started,
        enqueue_started=planned_at,
        cpu_plan_s=cpu1 - cpu0,
    )
    if args.per_message:
        with rt.db.begin() as session:
            ids = list(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.broadcast_id == broadcast_id)
                    .order_by(OutboxMessage.id)
                )
            )
            # Marked as waiting in the queue, so the workers' periodic sweep does not enqueue
            # them again in batches and spoil the comparison.
            outbox.mark_enqueued(session, ids, dt.datetime.now(dt.UTC))
        queue = Queue(rt.config["RQ_QUEUE"], connection=rt.redis)
        retry = rt.jobs.retry  # the product's own job options (workers/queue.py)
        for chunk in chunks(ids, 1000):
            queue.enqueue_many(
                [
                    Queue.prepare_data(
                        "workers.jobs.send_batch",
                        args=([message_id],),
                        timeout=900,
                        result_ttl=300,
                        failure_ttl=86400,
                        retry=retry,
                        description=f"send_batch(1 messages from #{message_id})",
                    )
                    for message_id in chunk
                ]
            )
        jobs = len(ids)
    else:
        jobs = rt.worker.sweeper.run().jobs
    report(
        "enqueued",
        jobs=jobs,
        enqueue_s=time.time() - planned_at,
        enqueued_at=time.time(),
        cpu_enqueue_s=sum(os.times()[:2]) - cpu1,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
