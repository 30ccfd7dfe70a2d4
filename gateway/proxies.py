"""Who is really calling: the caller's address and scheme, taken from ``X-Forwarded-For`` and
``X-Forwarded-Proto`` only when the request came from a proxy we were told to believe.

``TRUSTED_PROXIES`` lists the proxies' networks (``["127.0.0.1/32", "10.0.0.0/8"]``), and the
word ``"unix"`` for a peer on a unix socket — the production shape, where nginx talks to
gunicorn's socket and gunicorn reports no address at all. A request from anyone else keeps
its own address, and its forwarding headers are removed before the app sees them: someone who
reaches the app's port directly cannot pretend to be an allowed webhook source or a fresh
address for the log-in throttle.

The ``X-Forwarded-For`` list is read from the right (the hop nearest to us) while each hop is
itself a trusted proxy; the first hop that is not is the caller.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
UNIX = "unix"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_FORWARDED",
)


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()
    unix: bool = False  # a peer on a unix socket (no address) is a trusted proxy

    def __bool__(self) -> bool:
        return bool(self.networks) or self.unix

    def trusts(self, address: str) -> bool:
        if address in ("", UNIX) or address.startswith("unix:"):
            return self.unix
        parsed = _address(address)
        return parsed is not None and any(parsed in network for network in self.networks)


def parse_trusted_proxies(setting: Any) -> TrustedProxies:
    """The setting, or ValueError with one line saying what to write instead."""
    if isinstance(setting, bool) or not isinstance(setting, int | list | tuple):
        raise ValueError(
            f"TRUSTED_PROXIES must be a list of proxy networks, e.g. "
            f'["unix", "127.0.0.1/32"]; got {setting!r}'
        )
    if isinstance(setting, int):
        if setting == 0:  # the old default: nobody is believed, as before
            return TrustedProxies()
        raise ValueError(
            f"TRUSTED_PROXIES = {setting} (a count of proxies) is no longer accepted: list the "
            'proxies\' addresses instead, e.g. TRUSTED_PROXIES = ["unix"] for nginx on '
            "gunicorn's unix socket (README, Deployment)"
        )
    networks, unix = [], False
    for entry in setting:
        if str(entry).strip().lower() == UNIX:
            unix = True
            continue
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f'TRUSTED_PROXIES: {entry!r} is not an address, a network or "unix"'
            ) from None
    return TrustedProxies(tuple(networks), unix)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:443
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def caller(peer: str, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str:
    """The caller's address: walk from ``peer`` leftwards through ``forwarded_for`` while the
    hop in hand is a trusted proxy. An entry that is not an address stops the walk: the caller
    is then unknown (""), which no allow-list matches."""
    hop = peer
    for entry in reversed(list(forwarded_for)):
        if not trusted.trusts(hop):
            break
        parsed = _address(entry)
        if parsed is None:
            return ""
        hop = str(parsed)
    return hop


class ProxyHeaders:
    """WSGI middleware: REMOTE_ADDR and wsgi.url_scheme from the forwarding headers of a
    trusted proxy; the headers removed from everyone else's requests."""

    def __init__(self, app: Any, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted
        self.warned = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = str(environ.get("REMOTE_ADDR") or "")
        if self.trusted.trusts(peer):
            entries = [
                part for part in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
            ]
            environ["REMOTE_ADDR"] = caller(peer, entries, self.trusted)
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        else:
            if not peer and "HTTP_X_FORWARDED_FOR" in environ and not self.warned:
                self.warned = True
                log.warning(
                    "a request came through a unix socket with X-Forwarded-For, but "
                    'TRUSTED_PROXIES does not list "unix": every caller looks the same to the '
                    "log-in throttle and the webhook address list (README, Deployment)"
                )
            for name in FORWARDING_HEADERS:
                environ.pop(name, None)
        return self.app(environ, start_response)
