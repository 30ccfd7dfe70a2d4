"""The parts of the journeys that cannot be data: look-ups, checks, bookings.

Each action is named in screens.toml and receives the hop's :class:`Context` (and, on an input
screen, the typed text). It returns an :class:`Outcome`. Actions reach the outside world only
through ``ctx.services``; display strings come from the catalog in the caller's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from flows import request_status
from flows.engine import Action, Context, Outcome
from flows.services import RequestView, VisitView

MAX_HAMLET_LENGTH = 30


# --- 1. Document status ----------------------------------------------------------------------


def _request_vars(ctx: Context, request: RequestView) -> dict[str, str]:
    return request_status.screen_vars(ctx.catalog, request)


def status_start(ctx: Context, _text: str | None) -> Outcome:
    """Callers with requests on file pick one; others type a number."""
    mine = ctx.services.my_requests()
    if not mine:
        return Outcome(goto="status_number")
    details = [_request_vars(ctx, r) for r in mine]
    items = [[ctx.t("status.item", **d), str(i)] for i, d in enumerate(details)]
    return Outcome(goto="status_list", vars={"my_requests": items, "my_request_details": details})


def status_pick(ctx: Context, _text: str | None) -> Outcome:
    details = ctx.vars["my_request_details"][int(ctx.vars["request_index"])]
    return Outcome(goto="status_detail", vars=details)


def status_number(ctx: Context, text: str | None) -> Outcome:
    number = (text or "").replace(" ", "")
    services = ctx.services
    if not services.is_valid_request_number(number):
        return Outcome(error="error.bad_number")  # a typo, caught before any look-up
    if services.lookups_blocked():
        return Outcome(goto="status_blocked")
    request = services.find_request(number)
    if request is None:
        services.record_failed_lookup()
        return (
            Outcome(goto="status_blocked")
            if services.lookups_blocked()
            else Outcome(error="error.not_found")
        )
    if not request.owned_by_caller:
        # Someone else's request: one question before anything is shown.
        return Outcome(goto="status_year", vars={"pending_number": number})
    return Outcome(goto="status_detail", vars=_request_vars(ctx, request))


def status_year(ctx: Context, text: str | None) -> Outcome:
    year = (text or "").strip()
    if not (len(year) == 4 and year.isdigit()):
        return Outcome(error="error.bad_year")
    services = ctx.services
    number = str(ctx.vars.get("pending_number", ""))
    if services.lookups_blocked():
        return Outcome(goto="status_blocked")
    request = services.verified_request(number, int(year))
    if request is None:
        services.record_failed_lookup()
        return (
            Outcome(goto="status_blocked")
            if services.lookups_blocked()
            else Outcome(error="error.wrong_year")
        )
    return Outcome(goto="status_detail", vars=_request_vars(ctx, request))


# --- Village picker --------------------------------------------------------------------------


def load_districts(ctx: Context, _text: str | None) -> Outcome:
    return Outcome(
        vars={"district_items": [[name, code] for code, name in ctx.services.districts()]}
    )


def load_villages(ctx: Context, _text: str | None) -> Outcome:
    villages = ctx.services.villages(str(ctx.vars["district"]))
    return Outcome(vars={"village_items": [[name, code] for code, name in villages]})


def village_chosen(ctx: Context, _text: str | None) -> Outcome:
    code = str(ctx.vars["village"])
    ctx.services.remember_village(code)
    return Outcome(
        goto=str(ctx.vars.get("after_village") or "main"),
        vars={"village_name": ctx.services.village_name(code)},
    )


def _known_village(ctx: Context) -> str | None:
    code = ctx.vars.get("village") or ctx.services.remembered_village()
    if code:
        ctx.vars["village"] = code
        ctx.vars["village_name"] = ctx.services.village_name(str(code))
    return str(code) if code else None


# --- 2. Home visit (Sidakep) -----------------------------------------------------------------


def hv_after_service(ctx: Context, _text: str | None) -> Outcome:
    if _known_village(ctx):
        return Outcome(goto="hv_hamlet")
    return Outcome(goto="pick_district", vars={"after_village": "hv_hamlet"})


def hv_hamlet(ctx: Context, text: str | None) -> Outcome:
    # Only printable characters: what is typed is shown back and stored.
    hamlet = " ".join("".join(ch for ch in text or "" if ch.isprintable()).split())
    if not hamlet:
        return Outcome(error="error.invalid_choice")
    if len(hamlet) > MAX_HAMLET_LENGTH:
        return Outcome(error="error.bad_hamlet")
    return Outcome(goto="hv_confirm", vars={"hamlet": hamlet})


def hv_skip_hamlet(_ctx: Context, _text: str | None) -> Outcome:
    return Outcome(goto="hv_confirm", vars={"hamlet": ""})


def hv_summary(ctx: Context, _text: str | None) -> Outcome:
    v = ctx.vars
    hamlet = str(v.get("hamlet") or "")
    return Outcome(
        vars={
            "service_label": ctx.t(f"service.{v['service']}"),
            "who_label": ctx.t(f"hv.who_{v['for_whom']}_short"),
            "reason_label": ctx.t(f"reason.{v['reason']}"),
            "hamlet_line": ctx.t("hv.hamlet_line", hamlet=hamlet) if hamlet else "",
        }
    )


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


def sm_start(ctx: Context, _text: str | None) -> Outcome:
    if _known_village(ctx):
        return Outcome(goto="sm_show")
    return Outcome(goto="pick_district", vars={"after_village": "sm_show"})


def _visit_vars(ctx: Context, visit: VisitView) -> dict[str, object]:
    return {
        "visit_id": visit.id,
        "date": ctx.catalog.date(visit.day),
        "start": visit.start,
        "end": visit.end,
        "place": visit.place,
        "bring_line": ctx.t("sm.bring", bring=visit.bring) if visit.bring else "",
    }


def sm_lookup(ctx: Context, _text: str | None) -> Outcome:
    visit = ctx.services.next_visit(str(ctx.vars["village"]))
    if visit is None:
        return Outcome(goto="sm_none", vars={"visit_id": None})
    return Outcome(vars=_visit_vars(ctx, visit))


def sm_remind(ctx: Context, _text: str | None) -> Outcome:
    ctx.services.subscribe_visit_reminder(int(ctx.vars["visit_id"]), ctx.lang)
    return Outcome(goto="sm_reminded")


def sm_notify(ctx: Context, _text: str | None) -> Outcome:
    ctx.services.subscribe_visit_published(str(ctx.vars["village"]), ctx.lang)
    return Outcome(goto="sm_notified")


# --- 4. Priority service ---------------------------------------------------------------------


def pr_checklist(ctx: Context, _text: str | None) -> Outcome:
    doc = str(ctx.vars["doc"])
    return Outcome(vars={"doc_label": ctx.t(f"doc.{doc}"), "checklist": ctx.t(f"checklist.{doc}")})


def pr_send(ctx: Context, _text: str | None) -> Outcome:
    doc = str(ctx.vars["doc"])
    body = ctx.t("sms.checklist", doc_label=ctx.vars["doc_label"], checklist=ctx.vars["checklist"])
    # One checklist per document, language and day: pressing "send" twice sends one SMS.
    today = dt.date.today().isoformat()
    key = f"checklist:{ctx.services.phone}:{doc}:{ctx.lang}:{today}"
    ctx.services.send_sms(body, dedupe_key=key)
    return Outcome(goto="pr_sent")


# --- 5. Language ------------------------------------------------------------------------------


def load_languages(ctx: Context, _text: str | None) -> Outcome:
    return Outcome(vars={"language_items": [[c.name, code] for code, c in ctx.catalogs.items()]})


def language_chosen(ctx: Context, _text: str | None) -> Outcome:
    language = str(ctx.vars["language"])
    ctx.services.set_language(language)
    ctx.state["lang"] = language
    return Outcome(goto="main")


# --- Resume ----------------------------------------------------------------------------------


def resume_previous(ctx: Context, _text: str | None) -> Outcome:
    previous = ctx.state.pop("resume_from", None) or {}
    for key in ("screen", "page", "stack", "vars", "journey", "lang"):
        if key in previous:
            ctx.state[key] = previous[key]
    return Outcome()


ACTIONS: Mapping[str, Action] = {
    name: fn
    for name, fn in globals().items()
    if callable(fn) and not name.startswith("_") and getattr(fn, "__module__", "") == __name__
}
