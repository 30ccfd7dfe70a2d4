"""The staff console (docs/product.md): registry staff, village officers and admins, in a browser.

Server-rendered pages, no build step, fast on an old office PC and usable with the keyboard.
One module per area, each with its routes and the forms they read: dashboard, visits,
broadcasts, requests, bookings, outbox, residents, users, audit; auth.py logs people in and
says who may open what; shared.py holds what every area uses. Every change goes through
gateway.staff_actions, which writes the SMS it owes and an audit entry in the same transaction.

Texts are written in English in the templates and the code, and shown in the user's
interface language: ``translate`` (``_`` in templates) looks them up in ui_<language>.toml.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Request, Response, abort, render_template, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.routing import IntegerConverter

# Named "staff" after its URLs (/staff/...): templates and redirects say url_for("staff.…").
bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates")
login_manager = LoginManager()
csrf = CSRFProtect()

LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}


@functools.cache
def _ui_texts(language: str) -> dict[str, str]:
    path = Path(str(resources.files("gateway.console") / f"ui_{language}.toml"))
    if not path.exists():
        return {}
    with path.open("rb") as f:
        return {str(k): str(v) for k, v in tomllib.load(f).items()}


def ui_language() -> str:
    chosen = session.get("ui_lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if current_user and getattr(current_user, "is_authenticated", False):
        return str(current_user.language if current_user.language in LANGUAGES else "id")
    return "id"


def translate(text: str, **values: Any) -> str:
    """Interface text: written in English in the templates, shown in Indonesian by default."""
    translated = _ui_texts(ui_language()).get(text, text) if ui_language() != "en" else text
    return translated.format(**values) if values else translated


class LazyText:
    """An interface text translated when it is shown. Form classes are built at import, before
    any request has a language, so their validators' messages are these."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return translate(self.text)

    def __mod__(self, values: Any) -> str:
        # Some validators (Length, AnyOf, EqualTo) fill in %(min)d-style fields this way.
        return str(self) % values


def lazy_translate(text: str) -> LazyText:
    return LazyText(text)


class PageSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the pages people use (console, simulator) only.

    Machines post to the webhooks and probes without cookies; opening and signing a session
    there would cost every USSD hop CPU for nothing. Elsewhere the session is Flask's null
    session: readable (empty), and writing to it is an error."""

    BROWSER_PATHS = ("/staff", "/simulator")

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(self.BROWSER_PATHS):
            return self.make_null_session(app)
        return super().open_session(app, request)


# What people type into a filter or a form, and the words in a page's address: no control
# characters (a NUL is refused by PostgreSQL; the others are nobody's typing, and a browser
# reads some as the end of an address), and a length no search needs.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # a textarea's lines and tabs
MAX_PARAMETER = 1000  # characters of one query parameter
MAX_PATH_WORD = 100  # characters of a name or number in a page's address


class RowId(IntegerConverter):
    """A row id in a URL (``<id:visit_id>``): an integer a database column holds; a bigger one
    is no page (404), not a database error."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)


