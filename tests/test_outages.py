"""The outage log: while a server is down, a line when it starts, one per interval with a count,
and one when it answers again -- not a traceback per request."""

from __future__ import annotations

import logging

import pytest
import redis
from sqlalchemy import exc as sa_exc

from storage.outages import DATABASE, REDIS, OutageLog, dependency_of, describe

REFUSED = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_three_kinds_of_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outages = OutageLog(interval=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="outages"):
        for _ in range(500):  # a burst of failing requests
            assert outages.failed(REFUSED)
            clock.now += 0.01
        clock.now += 10
        assert outages.failed(REFUSED)
        outages.answered(REDIS)
        outages.answered(REDIS)  # (answered again: nothing more to say)
    assert [r.getMessage() for r in caplog.records] == [
        "redis unavailable: ConnectionError: Error 111 connecting to 127.0.0.1:6379. "
        "Connection refused.",
        "redis still unavailable after 15 s: 500 more failed requests (ConnectionError: "
        "Error 111 connecting to 127.0.0.1:6379. Connection refused.)",
        "redis answers again after 15.0 s (501 failed requests)",
    ]
    assert not outages.is_down(REDIS)


def test_other_errors_are_not_outages(caplog: pytest.LogCaptureFixture) -> None:
    outages = OutageLog()
    assert not outages.failed(ValueError("a bug"))
    assert not outages.failed(redis.ResponseError("WRONGTYPE Operation against a key"))
    assert not caplog.records  # the caller logs those, with their traceback


def test_dependencies_are_told_apart() -> None:
    import psycopg

    terminated = psycopg.OperationalError("terminating connection due to administrator command")
    wrapped = sa_exc.OperationalError(
        "SELECT phone FROM residents", {"phone": "+62812"}, terminated
    )
    assert dependency_of(REFUSED) == REDIS
    assert dependency_of(redis.TimeoutError("Timeout reading from socket")) == REDIS
    assert dependency_of(redis.exceptions.OutOfMemoryError("OOM command not allowed")) == REDIS
    assert dependency_of(redis.ResponseError("MISCONF Redis is configured to save")) == REDIS
    assert dependency_of(terminated) == DATABASE
    assert dependency_of(wrapped) == DATABASE
    assert dependency_of(sa_exc.TimeoutError("QueuePool limit reached")) == DATABASE
    assert dependency_of(sa_exc.IntegrityError("INSERT", {}, ValueError("dup"))) is None
    # no statement parameters (phone numbers) in the line
    assert describe(wrapped) == (
        "OperationalError: terminating connection due to administrator command"
    )
