"""Placing a call (issue 13): Africa's Talking's voice API through its own SDK, or the console.

``VoiceService`` (africastalking 2.0.3) POSTs ``username``, ``from``, ``to`` to
``{voice host}/call`` and answers ``entries`` with each number's ``status`` (``Queued``) and
``sessionId``. The SDK fixes its host (``https://voice.africastalking.com``) in ``_baseUrl``;
``AT_VOICE_BASE_URL`` replaces it after construction (``_point_at``), as ``AT_BASE_URL`` does
for SMS: the one place we touch a private attribute.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from africastalking.Service import AfricasTalkingException
from africastalking.Voice import VoiceService

from common.privacy import mask_phone

log = logging.getLogger(__name__)


class VoiceError(Exception):
    """The provider could not be asked (network, a non-2xx reply): try again later."""


@dataclass(frozen=True)
class PlacedCall:
    ok: bool  # the provider queued the call
    session_id: str | None = None
    reason: str | None = None  # why not


class VoiceProvider(Protocol):
    name: str

    def call(self, caller_id: str, phone: str) -> PlacedCall: ...


class ConsoleVoice:
    """The embedded default: logs the call; the phone simulator plays it."""

    name = "console"

    def call(self, caller_id: str, phone: str) -> PlacedCall:
        session_id = f"console-{uuid.uuid4().hex[:16]}"
        log.info("voice call to %s (console provider, session %s)", mask_phone(phone), session_id)
        return PlacedCall(ok=True, session_id=session_id)


class AfricasTalkingVoice:
    name = "africastalking"

    def __init__(
        self,
        *,
        username: str,
        api_key: str,
        base_url: str | None = None,
        timeout: tuple[float, float] = (3.05, 9.05),
    ) -> None:
        if not username or not api_key:
            raise ValueError("Africa's Talking voice needs AT_USERNAME and AT_API_KEY")
        self.service = VoiceService(username, api_key)
        if base_url:
            _point_at(self.service, base_url)
        self.timeout = timeout

    def call(self, caller_id: str, phone: str) -> PlacedCall:
        try:
            reply = self.service.call(callFrom=caller_id, callTo=[phone], timeout=self.timeout)
        except ValueError as error:  # the SDK's own check of the number
            return PlacedCall(ok=False, reason=str(error)[:200])
        except AfricasTalkingException as error:
            raise VoiceError(f"provider refused the request: {str(error)[:200]}") from error
        except requests.RequestException as error:
            raise VoiceError(f"provider unreachable: {type(error).__name__}") from error
        return _placed(reply, phone)


def _point_at(service: VoiceService, base_url: str) -> None:
    """Call ``base_url`` (e.g. http://127.0.0.1:8766) instead of voice.africastalking.com."""
    service._baseUrl = base_url.rstrip("/")


def _placed(reply: Any, phone: str) -> PlacedCall:
    if isinstance(reply, str):  # the SDK parses JSON only for exactly application/json
        try:
            reply = json.loads(reply)
        except ValueError as error:
            raise VoiceError(f"unreadable provider reply: {reply[:100]!r}") from error
    entries = reply.get("entries") if isinstance(reply, Mapping) else None
    if not isinstance(entries, list):
        raise VoiceError(f"unexpected provider reply: {str(reply)[:200]}")
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("phoneNumber") in (phone, None):
            status = str(entry.get("status", ""))
            if status == "Queued":
                return PlacedCall(ok=True, session_id=str(entry.get("sessionId") or "") or None)
            return PlacedCall(ok=False, reason=status[:100] or "not queued")
    message = reply.get("errorMessage") if isinstance(reply, Mapping) else None
    return PlacedCall(ok=False, reason=str(message or "missing from provider reply")[:200])


def make_voice_provider(settings: Mapping[str, Any]) -> VoiceProvider:
    name = settings["VOICE_PROVIDER"]
    if name == "console":
        return ConsoleVoice()
    if name == "africastalking":
        return AfricasTalkingVoice(
            username=settings["AT_USERNAME"],
            api_key=settings["AT_API_KEY"],
            base_url=settings["AT_VOICE_BASE_URL"] or None,
        )
    raise ValueError(f"unknown VOICE_PROVIDER {name!r} (console | africastalking)")
