"""A local fake of "SMS Gateway for Android" (capcom6) as its Python client (android-sms-gateway
4.3.3) calls it, for tests — and the signed webhooks the phone posts.

REST (Basic auth, JSON), under any base path the client is pointed at:

- ``POST …/messages`` ``{"id", "phoneNumbers", "textMessage": {"text"}, "withDeliveryReport",
  "priority", "isEncrypted"}`` → ``{"id", "state": "Pending", "recipients": [{"phoneNumber",
  "state"}], "isHashed", "isEncrypted"}``; a number set with ``refuse(number)`` answers its
  recipient ``Failed`` with an error; ``fail_next(n, status)``, ``outage(status)`` and
  ``fail_from_call(n)`` make whole calls fail;
- ``GET/POST …/webhooks``, ``DELETE …/webhooks/{id}``.

Webhooks: ``signed(event, payload)`` builds what the phone would post — the envelope
``{"deviceId", "event", "id", "payload", "webhookId"}``, ``X-Signature`` (hex HMAC-SHA256 of the
body followed by ``X-Timestamp``, with ``signing_key``) and ``X-Timestamp`` — for a test client
to post; ``sent_events(message_id)`` the ``sms:sent`` and ``sms:delivered`` of a message it
accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any

DEVICE_ID = "ffffffffceb0b1db0000018e937c815b"


@dataclass
class Accepted:
    id: str
    phone: str
    text: str


@dataclass
class Signed:
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeAndroidGateway:
    username: str = "sms"
    password: str = "telepon-kantor"
    signing_key: str = "kunci-tanda-tangan"
    accepted: list[Accepted] = field(default_factory=list)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0
    _refused: set[str] = field(default_factory=set)
    _fail_next: list[int] = field(default_factory=list)
    _outage: int | None = None
    _fail_from: tuple[int, int] | None = None  # (call number, status)
    _events: itertools.count = field(default_factory=itertools.count)

    # --- the server ---------------------------------------------------------------------------

    def __enter__(self) -> FakeAndroidGateway:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                expected = base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._reply(401, {"message": "unauthorized"})
                    return False
                return True

            def _json(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"null")

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                body = self._json()
                if self.path.split("?")[0].endswith("/messages"):
                    self._reply(*fake._message(body))
                elif self.path.endswith("/webhooks"):
                    hook_id = body.get("id") or uuid.uuid4().hex[:21]
                    hook = {"id": hook_id, "url": body["url"], "event": body["event"]}
                    fake.webhooks[hook_id] = hook
                    self._reply(201, hook)
                else:
                    self._reply(404, {"message": "not found"})

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                if self.path.endswith("/webhooks"):
                    self._reply(200, list(fake.webhooks.values()))
                else:
                    self._reply(404, {"message": "not found"})

            def do_DELETE(self) -> None:
                if not self._authorised():
                    return
                hook_id = self.path.rsplit("/", 1)[-1]
                if fake.webhooks.pop(hook_id, None) is None:
                    self._reply(404, {"message": "not found"})
                else:
                    self._reply(204)

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/3rdparty/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _message(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.calls += 1
        if self._fail_next:
            return self._fail_next.pop(0), {"message": "failure"}
        if self._outage is not None:
            return self._outage, {"message": "outage"}
        if self._fail_from is not None and self.calls >= self._fail_from[0]:
            return self._fail_from[1], {"message": "busy"}
        phones = body.get("phoneNumbers") or []
        text = (body.get("textMessage") or {}).get("text")
        if not phones or not isinstance(text, str):
            return 400, {"message": "phoneNumbers and textMessage are required"}
        message_id = body.get("id") or uuid.uuid4().hex[:21]
        recipients = []
        for phone in phones:
            if phone in self._refused:
                recipients.append({"phoneNumber": phone, "state": "Failed", "error": "refused"})
            else:
                recipients.append({"phoneNumber": phone, "state": "Pending"})
                self.accepted.append(Accepted(message_id, phone, text))
        failed = all(r["state"] == "Failed" for r in recipients)
        return 202, {
            "id": message_id,
            "state": "Failed" if failed else "Pending",
            "recipients": recipients,
            "isHashed": False,
            "isEncrypted": False,
            "states": {},
        }

    # --- what tests set -------------------------------------------------------------------------

    def refuse(self, phone: str) -> None:
        self._refused.add(phone)

    def fail_next(self, count: int, status: int = 500) -> None:
        self._fail_next.extend([status] * count)

    def outage(self, status: int = 503) -> None:
        self._outage = status

    def fail_from_call(self, call: int, status: int = 503) -> None:
        """From the ``call``-th message on (counting from 1), every call fails."""
        self._fail_from = (call, status)

    def recover(self) -> None:
        self._outage = None
        self._fail_from = None

    def sent_to(self, phone: str) -> list[Accepted]:
        return [a for a in self.accepted if a.phone == phone]

    # --- webhooks the phone posts ---------------------------------------------------------------

    def signed(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        timestamp: int | None = None,
        key: str | None = None,
        event_id: str | None = None,
    ) -> Signed:
        envelope = {
            "deviceId": DEVICE_ID,
            "event": event,
            "id": event_id or f"evt{next(self._events):06d}",
            "payload": payload,
            "webhookId": "hook",
        }
        body = json.dumps(envelope).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = hmac.new(
            (key or self.signing_key).encode(), body + stamp.encode(), hashlib.sha256
        ).hexdigest()
        return Signed(
            body,
            {"X-Signature": signature, "X-Timestamp": stamp, "Content-Type": "application/json"},
        )

    def sent_events(self, message: Accepted, *, delivered: bool = True) -> list[Signed]:
        events = [
            self.signed(
                "sms:sent",
                {
                    "messageId": message.id,
                    "phoneNumber": message.phone,
                    "simNumber": 1,
                    "sentAt": "2026-11-29T10:00:00.000+08:00",
                },
            )
        ]
        if delivered:
            events.append(
                self.signed(
                    "sms:delivered",
                    {
                        "messageId": message.id,
                        "phoneNumber": message.phone,
                        "simNumber": 1,
                        "deliveredAt": "2026-11-29T10:00:05.000+08:00",
                    },
                )
            )
        return events

    def received(self, phone: str, text: str, **options: Any) -> Signed:
        return self.signed(
            "sms:received",
            {
                "messageId": hashlib.md5(text.encode()).hexdigest()[:16],  # the app's: by content
                "message": text,
                "phoneNumber": phone,
                "simNumber": 1,
                "receivedAt": "2026-11-29T10:00:00.000+08:00",
            },
            **options,
        )
