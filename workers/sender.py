"""Sending what the outbox owes, and the sweep that keeps it moving.

``OutboxSender.send_batch(ids)`` is the body of the ``send_batch`` job. It works chunk by chunk
(one provider call at most): claim the chunk (queued → sending), hold back what quiet hours or
an opt-out forbid, wait for the shared throttle, call the provider once per distinct text, and
record each recipient's result. A worker killed mid-batch leaves at most one chunk in 'sending';
the sweep takes it back, so that chunk alone may be sent twice, and nothing is lost.

``Sweeper.run()`` is the periodic job: it takes back stuck messages and enqueues whatever is
due and not already waiting in the job queue — also after Redis was flushed — applies the
delivery reports whose message became known after they came, and drops those that no message
claimed within DELIVERY_REPORTS_UNMATCHED_MINUTES.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from storage import outbox
from storage.db import Database
from workers.providers import Provider, ProviderError, SendResult
from workers.quiet_hours import quiet_until
from workers.throttle import Throttle

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TransientSendError(Exception):
    """Some messages of the batch could not be sent now and wait for a retry of the job."""


@dataclass(frozen=True)
class SendSettings:
    batch_size: int = 500
    max_recipients_per_call: int = 100
    max_attempts: int = 5
    quiet_hours: Sequence[str] = ("21:00", "07:00")
    stuck_after: dt.timedelta = dt.timedelta(seconds=300)
    requeue_after: dt.timedelta = dt.timedelta(seconds=600)
    unmatched_reports_kept: dt.timedelta = dt.timedelta(minutes=60)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SendSettings:
        return cls(
            batch_size=int(settings["SMS_BATCH_SIZE"]),
            max_recipients_per_call=int(settings["SMS_MAX_RECIPIENTS_PER_CALL"]),
            max_attempts=int(settings["SMS_MAX_ATTEMPTS"]),
            quiet_hours=tuple(settings["SMS_QUIET_HOURS"]),
            stuck_after=dt.timedelta(seconds=int(settings["SMS_STUCK_AFTER_SECONDS"])),
            requeue_after=dt.timedelta(seconds=int(settings["SMS_REQUEUE_AFTER_SECONDS"])),
            unmatched_reports_kept=dt.timedelta(
                minutes=float(settings["DELIVERY_REPORTS_UNMATCHED_MINUTES"])
            ),
        )


@dataclass
class BatchReport:
    sent: int = 0
    failed: int = 0
    retry: int = 0
    postponed: int = 0
    cancelled: int = 0
    skipped: int = 0  # not ours to send (already sent, taken by another job, not due)
    calls: int = 0
    provider_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Pending:
    id: int
    recipient: str
    body: str
    attempts: int


class OutboxSender:
    def __init__(
        self,
        db: Database,
        provider: Provider,
        throttle: Throttle,
        settings: SendSettings,
        clock: Clock = utc_clock,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.provider = provider
        self.throttle = throttle
        self.settings = settings
        self.clock = clock
        self.sleep = sleep

    def send_batch(self, ids: Sequence[int]) -> BatchReport:
        report = BatchReport()
        start = 0
        while start < len(ids):
            step = self.call_size()
            self._send_chunk(ids[start : start + step], report)
            start += step
        if report.retry:
            raise TransientSendError(f"{report.retry} message(s) wait for a retry")
        return report

    def call_size(self) -> int:
        """Recipients per chunk: the provider's own size if it has one, asked again for each
        chunk (behind SMS_ROUTES it changes with the provider that would take the call now).
        A slow provider (an Android phone) asks for small calls, so that what a chunk claims is
        sent within seconds, not left in 'sending' while its rate waits; SMPP for large ones,
        so that the bind has work while a worker records its last answers."""
        own = getattr(self.provider, "max_recipients_per_call", None)
        return max(1, int(own or self.settings.max_recipients_per_call))

    def _send_chunk(self, ids: Sequence[int], report: BatchReport) -> None:
        now = self.clock()
        quiet_end = quiet_until(now, self.settings.quiet_hours)
        with self.db.begin() as session:
            claimed = outbox.claim(session, ids, now)
            report.skipped += len(ids) - len(claimed)
            if quiet_end is not None:
                held = [m.id for m in claimed if not m.urgent]
                if held:
                    outbox.postpone(session, held, quiet_end)
                    report.postponed += len(held)
                claimed = [m for m in claimed if m.urgent]
            blocked = outbox.opted_out(
                session, [m.recipient for m in claimed if m.kind in outbox.OPT_OUT_KINDS]
            )
            stopped = [
                m.id for m in claimed if m.kind in outbox.OPT_OUT_KINDS and m.recipient in blocked
            ]
            if stopped:
                outbox.mark_cancelled(session, stopped, "opted out", now)
                report.cancelled += len(stopped)
            pending = [
                _Pending(m.id, m.recipient, m.body, m.attempts)
                for m in claimed
                if m.id not in stopped
            ]
        by_body: dict[str, list[_Pending]] = defaultdict(list)
        for message in pending:
            by_body[message.body].append(message)
        for body, group in by_body.items():
            self._call_provider(body, group, report)

    def _call_provider(self, body: str, group: list[_Pending], report: BatchReport) -> None:
        wait = self.throttle.reserve(len(group), self.clock().timestamp())
        if wait > 0:
            self.sleep(wait)
        report.calls += 1
        try:
            results = self.provider.send(body, [m.recipient for m in group])
        except ProviderError as error:
            log.warning("provider call failed for %d message(s): %s", len(group), error)
            results = [SendResult(m.recipient, "transient", reason=str(error)) for m in group]
        now = self.clock()
        outcome_of: dict[str, SendResult] = {}
        for result in results:
            outcome_of.setdefault(result.recipient, result)
        new_ids: list[str] = []
        sent: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        with self.db.begin() as session:
            for message in group:
                result = outcome_of.get(message.recipient) or SendResult(
                    message.recipient, "transient", reason="no result for this recipient"
                )
                if result.outcome == "sent":
                    sent[result.provider or self.provider.name].append(
                        (message.id, result.message_id)
                    )
                    report.sent += 1
                    if result.message_id:
                        new_ids.append(result.message_id)
                elif result.outcome == "permanent":
                    outbox.mark_failed(session, message.id, result.reason or "refused", now)
                    report.failed += 1
                elif message.attempts >= self.settings.max_attempts:
                    outbox.mark_failed(
                        session,
                        message.id,
                        f"gave up after {message.attempts} attempts: {result.reason}",
                        now,
                    )
                    report.failed += 1
                else:
                    outbox.requeue(session, message.id, result.reason or "try again", now)
                    report.retry += 1
            for provider, rows in sent.items():
                outbox.mark_sent_many(session, rows, now, provider)
        if new_ids:
            self.apply_reports(new_ids)
        report.provider_ids.extend(new_ids)

    def apply_reports(self, provider_ids: list[str]) -> None:
        """After the commit that recorded ``provider_ids``, in a short transaction of its own:
        a report that came while that transaction was open did not find its message, and that
        transaction could not see the report. Applied here if it committed by now; else by the
        sweep (``outbox.apply_matched_reports``)."""
        with self.db.begin() as session:
            outbox.apply_pending_reports(session, provider_ids)


class JobQueue(Protocol):
    def enqueue_send(self, ids: list[int]) -> None: ...


@dataclass
class SweepReport:
    taken_back: int = 0
    enqueued: int = 0
    jobs: int = 0
    reports_applied: int = 0  # delivery reports whose message became known late
    reports_dropped: int = 0  # delivery reports no message claimed in time


class Sweeper:
    """Finds what is due and not moving, and hands it to the job queue."""

    def __init__(
        self,
        db: Database,
        queue: JobQueue,
        settings: SendSettings,
        clock: Clock = utc_clock,
        max_per_run: int = 1_000_000,
    ) -> None:
        self.db = db
        self.queue = queue
        self.settings = settings
        self.clock = clock
        self.max_per_run = max_per_run

    def run(self) -> SweepReport:
        report = SweepReport()
        now = self.clock()
        quiet = quiet_until(now, self.settings.quiet_hours) is not None
        with self.db.begin() as session:
            report.taken_back = outbox.take_back_stuck(session, now - self.settings.stuck_after)
            report.reports_applied = outbox.apply_matched_reports(session)
            report.reports_dropped = outbox.drop_unmatched_reports(
                session, now - self.settings.unmatched_reports_kept
            )
        size = self.settings.batch_size
        while report.enqueued < self.max_per_run:
            with self.db.begin() as session:
                ids = outbox.due_for_dispatch(
                    session,
                    now,
                    quiet=quiet,
                    requeue_before=now - self.settings.requeue_after,
                    limit=size * 20,
                )
                outbox.mark_enqueued(session, ids, now)
            # Marked first, then enqueued: a crash in between only delays these messages
            # until ``requeue_after``; it cannot lose them.
            for start in range(0, len(ids), size):
                self.queue.enqueue_send(list(ids[start : start + size]))
                report.jobs += 1
            report.enqueued += len(ids)
            if len(ids) < size * 20:
                break
        return report
