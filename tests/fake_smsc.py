"""A local SMSC for the tests: a small threaded TCP server speaking SMPP 3.4 with smpplib's own
PDU classes. It binds (checking system id and password), answers submit_sm after a delay of
choice with a status of choice, reassembles concatenated (UDH) parts, counts the submits in
flight, sends delivery receipts before or after the submit_sm_resp, delivers residents' SMS,
and can drop the connection or unbind mid-broadcast. Nothing here is product code."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from smpplib import consts, smpp

from workers.smpp.encoding import DATA_CODING_UCS2, gsm_decode

Receipts = Literal["before", "after"] | None


class _Sequence:
    """What smpplib's PDU classes ask of a client: sequence numbers."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = next(self._numbers)
        return self.sequence


@dataclass
class Submitted:
    destination: str
    data_coding: int
    esm_class: int
    short_message: bytes
    message_payload: bytes | None
    status: int
    message_id: str
    at: float


class _Connection:
    def __init__(self, smsc: FakeSmsc, sock: socket.socket) -> None:
        self.smsc = smsc
        self.sock = sock
        self.seq = _Sequence()
        self.send_lock = threading.Lock()
        self.in_flight = 0
        self.bound = False
        self.closed = False
        self._due: list[tuple[float, int, Any]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self.arrived = 0.0

    def send(self, pdu: Any) -> None:
        with self.send_lock:
            if not self.closed:
                with contextlib.suppress(OSError):
                    self.sock.sendall(pdu.generate())

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self._wake:
            self._wake.notify_all()

    def later(self, delay: float, action: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), action))
            self._wake.notify()

    def run_due(self) -> None:
        while not self.closed:
            with self._wake:
                while not self.closed and (not self._due or self._due[0][0] > time.monotonic()):
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(wait)
                if self.closed:
                    return
                _, _, action = heapq.heappop(self._due)
            action()

    def read(self) -> Any | None:
        head = self._exact(4)
        if head is None:
            return None
        self.arrived = time.monotonic()  # before parsing: the PDU's arrival, as an SMSC counts
        (length,) = struct.unpack(">L", head)
        body = self._exact(length - 4)
        if body is None:
            return None
        return smpp.parse_pdu(head + body, client=self.seq, allow_unknown_opt_params=True)

    def _exact(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                part = self.sock.recv(size - len(data))
            except OSError:
                return None
            if not part:
                return None
            data += part
        return data


class FakeSmsc:
    def __init__(
        self,
        system_id: str = "adminduk",
        password: str = "rahasia1",
        *,
        delay: float = 0.0,
        receipts: Receipts = None,
        receipt_stat: str = "DELIVRD",
        receipt_tlvs: bool = True,
        receipt_ids_decimal: bool = False,
        decide: Callable[[int, Submitted], int] | None = None,
    ) -> None:
        self.system_id = system_id
        self.password = password
        self.delay = delay
        self.receipts = receipts
        self.receipt_stat = receipt_stat
        self.receipt_tlvs = receipt_tlvs
        self.receipt_ids_decimal = receipt_ids_decimal  # the text's id:, as some SMSCs do
        self.decide = decide  # (n-th submit from 0, the submit) -> command status
        self.drop_after: int | None = None  # close the connection when this submit arrives
        self.binds: list[tuple[str, bool]] = []  # (system id, accepted)
        self.submits: list[Submitted] = []
        self.deliver_resps: list[int] = []  # statuses of our deliver_sm's answers
        self.max_in_flight = 0
        self.counts = _Counts()  # what stats() answers, kept as submits arrive
        self.lock = threading.Lock()
        self._ids = itertools.count(0x1000)
        self._parts: dict[tuple[str, int], dict[int, bytes]] = defaultdict(dict)
        self.connections: list[_Connection] = []
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(8)
        self.port = int(self._server.getsockname()[1])
        self._stopped = False

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeSmsc:
        threading.Thread(target=self._accept, daemon=True, name="fake-smsc").start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped = True
        self._server.close()
        for connection in list(self.connections):
            connection.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, sock)
            self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()
            threading.Thread(target=connection.run_due, daemon=True).start()

    def _next_id(self) -> str:
        number = next(self._ids)
        if self.receipt_ids_decimal:  # upper-case hexadecimal with letters, as such SMSCs give
            return f"{0xABC000 + number:X}"
        return f"{number:x}"

    # --- what the tests read ---------------------------------------------------------------

    def texts_to(self, destination: str) -> list[str]:
        """The texts a phone got, long ones reassembled from their parts."""
        texts = []
        with self.lock:
            submits = [s for s in self.submits if s.destination == destination]
        for s in submits:
            if s.status != consts.SMPP_ESME_ROK:
                continue
            data = s.message_payload if s.message_payload is not None else s.short_message
            if s.esm_class & 0x40:
                udh_length = data[0] + 1
                ref, total, number = data[3], data[4], data[5]
                parts = self._parts[(destination, ref)]
                parts[number] = data[udh_length:]
                if len(parts) == total:
                    whole = b"".join(parts[i] for i in range(1, total + 1))
                    texts.append(_decode(whole, s.data_coding))
                    del self._parts[(destination, ref)]
            else:
                texts.append(_decode(data, s.data_coding))
        self._parts.clear()
        return texts

    def accepted(self) -> list[Submitted]:
        with self.lock:
            return [s for s in self.submits if s.status == consts.SMPP_ESME_ROK]

    @property
    def bound_connection(self) -> _Connection | None:
        for connection in reversed(self.connections):
            if connection.bound and not connection.closed:
                return connection
        return None

    # --- what the tests do -----------------------------------------------------------------

    def deliver(
        self,
        source: str,
        text: str,
        destination: str = "ADMINDUK",
        *,
        udh: bytes = b"",
        sar: tuple[int, int, int] | None = None,
    ) -> None:
        """A resident's SMS to our bind (GSM text if it fits, else UCS-2), or one segment of a
        long one: by a header in the text (``udh``) or by the SAR TLVs (``sar``: reference,
        total, number)."""
        connection = self.bound_connection
        assert connection is not None, "nobody is bound"
        try:
            data, coding = bytes(_gsm(text)), 0
        except KeyError:
            data, coding = text.encode("utf-16-be"), DATA_CODING_UCS2
        connection.send(
            smpp.make_pdu(
                "deliver_sm",
                client=connection.seq,
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr=source.lstrip("+"),
                dest_addr_ton=5,
                destination_addr=destination,
                esm_class=0x40 if udh else 0,
                data_coding=coding,
                short_message=udh + data,
                **(_sar_fields(*sar) if sar else {}),
            )
        )

    def send_receipt(self, message_id: str, destination: str, stat: str | None = None) -> None:
        connection = self.bound_connection
        assert connection is not None
        self._receipt(connection, message_id, destination, stat or self.receipt_stat)

    def unbind(self) -> None:
        connection = self.bound_connection
        assert connection is not None
        connection.send(smpp.make_pdu("unbind", client=connection.seq))

    def drop(self) -> None:
        connection = self.bound_connection
        if connection is not None:
            connection.close()

    # --- serving ---------------------------------------------------------------------------

    def _serve(self, connection: _Connection) -> None:
        try:
            while not connection.closed:
                pdu = connection.read()
                if pdu is None:
                    break
                self._handle(connection, pdu)
        finally:
            connection.close()

    def _answer(self, connection: _Connection, request: Any, name: str, **fields: Any) -> None:
        resp = smpp.make_pdu(name, client=connection.seq, **fields)
        resp.sequence = request.sequence
        connection.send(resp)

    def _handle(self, connection: _Connection, pdu: Any) -> None:
        command = pdu.command
        if command.startswith("bind_"):
            system_id = (pdu.system_id or b"").decode()
            ok = system_id == self.system_id and (pdu.password or b"").decode() == self.password
            self.binds.append((system_id, ok))
            status = consts.SMPP_ESME_ROK if ok else consts.SMPP_ESME_RINVPASWD
            connection.bound = ok  # before the answer: the client may deliver_sm at once
            self._answer(connection, pdu, command + "_resp", status=status, system_id="FAKESMSC")
        elif command == "submit_sm":
            self._submit(connection, pdu)
        elif command == "enquire_link":
            self._answer(connection, pdu, "enquire_link_resp")
        elif command == "unbind":
            self._answer(connection, pdu, "unbind_resp")
            connection.close()
        elif command == "deliver_sm_resp":
            with self.lock:
                self.deliver_resps.append(int(pdu.status))
        elif command == "unbind_resp":
            connection.close()

    def _submit(self, connection: _Connection, pdu: Any) -> None:
        with self.lock:
            n = len(self.submits)
            connection.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, connection.in_flight)
            submitted = Submitted(
                destination="+" + (pdu.destination_addr or b"").decode(),
                data_coding=int(pdu.data_coding or 0),
                esm_class=int(pdu.esm_class or 0),
                short_message=pdu.short_message or b"",
                message_payload=getattr(pdu, "message_payload", None),
                status=consts.SMPP_ESME_ROK,
                message_id=self._next_id(),
                at=connection.arrived,
            )
            if self.decide is not None:
                submitted.status = self.decide(n, submitted)
            self.submits.append(submitted)
            self.counts.add(submitted)
        if self.drop_after is not None and n + 1 >= self.drop_after:
            self.drop_after = None
            connection.close()  # whatever was in flight never gets its answer
            return

        def respond() -> None:
            ok = submitted.status == consts.SMPP_ESME_ROK
            if ok and self.receipts == "before":
                self._receipt(connection, submitted.message_id, submitted.destination)
            with self.lock:
                connection.in_flight -= 1
            self._answer(
                connection,
                pdu,
                "submit_sm_resp",
                status=submitted.status,
                message_id=submitted.message_id if ok else None,
            )
            if ok and self.receipts == "after":
                self._receipt(connection, submitted.message_id, submitted.destination)

        if self.delay > 0:
            connection.later(self.delay, respond)
        else:
            respond()

    def _receipt(
        self, connection: _Connection, message_id: str, destination: str, stat: str = ""
    ) -> None:
        stat = stat or self.receipt_stat
        text_id = str(int(message_id, 16)) if self.receipt_ids_decimal else message_id
        text = (
            f"id:{text_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:2611291200 done date:2611291201 stat:{stat} err:000 text:"
        )
        extra: dict[str, Any] = {}
        if self.receipt_tlvs:
            states = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "REJECTD": 8}
            extra = {"receipted_message_id": message_id, "message_state": states.get(stat, 7)}
        connection.send(
            smpp.make_pdu(
                "deliver_sm",
                client=connection.seq,
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr=destination.lstrip("+"),
                destination_addr="ADMINDUK",
                esm_class=0x04,  # an SMSC delivery receipt
                data_coding=0,
                short_message=text.encode(),
                **extra,
            )
        )


