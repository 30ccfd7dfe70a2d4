"""Where send jobs go: RQ on Redis in production, a thread in the embedded default."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

import redis
from rq import Queue, Retry

log = logging.getLogger(__name__)


SWEEP_PENDING_KEY = "outbox:sweep-pending"
VOICE_PENDING_KEY = "voice:place-pending"


class RQJobQueue:
    def __init__(self, client: redis.Redis, settings: Mapping[str, Any]) -> None:
        self.client = client
        self.queue = Queue(settings["RQ_QUEUE"], connection=client)
        intervals = [int(i) for i in settings["SMS_RETRY_INTERVALS"]]
        self.retry = Retry(max=len(intervals), interval=intervals) if intervals else None

    def enqueue_send(self, ids: list[int]) -> None:
        self.queue.enqueue(
            "workers.jobs.send_batch",
            ids,
            retry=self.retry,
            job_timeout=900,
            result_ttl=300,
            failure_ttl=86400,
            description=f"send_batch({len(ids)} messages from #{ids[0]})",
        )

    def enqueue_sweep(self) -> None:
        """A sweep job, unless one is already waiting to start: a burst of USSD hops that each
        wrote an SMS asks for one sweep, not hundreds (an RQ enqueue is several Redis commands,
        more than a hop's own work). The job clears the mark as it starts (``sweep_started``),
        so a message written after that asks for a new one; the mark expires in case the job is
        lost."""
        if self.client.set(SWEEP_PENDING_KEY, b"1", nx=True, ex=120):
            self.queue.enqueue("workers.jobs.sweep_outbox", job_timeout=900, result_ttl=60)

    def sweep_started(self) -> None:
        self.client.delete(SWEEP_PENDING_KEY)

    def enqueue_voice(self) -> None:
        """A job placing the call-backs due, unless one is waiting to start (as the sweep)."""
        if self.client.set(VOICE_PENDING_KEY, b"1", nx=True, ex=120):
            self.queue.enqueue(
                "workers.jobs.place_voice_calls",
                job_timeout=300,
                result_ttl=60,
                retry=Retry(max=2, interval=[30, 60]),
            )

    def voice_started(self) -> None:
        self.client.delete(VOICE_PENDING_KEY)


class ThreadJobQueue:
    """The embedded default: one background thread runs send jobs and the periodic sweep, so
    a demo on one machine sends its SMS without Redis or a worker process."""

    def __init__(
        self,
        send: Callable[[list[int]], Any],
        sweep: Callable[[], Any],
        sweep_interval: float,
        retry_intervals: list[int],
        voice: Callable[[], Any] | None = None,
    ) -> None:
        self._send = send
        self._sweep = sweep
        self._voice = voice  # places the call-backs due (issue 13), after each sweep
        self.sweep_interval = sweep_interval
        self.retry_intervals = retry_intervals
        self._jobs: queue.Queue[tuple[list[int], int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def enqueue_send(self, ids: list[int]) -> None:
        self._jobs.put((ids, 0))

    def enqueue_voice(self) -> None:
        self.kick()  # each sweep of this thread also places the call-backs due

    def kick(self) -> None:
        """Something was just written to the outbox: sweep now rather than at the next tick."""
        self._jobs.put(None)

    def run_now(self) -> None:
        """Sweep and send in the calling thread until nothing is waiting (a CLI command on the
        embedded default: the process may exit right after, taking a thread with it)."""
        self._sweep()
        self._place_calls()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self._run_send(job[0], len(self.retry_intervals))  # no timers: the sweep retries

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=self.sweep_interval)
            except queue.Empty:
                job = None
            if self._stop.is_set():
                return
            try:
                if job is None:
                    self._sweep()
                    self._place_calls()
                else:
                    self._run_send(*job)
            except Exception:  # the thread must outlive any one job; the sweep retries
                log.exception("outbox job failed")

    def _place_calls(self) -> None:
        if self._voice is None:
            return
        from workers.providers.voice import VoiceError

        try:
            self._voice()
        except VoiceError as error:  # queued again a minute on; the next tick places them
            log.warning("voice call-backs: %s", error)

    def _run_send(self, ids: list[int], attempt: int) -> None:
        from workers.sender import TransientSendError

        try:
            self._send(ids)
        except TransientSendError:
            if attempt < len(self.retry_intervals):
                timer = threading.Timer(
                    self.retry_intervals[attempt], lambda: self._jobs.put((ids, attempt + 1))
                )
                timer.daemon = True
                timer.start()
