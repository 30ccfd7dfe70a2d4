"""How a worker hands a send call to the bind process, and gets each recipient's answer.

A request is one provider call (one text, its recipients) pushed on a Redis list; the bind
process pops it, submits within its window and rate, and pushes one answer per request on a key
of the request's own, which the worker waits on. A request carries a deadline: the bind process
submits nothing of it after that (the worker has given up and the outbox will retry it), so a
late bind process cannot send what the outbox already gave back. Why this and not the bind
process claiming outbox rows: docs/decisions.md, "SMPP: the bind process and the workers".
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import redis

REQUESTS = "smpp:submit"
ANSWER_PREFIX = "smpp:answer:"
ANSWER_TTL = 300
BOUND = "smpp:bound"  # set by the bind process while it holds a bind, with a short expiry
BOUND_TTL_SECONDS = 10
BOUND_EVERY_SECONDS = 2


@dataclass(frozen=True)
class Request:
    key: str
    text: str
    recipients: list[str]
    deadline: float  # time.time(): submit nothing after it


Answer = dict[str, Any]  # recipient, outcome, message_id, reason: a SendResult's fields


def ask(
    client: redis.Redis, text: str, recipients: list[str], timeout: float
) -> list[Answer] | None:
    """The worker's side: hand over, wait up to ``timeout`` seconds; None if no answer came
    (no bind process, or no bind): the caller treats every recipient as a transient failure."""
    key = ANSWER_PREFIX + uuid.uuid4().hex
    deadline = time.time() + timeout
    client.lpush(
        REQUESTS,
        orjson.dumps({"key": key, "text": text, "to": recipients, "deadline": deadline}),
    )
    # A little longer than the deadline: what was in flight at it still gets its answer.
    reply = client.blpop([key], timeout=timeout + 2)
    if reply is None:
        return None
    client.delete(key)
    answers: list[Answer] = orjson.loads(reply[1])
    return answers


def take(client: redis.Redis, timeout: float) -> Request | None:
    """The bind process's side: the next request, waiting up to ``timeout`` seconds."""
    item = client.brpop([REQUESTS], timeout=timeout)
    if item is None:
        return None
    data = orjson.loads(item[1])
    return Request(data["key"], data["text"], list(data["to"]), float(data["deadline"]))


def answer(client: redis.Redis, key: str, results: list[Answer]) -> None:
    pipe = client.pipeline()
    pipe.rpush(key, orjson.dumps(results))
    pipe.expire(key, ANSWER_TTL)
    pipe.execute()


def publish_bound(client: redis.Redis, bound: bool) -> None:
    """The bind process's bind state, for routing (workers/routing.py) and /healthz: the key
    lives BOUND_TTL_SECONDS, renewed every BOUND_EVERY_SECONDS while bound, so a bind process
    killed without a word is seen as down within seconds."""
    if bound:
        client.set(BOUND, "1", ex=BOUND_TTL_SECONDS)
    else:
        client.delete(BOUND)


def is_bound(client: redis.Redis) -> bool:
    return bool(client.exists(BOUND))
