"""The per-process parts every request shares: database, session store, look-up guard,
region directory, the USSD engine. Built once by ``create_app``; reached via ``runtime()``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import redis
from flask import Flask, current_app
from limits import parse
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from common.privacy import install_log_masking
from flows import SMS_SCREEN_LIMIT, USSD_PREFIX_LENGTH, USSD_SCREEN_LIMIT, build_engine
from flows.catalog import load_catalogs
from gateway.caller import CallerServices, next_visit_cache_key
from gateway.lookup_guard import MemoryNumberGuard, NumberGuard, RedisNumberGuard
from gateway.resident_sms import ResidentSms
from gateway.session_log import SessionLog
from gateway.session_store import CallStore, MemoryStore, RedisStore
from gateway.voice_audio import PromptAudio, voices_of
from storage.db import Database
from storage.models import VillageVisit
from storage.outages import outages
from storage.redis_client import connect_redis
from storage.regions import RegionDirectory
from workers.context import WorkerContext, build_context
from workers.queue import RQJobQueue, ThreadJobQueue

log = logging.getLogger(__name__)

VOICE_STATE_SECONDS = 3600  # a voice call's state outlives any call


class Runtime:
    def __init__(self, config: dict[str, Any]) -> None:
        install_log_masking()  # no phone number reaches a log line unmasked (common/privacy.py)
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
        self.voice_store: CallStore  # voice calls, keyed by the call's sessionId
        voice_ttl = VOICE_STATE_SECONDS
        if config["REDIS_URL"]:
            # One pool for everything this process asks of Redis (see storage/redis_client.py).
            self.redis = connect_redis(config["REDIS_URL"], config)
            self.store = RedisStore(self.redis, call_ttl, profile_ttl)
            self.sms_store = RedisStore(
                self.redis, sms_ttl, profile_ttl, prefix="sms", hop=self.store.hop
            )
            self.voice_store = RedisStore(
                self.redis, voice_ttl, profile_ttl, prefix="voice", hop=self.store.hop
            )
            limits_storage = RedisStorage(
                config["REDIS_URL"], connection_pool=self.redis.connection_pool
            )
        else:
            memory = MemoryStore(call_ttl, profile_ttl)
            self.store = memory
            self.sms_store = MemoryStore(sms_ttl, profile_ttl, prefix="sms", shared=memory)
            self.voice_store = MemoryStore(voice_ttl, profile_ttl, prefix="voice", shared=memory)
            limits_storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(limits_storage)
        self.lookup_limit = parse(f"{int(config['LOOKUP_FAILURES_PER_HOUR'])}/hour")
        wrong_years = int(config["LOOKUP_WRONG_YEARS_PER_NUMBER"])
        self.number_guard: NumberGuard = (
            RedisNumberGuard(self.redis, wrong_years)
            if self.redis is not None
            else MemoryNumberGuard(wrong_years)
        )
        self.sms_loop_guard = parse(str(config["SMS_LOOP_GUARD"]))
        self.sms_reply_cap = parse(f"{int(config['SMS_REPLIES_PER_HOUR'])}/hour")
        self.catalogs = load_catalogs()
        self.ussd_engine = build_engine(
            USSD_SCREEN_LIMIT - USSD_PREFIX_LENGTH, catalogs=self.catalogs
        )
        # An SMS conversation screen stays within one segment where it can (160 GSM-7).
        self.sms_engine = build_engine(SMS_SCREEN_LIMIT, catalogs=self.catalogs)
        self.voice_audio = PromptAudio(
            Path(config["VOICE_AUDIO_DIR"] or "instance/voice"),
            voices_of(self.catalogs),
            espeak=str(config["ESPEAK_COMMAND"]),
            sox=str(config["SOX_COMMAND"]),
            budget_seconds=float(config["VOICE_RENDER_BUDGET_SECONDS"]),
        )
        self.jobs: RQJobQueue | ThreadJobQueue
        if self.redis is not None:
            self.jobs = RQJobQueue(self.redis, config)
        else:
            self.jobs = ThreadJobQueue(
                send=lambda ids: self.worker.sender.send_batch(ids),
                sweep=lambda: self.worker.sweeper.run(),
                sweep_interval=float(config["SWEEP_INTERVAL_SECONDS"]),
                retry_intervals=[int(i) for i in config["SMS_RETRY_INTERVALS"]],
                voice=lambda: self.worker.voice.run(),
            )
        self.worker: WorkerContext = build_context(
            config, db=self.db, queue=self.jobs, redis_client=self.redis
        )
        self.sms_provider = self.worker.sender.provider  # parses delivery reports, inbound SMS
        self.dispatch = self.worker.dispatch  # after a commit that wrote SMS to the outbox
        self.session_log = SessionLog(
            self.store, self.db, float(config["SESSION_LOG_FLUSH_SECONDS"])
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
        if config["VOICE_NUMBER"]:  # voice is set up: a visit's dates are rendered ahead
            self.db.watch(
                VillageVisit,
                key=lambda visit: visit.village_code,
                callback=lambda villages: self.voice_audio.in_background(
                    lambda: self._render_visits(villages)
                ),
            )
        self._regions: RegionDirectory | None = None
        self._resident_sms: ResidentSms | None = None
        self._regions_lock = threading.Lock()

    @property
    def regions(self) -> RegionDirectory:
        """Read once per process: the official list changes once a year (restart after import)."""
        if self._regions is None or not self._regions.villages:
            with self._regions_lock, self.db.begin() as session:
                self._regions = RegionDirectory.load(session)
        return self._regions

    def _render_visits(self, villages: set[str]) -> None:
        from gateway.voice_ahead import next_visit_sentences

        for language, sentence in next_visit_sentences(
            self.ussd_engine, self.db, self.regions, villages, self.resident_sms.office
        ):
            self.voice_audio.render(language, sentence)

    def reload_regions(self) -> None:
        self._regions = None

    @property
    def resident_sms(self) -> ResidentSms:
        # Built once, not on every USSD hop (it reads the office's settings); again only when
        # the regions are read again.
        regions = self.regions
        made = self._resident_sms
        if made is None or made.regions is not regions:
            made = self._resident_sms = ResidentSms(self.catalogs, regions, self.config)
        return made

    def services(
        self, phone: str, profile: dict[str, Any], channel: str = "ussd"
    ) -> CallerServices:
        return CallerServices(
            phone=phone,
            profile=profile,
            db=self.db,
            store=self.store,
            regions=self.regions,
            limiter=self.limiter,
            lookup_limit=self.lookup_limit,
            number_guard=self.number_guard,
            resident_sms=self.resident_sms,
            dispatch=self.dispatch,
            channel=channel,
        )


def runtime(app: Flask | None = None) -> Runtime:
    return (app or current_app).extensions["gateway"]  # type: ignore[no-any-return]
