"""Placing the call-backs owed (issue 13): the rows in ``voice_calls`` are the truth; this
places those due, and takes back calls placed long ago that no callback ever answered for.

Run by the RQ job ``place_voice_calls`` (queued when a missed call writes a row, and by every
outbox sweep), or in the web process's thread on the embedded default.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.privacy import mask_phone
from storage import voice_calls
from storage.db import Database
from storage.models import VoiceCall
from workers.providers.voice import VoiceError, VoiceProvider
from workers.quiet_hours import quiet_until
from workers.sender import Clock, utc_clock

log = logging.getLogger(__name__)

TRANSIENT_RETRY = dt.timedelta(minutes=1)  # the provider could not be asked: soon again


@dataclass
class VoiceReport:
    placed: int = 0
    refused: int = 0
    transient: int = 0
    taken_back: int = 0


class VoiceCaller:
    def __init__(
        self,
        db: Database,
        provider: VoiceProvider,
        settings: Mapping[str, Any],
        clock: Clock = utc_clock,
    ) -> None:
        self.db = db
        self.provider = provider
        self.caller_id = str(settings["VOICE_NUMBER"])
        self.retry_after = dt.timedelta(minutes=float(settings["VOICE_RETRY_MINUTES"]))
        self.stuck_after = dt.timedelta(minutes=float(settings["VOICE_STUCK_AFTER_MINUTES"]))
        self.quiet_hours = list(settings["SMS_QUIET_HOURS"])
        self.clock = clock

    def run(self) -> VoiceReport:
        """Place every call due now. Raises VoiceError after the pass if the provider could
        not be asked for some (they are queued again a minute on)."""
        report = VoiceReport()
        now = self.clock()
        with self.db.begin() as session:
            for call in voice_calls.stuck(session, now - self.stuck_after):
                voice_calls.not_answered(session, call, now, self.retry_after, "no callback")
                report.taken_back += 1
        if quiet_until(now, self.quiet_hours) is not None:
            return report  # nobody is rung at night; due rows wait for the morning
        with self.db.begin() as session:
            ids = voice_calls.due(session, now)
        for call_id in ids:
            self._place(call_id, now, report)
        if report.transient:
            raise VoiceError(f"{report.transient} call(s) could not be placed; retried soon")
        return report

    def _place(self, call_id: int, now: dt.datetime, report: VoiceReport) -> None:
        with self.db.begin() as session:
            call = voice_calls.claim(session, call_id, now)
            if call is None:
                return
            phone = call.phone
        try:
            placed = self.provider.call(self.caller_id, phone)
        except VoiceError as error:
            log.warning("voice call to %s not placed: %s", mask_phone(phone), error)
            with self.db.begin() as session:
                row = session.get(VoiceCall, call_id)
                if row is not None and row.status == "calling" and row.answered_at is None:
                    row.status, row.attempts = "queued", max(0, row.attempts - 1)
                    row.due_at, row.last_error = now + TRANSIENT_RETRY, str(error)[:500]
            report.transient += 1
            return
        with self.db.begin() as session:
            if placed.ok:
                voice_calls.placed(session, call_id, placed.session_id)
                report.placed += 1
                return
            row = session.get(VoiceCall, call_id)
            if row is not None and row.status == "calling":
                voice_calls.not_answered(
                    session, row, now, self.retry_after, placed.reason or "refused"
                )
            report.refused += 1
