"""The USSD session log: finished sessions, queued in the session store by the hops (no hop
waits for the database for them) and written to the database in batches by the web process,
after a reply has left."""

from __future__ import annotations

import logging
import time

from gateway.session_store import CallStore
from storage import queries
from storage.db import Database
from storage.outages import outages

log = logging.getLogger(__name__)


class SessionLog:
    def __init__(self, store: CallStore, db: Database, flush_seconds: float) -> None:
        self.store = store
        self.db = db
        self.flush_seconds = flush_seconds
        self._last_flush = time.monotonic()

    def flush(self, force: bool = False, batch: int = 1000) -> int:
        """Write queued records to the database: at most one batch every ``flush_seconds``,
        so the work per call stays small and bounded; ``force`` (the CLI) writes everything
        queued. Records whose write failed go back to the queue."""
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_seconds:
            return 0
        self._last_flush = now
        written = 0
        while records := self.store.drain_logs(batch):
            try:
                with self.db.begin() as session:
                    written += queries.record_sessions(session, records)
            except Exception:
                self.store.requeue_logs(records)  # the database is down: the next flush
                raise
            if not force or len(records) < batch:
                break
        return written

    def flush_after_reply(self) -> None:
        """``flush`` where nobody waits for it: a failure is logged, never raised into the
        server."""
        try:
            self.flush()
        except Exception as error:
            if not outages.failed(error):
                log.exception("writing the USSD session log failed")
