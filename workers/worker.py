"""The RQ worker class: an ordinary worker that also makes sure the outbox sweep runs every
SWEEP_INTERVAL_SECONDS while any worker is alive (one sweep per interval across all of them,
through a Redis lock), and that a retry scheduled with back-off is moved back to the queue on
time even after the worker whose scheduler held RQ's lock died. So the Procfile's
``rq worker --with-scheduler`` line is all it takes; no cron to forget, and a flushed Redis is
swept again within one interval.

    rq worker --with-scheduler --worker-class workers.worker.OutboxWorker -u $REDIS_URL outbox
"""

from __future__ import annotations

from typing import Any

# Imported here, in the worker process, so that every work horse RQ forks for a job inherits
# them instead of importing SQLAlchemy, the models and the provider SDK again (~0.7 s CPU).
import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401
from rq import Queue, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.scripts import acquire_or_refresh_lock

import workers.jobs
import workers.providers.africastalking  # noqa: F401
from common.settings import load_settings

SWEEP_LOCK = "sms:sweep-lock"

# How long the scheduler lock of a queue outlives its holder's last renewal (every second).
SCHEDULER_LOCK_TTL = 5
# How often at most an idle worker checks whether it should take over the scheduler.
SCHEDULER_CHECK_SECONDS = 2


class OutboxScheduler(RQScheduler):
    """RQ's scheduler, leasing its queue locks for SCHEDULER_LOCK_TTL seconds instead of RQ's
    interval + 60: a dead holder's lock is gone a few seconds after its last renewal, so
    another worker can take over before the next retry is due rather than a minute later.

    Only the lease is shorter; acquiring, renewing and noticing a lost lock are RQ's own. A
    holder that stalls longer than the lease (a Redis pause) may see another scheduler take
    over; RQ's heartbeat then drops the lock, so two schedulers overlap for one pass at most.
    A job moved to the queue twice in that pass is harmless: ``outbox.claim`` sends each
    message once."""

    lock_ttl = SCHEDULER_LOCK_TTL

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        owned: set[str] = super().acquire_locks(auto_start=auto_start)
        self._shorten_leases()
        return owned

    def heartbeat(self) -> None:
        super().heartbeat()
        self._shorten_leases()

    def _shorten_leases(self) -> None:
        # Token-checked like RQ's own renewal: a lock another scheduler holds is left alone.
        for name in self.acquired_locks:
            acquire_or_refresh_lock(
                self.connection, self.get_locking_key(name), self.name, self.lock_ttl
            )


class OutboxWorker(Worker):
    sweep_interval = int(load_settings()["SWEEP_INTERVAL_SECONDS"])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from workers.context import get_context

        get_context()  # once, before any fork: horses inherit it (no connection is open yet)

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per sweep interval even when the queue is empty, and often
        # enough to take over the scheduler within about a lease of its holder's death.
        return max(1, min(super().dequeue_timeout, self.sweep_interval, SCHEDULER_CHECK_SECONDS))

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        super().heartbeat(*args, **kwargs)
        self.schedule_sweep()
        self.take_over_scheduler()

    def schedule_sweep(self) -> None:
        if self.connection.set(SWEEP_LOCK, self.name, nx=True, ex=self.sweep_interval):
            Queue(self.queues[0].name, connection=self.connection).enqueue(
                "workers.jobs.sweep_outbox", job_timeout=900, result_ttl=60
            )

    def take_over_scheduler(self) -> None:
        """Start this worker's scheduler if the queue's lock is free: what RQ's maintenance does
        only every 10 minutes, while retries wait. Also restarts a scheduler process that died
        on its own (it still holds the lock under this worker's scheduler name)."""
        scheduler = self.scheduler
        # Not in a work horse (heartbeat runs there too, but the scheduler process is the
        # worker's child, not the horse's), nor in burst mode (RQ's burst scheduler enqueues
        # once and releases), nor while stopping (teardown is about to stop the scheduler).
        if self.is_horse or self._stop_requested or not isinstance(scheduler, OutboxScheduler):
            return
        process = scheduler._process
        if process is None or not process.is_alive():
            scheduler.acquire_locks(auto_start=True)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        if burst:
            super()._start_scheduler(burst, logging_level, date_format, log_format)
            return
        # RQ 3.0 builds its RQScheduler inline here, with no class hook: the same construction
        # and start (acquire_locks(auto_start=True) is RQ's non-burst path) with ours.
        self.scheduler = OutboxScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks(auto_start=True)
