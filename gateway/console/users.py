"""Log-ins (admins): creating one, switching one off or on, setting a new password for
someone who forgot theirs; and everyone's own password."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, render_template
from flask_login import login_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import BooleanField, Field, PasswordField, StringField
from wtforms.validators import AnyOf, DataRequired, EqualTo, Regexp, ValidationError

from gateway import staff_actions
from gateway.console import LazyText, bp, lazy_translate, translate
from gateway.console.auth import (
    ALL,
    StaffUser,
    check_password,
    end_sessions,
    hash_password,
    roles,
)
from gateway.console.formatting import say
from gateway.console.shared import ConsoleForm, actor, done, failed, strip
from gateway.passwords import TOO_SHORT, password_problem
from gateway.runtime import runtime
from gateway.staff_actions import ActionError
from storage.models import STAFF_ROLES, User

NAME_AND_PASSWORD = lazy_translate("A user name, and a password of 12 characters or more.")
USER_NAME = lazy_translate("A user name: letters, digits and . _ - only, at most 60 characters.")
LONG_ENOUGH = lazy_translate("A password of 12 characters or more.")
TOO_COMMON = lazy_translate("That password is one that guessers try first: choose another.")


class GoodPassword:
    """The password rule (gateway/passwords.py), with the console's words. ``username``: the
    form's field or attribute holding the user name, or None for the logged-in user's own."""

    def __init__(self, too_short: LazyText, username: str | None = None) -> None:
        self.too_short = too_short
        self.username = username

    def __call__(self, form: Any, field: Field) -> None:
        name = getattr(form, self.username) if self.username else actor()
        name = name.data if isinstance(name, Field) else name
        problem = password_problem(field.data or "", name or "")
        if problem == TOO_SHORT:
            raise ValidationError(str(self.too_short))
        if problem:
            raise ValidationError(str(TOO_COMMON))


class NewUserForm(ConsoleForm):
    """A log-in: its role, name, first password, and a village officer's village."""

    role = StringField(
        default="staff",  # the common case; an admin is made on purpose
        validators=[AnyOf(STAFF_ROLES, message=lazy_translate("Choose a role."))],
    )
    username = StringField(
        filters=[strip],
        validators=[
            DataRequired(NAME_AND_PASSWORD),
            Regexp(r"[\w.-]{1,60}\Z", message=USER_NAME),
        ],
    )
    password = PasswordField(validators=[GoodPassword(NAME_AND_PASSWORD, "username")])
    village = StringField(default="")  # a name or a code

    village_code: str | None = None  # once validated; None but for village officers

    def validate_village(self, field: Field) -> None:
        if self.role.data == "village_officer":
            if not field.data.strip():
                raise ValidationError(translate("Choose a village."))
            try:
                self.village_code = runtime().regions.find_village(field.data).code
            except ValueError as error:
                raise ValidationError(say(error)) from None


@bp.route("/users", methods=["GET", "POST"])
@roles("admin")
def users() -> str | Response:
    rt = runtime()
    form = NewUserForm()
    if form.is_submitted():
        try:
            form.check()
            username = form.username.data
            with rt.db.begin() as session:
                if session.scalar(select(User.id).where(User.username == username)):
                    raise ActionError(translate("That user name is taken."))
                session.add(
                    User(
                        username=username,
                        password_hash=hash_password(form.password.data),
                        role=form.role.data,
                        village_code=form.village_code,
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
                    after={"role": form.role.data, "village_code": form.village_code},
                )
        except ActionError as error:
            # The form again with what was typed (but the password), and why it was refused.
            flash(say(error), "error")
            return _users_page(form)
        return done(translate("User created."), "staff.users")
    return _users_page(form)


def _users_page(form: NewUserForm) -> str:
    rt = runtime()
    with rt.db.begin() as session:
        rows = session.scalars(select(User).order_by(User.username)).all()
    return render_template("console/users.html", users=rows, rt=rt, roles=STAFF_ROLES, form=form)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        abort(404)
    return user


class ActiveForm(ConsoleForm):
    active = BooleanField(false_values=("", "0"))


@bp.post("/users/<username>/active")
@roles("admin")
def user_active(username: str) -> Response:
    """Switch a log-in off (someone left) or on again. Switched off, their open sessions end at
    their next page, and stay ended if the log-in is switched on again."""
    active = bool(ActiveForm().active.data)
    try:
        if username == actor() and not active:
            raise ActionError(translate("You cannot switch off your own log-in."))
        with runtime().db.begin() as session:
            user = _user(session, username)
            before, user.active = user.active, active
            if not active:
                end_sessions(user)
            staff_actions.audit(
                session,
                actor(),
                "user.active",
                "user",
                username,
                before={"active": before},
                after={"active": active},
            )
    except ActionError as error:
        return failed(error, "staff.users")
    return done(translate("User {username} updated.", username=username), "staff.users")


class NewPasswordForm(ConsoleForm):
    """An admin's reset: the rule is checked against the name in the page's address."""

    password = PasswordField(validators=[GoodPassword(LONG_ENOUGH, "for_user")])
    for_user = ""  # the name in the page's address, set by the view


@bp.post("/users/<username>/password")
@roles("admin")
def user_password(username: str) -> Response:
    """An admin sets a new password for someone who forgot theirs (told to them in person)."""
    form = NewPasswordForm()
    form.for_user = username
    try:
        form.check()
        with runtime().db.begin() as session:
            user = _user(session, username)
            user.password_hash = hash_password(form.password.data)
            end_sessions(user)  # whoever knew the old password is logged out too
            staff_actions.audit(session, actor(), "user.password", "user", username)
    except ActionError as error:
        return failed(error, "staff.users")
    return done(translate("User {username} updated.", username=username), "staff.users")


class OwnPasswordForm(ConsoleForm):
    """The current password (checked against the stored hash after the form), the new one
    twice."""

    current = PasswordField(default="")
    new = PasswordField(validators=[GoodPassword(LONG_ENOUGH)])
    again = PasswordField(
        validators=[EqualTo("new", message=lazy_translate("The two new passwords differ."))]
    )


@bp.route("/password", methods=["GET", "POST"])
@roles(*ALL)
def own_password() -> str | Response:
    """Anyone logged in changes their own password, after typing the current one."""
    form = OwnPasswordForm()
    if not form.is_submitted():
        return render_template("console/password.html")
    try:
        form.check()
        with runtime().db.begin() as session:
            user = _user(session, actor())
            if not check_password(user.password_hash, form.current.data):
                raise ActionError(translate("The current password is wrong."))
            user.password_hash = hash_password(form.new.data)
            end_sessions(user)  # every other session of this user ends...
            staff_actions.audit(session, actor(), "user.password", "user", user.username)
            renewed = StaffUser(user)
    except ActionError as error:
        return failed(error, "staff.own_password")
    login_user(renewed)  # ...and this one goes on under the new version
    return done(translate("Password changed."), "staff.dashboard")
