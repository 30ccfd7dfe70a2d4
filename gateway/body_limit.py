"""Request bodies sent in chunks are held to MAX_CONTENT_LENGTH like any other.

A body with a ``Content-Length`` over the limit is refused by werkzeug (413) before it is read.
A chunked body has no length: gunicorn de-chunks it and marks the stream as ending by itself
(``wsgi.input_terminated``), and werkzeug then reads it only *up to* the limit -- what was past
it was silently cut off and the first 64 KiB processed as if they were the whole request.

This WSGI wrapper, around the whole app, reads such a body up to the limit itself: one byte
more and the request is answered 413 with one plain line (and the connection closed, as the
rest of the body was not read); otherwise the body is handed on as an ordinary one with its
``Content-Length``, so every reader after it (the webhooks' fast form reader, werkzeug's
parser) sees a normal request. Bodies are small here (64 KiB), so holding one in memory is
nothing.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from flask import Flask

READ_SIZE = 16 * 1024
NO_BODY = ("GET", "HEAD", "OPTIONS", "DELETE")


def init_app(app: Flask) -> None:
    inner = app.wsgi_app

    def limited(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if (
            limit is not None
            and not environ.get("CONTENT_LENGTH")
            and environ.get("wsgi.input_terminated")
            and environ.get("REQUEST_METHOD") not in NO_BODY
        ):
            body = _read_up_to(environ["wsgi.input"], int(limit))
            if body is None:
                message = f"request body too large (at most {limit} bytes)\n".encode()
                start_response(
                    "413 Request Entity Too Large",
                    [
                        ("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", str(len(message))),
                        ("Connection", "close"),
                    ],
                )
                return [message]
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return inner(environ, start_response)

    app.wsgi_app = limited  # type: ignore[method-assign]


def _read_up_to(stream: Any, limit: int) -> bytes | None:
    """The whole body if it is at most ``limit`` bytes, else None (having read limit + 1)."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(READ_SIZE, limit + 1 - size))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
    return None