def check_input() -> None:
    """Refuse, with a 400 page, what no person types: control characters in the address or a
    form, and query parameters longer than any filter. A name or number in the page's address
    that cannot exist is a 404."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and (len(value) > MAX_PATH_WORD or CONTROL.search(value)):
            abort(404)
    for key, value in request.args.items(multi=True):
        if key == "next":  # not refused: an odd one sends the log-in to the dashboard
            continue
        if len(key) > 40 or len(value) > MAX_PARAMETER or CONTROL.search(key + value):
            abort(400, description=BAD_INPUT)
    for key, value in request.form.items(multi=True):
        if CONTROL_BUT_LINES.search(key + value):
            abort(400, description=BAD_INPUT)


BAD_INPUT = "The address or the form holds characters the console does not accept."


def _error_titles() -> dict[int, LazyText]:
    return {
        400: lazy_translate("Bad request"),
        403: lazy_translate("Not allowed"),
        404: lazy_translate("Page not found"),
        405: lazy_translate("Not allowed here"),
        413: lazy_translate("Too large"),
        429: lazy_translate("Too many tries"),
        503: lazy_translate("Temporarily unavailable"),
    }


def _error_explanations() -> dict[int, LazyText]:
    """One sentence each: what happened and what to do, for the person at the screen."""
    return {
        400: lazy_translate("The console could not read what was sent. Go back and try again."),
        403: lazy_translate("Your log-in may not open this page. Ask an admin if you need it."),
        404: lazy_translate("There is no such page, or what it showed has been removed."),
        405: lazy_translate("This page cannot be used that way. Go back and try again."),
        413: lazy_translate("What was sent is too large for the console."),
        429: lazy_translate("Too many tries in a short time. Wait a few minutes, then try again."),
        503: lazy_translate(
            "The database or the queue did not answer. Nothing was changed; "
            "wait a minute and try again."
        ),
    }


# Forms shown again, with what was typed, when their token expired (an open page left too
# long, or a restarted server): the area's view registers a function that renders its form
# from the posted values. Other forms get a page that sends the same values again.
EXPIRED_FORMS: dict[str, Callable[[], str]] = {}
NOT_AGAIN = ("staff.login", "staff.logout", None)  # logging in or out: just the error page
NOT_REPLAYED = ("csrf_token", "password", "current", "new", "again")  # passwords: never echoed


def _replayed_labels() -> dict[str, LazyText]:
    return {
        "numbers": lazy_translate("Number"),
        "status": lazy_translate("New status"),
        "pickup": lazy_translate("Collect at (when ready)"),
        "date": lazy_translate("Date"),
        "time": lazy_translate("Time (WITA)"),
        "team": lazy_translate("Team"),
        "text": lazy_translate("Message"),
        "language": lazy_translate("Language"),
    }


def on_expired_form(endpoint: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def register(show: Callable[[], str]) -> Callable[[], str]:
        EXPIRED_FORMS[endpoint] = show
        return show

    return register


def expired_form_page(error: CSRFError) -> Response | None:
    """A posted form whose token expired: the form again with what was typed, and a note to
    press again. None when there is nothing to show again (a log-in, a file upload)."""
    if (
        request.method != "POST"
        or request.files
        or request.endpoint in ("staff.login", "staff.logout", None)
    ):
        return None
    flash_note = translate(
        "The page was open too long and its form expired. Nothing was saved: "
        "check what you typed and press the button again."
    )
    show = EXPIRED_FORMS.get(request.endpoint)
    if show is not None:
        from flask import flash

        flash(flash_note, "error")
        return Response(show(), status=400, mimetype="text/html")
    values = [
        (key, value)
        for key, value in request.form.items(multi=True)
        if key not in NOT_REPLAYED and "password" not in key
    ]
    labels = _replayed_labels()
    shown = [
        (str(labels[key]) if key in labels else key, translate(value) if key == "status" else value)
        for key, value in values
        if key != "step"
    ]
    page = render_template(
        "console/expired.html", note=flash_note, values=values, shown=shown, action=request.path
    )
    return Response(page, status=400, mimetype="text/html")


def for_people(path: str) -> bool:
    return path.startswith(PageSessions.BROWSER_PATHS)


def error_page(error: HTTPException) -> Response:
    """A refused request of a page people use: the console's layout with one line saying why
    (JSON for the pages' own fetches)."""
    code = error.code or 500
    explained = _error_explanations().get(code)
    description = str(explained) if explained else ""
    if error.description == BAD_INPUT:
        description = translate(
            "The address or the form holds characters the console does not accept."
        )
    if isinstance(error, CSRFError):
        description = translate(
            "The page was open too long and its form expired. Nothing was saved: "
            "open the page again and repeat what you did."
        )
    if request.is_json or request.path.endswith(".json") or request.path.startswith("/simulator/"):
        # "error" for programs (English, as before); "message" for the person at the page.
        said = _ui_texts(ui_language()).get(str(error.description or ""), "")
        if said and ui_language() != "en":
            description = said
        elif ui_language() == "en" and error.description in _ui_texts("id"):
            description = str(error.description)
        return Response(
            json.dumps({"error": error.description or error.name, "message": description}),
            status=code,
            mimetype="application/json",
        )
    try:
        if isinstance(error, CSRFError):
            again = expired_form_page(error)
            if again is not None:
                return again
        page = render_template(
            "console/error.html",
            code=code,
            title=str(_error_titles().get(code, error.name)),
            description=description,
            back=_way_back(),
        )
    except Exception:  # the database behind the page's log-in is down: one plain line
        page = f"{error.name}\n"
    return Response(page, status=code, mimetype="text/html" if "<" in page else "text/plain")


def unavailable_page() -> Response:
    """A page people use failed on the database or the queue: the layout and a sentence in
    their language when it can be drawn, one plain line otherwise."""
    return error_page(ServiceUnavailable())


def _way_back() -> str | None:
    """The page the reader came from, if it is one of ours (shown as "Back")."""
    from gateway.console.shared import local_target

    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc != request.host:
        return None
    target = local_target(parts.path + (f"?{parts.query}" if parts.query else ""))
    return target if target and target != request.full_path.rstrip("?") else None


def page_request() -> None:
    """Before every request of a page people use (console, simulator): the CSRF check of a
    form or fetch, input no person types refused, and the interface language switch
    (``?lang=en``)."""
    csrf.protect()
    check_input()
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["ui_lang"] = lang


bp.before_request(page_request)


def init_app(app: Flask) -> None:
    app.session_interface = PageSessions()
    # Flask's defaults hold these keys already (None/False), so set them unless configured.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if not app.config.get("SESSION_COOKIE_SECURE"):
        # The embedded default is a demo on http://localhost; production is behind HTTPS.
        app.config["SESSION_COOKIE_SECURE"] = not app.config["EMBEDDED"]
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    login_manager.init_app(app)
    login_manager.login_view = "staff.login"
    login_manager.login_message = ""
    # CSRF is checked by the pages' own blueprints (page_request above), not before every
    # request: machines post to the webhooks with a token, and a USSD hop should not pay
    # for a check that would exempt it anyway.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)
    app.jinja_env.globals.update(_=translate, LANGUAGES=LANGUAGES, ui_language=ui_language)
    app.url_map.converters["id"] = RowId

    from gateway.console import (  # noqa: F401  (importing an area registers its routes on bp)
        audit,
        auth,
        bookings,
        broadcasts,
        callbacks,
        dashboard,
        formatting,
        outbox,
        prompts,
        requests,
        residents,
        users,
        visits,
    )
    from gateway.console.throttle import LoginThrottle
    from gateway.runtime import runtime

    formatting.init_app(app)
    app.extensions["login_throttle"] = LoginThrottle(app.config, runtime(app).redis)
    app.register_blueprint(bp)
