"""Log-ins (admins): creating one, switching one off or on, setting a new password for
someone who forgot theirs; and everyone's own password."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import staff_actions
from gateway.console import bp, translate
from gateway.console.auth import ALL, check_password, hash_password, roles
from gateway.console.shared import actor, done, failed
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import STAFF_ROLES, User

MIN_PASSWORD = 10


@bp.route("/users", methods=["GET", "POST"])
@roles("admin")
def users() -> str | Response:
    rt = runtime()
    if request.method == "POST":
        form = request.form
        try:
            role = form.get("role", "")
            if role not in STAFF_ROLES:
                raise ActionError(translate("Choose a role."))
            username = form.get("username", "").strip()
            password = form.get("password", "")
            if not username or len(password) < MIN_PASSWORD:
                raise ActionError(
                    translate("A user name, and a password of 10 characters or more.")
                )
            village = (
                rt.regions.find_village(form.get("village", "")).code
                if role == "village_officer"
                else None
            )
            with rt.db.begin() as session:
                if session.scalar(select(User.id).where(User.username == username)):
                    raise ActionError(translate("That user name is taken."))
                session.add(
                    User(
                        username=username,
                        password_hash=hash_password(password),
                        role=role,
                        village_code=village,
                        language="id",
                        active=True,
                    )
                )
                staff_actions.audit(
                    session,
                    actor(),
                    "user.create",
                    "user",
                    username,
                    after={"role": role, "village_code": village},
                )
        except ValueError as error:
            return failed(error, "staff.users")
        return done(translate("User created."), "staff.users")
    with rt.db.begin() as session:
        rows = session.scalars(select(User).order_by(User.username)).all()
    return render_template("console/users.html", users=rows, rt=rt, roles=STAFF_ROLES)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        abort(404)
    return user


@bp.post("/users/<username>/active")
@roles("admin")
def user_active(username: str) -> Response:
    """Switch a log-in off (someone left) or on again. Their open sessions end at their next
    page: a user who is not active is not loaded."""
    active = request.form.get("active") == "1"
    try:
        if username == actor() and not active:
            raise ActionError(translate("You cannot switch off your own log-in."))
        with runtime().db.begin() as session:
            user = _user(session, username)
            before, user.active = user.active, active
            staff_actions.audit(
                session,
                actor(),
                "user.active",
                "user",
                username,
                before={"active": before},
                after={"active": active},
            )
    except ValueError as error:
        return failed(error, "staff.users")
    return done(translate("User {username} updated.", username=username), "staff.users")


@bp.post("/users/<username>/password")
@roles("admin")
def user_password(username: str) -> Response:
    """An admin sets a new password for someone who forgot theirs (told to them in person)."""
    password = request.form.get("password", "")
    try:
        if len(password) < MIN_PASSWORD:
            raise ActionError(translate("A password of 10 characters or more."))
        with runtime().db.begin() as session:
            _user(session, username).password_hash = hash_password(password)
            staff_actions.audit(session, actor(), "user.password", "user", username)
    except ValueError as error:
        return failed(error, "staff.users")
    return done(translate("User {username} updated.", username=username), "staff.users")


@bp.route("/password", methods=["GET", "POST"])
@roles(*ALL)
def own_password() -> str | Response:
    """Anyone logged in changes their own password, after typing the current one."""
    if request.method == "GET":
        return render_template("console/password.html")
    form = request.form
    try:
        new = form.get("new", "")
        if len(new) < MIN_PASSWORD:
            raise ActionError(translate("A password of 10 characters or more."))
        if new != form.get("again", ""):
            raise ActionError(translate("The two new passwords differ."))
        with runtime().db.begin() as session:
            user = _user(session, actor())
            if not check_password(user.password_hash, form.get("current", "")):
                raise ActionError(translate("The current password is wrong."))
            user.password_hash = hash_password(new)
            staff_actions.audit(session, actor(), "user.password", "user", user.username)
    except ValueError as error:
        return failed(error, "staff.own_password")
    return done(translate("Password changed."), "staff.dashboard")
