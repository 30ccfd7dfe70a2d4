"""Reading a webhook's fields, and refusing what no gateway sends.

Every field of every callback is checked before anything is done with it: no NUL or other
control character anywhere (a message body may hold line breaks), no more fields than a
callback has, each field within its length, numbers within their range. A field that fails
answers 400 with one plain line naming the field (``FieldError``, handled by each webhook
blueprint) -- never a 5xx, a traceback, or a 200 that quietly dropped what it could not store.

The callback form is read with the standard library (``parse_qsl``; a repeated field's first
value counts, as with werkzeug's ``form.get``): werkzeug's general parser costs a USSD hop more
(docs/benchmarks.md). Other content types go through werkzeug's parser and the same checks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import parse_qsl

from flask import Response, request

from common.text_checks import has_control_characters

MAX_FORM_FIELDS = 20  # Africa's Talking sends 5 to 8
LINE_BREAKS = "\n\r\t"  # allowed inside a message body, nowhere else


class FieldError(ValueError):
    """A callback field no gateway would send: answered 400 with this one line."""


def refuse(error: FieldError) -> Response:
    return Response(f"{error}\n", status=400, mimetype="text/plain")


def callback_form(
    multiline: Collection[str] = (), max_fields: int = MAX_FORM_FIELDS
) -> dict[str, str]:
    """The callback's fields, first value of each; FieldError for more fields than any
    callback has (``max_fields``), or a control character in any name or value (inside the
    fields named in ``multiline``, line breaks are allowed)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        pairs: Iterable[tuple[str, str]] = request.form.items(multi=True)
        if len(request.form) > max_fields:
            raise FieldError("too many form fields")
    else:
        length = request.content_length
        limit = request.max_content_length
        if length is not None and (limit is None or length <= limit):
            # A plain Content-Length body (as the gateway sends, and as gateway/body_limit.py
            # makes a chunked one): read straight from the server's input, without werkzeug's
            # stream wrapper (a cost on every hop).
            body = request.environ["wsgi.input"].read(length).decode("utf-8", "replace")
        else:
            body = request.get_data(as_text=True)  # too large: werkzeug answers 413
        try:
            pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=max_fields)
        except ValueError:
            raise FieldError("too many form fields") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if has_control_characters(key):
            raise FieldError("a field name holds a control character")
        allow = LINE_BREAKS if key in multiline else ""
        if has_control_characters(value.strip(), allow):
            raise FieldError(f"{_shown(key)} holds a control character")
        form.setdefault(key, value)
    return form


def text(
    form: dict[str, str],
    name: str,
    max_length: int,
    *,
    required: bool = False,
    strip: bool = True,
) -> str:
    """The field's value (stripped unless told), at most ``max_length`` characters; missing
    or blank is an error only when ``required``."""
    value = form.get(name, "")
    if strip:
        value = value.strip()
    if required and not value.strip():
        raise FieldError(f"{name} is missing")
    if len(value) > max_length:
        raise FieldError(f"{name} is too long")
    return value


def integer(form: dict[str, str], name: str, low: int, high: int) -> int | None:
    """The field as a whole number from ``low`` to ``high``; None when absent or blank."""
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not (len(raw) <= 12 and raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise FieldError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _shown(name: str) -> str:
    """A field's name as it may appear in the answer: ours are short and plain."""
    return name if len(name) <= 32 and name.isprintable() else "a field"
