"""The per-process parts every request shares: database, session store, look-up guard,
region directory, the USSD engine. Built once by ``create_app``; reached via ``runtime()``."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from flask import Flask, current_app
from limits import parse
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from flows import SMS_SCREEN_LIMIT, USSD_PREFIX_LENGTH, USSD_SCREEN_LIMIT, build_engine
from flows.catalog import load_catalogs
from gateway.notify import Notifier
from gateway.services import StorageServices, next_visit_cache_key
from gateway.session_store import CallStore, MemoryStore, RedisStore
from storage import queries
from storage.db import Database
from storage.models import VillageVisit
from storage.outages import outages
from storage.redis_client import connect_redis
from storage.regions import RegionDirectory
from workers.context import WorkerContext, build_context
from workers.queue import RQJobQueue, ThreadJobQueue

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.db = Database(config["DATABASE_URL"], config)
        outages.interval = float(config["OUTAGE_LOG_SECONDS"])
        call_ttl = int(config["USSD_RESUME_MINUTES"]) * 60
        profile_ttl = int(config["USSD_PROFILE_CACHE_DAYS"]) * 86400
        self.redis: redis.Redis | None = None
        self.store: CallStore
        sms_ttl = int(config["SMS_CONVERSATION_MINUTES"]) * 60
        limits_storage: RedisStorage | MemoryStorage
        self.sms_store: CallStore
        if config["REDIS_URL"]:
            # One pool for everything this process asks of Redis (see storage/redis_client.py).
            self.redis = connect_redis(config["REDIS_URL"], config)
            self.store = RedisStore(self.redis, call_ttl, profile_ttl)
            self.sms_store = RedisStore(
                self.redis, sms_ttl, profile_ttl, prefix="sms", hop=self.store.hop
            )
            limits_storage = RedisStorage(
                config["REDIS_URL"], connection_pool=self.redis.connection_pool
            )
        else:
            memory = MemoryStore(call_ttl, profile_ttl)
            self.store = memory
            self.sms_store = MemoryStore(sms_ttl, profile_ttl, prefix="sms", shared=memory)
            limits_storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(limits_storage)
        self.lookup_limit = parse(f"{int(config['LOOKUP_FAILURES_PER_HOUR'])}/hour")
        self.catalogs = load_catalogs()
        self.ussd_engine = build_engine(
            USSD_SCREEN_LIMIT - USSD_PREFIX_LENGTH, catalogs=self.catalogs
        )
        # An SMS conversation screen stays within one segment where it can (160 GSM-7).
        self.sms_engine = build_engine(SMS_SCREEN_LIMIT, catalogs=self.catalogs)
        self.jobs: RQJobQueue | ThreadJobQueue
        if self.redis is not None:
            self.jobs = RQJobQueue(self.redis, config)
        else:
            self.jobs = ThreadJobQueue(
                send=lambda ids: self.worker.sender.send_batch(ids),
                sweep=lambda: self.worker.sweeper.run(),
                sweep_interval=float(config["SWEEP_INTERVAL_SECONDS"]),
                retry_intervals=[int(i) for i in config["SMS_RETRY_INTERVALS"]],
            )
        self.worker: WorkerContext = build_context(
            config, db=self.db, queue=self.jobs, redis_client=self.redis
        )
        # A visit added, published, edited or cancelled anywhere (console, CLI, a job):
        # callers of its village must not be told the old next visit.
        self.db.watch(
            VillageVisit,
            key=lambda visit: visit.village_code,
            callback=lambda villages: self.store.uncache(
                *(next_visit_cache_key(code) for code in villages)
            ),
        )
        self._regions: RegionDirectory | None = None
        self._regions_lock = threading.Lock()
        self._last_log_flush = time.monotonic()

    @property
    def regions(self) -> RegionDirectory:
        """Read once per process: the official list changes once a year (restart after import)."""
        if self._regions is None or not self._regions.villages:
            with self._regions_lock, self.db.begin() as session:
                self._regions = RegionDirectory.load(session)
        return self._regions

    def reload_regions(self) -> None:
        self._regions = None

    @property
    def notifier(self) -> Notifier:
        return Notifier(self.catalogs, self.regions, self.config)

    def dispatch(self, inline: bool = False) -> None:
        """New messages were committed to the outbox: get them moving now rather than at the
        next periodic sweep. ``inline`` sweeps in this process (a broadcast from the CLI);
        otherwise a sweep job is queued (one Redis call: cheap enough for a USSD hop)."""
        if isinstance(self.jobs, ThreadJobQueue):
            if not self.config["RUN_JOBS_IN_PROCESS"]:
                return
            if inline:
                self.jobs.run_now()
            else:
                self.jobs.start()
                self.jobs.kick()
        elif inline:
            self.worker.sweeper.run()
        else:
            self.jobs.enqueue_sweep()

    def profile(self, phone: str, cached: dict[str, Any] | None) -> dict[str, Any]:
        """The caller's remembered language and village: from the cache, else the database."""
        if cached is not None:
            return cached
        rows = self.db.read(queries.RESIDENT_PROFILE, {"phone": phone})
        profile = {
            "lang": rows[0].language if rows else None,
            "village": rows[0].village_code if rows else None,
        }
        self.store.save_profile(phone, profile)
        return profile

    def services(self, phone: str, profile: dict[str, Any]) -> StorageServices:
        return StorageServices(
            phone=phone,
            profile=profile,
            db=self.db,
            store=self.store,
            regions=self.regions,
            limiter=self.limiter,
            lookup_limit=self.lookup_limit,
            notifier=self.notifier,
            dispatch=self.dispatch,
        )

    def flush_session_logs(self, force: bool = False, batch: int = 1000) -> int:
        """Write queued USSD session records to the database.

        Called after a reply has left (so no caller waits for it): at most one batch every
        SESSION_LOG_FLUSH_SECONDS, so the work per call stays small and bounded; ``force``
        (the CLI) writes everything queued."""
        now = time.monotonic()
        if not force and now - self._last_log_flush < float(
            self.config["SESSION_LOG_FLUSH_SECONDS"]
        ):
            return 0
        self._last_log_flush = now
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

    def flush_session_logs_after_reply(self) -> None:
        """``flush_session_logs`` where nobody waits for it (after a reply has left): a
        failure is logged, never raised into the server."""
        try:
            self.flush_session_logs()
        except Exception as error:
            if not outages.failed(error):
                log.exception("writing the USSD session log failed")


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions["gateway"]  # type: ignore[no-any-return]