def _sar_fields(reference: int, total: int, number: int) -> dict[str, int]:
    return {
        "sar_msg_ref_num": reference,
        "sar_total_segments": total,
        "sar_segment_seqnum": number,
    }


def _gsm(text: str) -> list[int]:
    from workers.smpp.encoding import septets

    return [v for s in septets(text) for v in s]


def _decode(data: bytes, coding: int) -> str:
    if coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be")
    return gsm_decode(data)


class _Counts:
    """Counted as each submit arrives, so that a benchmark polling stats() many times a second
    costs the SMSC nothing: going over 100,000 submits on every poll would hold the GIL and
    delay the very answers being measured."""

    def __init__(self) -> None:
        self.calls = 0
        self.accepted = 0
        self.numbers: set[str] = set()
        self.last_second: deque[float] = deque()  # arrival times within the last second
        self.busiest = 0

    def add(self, submitted: Submitted) -> None:
        self.calls += 1
        if submitted.status == consts.SMPP_ESME_ROK:
            self.accepted += 1
            self.numbers.add(submitted.destination)
        # Sliding one-second windows, not calendar seconds: the busiest second wherever it starts.
        self.last_second.append(submitted.at)
        while self.last_second[0] <= submitted.at - 1.0:
            self.last_second.popleft()
        self.busiest = max(self.busiest, len(self.last_second))


