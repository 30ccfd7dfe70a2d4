"""The staff console (SPEC §5): registry staff, village officers and admins, in a browser.

Server-rendered pages, no build step, fast on an old office PC and usable with the keyboard.
Log-in with roles; CSRF on every form (Flask-WTF); every change goes through gateway.actions,
which writes the SMS it owes and an audit entry in the same transaction.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, Flask, Request, abort, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_required
from flask_wtf.csrf import CSRFProtect

from gateway.runtime import runtime
from storage.models import User

bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates")
login_manager = LoginManager()
csrf = CSRFProtect()

F = TypeVar("F", bound=Callable[..., Any])
LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}


class StaffUser(UserMixin):
    """The logged-in user, detached from the database session."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self.village_code = user.village_code
        self.language = user.language

    @property
    def is_officer(self) -> bool:
        return self.role == "village_officer"


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    if not user_id.isdigit():
        return None
    with runtime().db.begin() as db_session:
        user = db_session.get(User, int(user_id))
        return StaffUser(user) if user is not None and user.active else None


def roles(*allowed: str) -> Callable[[F], F]:
    """Only these roles may open the page; others get 403 (not a redirect: they are logged in)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def village_scope() -> str | None:
    """The one village a village officer may see; None for staff and admins (everything)."""
    return current_user.village_code if current_user.is_officer else None


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


class PageSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the pages people use (console, simulator) only.

    Machines post to the webhooks and probes without cookies; opening and signing a session
    there cost a USSD hop ~40 µs of CPU for nothing. Elsewhere the session is Flask's null
    session: readable (empty), and writing to it is an error."""

    BROWSER_PATHS = ("/staff", "/simulator")

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(self.BROWSER_PATHS):
            return self.make_null_session(app)
        return super().open_session(app, request)


def page_request() -> None:
    """Before every request of a page people use (console, simulator): the CSRF check of a
    form or fetch, and the interface language switch (``?lang=en``)."""
    csrf.protect()
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
    # CSRF is checked by the pages' own blueprints (page_request below), not before every
    # request: machines post to the webhooks with a token, and a USSD hop should not pay
    # for a check that would exempt it anyway.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)
    app.jinja_env.globals.update(_=translate, LANGUAGES=LANGUAGES, ui_language=ui_language)

    import gateway.console.auth
    import gateway.console.pages  # noqa: F401  (their routes register on bp)

    app.register_blueprint(bp)
