"""POST /sms/inbound and POST /sms/delivery — Africa's Talking's SMS callbacks (docs/product.md).
A resident's SMS that comes by SMPP (deliver_sm) or from the office Android phone
(``/sms/android``, android.py) is handled by ``receive_sms`` too.

Inbound: keywords (``JADWAL Tembok``, ``STATUS 12345678``, ``RUMAH``, ``STOP``/``MULAI``,
``BANTUAN``) are shortcuts; anything else is an answer in the resident's SMS conversation — the
same flows as USSD, kept 30 minutes per number — or, with no conversation open, starts one at the
main menu. Replies go out through the outbox. A repeated callback (same message id) is ignored;
a number that keeps texting (loop guard) or has had SMS_REPLIES_PER_HOUR replies this hour (reply
cap) gets no automatic replies, though STOP still works.

Delivery reports update the outbox; they may arrive twice, late, or before the send call that
produced their id has returned (kept, and applied when it does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response
from limits import RateLimitItem
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from common.privacy import mask_phone
from flows import keywords, request_status
from flows.engine import Engine
from gateway.caller import caller_profile
from gateway.phones import to_e164
from gateway.runtime import Runtime, runtime
from gateway.webhooks.auth import require_webhook_auth
from gateway.webhooks.fields import callback_form
from storage import numbers, outbox, queries
from storage.models import InboundMessage, utcnow
from workers.providers import InboundSms

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__)
bp.before_request(require_webhook_auth)

KEPT_TEXT = 480  # of a resident's text, what is kept and read (keywords, menu answers)


def _plain(text: str, status: int = 200) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")


@bp.post("/sms/delivery")
def delivery_report() -> Response:
    rt = runtime()
    try:
        report = rt.sms_provider.parse_delivery_report(callback_form())
    except ValueError as error:  # FieldError included
        return _plain(str(error), 400)
    with rt.db.begin() as session:
        result = outbox.record_delivery_report(
            session,
            provider_id=report.message_id,
            status=report.status,
            failure_reason=report.failure_reason,
            phone=to_e164(report.phone or ""),  # as told, if it is a number at all: not matched on
            now=utcnow(),
        )
    return _plain(result)


@bp.post("/sms/inbound")
def inbound_sms() -> Response:
    rt = runtime()
    try:
        message = rt.sms_provider.parse_inbound(callback_form(multiline=("text",)))
    except ValueError as error:  # FieldError included: nothing is kept, nothing answered
        return _plain(str(error), 400)
    answer = receive_sms(rt, message)
    if answer is None:
        return _plain("from is not a valid phone number", 400)
    return _plain(answer)


def receive_sms(rt: Runtime, message: InboundSms) -> str | None:
    """A resident's SMS from any provider: this webhook (Africa's Talking), an SMPP
    deliver_sm (``flask --app gateway smpp``) or the Android phone's ``sms:received``. None
    if the sender is not a phone number; else what ``handle_inbound`` answers."""
    phone = to_e164(message.sender)
    if phone is None:
        return None
    return handle_inbound(rt, message.message_id, phone, message.text)


def handle_inbound(rt: Runtime, message_id: str, phone: str, raw_text: str) -> str:
    """One text from a resident: keywords, conversation, loop guard and reply cap, replies to
    the outbox. Returns "ok", "duplicate", "looping", "capped" or "empty" (kept, not
    answered). Used by the webhook and the phone simulator."""
    text = "".join(ch for ch in raw_text if ch.isprintable() or ch == "\n")[:KEPT_TEXT]
    # Claim the message id first: of two simultaneous deliveries of one message, one proceeds.
    try:
        with rt.db.begin() as session:
            session.add(InboundMessage(provider_id=message_id, sender=phone, text=text))
    except IntegrityError:
        return "duplicate"
    if not text.strip():
        return "empty"  # an empty SMS asks nothing: kept, and not answered at the office's cost
    try:
        return _answer(rt, message_id, phone, text)
    except Exception:
        # Unclaim, so the provider's retry of this message is answered rather than dropped.
        with rt.db.begin() as session:
            session.execute(delete(InboundMessage).where(InboundMessage.provider_id == message_id))
        raise


def _answer(rt: Runtime, message_id: str, phone: str, text: str) -> str:
    # Loop guard: texts that do not move a conversation forward (unknown words, the same
    # keyword again and again, wrong answers) are counted; past the limit nobody is answered.
    # A real journey by SMS — answers that advance the menus — is never cut off by it.
    guard = rt.sms_loop_guard
    looping = not rt.limiter.test(guard, "sms-in", phone)
    # Reply cap: whatever the texts (``1``, ``0``, ``1``… moves a conversation every time), at
    # most SMS_REPLIES_PER_HOUR paid replies per number. The slot is taken before answering
    # (one atomic hit), so texts arriving together cannot all pass it.
    capped = not looping and not rt.limiter.hit(rt.sms_reply_cap, "sms-replies", phone)
    conversation = SmsConversation(rt, phone)
    if looping or capped:
        # An automated sender (or a loop with one): answer nothing, but honour STOP/MULAI.
        command = keywords.parse(text)
        if command is not None and command.name in ("stop", "start"):
            conversation.set_opt_out(command.name == "stop")
        replies: list[str] = []
    else:
        replies = conversation.handle(text)
        if not conversation.progressed:
            rt.limiter.hit(guard, "sms-in", phone)
    if looping:
        _log_once(rt, guard, "loop", "loop guard: not replying to %s for a while", phone)
    elif capped:
        _log_once(
            rt,
            rt.sms_reply_cap,
            "cap",
            f"reply cap: {rt.sms_reply_cap.amount} replies to %s within the hour; no more for now",
            phone,
        )
    with rt.db.begin() as session:
        for i, reply in enumerate(replies):
            outbox.add(
                session,
                recipient=phone,
                kind="reply",
                body=reply,
                urgent=True,
                dedupe_key=f"inbound:{message_id}:{i}",
            )
    if replies:
        rt.dispatch()
    return "looping" if looping else "capped" if capped else "ok"


def _log_once(rt: Runtime, window: RateLimitItem, what: str, message: str, phone: str) -> None:
    """Log ``message`` (about ``phone``, masked) once per number and ``window``, not once per
    text: a flood of texts must not become a flood of log lines naming the number."""
    once = type(window)(1, window.multiples)
    if rt.limiter.hit(once, "sms-logged", what, phone):
        log.warning(message, mask_phone(phone))


@dataclass
class SmsConversation:
    """One inbound text from one resident: what to do, and what to reply."""

    rt: Runtime
    phone: str
    progressed: bool = False  # did this text move a conversation forward?

    @property
    def engine(self) -> Engine:
        return self.rt.sms_engine

    def handle(self, text: str) -> list[str]:
        command = keywords.parse(text)
        call, cached = self.rt.sms_store.load(self.phone)
        profile = caller_profile(self.rt.db, self.rt.store, self.phone, cached)
        self.language = str(profile.get("lang") or "id")
        self.profile = profile
        state = (call or {}).get("state")
        self.state: dict[str, Any] | None = state
        if command is None:
            if state is not None and not state.get("ended"):
                replies = [self._advance(state, text)]
            else:
                replies = [self._begin()]
        else:
            replies = getattr(self, f"_{command.name}")(command.argument)
        said = " ".join(text.casefold().split())
        if said and said == (call or {}).get("last_in"):
            self.progressed = False  # the same text again: a loop, whatever it asks for
        self.rt.sms_store.save(self.phone, {"state": self.state, "last_in": said}, [])
        return replies

    def t(self, key: str, **values: Any) -> str:
        return self.rt.resident_sms.catalog(self.language).text(key, **values)

    # Conversations over the shared flows

    def _begin(self, journey: str | None = None) -> str:
        """A new conversation: at the main menu, or straight in a journey named there."""
        services = self.rt.services(self.phone, self.profile, channel="sms")
        if journey is None:
            turn = self.engine.begin(services, self.language, None)
        else:
            turn = self.engine.begin_journey(services, self.language, journey)
        self.state = turn.state
        return turn.text

    def _advance(self, state: dict[str, Any], text: str) -> str:
        services = self.rt.services(self.phone, self.profile, channel="sms")
        before = (state.get("screen"), state.get("page"))
        turn = self.engine.advance(services, state, text)
        self.progressed = turn.end or (turn.state["screen"], turn.state["page"]) != before
        self.state = turn.state
        return turn.text

    def _menu(self, _argument: str) -> list[str]:
        return [self._begin()]

    def _home_visit(self, _argument: str) -> list[str]:
        self.progressed = True
        return [self._begin(keywords.JOURNEYS["home_visit"])]

    # Keywords answered at once

    def _help(self, _argument: str) -> list[str]:
        """BANTUAN: the office's address, hours and telephone, and "ask staff to call me" --
        the contact journey of the menus, so a numbered reply asks for the call."""
        return [self._begin(keywords.JOURNEYS["help"])]

    def _stop(self, _argument: str) -> list[str]:
        self.progressed = True
        self.set_opt_out(True)
        return [self.t("sms.stopped")]

    def _start(self, _argument: str) -> list[str]:
        self.progressed = True
        self.set_opt_out(False)
        return [self.t("sms.started")]

    def set_opt_out(self, opted_out: bool) -> None:
        with self.rt.db.begin() as session:
            resident = queries.upsert_resident(session, self.phone)
            resident.opted_out = opted_out

    def _schedule(self, argument: str) -> list[str]:
        regions = self.rt.regions
        if argument:
            matches = keywords.match_village(argument, [(v.code, v.name) for v in regions.villages])
            if not matches:
                return [self.t("sms.schedule_unknown_village", text=argument[:30])]
            if len(matches) > 1:
                # the menu's digit for the journey that picks a district, wherever it is
                choice = self.engine.flow.journey_option(keywords.JOURNEYS["schedule"]).key
                return [
                    self.t(
                        "sms.schedule_ambiguous",
                        count=str(len(matches)),
                        name=matches[0][1],
                        choice=choice,
                    )
                ]
            village = matches[0][0]
            self.progressed = True
        else:
            village = self.profile.get("village") or ""
            if village not in regions.by_code:
                return [self._begin(keywords.JOURNEYS["schedule"])]  # its picker asks for one
        services = self.rt.services(self.phone, self.profile, channel="sms")
        services.remember_village(village)
        visit = services.next_visit(village)
        if visit is None:
            services.subscribe_visit_published(village, self.language)
            return [self.t("sms.schedule_none", village_name=regions.name(village))]
        return [self.rt.resident_sms.visit_text("sms.visit_published", self.language, visit)]

    def _status(self, argument: str) -> list[str]:
        number = argument.replace(" ", "")
        code = self.rt.config["USSD_SERVICE_CODE"]
        if not numbers.is_well_formed(number):
            return [self.t("sms.status_bad_number")]
        self.progressed = True  # repeated failures are stopped by the look-up guard
        services = self.rt.services(self.phone, self.profile, channel="sms")
        if services.lookups_blocked():
            return [self.t("status.blocked")]
        found = services.find_request(number)
        if found is not None and found.owned_by_caller:
            sms = self.rt.resident_sms
            return [request_status.reply_sms(sms.catalog(self.language), found, office=sms.office)]
        # Not this phone's (by SMS no birth year is asked): a failure either way. A phone's
        # first miss is told as it is; after it, an unknown number gets the same answer as
        # another phone's, so a phone trying numbers learns nothing of which exist.
        missed_before = services.has_failed_lookups()
        services.record_failed_lookup()
        if found is None and not missed_before:
            return [self.t("sms.status_not_found", number=number)]
        return [self.t("sms.status_other_phone", code=code)]
