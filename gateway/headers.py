"""Headers every response carries: the browser is told to run only this site's own scripts and
styles (a Content-Security-Policy with no inline code: the pages' few scripts are files in
gateway/static/), never to show our pages inside another site's frame, not to guess content
types, and not to send our addresses (which may hold a phone number) to other sites.

Machines (the webhooks) ignore them; setting them costs a few dictionary writes a request."""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers older than CSP 2
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PEOPLE = ("/staff", "/simulator")
ONE_YEAR = 365 * 24 * 3600


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(PEOPLE):
        # Pages with residents' data: not kept by a shared proxy or the browser's cache.
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:  # served over HTTPS (directly, or a trusted proxy says so)
        response.headers.setdefault("Strict-Transport-Security", f"max-age={ONE_YEAR}")
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
