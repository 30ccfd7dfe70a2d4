"""The RQ worker class: an ordinary worker that also makes sure the outbox sweep runs every
SWEEP_INTERVAL_SECONDS while any worker is alive (one sweep per interval across all of them,
through a Redis lock). So the Procfile's ``rq worker --with-scheduler`` line is all it takes;
no cron to forget, and a flushed Redis is swept again within one interval.

    rq worker --with-scheduler --worker-class workers.worker.OutboxWorker -u $REDIS_URL outbox
"""

from __future__ import annotations

from typing import Any

from rq import Queue, Worker

from storage.settings import load_settings

SWEEP_LOCK = "sms:sweep-lock"


class OutboxWorker(Worker):
    sweep_interval = int(load_settings()["SWEEP_INTERVAL_SECONDS"])

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per sweep interval even when the queue is empty.
        return max(1, min(super().dequeue_timeout, self.sweep_interval))

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        super().heartbeat(*args, **kwargs)
        self.schedule_sweep()

    def schedule_sweep(self) -> None:
        if self.connection.set(SWEEP_LOCK, self.name, nx=True, ex=self.sweep_interval):
            Queue(self.queues[0].name, connection=self.connection).enqueue(
                "workers.jobs.sweep_outbox", job_timeout=900, result_ttl=60)
