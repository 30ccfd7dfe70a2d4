"""Everything a job needs, built once per worker process from the shared settings.

``rq worker`` imports ``workers.jobs`` and calls the job functions with ids only; they reach the
database, provider, throttle and queue through ``get_context()``. The embedded default and the
tests install a context of their own with ``set_context()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from common.privacy import install_log_masking
from common.settings import load_settings
from storage.db import Database
from storage.redis_client import connect_redis
from workers.providers import Provider, make_provider
from workers.providers.voice import VoiceProvider, make_voice_provider
from workers.routing import Paced, ProviderHealth, RoutingProvider, parse_routes
from workers.sender import Clock, JobQueue, OutboxSender, SendSettings, Sweeper, utc_clock
from workers.throttle import make_throttle
from workers.voice import VoiceCaller


@dataclass
class WorkerContext:
    db: Database
    sender: OutboxSender
    sweeper: Sweeper
    queue: JobQueue
    settings: Mapping[str, Any]
    voice: VoiceCaller

    def dispatch(self, inline: bool = False) -> None:
        """New messages were committed to the outbox: get them moving now rather than at the
        next periodic sweep. ``inline`` sweeps in this process (a CLI command, which may exit
        right after); otherwise a sweep job is queued (one Redis call: cheap enough for a USSD
        hop), or the embedded default's thread is woken."""
        from workers.queue import ThreadJobQueue

        if isinstance(self.queue, ThreadJobQueue):
            if not self.settings["RUN_JOBS_IN_PROCESS"]:
                return
            if inline:
                self.queue.run_now()
            else:
                self.queue.start()
                self.queue.kick()
        elif inline:
            self.sweeper.run()
        else:
            self.queue.enqueue_sweep()  # type: ignore[attr-defined]

    def dispatch_calls(self) -> None:
        """A call-back row was committed: get it placed now, not at the next sweep."""
        from workers.queue import ThreadJobQueue

        if isinstance(self.queue, ThreadJobQueue):
            if self.settings["RUN_JOBS_IN_PROCESS"]:
                self.queue.start()
                self.queue.enqueue_voice()
        else:
            self.queue.enqueue_voice()  # type: ignore[attr-defined]


def build_context(
    settings: Mapping[str, Any],
    *,
    db: Database | None = None,
    queue: JobQueue | None = None,
    provider: Provider | None = None,
    voice_provider: VoiceProvider | None = None,
    redis_client: redis.Redis | None = None,
    clock: Clock = utc_clock,
    sleep: Callable[[float], None] | None = None,
) -> WorkerContext:
    if db is None:
        if not settings["DATABASE_URL"]:
            raise RuntimeError(
                "workers need DATABASE_URL (and REDIS_URL) in the environment "
                "or in the file named by GATEWAY_CONFIG"
            )
        db = Database(settings["DATABASE_URL"], settings)
    if redis_client is None and settings["REDIS_URL"]:
        redis_client = connect_redis(settings["REDIS_URL"], settings)
    if queue is None:
        from workers.queue import RQJobQueue

        if redis_client is None:
            raise RuntimeError("the RQ job queue needs REDIS_URL")
        queue = RQJobQueue(redis_client, settings)
    send_settings = SendSettings.from_settings(settings)
    throttle = make_throttle(float(settings["SMS_RATE_PER_SECOND"]), redis_client)
    sender = OutboxSender(
        db,
        provider or build_provider(settings, redis_client),
        throttle,
        send_settings,
        clock=clock,
        **({"sleep": sleep} if sleep else {}),
    )
    sweeper = Sweeper(db, queue, send_settings, clock=clock)
    voice = VoiceCaller(db, voice_provider or make_voice_provider(settings), settings, clock=clock)
    return WorkerContext(
        db=db, sender=sender, sweeper=sweeper, queue=queue, settings=settings, voice=voice
    )


def build_provider(settings: Mapping[str, Any], redis_client: redis.Redis | None) -> Provider:
    """SMS_PROVIDER, or with SMS_ROUTES every provider the routes name behind the router; a
    provider with a rate of its own (the Android phone) held to it across the workers."""
    routes = parse_routes(settings["SMS_ROUTES"]) if settings["SMS_ROUTES"] else []
    names = list(dict.fromkeys(p for r in routes for p in r.providers))
    providers = {
        name: _paced(make_provider(settings, name), redis_client)
        for name in names or [settings["SMS_PROVIDER"]]
    }
    if not routes:
        return providers[settings["SMS_PROVIDER"]]
    health = ProviderHealth(
        redis_client,
        failover_after=float(settings["SMS_FAILOVER_AFTER_SECONDS"]),
        probe_every=float(settings["SMS_FAILOVER_PROBE_SECONDS"]),
    )
    return RoutingProvider(routes, providers, health)


def _paced(provider: Provider, redis_client: redis.Redis | None) -> Provider:
    rate = float(getattr(provider, "rate_per_second", 0) or 0)
    if rate <= 0:
        return provider
    return Paced(provider, make_throttle(rate, redis_client, key=f"sms:throttle:{provider.name}"))


_context: WorkerContext | None = None


def get_context() -> WorkerContext:
    global _context
    if _context is None:
        install_log_masking()  # an rq worker process: no phone number logged unmasked
        _context = build_context(load_settings())
    return _context


def set_context(context: WorkerContext | None) -> None:
    global _context
    _context = context
