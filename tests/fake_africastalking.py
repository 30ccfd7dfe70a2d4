"""A local fake of Africa's Talking's SMS API (SPEC §10), for tests and benchmarks.

It speaks what the real SDK (africastalking 2.0.3) sends: ``POST /version1/messaging`` with the
form fields ``username``, ``to`` (comma-joined +E.164), ``message``, ``bulkSMSMode``, optional
``from`` and ``enqueue``, and the header ``apiKey``; it answers 201 with the documented body::

    {"SMSMessageData": {"Message": "Sent to 2/2 Total Cost: IDR 700.0000",
                        "Recipients": [{"statusCode": 101, "number": "+6281200000001",
                                        "cost": "IDR 350.0000", "status": "Success",
                                        "messageId": "ATXid_..."}, ...]}}

In tests (stdlib only)::

    from tests.fake_africastalking import FakeAfricasTalking

    with FakeAfricasTalking(api_key="key") as fake:      # or fake.start() ... fake.stop()
        provider = AfricasTalkingProvider(username="u", api_key="key", base_url=fake.url)
        fake.set_status("+6281200000099", 403)            # per-recipient status code
        fake.fail_next(2, status=503)                     # whole-call failures, then normal
        fake.outage(502) ... fake.recover()               # fail every call until recovered
        fake.delay = 0.05                                 # seconds before each reply
        fake.content_type = "text/plain"                  # the SDK then returns a str
        fake.malformed = True                             # a 201 whose body is not JSON
        fake.requests[0].recipients, fake.sent_to("+62..."), fake.total_messages()

The tests get a started one from the ``fake`` fixture (tests/conftest.py), or ``at_fake``
(tests/workers/conftest.py) for the provider's own tests.

As a separate process (for a benchmark)::

    python tests/fake_africastalking.py --port 8765 --delay 0.05 [--api-key KEY]

prints ``FAKE_AT_URL=http://127.0.0.1:8765`` once listening, and serves until SIGINT/SIGTERM.
It then also answers ``GET /_fake/stats`` (JSON: calls, messages, numbers, duplicates, failed
calls) and ``POST /_fake/control`` (JSON: any of ``delay``, ``content_type``, ``malformed``,
``fail_next`` [n, status], ``outage`` status, ``recover`` true, ``status`` {number: code},
``reset`` true). In-process servers answer them too.

Counting: a recipient is counted by ``sent_to`` when the fake *accepted* it (status 100-102 in
a 201 reply), even if the client gave up waiting (a delay beyond its timeout): that is what the
real service would have delivered, so "exactly once" checks see duplicates caused by retries.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import socket
import socketserver
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

MESSAGING_PATH = "/version1/messaging"
COST_PER_MESSAGE = "350.0000"
CURRENCY = "IDR"

STATUS_NAMES = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
SENT_CODES = frozenset({100, 101, 102})
HTTP_BODIES = {
    400: "Bad Request",
    401: "The supplied authentication is invalid",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
E164 = re.compile(r"^\+\d{1,3}\d{3,}$")  # the SDK's own check


@dataclass(frozen=True)
class Call:
    """One request the fake received, and what it answered."""

    method: str
    path: str
    username: str | None
    api_key: str | None  # the apiKey header
    recipients: list[str]  # ``to`` split on commas
    message: str | None
    sender: str | None  # the ``from`` field
    bulk_sms_mode: str | None
    enqueue: str | None
    content_type: str | None  # of the request
    form: dict[str, str]
    reply_status: int = 0
    replied: list[dict[str, Any]] = field(default_factory=list)  # the Recipients answered


class FakeAfricasTalking:
    """The fake server. Every setter and reader is thread-safe; ``delay``, ``content_type``
    and ``malformed`` are plain attributes, read once per call."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        username: str | None = None,
        delay: float = 0.0,
        content_type: str = "application/json",
        record: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.expected_api_key = api_key  # None: any key is accepted
        self.expected_username = username  # None: any username is accepted
        self.delay = delay
        self.content_type = content_type
        self.malformed = False
        self.reply_body: str | None = None  # when set: this exact 201 body, whatever was sent
        self.record = record  # False: keep counts only (long benchmarks)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clear()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAfricasTalking:
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-at-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, wake delayed replies, wait for every handler thread, close sockets."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeAfricasTalking:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the provider (``base_url``), e.g. http://127.0.0.1:40123."""
        return f"http://{self.host}:{self.port}"

    @property
    def messaging_url(self) -> str:
        return self.url + MESSAGING_PATH

    # -- control ---------------------------------------------------------------------------

    def _clear(self) -> None:
        self._calls: list[Call] = []
        self._call_count = 0
        self._failed_calls = 0
        self._sent: Counter[str] = Counter()
        self._statuses: dict[str, int] = {}
        self._omitted: set[str] = set()
        self._fail_next = 0
        self._fail_status = 500
        self._outage: int | None = None

    def reset(self) -> None:
        """Forget requests, counts and failure settings; back to default replies (message ids
        stay unique across resets)."""
        with self._lock:
            self._clear()
        self.delay, self.content_type, self.malformed = 0.0, "application/json", False
        self.reply_body = None

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` calls with HTTP ``status`` and a text body."""
        with self._lock:
            self._fail_next, self._fail_status = n, status

    def outage(self, status: int = 503) -> None:
        """Answer every call with HTTP ``status`` until ``recover()``."""
        with self._lock:
            self._outage = status

    def recover(self) -> None:
        with self._lock:
            self._outage, self._fail_next = None, 0

    def set_status(self, number: str, code: int) -> None:
        """Give ``number`` this per-recipient statusCode (100-102 sent, 401-407, 500-502)."""
        with self._lock:
            self._statuses[number] = code

    def clear_status(self, number: str) -> None:
        with self._lock:
            self._statuses.pop(number, None)

    def omit(self, number: str) -> None:
        """Leave ``number`` out of the reply's Recipients (it is not sent)."""
        with self._lock:
            self._omitted.add(number)

    # -- what happened -----------------------------------------------------------------------

    @property
    def requests(self) -> list[Call]:
        """Every request received, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    @property
    def call_count(self) -> int:
        with self._lock:
            return self._call_count

    def sent_to(self, number: str) -> int:
        """How many times a message to ``number`` was accepted (see the module docstring)."""
        with self._lock:
            return self._sent[number]

    def sent_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._sent)

    def total_messages(self) -> int:
        """Messages accepted, all numbers together."""
        with self._lock:
            return sum(self._sent.values())

    def duplicates(self) -> dict[str, int]:
        """Numbers accepted more than once, with their counts."""
        with self._lock:
            return {number: n for number, n in self._sent.items() if n > 1}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": self._call_count,
                "failed_calls": self._failed_calls,
                "messages": sum(self._sent.values()),
                "numbers": len(self._sent),
                "duplicates": sum(1 for n in self._sent.values() if n > 1),
            }

    # -- the API ---------------------------------------------------------------------------

    def _answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) for one request; records it."""
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        request_type = headers.get("Content-Type")
        form = {
            k: v[0]
            for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        to = form.get("to")
        recipients = [r.strip() for r in to.split(",")] if to else []
        api_key = headers.get("apiKey")
        with self._lock:
            self._call_count += 1
            if self._outage is not None:
                status: int | None = self._outage
            elif self._fail_next > 0:
                self._fail_next -= 1
                status = self._fail_status
            else:
                status = None
            if status is None and (path.split("?")[0] != MESSAGING_PATH or method != "POST"):
                status = 404
            elif (
                status is None
                and self.expected_api_key is not None
                and (
                    api_key != self.expected_api_key
                    or (
                        self.expected_username is not None
                        and form.get("username") != self.expected_username
                    )
                )
            ):
                status = 401
            elif status is None and not all(form.get(f) for f in ("username", "to", "message")):
                status = 400
            replied: list[dict[str, Any]] = []
            if status is None:
                status = 201
                for number in recipients:
                    if number in self._omitted:
                        continue
                    code = self._statuses.get(number, 101 if E164.match(number) else 403)
                    ok = code in SENT_CODES
                    if ok:
                        self._sent[number] += 1
                    replied.append(
                        {
                            "statusCode": code,
                            "number": number,
                            "cost": f"{CURRENCY} {COST_PER_MESSAGE}" if ok else "0",
                            "status": STATUS_NAMES.get(code, "Unknown"),
                            "messageId": f"ATXid_{next(self._ids):08d}" if ok else "None",
                        }
                    )
            else:
                self._failed_calls += 1
            if self.record:
                self._calls.append(
                    Call(
                        method=method,
                        path=path,
                        username=form.get("username"),
                        api_key=api_key,
                        recipients=recipients,
                        message=form.get("message"),
                        sender=form.get("from"),
                        bulk_sms_mode=form.get("bulkSMSMode"),
                        enqueue=form.get("enqueue"),
                        content_type=request_type,
                        form=form,
                        reply_status=status,
                        replied=replied,
                    )
                )
        if status != 201:
            return status, "text/plain", HTTP_BODIES.get(status, "Error").encode()
        if self.reply_body is not None:
            return 201, self.content_type, self.reply_body.encode()
        if self.malformed:
            return 201, self.content_type, b'{"SMSMessageData": {"Message": "Sent to'
        accepted = sum(1 for r in replied if r["statusCode"] in SENT_CODES)
        cost = accepted * float(COST_PER_MESSAGE)
        reply = {
            "SMSMessageData": {
                "Message": f"Sent to {accepted}/{len(recipients)} "
                f"Total Cost: {CURRENCY} {cost:.4f}",
                "Recipients": replied,
            }
        }
        return 201, self.content_type, json.dumps(reply).encode()

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        if method == "GET" and path == "/_fake/stats":
            return 200, "application/json", json.dumps(self.stats()).encode()
        if method != "POST" or path != "/_fake/control":
            return 404, "text/plain", b"Not Found"
        try:
            orders = json.loads(body or b"{}")
            if orders.get("reset"):
                self.reset()
            if "delay" in orders:
                self.delay = float(orders["delay"])
            if "content_type" in orders:
                self.content_type = str(orders["content_type"])
            if "malformed" in orders:
                self.malformed = bool(orders["malformed"])
            if "fail_next" in orders:
                self.fail_next(*orders["fail_next"])
            if "outage" in orders:
                self.outage(int(orders["outage"]))
            if orders.get("recover"):
                self.recover()
            for number, code in orders.get("status", {}).items():
                self.set_status(number, int(code))
        except (ValueError, TypeError, AttributeError) as error:
            return 400, "text/plain", f"bad control request: {error}".encode()
        return 200, "application/json", json.dumps(self.stats()).encode()


class _Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = False  # server_close() waits for every handler: a clean shutdown
    block_on_close = True
    request_queue_size = 256  # a benchmark opens many connections at once
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        fake: FakeAfricasTalking,
    ) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client gave up (its timeout): expected in tests
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one call per connection, closed after the reply
    timeout = 10  # a client that connects and sends nothing cannot hold shutdown forever

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, content_type, payload = fake._answer(self.command, self.path, self.headers, body)
        delay = fake.delay
        if delay > 0 and not self.path.startswith("/_fake/"):
            fake._stopping.wait(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (ConnectionError, TimeoutError):
            pass  # the client timed out and closed its end

    do_POST = _serve
    do_GET = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and benchmarks read counts, not logs


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (for a refused connection)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A local fake of Africa's Talking's SMS API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--api-key", default=None, help="if set, other keys get 401")
    parser.add_argument("--username", default=None, help="if set (with --api-key), others 401")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument(
        "--no-record", action="store_true", help="keep counts only, not every request (long runs)"
    )
    args = parser.parse_args(argv)
    fake = FakeAfricasTalking(
        args.host,
        args.port,
        api_key=args.api_key,
        username=args.username,
        delay=args.delay,
        content_type=args.content_type,
        record=not args.no_record,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    fake.start()
    print(f"FAKE_AT_URL={fake.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        fake.stop()
        print(json.dumps(fake.stats()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
