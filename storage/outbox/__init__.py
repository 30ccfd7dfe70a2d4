"""The outbox: every SMS the product owes, and the moves of its state machine.

queued → sending → sent → delivered | failed, or cancelled while still queued.

Each function takes a Session and never commits. By purpose:
- ``owed``: messages written (``add``, ``add_many``; a dedupe key makes writing the same promise
  twice harmless), withdrawn while queued (``cancel_queued``), queued again (``retry_failed``);
- ``sending``: the sweep and the sender's moves, which keep "never lost, never sent twice" true;
- ``reports``: the provider's delivery reports (and dropping those no message ever claimed).
"""

from __future__ import annotations

from storage.outbox.owed import (
    add,
    add_many,
    cancel_queued,
    counts_by_provider,
    counts_by_status,
    retry_failed,
)
from storage.outbox.reports import (
    FINAL_FAILURE_REPORTS,
    INTERIM_REPORTS,
    apply_matched_reports,
    apply_pending_reports,
    drop_unmatched_reports,
    record_delivery_report,
    unmatched_reports,
)
from storage.outbox.sending import (
    OPT_OUT_KINDS,
    Claimed,
    claim,
    due_for_dispatch,
    mark_cancelled,
    mark_enqueued,
    mark_failed,
    mark_sent,
    mark_sent_many,
    opted_out,
    postpone,
    requeue,
    take_back_stuck,
)

__all__ = [
    "FINAL_FAILURE_REPORTS",
    "INTERIM_REPORTS",
    "OPT_OUT_KINDS",
    "Claimed",
    "add",
    "add_many",
    "apply_matched_reports",
    "apply_pending_reports",
    "cancel_queued",
    "claim",
    "counts_by_provider",
    "counts_by_status",
    "drop_unmatched_reports",
    "due_for_dispatch",
    "mark_cancelled",
    "mark_enqueued",
    "mark_failed",
    "mark_sent",
    "mark_sent_many",
    "opted_out",
    "postpone",
    "record_delivery_report",
    "requeue",
    "retry_failed",
    "take_back_stuck",
    "unmatched_reports",
]