def stats(smsc: FakeSmsc) -> dict[str, Any]:
    """What a benchmark reads: submits, those accepted, distinct numbers and duplicates, the
    most submits in flight at once, and the most submits in any one second (by arrival)."""
    with smsc.lock:
        counts = smsc.counts
        return {
            "calls": counts.calls,
            "messages": counts.accepted,
            "numbers": len(counts.numbers),
            "duplicates": counts.accepted - len(counts.numbers),
            "failed_calls": counts.calls - counts.accepted,
            "max_in_flight": smsc.max_in_flight,
            "max_per_second": counts.busiest,
        }


def main() -> None:
    """``python -m tests.fake_smsc --delay 0.02 [--system-id S --password P]``: an SMSC in a
    process of its own (for the broadcast benchmark). Prints ``FAKE_SMSC_PORT=…
    FAKE_SMSC_STATS=http://…`` once listening; ``GET /_fake/stats`` answers ``stats()``,
    ``POST /_fake/control`` ``{"reset": true}`` forgets the submits. Serves until SIGTERM."""
    import argparse
    import json
    import random
    import signal
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--system-id", default="adminduk")
    parser.add_argument("--password", default="rahasia1")
    parser.add_argument(
        "--throttled-share", type=float, default=0.0, help="answer ESME_RTHROTTLED this often"
    )
    args = parser.parse_args()
    chance = random.Random(14)
    share = args.throttled_share
    smsc = FakeSmsc(
        args.system_id,
        args.password,
        delay=args.delay,
        decide=(lambda _n, _s: 0x58 if chance.random() < share else 0) if share else None,
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _reply(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply(stats(smsc))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            orders = json.loads(self.rfile.read(length) or b"{}")
            if orders.get("reset"):
                with smsc.lock:
                    smsc.submits.clear()
                    smsc.counts = _Counts()
                    smsc.max_in_flight = 0
            self._reply({"ok": True})

    # Its own process, many threads (one reading, one answering, the stats server): a thread
    # woken by a PDU gets the GIL within 0.5 ms rather than CPython's 5 ms, so arrivals are
    # timed as they come, not in bunches.
    sys.setswitchinterval(0.0005)
    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with smsc:
        print(
            f"FAKE_SMSC_PORT={smsc.port} FAKE_SMSC_STATS=http://127.0.0.1:{http.server_address[1]}",
            flush=True,
        )
        try:
            http.serve_forever()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            http.server_close()


if __name__ == "__main__":
    main()
