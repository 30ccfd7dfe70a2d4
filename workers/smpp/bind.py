"""The bind: one transceiver connection to the SMSC, held by one process.

Two threads per connection. The submitter (the caller of ``run``) takes requests from the
workers (``handoff.py``), splits each recipient's text into submit_sm PDUs (``encoding.py``)
and submits them with at most SMPP_WINDOW without their submit_sm_resp and at most
SMPP_RATE_PER_SECOND. The reader reads every PDU the SMSC sends: submit_sm_resp (mapped by
``status.py``; the answer to a request goes back when all its recipients have one),
deliver_sm (a receipt or a resident's SMS, handed to the callbacks; always answered with
deliver_sm_resp), enquire_link, unbind; and it sends enquire_link when the line is idle.

When the connection drops (or the SMSC unbinds), what was in flight without a submit_sm_resp
is answered "transient": the worker puts those messages back in the outbox queue, so at most a
window's worth may reach a phone twice; what was not submitted yet waits for the rebind (with
back-off) until its request's deadline. Nothing is recorded here: the outbox is the workers'.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import redis
from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

from workers.providers import DeliveryReport, InboundSms, Outcome, SendResult
from workers.smpp import handoff
from workers.smpp.encoding import Split, Submit, encode
from workers.smpp.pace import SubmitPace
from workers.smpp.receipts import Part, is_receipt, parse_inbound, parse_receipt
from workers.smpp.status import describe, meaning

log = logging.getLogger(__name__)

REPORT_SECONDS = 60.0  # how often the bind logs what it submitted and what it waited for
ESME_RX_T_APPN = 0x64  # deliver_sm_resp: "try again later" (our database is down)
MAX_PAUSE = 2.0  # seconds, the longest pause after ESME_RTHROTTLED / ESME_RMSGQFUL
MIN_PAUSE = 0.05


@dataclass(frozen=True)
class SmppSettings:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = ""
    source_ton: int = 5
    source_npi: int = 0
    window: int = 10
    rate: float = 0.0  # submit_sm per second; 0: no limit
    enquire_link_seconds: float = 30.0
    split: Split = "udh"
    gsm_packed: bool = False
    submit_timeout: float = 60.0
    rebind_min: float = 1.0
    rebind_max: float = 60.0
    receipt_ids_decimal: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SmppSettings:
        split = str(settings["SMPP_SPLIT"])
        if split not in ("udh", "payload"):
            raise ValueError(f"SMPP_SPLIT must be udh or payload, not {split!r}")
        return cls(
            host=str(settings["SMPP_HOST"]),
            port=int(settings["SMPP_PORT"]),
            system_id=str(settings["SMPP_SYSTEM_ID"]),
            password=str(settings["SMPP_PASSWORD"]),
            system_type=str(settings["SMPP_SYSTEM_TYPE"]),
            source_addr=str(settings["SMPP_SOURCE_ADDR"]),
            source_ton=int(settings["SMPP_SOURCE_TON"]),
            source_npi=int(settings["SMPP_SOURCE_NPI"]),
            window=max(1, int(settings["SMPP_WINDOW"])),
            rate=float(settings["SMPP_RATE_PER_SECOND"]),
            enquire_link_seconds=float(settings["SMPP_ENQUIRE_LINK_SECONDS"]),
            split="payload" if split == "payload" else "udh",
            gsm_packed=bool(settings["SMPP_GSM_PACKED"]),
            submit_timeout=float(settings["SMPP_SUBMIT_TIMEOUT_SECONDS"]),
            rebind_min=float(settings["SMPP_REBIND_MIN_SECONDS"]),
            rebind_max=float(settings["SMPP_REBIND_MAX_SECONDS"]),
            receipt_ids_decimal=bool(settings["SMPP_RECEIPT_IDS_DECIMAL"]),
        )


class BindRefused(Exception):
    """The SMSC answered the bind with an error (a wrong password, an unknown system id)."""


@dataclass(eq=False)
class _Job:
    """One request of a worker: its answer goes back when every recipient has a result."""

    request: handoff.Request
    results: list[SendResult | None]
    left: int


@dataclass(eq=False)
class _Message:
    """One recipient of a request, and the submit_sm of each of its segments."""

    job: _Job
    index: int
    recipient: str
    submits: list[Submit]
    ids: dict[int, str] = field(default_factory=dict)
    finished: bool = False


@dataclass(eq=False)
class _Part:
    message: _Message
    number: int  # 0-based segment
    submitted_at: float = 0.0  # time.monotonic() of its last submit_sm


ReceiptHandler = Callable[[DeliveryReport], str]
InboundHandler = Callable[[InboundSms], str]


class SmppBind:
    def __init__(
        self,
        settings: SmppSettings,
        redis_client: redis.Redis,
        on_receipt: ReceiptHandler,
        on_inbound: InboundHandler,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.on_receipt = on_receipt
        self.on_inbound = on_inbound
        self.client: smpp_client.Client | None = None
        self._lock = threading.Lock()  # jobs, in flight, the retry heap
        self._send_lock = threading.Lock()  # one PDU on the wire at a time
        self._alive = False
        self._dropped = ""
        self._in_flight: dict[int, _Part] = {}
        self._window = threading.Semaphore(settings.window)
        self._ready: deque[_Part] = deque()
        self._retry: list[tuple[float, int, _Part]] = []
        self._order = itertools.count()
        self._reference = itertools.count()
        self._pace = SubmitPace(settings.rate)
        self._pause = MIN_PAUSE
        self._pause_until = 0.0
        self._pause_from = 0.0  # when the current pause began
        self._last_rx = self._last_tx = 0.0
        # The ids of a long message's later segments, and the id the outbox knows it by.
        self._aliases: OrderedDict[str, str] = OrderedDict()
        self._redis_failing_since: float | None = None
        self._partials: dict[tuple[str, int, int], _Partial] = {}  # the reader thread's own
        self.binds = 0
        self.max_in_flight = 0
        self.waits = Waits()
        self.bound = threading.Event()

    # --- the connection ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Bind, serve, and rebind with back-off until ``stop`` is set."""
        delay = self.settings.rebind_min
        while not stop.is_set():
            try:
                self._open()
                delay = self.settings.rebind_min
                self._serve(stop)
            except BindRefused as error:
                log.error("SMPP bind refused: %s", error)
            except (exceptions.ConnectionError, exceptions.PDUError, OSError) as error:
                log.warning("SMPP connection lost: %s", error or self._dropped or "closed")
            finally:
                self._close()
            if not stop.is_set():
                stop.wait(delay)
                delay = min(delay * 2, self.settings.rebind_max)
        self._give_back_everything("the SMPP bind process stopped")

    def _open(self) -> None:
        s = self.settings
        client = smpp_client.Client(
            s.host,
            s.port,
            timeout=10,
            logger_name="smpplib.client",  # one logger, not a new one per connection
            allow_unknown_opt_params=True,
        )
        self.client = client
        client.connect()
        # Small PDUs back to back: Nagle's algorithm would hold each behind the last one's ACK.
        client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.bind_transceiver(
                system_id=s.system_id, password=s.password, system_type=s.system_type
            )
        except exceptions.PDUError as error:
            raise BindRefused(str(error.args[0] if error.args else error)) from error
        self._window = threading.Semaphore(s.window)
        self._last_rx = self._last_tx = time.monotonic()
        self._alive = True
        self._dropped = ""
        self.binds += 1
        self.bound.set()
        log.info("SMPP bound to %s:%s as %s", s.host, s.port, s.system_id)
        threading.Thread(target=self._read, args=(client,), name="smpp-reader", daemon=True).start()

    def _publish_bound(self, bound: bool) -> None:
        try:
            handoff.publish_bound(self.redis, bound)
        except redis.RedisError as error:  # the bind stays up; routing sees it as down
            self._redis_down(error)

    def _close(self) -> None:
        if self.bound.is_set():
            self._publish_bound(False)
        self.bound.clear()
        self._drop("closed")
        client, self.client = self.client, None
        if client is not None and client._socket is not None:
            client._socket.close()
            client._socket = None
            client.state = consts.SMPP_CLIENT_STATE_CLOSED

    def _drop(self, reason: str) -> None:
        """The connection is gone: what had no submit_sm_resp goes back to the outbox."""
        with self._lock:
            if self._alive:
                self._dropped = reason
            self._alive = False
            lost = list(self._in_flight.values())
            self._in_flight.clear()
        for part in lost:
            self._finish(
                part.message,
                SendResult(part.message.recipient, "transient", reason=f"SMPP: {reason}"),
            )

    # --- submitting -------------------------------------------------------------------------

    def _serve(self, stop: threading.Event) -> None:
        published = 0.0
        while not stop.is_set():
            if not self._alive:
                raise exceptions.ConnectionError(self._dropped)
            if time.monotonic() - published >= handoff.BOUND_EVERY_SECONDS:
                published = time.monotonic()
                self._publish_bound(True)
            part = self._next_part()
            if part is not None and not self._submit(part, stop):
                self._ready.appendleft(part)
            self.waits.report_every(REPORT_SECONDS)
        self._unbind()

    def _next_part(self) -> _Part | None:
        now = time.monotonic()
        with self._lock:
            if self._retry and self._retry[0][0] <= now:
                return heapq.heappop(self._retry)[2]
            wait = min(0.2, self._retry[0][0] - now) if self._retry else 0.2
        if self._ready:
            return self._ready.popleft()
        started = time.monotonic()
        try:
            request = handoff.take(self.redis, max(0.01, wait))
        except redis.RedisError as error:  # the bind stays up; the workers wait or time out
            self._redis_down(error)
            return None
        finally:
            self.waits.for_work += time.monotonic() - started
        self._redis_failing_since = None
        if request is None:
            return None
        job = _Job(request, [None] * len(request.recipients), len(request.recipients))
        for index, recipient in enumerate(request.recipients):
            submits = encode(
                request.text,
                split=self.settings.split,
                packed=self.settings.gsm_packed,
                reference=next(self._reference) % 256,
            )
            message = _Message(job, index, recipient, submits)
            self._ready.extend(_Part(message, n) for n in range(len(submits)))
        return self._ready.popleft()

    def _redis_down(self, error: redis.RedisError) -> None:
        now = time.monotonic()
        if self._redis_failing_since is None:
            self._redis_failing_since = now
            log.warning("SMPP: Redis unavailable (%s); keeping the bind", type(error).__name__)
        time.sleep(0.5)

    def _submit(self, part: _Part, stop: threading.Event) -> bool:
        """Submit one segment; False if the connection went while waiting for the window."""
        message = part.message
        if message.finished:
            return True
        if time.time() > message.job.request.deadline:
            reason = "SMPP: not submitted before the worker's deadline"
            self._finish(message, SendResult(message.recipient, "transient", reason=reason))
            return True
        started = time.monotonic()
        while not self._window.acquire(timeout=0.2):
            if not self._alive or stop.is_set():  # stopping: the part goes back, then unbind
                self.waits.for_window += time.monotonic() - started
                return False
        self.waits.for_window += time.monotonic() - started
        self.waits.for_rate += self._pace.wait(not_before=self._pause_until)
        client = self.client
        if not self._alive or client is None:
            self._window.release()
            return False
        s = self.settings
        with self._send_lock:
            pdu = smpp.make_pdu(
                "submit_sm",
                client=client,
                service_type="",
                source_addr_ton=s.source_ton,
                source_addr_npi=s.source_npi,
                source_addr=s.source_addr,
                dest_addr_ton=consts.SMPP_TON_INTL,
                dest_addr_npi=consts.SMPP_NPI_ISDN,
                destination_addr=message.recipient.lstrip("+"),
                registered_delivery=consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH,
                **message.submits[part.number].as_kwargs(),
            )
            part.submitted_at = time.monotonic()
            with self._lock:
                self._in_flight[pdu.sequence] = part
                self.max_in_flight = max(self.max_in_flight, len(self._in_flight))
            try:
                client.send_pdu(pdu)
            except exceptions.ConnectionError:
                self._drop("connection lost while submitting")
            self._pace.sent()
            self._last_tx = time.monotonic()
        self.waits.submitted += 1
        return True

    def _unbind(self) -> None:
        """Stopping: let what is in flight get its answers (a few seconds), then unbind."""
        deadline = time.monotonic() + 5
        while self._in_flight and self._alive and time.monotonic() < deadline:
            time.sleep(0.02)
        client = self.client
        if client is not None and self._alive:
            try:
                with self._send_lock:
                    client.send_pdu(smpp.make_pdu("unbind", client=client))
                time.sleep(0.1)  # the reader takes the unbind_resp
            except exceptions.ConnectionError:
                pass

    def _finish(self, message: _Message, result: SendResult) -> None:
        with self._lock:
            if message.finished:
                return
            message.finished = True
            job = message.job
            job.results[message.index] = result
            job.left -= 1
            done = job.left == 0
        if done:
            results = [asdict(r) for r in job.results if r is not None]
            try:
                handoff.answer(self.redis, job.request.key, results)
            except redis.RedisError as error:  # the worker times out and the outbox retries
                log.warning("SMPP: could not answer a worker: %s", error)

    def _give_back_everything(self, reason: str) -> None:
        with self._lock:
            parts = list(self._ready) + [p for _, _, p in self._retry]
            self._ready.clear()
            self._retry.clear()
        for part in parts:
            self._finish(
                part.message, SendResult(part.message.recipient, "transient", reason=reason)
            )

    # --- reading ----------------------------------------------------------------------------

    def _read(self, client: smpp_client.Client) -> None:
        reason = "closed"
        keepalive = self.settings.enquire_link_seconds
        try:
            while self._alive:
                sock = client._socket
                if sock is None:
                    break
                readable, _, _ = select.select([sock], [], [], min(0.5, keepalive))
                now = time.monotonic()
                if not readable:
                    if now - self._last_rx > 2 * keepalive + 1:
                        raise exceptions.ConnectionError("no answer to enquire_link")
                    if now - max(self._last_rx, self._last_tx) >= keepalive:
                        self._send(client, smpp.make_pdu("enquire_link", client=client))
                    continue
                pdu = client.read_pdu()
                self._last_rx = time.monotonic()
                self._handle(client, pdu)
        except (exceptions.ConnectionError, exceptions.PDUError, OSError, ValueError) as error:
            reason = str(error) or type(error).__name__
        self._drop(reason)

    def _send(self, client: smpp_client.Client, pdu: Any) -> None:
        with self._send_lock:
            client.send_pdu(pdu)
            self._last_tx = time.monotonic()

    def _handle(self, client: smpp_client.Client, pdu: Any) -> None:
        command = pdu.command
        if command in ("submit_sm_resp", "generic_nack"):
            self._submitted(pdu)
        elif command == "deliver_sm":
            status = self._delivered(pdu)
            resp = smpp.make_pdu("deliver_sm_resp", client=client, status=status)
            resp.sequence = pdu.sequence
            self._send(client, resp)
        elif command == "enquire_link":
            resp = smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            self._send(client, resp)
        elif command == "unbind":
            resp = smpp.make_pdu("unbind_resp", client=client)
            resp.sequence = pdu.sequence
            self._send(client, resp)
            raise exceptions.ConnectionError("the SMSC unbound")
        elif command == "unbind_resp":
            raise exceptions.ConnectionError("unbound")

    def _submitted(self, pdu: Any) -> None:
        with self._lock:
            part = self._in_flight.pop(pdu.sequence, None)
        if part is None:
            return  # an answer after the connection was given up on
        self._window.release()
        message, status = part.message, int(pdu.status)
        what = meaning(status) if pdu.command == "submit_sm_resp" else "retry"
        if what == "sent":
            if part.submitted_at >= self._pause_from:  # accepted after the pause: it was enough
                self._pause = MIN_PAUSE
            message_id = _text(pdu.message_id)
            if self.settings.receipt_ids_decimal:  # hexadecimal: recorded as receipts name it
                message_id = message_id.lower()
            self._sent(part, message_id)
        elif what == "slow_down":
            now = time.monotonic()
            with self._lock:
                # Only a submit that went after the last pause began says the pause was too
                # short; the others were already in flight when the SMSC first complained.
                if part.submitted_at >= self._pause_from:
                    self._pause_from = now
                    self._pause_until = now + self._pause
                    self._pause = min(self._pause * 2, MAX_PAUSE)
                retry_at = max(self._pause_until, now + MIN_PAUSE)
                heapq.heappush(self._retry, (retry_at, next(self._order), part))
        else:
            outcome: Outcome = "transient" if what == "retry" else "permanent"
            self._finish(message, SendResult(message.recipient, outcome, reason=describe(status)))

    def _sent(self, part: _Part, message_id: str) -> None:
        message = part.message
        with self._lock:
            message.ids[part.number] = message_id
            complete = len(message.ids) == len(message.submits)
            first = message.ids.get(0)
            if first is not None:  # as soon as known: a part's receipt may follow at once
                for number, other in message.ids.items():
                    if number:
                        self._aliases[other] = first
                while len(self._aliases) > 100_000:
                    self._aliases.popitem(last=False)
        if complete:
            self._finish(message, SendResult(message.recipient, "sent", message.ids[0]))

    def _reassemble(self, message: InboundSms, part: Part) -> InboundSms | None:
        """A resident's long SMS comes in segments: kept until the last one is here."""
        now = time.monotonic()
        for key in [k for k, v in self._partials.items() if now - v.started > PARTS_KEPT_SECONDS]:
            del self._partials[key]
        key = (message.sender, part.reference, part.total)
        partial = self._partials.setdefault(key, _Partial())
        partial.texts[part.number] = message.text
        if len(partial.texts) < part.total:
            return None
        del self._partials[key]
        text = "".join(partial.texts[n] for n in range(1, part.total + 1))
        return replace(message, text=text)

    def _delivered(self, pdu: Any) -> int:
        """A receipt or a resident's SMS; the deliver_sm_resp status to answer with."""
        try:
            if is_receipt(pdu):
                report = parse_receipt(pdu, decimal_ids=self.settings.receipt_ids_decimal)
                with self._lock:
                    known_as = self._aliases.get(report.message_id)
                if known_as is not None:  # a later segment of a long message
                    report = DeliveryReport(
                        known_as, report.status, report.phone, report.failure_reason
                    )
                self.on_receipt(report)
            else:
                message, part = parse_inbound(pdu)
                whole = message if part is None else self._reassemble(message, part)
                if whole is not None:
                    self.on_inbound(whole)
        except ValueError as error:
            log.warning("SMPP: unreadable deliver_sm: %s", error)
            return consts.SMPP_ESME_ROK  # it will not read better a second time
        except Exception:
            log.exception("SMPP: deliver_sm not handled; the SMSC will retry it")
            return ESME_RX_T_APPN
        return consts.SMPP_ESME_ROK


@dataclass
class Waits:
    """What the submitter waited for, logged now and then: an operator reading "waited for the
    SMSC's answers" knows the SMSC (or the line) is the limit, "for the workers" that it is
    the outbox's side, "for the rate" that SMPP_RATE_PER_SECOND is."""

    submitted: int = 0
    for_work: float = 0.0
    for_window: float = 0.0
    for_rate: float = 0.0
    since: float = field(default_factory=time.monotonic)

    def report_every(self, seconds: float) -> None:
        now = time.monotonic()
        span = now - self.since
        if span < seconds:
            return
        if self.submitted:
            log.info(
                "SMPP: %d submit_sm in %.0f s (%.0f/s); waited for the workers %.0f %%, for"
                " the SMSC's answers (window full) %.0f %%, for the rate %.0f %% of the time",
                self.submitted,
                span,
                self.submitted / span,
                100 * self.for_work / span,
                100 * self.for_window / span,
                100 * self.for_rate / span,
            )
        self.submitted, self.for_work, self.for_window, self.for_rate = 0, 0.0, 0.0, 0.0
        self.since = now


PARTS_KEPT_SECONDS = 600  # a long SMS whose other segments never come is forgotten


class _Partial:
    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.started = time.monotonic()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\0")
    return str(value or "")
