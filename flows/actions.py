"""The parts of the journeys that cannot be data: look-ups, checks, bookings.

Each action is named in screens.toml and receives the hop's :class:`Context` (and, on an input
screen, the typed text). It returns an :class:`Outcome`. Actions reach the outside world only
through ``ctx.services``; display strings come from the catalog in the caller's language.

``@action(...)`` registers a function under its name with the screens it may lead to, so the
validator proves those targets exist from the declaration alone, and the engine refuses a target
that is not declared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from common.local_time import local_today
from flows import request_status
from flows.engine import Action, Context, Outcome, Run
from flows.services import BookingView, RemoteLookupsClosed, RequestView, VisitView

MAX_HAMLET_LENGTH = 30
MAX_BOOKINGS_LISTED = 3  # under "Cek status", after the document requests
MAX_STATUS_ITEMS = 8  # items 1-8: "9 Nomor lain" keeps its key
# What residents type before a hamlet's name: shown as typed, not after another "Banjar".
HAMLET_PREFIXES = ("banjar", "br.", "br ", "dusun", "dsn", "lingkungan", "link.", "lingk")

_registered: dict[str, Action] = {}
ACTIONS: Mapping[str, Action] = _registered  # by the name screens.toml uses


def action(
    *leads_to: str, leads_to_var: str | None = None, pure: bool = False
) -> Callable[[Run], Run]:
    """Register the decorated function as an action that may lead to the screens ``leads_to``
    (or to the screen named in var ``leads_to_var``); ``pure``: it needs no services."""

    def register(run: Run) -> Run:
        _registered[run.__name__] = Action(run, frozenset(leads_to), leads_to_var, pure)
        return run

    return register


# --- 1. Document status ----------------------------------------------------------------------


def _request_vars(ctx: Context, request: RequestView) -> dict[str, str]:
    return request_status.screen_vars(ctx.catalog, request, office=ctx.services.office())


def _booking_vars(ctx: Context, booking: BookingView) -> dict[str, str]:
    """A booking's placeholders: ``booking_status`` (its date in full, for its screen) and
    ``booking_status_short`` (a short date, for its line in the list)."""
    day = booking.scheduled_for
    key = f"booking_status.{booking.status}"
    return {
        "number": booking.number,
        "last4": booking.number[-4:],
        "service_label": ctx.t(f"service.{booking.service}"),
        "booking_status": ctx.t(key, date=ctx.catalog.date(day.date()) if day else ""),
        "booking_status_short": ctx.t(key, date=ctx.catalog.short_date(day.date()) if day else ""),
        "time_line": ctx.t("bk.time_line", time=f"{day:%H:%M}") if day else "",
        "team_line": ctx.t("bk.team_line", team=booking.team) if booking.team else "",
    }


@action("status_number", "status_list")
def status_start(ctx: Context, _text: str | None) -> Outcome:
    """Callers with requests or open home-visit bookings on file pick one; others type a
    number. Bookings come after the requests (at most MAX_BOOKINGS_LISTED, 8 items in all)."""
    bookings = ctx.services.my_bookings()[:MAX_BOOKINGS_LISTED]
    mine = ctx.services.my_requests()[: MAX_STATUS_ITEMS - len(bookings)]
    if not mine and not bookings:
        return Outcome(goto="status_number")
    details = [_request_vars(ctx, r) for r in mine]
    booked = [_booking_vars(ctx, b) for b in bookings]
    items = [[ctx.t("status.item", **d), f"r{i}"] for i, d in enumerate(details)]
    items += [[ctx.t("status.booking_item", **b), f"b{i}"] for i, b in enumerate(booked)]
    return Outcome(
        goto="status_list",
        vars={"my_requests": items, "my_request_details": details, "my_bookings": booked},
    )


@action("status_detail", "bk_detail")
def status_pick(ctx: Context, _text: str | None) -> Outcome:
    chosen = str(ctx.vars["request_index"])
    # "r0", "b0"; a bare "0" from a session resumed across the upgrade is a request
    kind, index = ("r", int(chosen)) if chosen.isdigit() else (chosen[0], int(chosen[1:]))
    if kind == "b":
        return Outcome(goto="bk_detail", vars=ctx.vars["my_bookings"][index])
    return Outcome(goto="status_detail", vars=ctx.vars["my_request_details"][index])


@action("bk_cancelled", "bk_not_open")
def bk_cancel(ctx: Context, _text: str | None) -> Outcome:
    """The caller cancels their own booking, after the confirmation screen."""
    number = str(ctx.vars["number"])
    status = ctx.services.cancel_booking(number)
    if status == "cancelled":
        return Outcome(goto="bk_cancelled")
    label = ctx.t(f"booking_status.{status or 'cancelled'}", date="")
    return Outcome(goto="bk_not_open", vars={"booking_status": label.strip()})


@action("status_blocked", "status_year", "status_detail", "status_closed")
def status_number(ctx: Context, text: str | None) -> Outcome:
    number = (text or "").replace(" ", "")
    services = ctx.services
    if not services.is_valid_request_number(number):
        return Outcome(error="error.bad_number")  # a typo, caught before any look-up
    if services.lookups_blocked():
        return Outcome(goto="status_blocked")
    request = services.find_request(number)
    if request is not None and request.owned_by_caller:
        return Outcome(goto="status_detail", vars=_request_vars(ctx, request))
    if request is None and not services.has_failed_lookups():
        # A phone's first miss is told as it is, and counted.
        services.record_failed_lookup()
        return (
            Outcome(goto="status_blocked")
            if services.lookups_blocked()
            else Outcome(error="error.not_found")
        )
    # Someone else's request -- or, once this phone has missed, any number at all: the same
    # question either way, so a phone trying numbers learns nothing of which exist.
    if services.remote_lookups_closed(number):
        return Outcome(goto="status_closed")
    return Outcome(goto="status_year", vars={"pending_number": number})


@action("status_blocked", "status_detail", "status_closed")
def status_year(ctx: Context, text: str | None) -> Outcome:
    year = (text or "").strip()
    if not (len(year) == 4 and year.isdigit()):
        return Outcome(error="error.bad_year")
    services = ctx.services
    number = str(ctx.vars.get("pending_number", ""))
    if services.lookups_blocked():
        return Outcome(goto="status_blocked")
    try:
        request = services.verified_request(number, int(year))
    except RemoteLookupsClosed:  # too many wrong years for this number today, from any phone
        return Outcome(goto="status_closed")
    if request is None:
        services.record_failed_lookup()
        if services.lookups_blocked():
            return Outcome(goto="status_blocked")
        if services.remote_lookups_closed(number):
            return Outcome(goto="status_closed")
        return Outcome(error="error.wrong_year")
    return Outcome(goto="status_detail", vars=_request_vars(ctx, request))


# --- Village picker --------------------------------------------------------------------------


@action()
def load_districts(ctx: Context, _text: str | None) -> Outcome:
    return Outcome(
        vars={"district_items": [[name, code] for code, name in ctx.services.districts()]}
    )


@action()
def load_villages(ctx: Context, _text: str | None) -> Outcome:
    villages = ctx.services.villages(str(ctx.vars["district"]))
    return Outcome(vars={"village_items": [[name, code] for code, name in villages]})


@action("main", leads_to_var="after_village")
def village_chosen(ctx: Context, _text: str | None) -> Outcome:
    code = str(ctx.vars["village"])
    ctx.services.remember_village(code)
    return Outcome(
        goto=str(ctx.vars.get("after_village") or "main"),
        vars={"village_name": ctx.services.village_name(code)},
    )


@action("pick_district", "main", leads_to_var="after_village")
def need_village(ctx: Context, _text: str | None) -> Outcome:
    """Journeys that need a village go on to the screen in var ``after_village`` (set by the
    data) once one is known: the one chosen, or remembered from before, or else the picker's."""
    code = ctx.vars.get("village") or ctx.services.remembered_village()
    if not code:
        return Outcome(goto="pick_district")
    ctx.vars["village"] = code
    ctx.vars["village_name"] = ctx.services.village_name(str(code))
    return Outcome(goto=str(ctx.vars.get("after_village") or "main"))


