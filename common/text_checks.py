"""Checks on text that came from outside (a webhook field, a form, a query parameter): does it
hold a NUL or another control character? Shared by the webhooks and the console, so both refuse
the same bytes the same way (a 400 with one line), before anything reaches the database --
PostgreSQL refuses NUL in text, and control characters have no business in an id, a status or
a name.
"""

from __future__ import annotations

import unicodedata


def has_control_characters(text: str, allow: str = "") -> bool:
    """Whether ``text`` holds a control character (Unicode category Cc: NUL and the rest of
    C0, DEL, C1) other than those in ``allow`` (e.g. ``"\\n\\r\\t"`` for a message body).
    Format characters (zero-width joiners in emoji, direction marks) are not controls."""
    if text.isprintable():  # the common case, in C: nothing but printable characters
        return False
    return any(ch not in allow and unicodedata.category(ch) == "Cc" for ch in text)
