"""RQ jobs: module-level functions that take ids, not objects, and raise on failure so RQ's
``Retry`` and failed-job registry see what happened."""

from __future__ import annotations

from typing import Any

from workers.context import get_context
from workers.queue import RQJobQueue


def send_batch(message_ids: list[int]) -> dict[str, Any]:
    """Send up to SMS_BATCH_SIZE outbox messages. Raises TransientSendError when some must be
    retried (RQ retries the job with back-off; the sweep is the backstop)."""
    report = get_context().sender.send_batch(message_ids)
    return {
        "sent": report.sent,
        "failed": report.failed,
        "postponed": report.postponed,
        "cancelled": report.cancelled,
        "skipped": report.skipped,
        "calls": report.calls,
    }


def sweep_outbox() -> dict[str, int]:
    """Take back stuck messages, enqueue whatever is due and drop delivery reports no message
    claimed in time (every SWEEP_INTERVAL_SECONDS, and when a web process wrote an SMS)."""
    context = get_context()
    if isinstance(context.queue, RQJobQueue):
        context.queue.sweep_started()  # before the scan: what is written after asks again
    report = context.sweeper.run()
    if isinstance(context.queue, RQJobQueue):
        context.queue.enqueue_voice()  # the call-backs' own sweep (voice_calls rows)
    return {
        "taken_back": report.taken_back,
        "enqueued": report.enqueued,
        "jobs": report.jobs,
        "reports_applied": report.reports_applied,
        "reports_dropped": report.reports_dropped,
    }


def place_voice_calls() -> dict[str, int]:
    """Place the call-backs due (issue 13) and take back calls nobody answered for. Raises
    VoiceError when the provider could not be asked (RQ retries; the next sweep too)."""
    context = get_context()
    if isinstance(context.queue, RQJobQueue):
        context.queue.voice_started()
    report = context.voice.run()
    return {
        "placed": report.placed,
        "refused": report.refused,
        "taken_back": report.taken_back,
    }