# --- 2. Home visit (Sidakep) -----------------------------------------------------------------


@action("hv_confirm")
def hv_hamlet(ctx: Context, text: str | None) -> Outcome:
    # Only printable characters: what is typed is shown back and stored.
    hamlet = " ".join("".join(ch for ch in text or "" if ch.isprintable()).split())
    if not hamlet:
        return Outcome(error="error.invalid_choice")
    if not any(ch.isalpha() for ch in hamlet):
        # "98", "99", "000", "1-2": a key pressed, never a hamlet's name
        return Outcome(error="error.name_not_number")
    if len(hamlet) > MAX_HAMLET_LENGTH:
        return Outcome(error="error.bad_hamlet")
    return Outcome(goto="hv_confirm", vars={"hamlet": hamlet})


@action("hv_confirm")
def hv_skip_hamlet(_ctx: Context, _text: str | None) -> Outcome:
    return Outcome(goto="hv_confirm", vars={"hamlet": ""})


@action()
def hv_summary(ctx: Context, _text: str | None) -> Outcome:
    v = ctx.vars
    hamlet = str(v.get("hamlet") or "")
    return Outcome(
        vars={
            "service_label": ctx.t(f"service.{v['service']}"),
            "who_label": ctx.t(f"hv.who_{v['for_whom']}_short"),
            "reason_label": ctx.t(f"reason.{v['reason']}"),
            "hamlet_line": _hamlet_line(ctx, hamlet),
        }
    )


