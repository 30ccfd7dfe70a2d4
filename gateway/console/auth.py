"""Who is logged in and what they may open. Passwords hashed with argon2; failed log-ins
throttled per user name and address, per address, and per user name (throttle.py, shared
through Redis in production)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from sqlalchemy import select
from wtforms import PasswordField, StringField

from gateway.console import bp, login_manager, translate
from gateway.console.shared import ConsoleForm, local_target
from gateway.console.throttle import LoginThrottle
from gateway.runtime import runtime
from storage.models import User

ALL = ("admin", "staff", "village_officer")
OFFICE = ("admin", "staff")

hasher = PasswordHasher()
F = TypeVar("F", bound=Callable[..., Any])


class StaffUser(UserMixin):
    """The logged-in user, detached from the database session."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self.village_code = user.village_code
        self.language = user.language
        self.session_version = user.session_version

    def get_id(self) -> str:
        """What the session cookie names: the user and their session version ("7:2"). A
        cookie made before the version was raised names an old one and is refused."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_officer(self) -> bool:
        return self.role == "village_officer"


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    user_part, _, version = user_id.partition(":")
    if not (user_part.isdigit() and version.isdigit()) or len(user_id) > 40:
        return None
    with runtime().db.begin() as db_session:
        user = db_session.get(User, int(user_part))
        if user is None or not user.active or user.session_version != int(version):
            return None
        return StaffUser(user)


def end_sessions(user: User) -> None:
    """Every console session of ``user`` ends at its next page (in the caller's transaction):
    after a log-out, a new password, or the log-in switched off."""
    user.session_version = (user.session_version or 0) + 1


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


@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: every process that builds the app would pay for it."""
    return hasher.hash("no user has this password")


def hash_password(password: str) -> str:
    return hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class LoginForm(ConsoleForm):
    """No rules of its own: a wrong name and a wrong password get the same answer."""

    username = StringField(default="", filters=[lambda name: (name or "").strip()[:60]])
    password = PasswordField(default="")


def _check(username: str, password: str) -> StaffUser | None:
    with runtime().db.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        # An unknown name costs the same hash check, so timing does not tell names.
        valid = check_password(user.password_hash if user else _dummy_hash(), password)
        return StaffUser(user) if valid and user is not None and user.active else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("staff.dashboard"))  # type: ignore[return-value]
    error = None
    status = 200
    form = LoginForm()
    if form.is_submitted():
        username, password = form.username.data, form.password.data
        throttle: LoginThrottle = current_app.extensions["login_throttle"]
        # Counted before the check, atomically: concurrent tries cannot pass a limit.
        ticket = throttle.reserve(username, request.remote_addr or "-")
        if ticket is None:
            error = translate(
                "Too many failed log-ins. Wait {minutes} minutes.", minutes=throttle.minutes
            )
            status = 429
        else:
            staff_user = _check(username, password)
            if staff_user is not None:
                throttle.succeeded(ticket)
                login_user(staff_user)
                target = local_target(request.args.get("next"))
                return redirect(target or url_for("staff.dashboard"))  # type: ignore[return-value]
            error, status = translate("Wrong user name or password."), 401
    return Response(render_template("console/login.html", error=error), status=status)


@bp.post("/logout")
def logout() -> Response:
    """Log out here and everywhere else: a copy of this session's cookie (or the one on
    another PC) is refused from now on."""
    if current_user.is_authenticated:
        with runtime().db.begin() as db_session:
            user = db_session.get(User, current_user.id)
            if user is not None:
                end_sessions(user)
    logout_user()
    return redirect(url_for("staff.login"))  # type: ignore[return-value]
