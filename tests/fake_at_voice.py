"""A local fake of Africa's Talking's voice API (SPEC §10), for the voice tests.

It speaks what the real SDK (africastalking 2.0.3, ``VoiceService.call``) sends:
``POST /call`` with the form fields ``username``, ``from``, ``to`` (comma-joined +E.164) and
the header ``apiKey``, and answers as the service does::

    {"entries": [{"phoneNumber": "+62812...", "status": "Queued",
                  "sessionId": "ATVId_..."}], "errorMessage": "None"}

In tests (stdlib only)::

    with FakeAtVoice(api_key="key") as fake:       # AT_VOICE_BASE_URL = fake.url
        fake.set_status("+62812...", "InvalidPhoneNumber")   # that number is not queued
        fake.outage(503) ... fake.recover()                   # every call refused
        fake.calls[-1].to, fake.calls[-1].session_id, fake.calls_to("+62...")

The fake places nothing: a test plays Africa's Talking's side of the call itself (posting the
callbacks to /voice, tests/voice/helpers.py) with the ``sessionId`` the fake handed out.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class PlacedCall:
    username: str
    api_key: str
    caller_id: str  # ``from``
    to: str
    status: str
    session_id: str | None


class FakeAtVoice:
    def __init__(self, api_key: str = "test-key", username: str = "adminduk") -> None:
        self.api_key = api_key
        self.username = username
        self.calls: list[PlacedCall] = []
        self._status: dict[str, str] = {}
        self._outage: int | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAtVoice:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAtVoice:
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()

    def set_status(self, number: str, status: str) -> None:
        with self._lock:
            self._status[number] = status

    def outage(self, http_status: int = 503) -> None:
        self._outage = http_status

    def recover(self) -> None:
        self._outage = None

    def calls_to(self, number: str) -> list[PlacedCall]:
        with self._lock:
            return [c for c in self.calls if c.to == number]

    def _answer(self, api_key: str, form: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        if self._outage is not None:
            return self._outage, "Service Unavailable"
        if api_key != self.api_key or form.get("username") != self.username:
            return 401, "The supplied authentication is invalid"
        if not form.get("from") or not form.get("to"):
            return 400, "Bad Request"
        entries = []
        for number in form["to"].split(","):
            with self._lock:
                status = self._status.get(number, "Queued")
                session_id = f"ATVId_{secrets.token_hex(8)}" if status == "Queued" else None
                self.calls.append(
                    PlacedCall(form["username"], api_key, form["from"], number, status, session_id)
                )
            entries.append({"phoneNumber": number, "status": status, "sessionId": session_id})
        return 200, {"entries": entries, "errorMessage": "None"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                if self.path.split("?")[0] != "/call":
                    status, body = 404, "Not Found"
                else:
                    status, body = fake._answer(self.headers.get("apiKey") or "", form)
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                ctype = "application/json" if isinstance(body, dict) else "text/plain"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