def _hamlet_line(ctx: Context, hamlet: str) -> str:
    """ "Banjar Kaja" for "Kaja"; as typed when the caller typed the "Banjar"/"Dusun" too."""
    if not hamlet:
        return ""
    if hamlet.casefold().startswith(HAMLET_PREFIXES):
        return hamlet
    return ctx.t("hv.hamlet_line", hamlet=hamlet)


@action("hv_done", "hv_exists")
def hv_create(ctx: Context, _text: str | None) -> Outcome:
    v = ctx.vars

    def confirmation(number: str) -> str:
        return ctx.t(
            "sms.booking_confirmed",
            number=number,
            service_label=v["service_label"],
            village_name=v["village_name"],
        )

    result = ctx.services.create_booking(
        for_whom=str(v["for_whom"]),
        reason=str(v["reason"]),
        service=str(v["service"]),
        village_code=str(v["village"]),
        hamlet=str(v.get("hamlet") or "") or None,
        confirmation_sms=confirmation,
    )
    if result.created:
        return Outcome(goto="hv_done", vars={"number": result.number})
    status = ctx.t(
        f"booking_status.{result.status}",
        date=ctx.catalog.date(result.scheduled_for) if result.scheduled_for else "",
    )
    return Outcome(goto="hv_exists", vars={"number": result.number, "booking_status": status})


# --- 3. Next village visit (Si Melik) --------------------------------------------------------


def _visit_vars(ctx: Context, visit: VisitView) -> dict[str, object]:
    """The visit's screen; the forms' deadline (VISIT_FORMS_DAYS_BEFORE) only while ahead."""
    deadline = ctx.services.office().forms_deadline(visit.day)
    return {
        "visit_id": visit.id,
        "date": ctx.catalog.date(visit.day),
        "start": visit.start,
        "end": visit.end,
        "place": visit.place,
        "bring_line": ctx.t("sm.bring", bring=visit.bring) if visit.bring else "",
        "forms_line": ctx.t("sm.forms", deadline=ctx.catalog.short_date(deadline))
        if deadline >= local_today()
        else "",
    }


