"""Webhook authentication (docs/product.md): Africa's Talking does not sign callbacks, so we
accept a shared secret (``?token=`` in the callback URL, or an ``X-Webhook-Token`` header)
and/or a source-IP allow-list. With neither configured every caller is accepted — fine for the
embedded demo — and the first webhook request of each process logs a warning about it (not at
import, so operator CLI commands stay quiet)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from functools import lru_cache

from flask import Response, current_app, request

log = logging.getLogger(__name__)
_warned_open = False


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(a, strict=False) for a in allowed)


def _forbidden(reason: str) -> Response:
    return Response(reason + "\n", status=403, mimetype="text/plain")


def require_webhook_auth() -> Response | None:
    global _warned_open
    token = current_app.config["WEBHOOK_TOKEN"]
    if not token and not current_app.config["WEBHOOK_ALLOWED_IPS"] and not _warned_open:
        _warned_open = True
        log.warning(
            "webhooks are open to anyone: set WEBHOOK_TOKEN and/or WEBHOOK_ALLOWED_IPS "
            "(fine for the embedded demo, not for production)"
        )
    if token:
        given = request.args.get("token") or request.headers.get("X-Webhook-Token") or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return _forbidden("webhook token missing or wrong")
    allowed = tuple(current_app.config["WEBHOOK_ALLOWED_IPS"])
    if allowed:
        try:
            source = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return _forbidden("source address not allowed")
        if not any(source in network for network in _networks(allowed)):
            return _forbidden("source address not allowed")
    return None


def check_auth_config(allowed: list[str]) -> None:
    """Raise ValueError at start-up for an allow-list entry that is not an address or network."""
    _networks(tuple(allowed))
