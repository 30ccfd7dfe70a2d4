"""The RQ worker class: an ordinary worker that also makes sure the outbox sweep runs every
SWEEP_INTERVAL_SECONDS while any worker is alive (one sweep per interval across all of them,
through a Redis lock). So the Procfile's ``rq worker --with-scheduler`` line is all it takes;
no cron to forget, and a flushed Redis is swept again within one interval.

    rq worker --with-scheduler --worker-class workers.worker.OutboxWorker -u $REDIS_URL outbox
"""

from __future__ import annotations

from typing import Any

# Imported here, in the worker process, so that every work horse RQ forks for a job inherits
# them instead of importing SQLAlchemy, the models and the provider SDK again (~0.7 s CPU).
import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
from rq import Queue, Worker

import workers.jobs
import workers.providers.africastalking  # noqa: F401
from storage.settings import load_settings

SWEEP_LOCK = "sms:sweep-lock"


class OutboxWorker(Worker):
    sweep_interval = int(load_settings()["SWEEP_INTERVAL_SECONDS"])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from workers.context import get_context

        get_context()  # once, before any fork: horses inherit it (no connection is open yet)

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
                "workers.jobs.sweep_outbox", job_timeout=900, result_ttl=60
            )