@action("sm_none")
def sm_lookup(ctx: Context, _text: str | None) -> Outcome:
    visit = ctx.services.next_visit(str(ctx.vars["village"]))
    if visit is None:
        return Outcome(goto="sm_none", vars={"visit_id": None})
    return Outcome(vars=_visit_vars(ctx, visit))


@action("sm_reminded")
def sm_remind(ctx: Context, _text: str | None) -> Outcome:
    ctx.services.subscribe_visit_reminder(int(ctx.vars["visit_id"]), ctx.lang)
    return Outcome(goto="sm_reminded")


@action("sm_notified")
def sm_notify(ctx: Context, _text: str | None) -> Outcome:
    ctx.services.subscribe_visit_published(str(ctx.vars["village"]), ctx.lang)
    return Outcome(goto="sm_notified")


# --- 4. Priority service ---------------------------------------------------------------------


@action()
def pr_info(ctx: Context, _text: str | None) -> Outcome:
    return Outcome(vars={"counter": ctx.services.office().text("priority_counter", ctx.lang)})


@action()
def pr_checklist(ctx: Context, _text: str | None) -> Outcome:
    doc = str(ctx.vars["doc"])
    return Outcome(vars={"doc_label": ctx.t(f"doc.{doc}"), "checklist": ctx.t(f"checklist.{doc}")})


@action("pr_sent")
def pr_send(ctx: Context, _text: str | None) -> Outcome:
    doc = str(ctx.vars["doc"])
    body = ctx.t("sms.checklist", doc_label=ctx.vars["doc_label"], checklist=ctx.vars["checklist"])
    # One checklist per document, language and day: pressing "send" twice sends one SMS.
    today = dt.date.today().isoformat()
    key = f"checklist:{ctx.services.phone}:{doc}:{ctx.lang}:{today}"
    ctx.services.send_sms(body, dedupe_key=key)
    return Outcome(goto="pr_sent")


# --- 6. Contact the office, and call-back requests -----------------------------------------


def _office_vars(ctx: Context) -> dict[str, str]:
    office = ctx.services.office()
    return {
        "office_name": office.name,
        "office_address": office.address,
        "office_phone": office.phone,
        "office_hours": office.text("hours", ctx.lang),
        "promise": office.text("callback_promise", ctx.lang),
    }


@action()
def contact_info(ctx: Context, _text: str | None) -> Outcome:
    return Outcome(vars=_office_vars(ctx))


@action("cb_done", "cb_exists")
def cb_request(ctx: Context, _text: str | None) -> Outcome:
    values = _office_vars(ctx)
    result = ctx.services.request_callback(
        reason=str(ctx.vars["cb_reason"]),
        language=ctx.lang,
        confirmation_sms=lambda: ctx.t("sms.callback_asked", **values),
    )
    if result.created:
        return Outcome(goto="cb_done", vars=values)
    return Outcome(goto="cb_exists", vars={**values, "date": ctx.catalog.date(result.asked)})


# --- 5. Language ------------------------------------------------------------------------------


@action(pure=True)
def load_languages(ctx: Context, _text: str | None) -> Outcome:
    return Outcome(vars={"language_items": [[c.name, code] for code, c in ctx.catalogs.items()]})


@action("main")
def language_chosen(ctx: Context, _text: str | None) -> Outcome:
    language = str(ctx.vars["language"])
    ctx.services.set_language(language)
    ctx.state["lang"] = language
    return Outcome(goto="main")


# --- Resume ----------------------------------------------------------------------------------


@action()  # puts the caller back on the screen they left: no target of its own
def resume_previous(ctx: Context, _text: str | None) -> Outcome:
    previous = ctx.state.pop("resume_from", None) or {}
    for key in ("screen", "page", "stack", "vars", "journey", "lang"):
        if key in previous:
            ctx.state[key] = previous[key]
    return Outcome()
