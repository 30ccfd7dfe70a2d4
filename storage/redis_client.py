"""The process's Redis client: one redis-py connection pool with short timeouts and a bounded
retry, shared by the session store, the job queue, the look-up guard and the throttle.

Why these settings: redis-py's defaults wait up to 5 s for a reply and retry a failed connect
three times with back-off of up to 10 s, so while Redis is down a USSD hop would hang for
seconds before the caller got an answer. Here a connect or a reply that does not come within
a fraction of a second fails, is retried once after a few milliseconds, and the caller gets
the polite ``END``; the pool replaces a dead connection when it is next checked out, so the
first command after Redis answers again succeeds. No restart is ever needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common.settings import DEFAULTS


def connect_redis(url: str, settings: Mapping[str, Any] | None = None) -> redis.Redis:
    """A client on a new pool for ``url`` (nothing is connected until the first command)."""
    values = {**DEFAULTS, **(settings or {})}
    pool = redis.ConnectionPool.from_url(
        url,
        socket_timeout=float(values["REDIS_SOCKET_TIMEOUT_SECONDS"]),
        socket_connect_timeout=float(values["REDIS_CONNECT_TIMEOUT_SECONDS"]),
        socket_keepalive=True,
        health_check_interval=int(values["REDIS_HEALTH_CHECK_SECONDS"]),
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.005), retries=2),
        max_connections=int(values["REDIS_MAX_CONNECTIONS"]),
    )
    return redis.Redis(connection_pool=pool)
