"""Bad input at the console's boundary: NUL and control characters, lengths, out-of-range ids
in URLs. Each gets a 4xx page in the console's layout or a form error — never a 5xx."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.db import Database
from tests.console.helpers import R1, Browser, World, flashes, snapshot
from tests.helpers import TEMBOK

HUGE = "99999999999999999999"
LONG = "x" * 5000

# Each list page, and the query parameters it reads.
LIST_PAGES: dict[str, tuple[str, ...]] = {
    "/staff/": ("lang",),
    "/staff/visits": ("past",),
    "/staff/broadcasts": (),
    "/staff/broadcasts/new": (
        "audience",
        "village",
        "district",
        "request_status",
        "text",
        "text_en",
        "when",
        "send_at",
    ),
    "/staff/requests": ("q", "status"),
    "/staff/requests/new": (),
    "/staff/bookings": ("status", "district"),
    "/staff/outbox": ("status", "phone"),
    "/staff/residents": ("q",),
    "/staff/users": (),
    "/staff/audit": (),
    "/staff/password": (),
    "/staff/login": ("next",),
    "/simulator": ("phone",),
    "/simulator/inbox": ("phone",),
}


def console_page(response: Any) -> bool:
    """The console's layout (its header), not a plain line or a traceback; the pages' own
    fetches (the simulator's, a broadcast's progress) get a JSON error."""
    if response.is_json:
        return set(response.get_json()) == {"error", "message"}
    text = response.get_data(as_text=True)
    return "<header>" in text and "Traceback" not in text


def test_nul_and_control_characters_in_list_filters(admin: Browser) -> None:
    for path, names in LIST_PAGES.items():
        for name in names:
            for value in ("a\x00b", "\x00", "1\x07", "\x1b[31m", "a\tb", "\u0085"):
                if name == "next":
                    continue  # refused by local_target instead: test_redirects.py
                query = urlencode({name: value})
                response = admin.get(f"{path}?{query}")
                assert response.status_code == 400, (path, name, repr(value))
                assert console_page(response), (path, name)


def test_over_long_filters(admin: Browser) -> None:
    for path, names in LIST_PAGES.items():
        for name in names:
            if name == "next":
                continue  # refused by local_target instead: test_redirects.py
            response = admin.get(f"{path}?{urlencode({name: LONG})}")
            assert response.status_code == 400, (path, name)
            assert console_page(response)


def test_ids_out_of_range_in_urls(admin: Browser, world: World, db: Database) -> None:
    before = snapshot(db)
    for method, path in [
        ("get", f"/staff/visits/{HUGE}"),
        ("get", f"/staff/visits/{HUGE}/edit"),
        ("get", f"/staff/visits/{HUGE}/publish"),
        ("post", f"/staff/visits/{HUGE}/cancel"),
        ("post", f"/staff/visits/{HUGE}/edit"),
        ("get", f"/staff/broadcasts/{HUGE}"),
        ("get", f"/staff/broadcasts/{HUGE}/progress.json"),
        ("post", f"/staff/broadcasts/{HUGE}/cancel"),
        ("post", f"/staff/residents/{HUGE}"),
        ("get", "/staff/visits/2147483648/edit"),
        ("get", "/staff/visits/-1/edit"),
        ("post", f"/staff/bookings/{quote(chr(0))}/done"),
        ("post", f"/staff/bookings/{LONG}/done"),
        ("post", f"/staff/users/{quote(chr(0))}/active"),
        ("post", f"/staff/users/{LONG}/password"),
    ]:
        response = admin.get(path) if method == "get" else admin.post(path, {})
        assert response.status_code in (400, 404), (method, path[:60])
        assert console_page(response), path[:60]
    assert snapshot(db) == before


def test_a_5000_character_team_or_user_name_is_a_form_error(
    admin: Browser, world: World, db: Database
) -> None:
    before = snapshot(db)
    response = admin.post(
        f"/staff/bookings/{world.booking_tembok}/schedule",
        {"date": "2030-01-02", "time": "09:00", "team": LONG},
    )
    page = admin.follow(response, "/staff/bookings")
    assert flashes(page) == [("error", "Nama tim paling banyak 60 karakter.")]
    response = admin.post(
        "/staff/users",
        {"role": "staff", "username": LONG, "password": "kopi-tubruk-pagi-hari"},
    )
    assert response.status_code == 200  # the form again, with what was typed
    assert flashes(response.text) == [
        ("error", "Nama pengguna: huruf, angka dan . _ - saja, paling banyak 60 karakter.")
    ]
    for name in ("ada spasi", "nul\x00", "t\tab", "<b>", "a/b", "a\u200bb"):
        response = admin.post(
            "/staff/users",
            {"role": "staff", "username": name, "password": "kopi-tubruk-pagi-hari"},
        )
        assert response.status_code in (200, 400), repr(name)
    assert snapshot(db) == before


def test_long_and_control_characters_in_forms(admin: Browser, world: World, db: Database) -> None:
    before = snapshot(db)
    visit = {"village": TEMBOK, "date": "2030-01-02", "start": "09:00", "end": "12:00"}
    for change in ({"place": LONG}, {"place": "Balai", "bring": LONG}, {"place": "Ba\x00lai"}):
        response = admin.post("/staff/visits/new", {**visit, **change})
        assert response.status_code in (200, 400), change.keys()
        if response.status_code == 200:
            assert [kind for kind, _ in flashes(response.text)] == ["error"]
    for change in ({"pickup": LONG}, {"pickup": "Kan\x00tor"}):
        response = admin.post(
            "/staff/requests/status", {"numbers": [R1], "status": "ready", **change}
        )
        assert response.status_code in (302, 400), change
    for form in (
        {"text": LONG * 2, "audience": "all"},
        {"text": "Halo\x00", "audience": "all"},
        {"text": "Halo", "audience": "village", "village": LONG},
    ):
        response = admin.post("/staff/broadcasts/new", form)
        assert response.status_code in (200, 400)
        assert console_page(response)
    for row in (
        ["ktp", "081255550001", "1980", "Tembok", "ready", "", LONG],
        ["ktp", "081255550001", "1980", "Tembok", "", "9" * 5000, ""],
        ["ktp", "081255550001", "9" * 5000, "Tembok", "", "", ""],
        ["ktp", "0812555\x0050001", "1980", "Tem\x00bok", "", "", ""],
    ):
        body = ("type,phone,birth_year,village,status,number,pickup\n" + ",".join(row)).encode()
        response = admin.post(
            "/staff/requests/import",
            {"file": (io.BytesIO(body), "r.csv")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 200
        assert "0 dari 1 baris bisa diimpor." in response.text  # the preview
        response = admin.post(
            "/staff/requests/import/confirm",
            {"content": body.decode()},
            content_type="multipart/form-data",
        )
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert "0 diimpor, 1 ditolak" in response.text
    assert snapshot(db) == before


def test_the_simulator_refuses_bad_bytes(admin: Browser) -> None:
    for body in (
        {"phone": "+6281200000001", "text": "1\x00"},
        {"phone": "+6281200000001", "text": "\ud800"},
        {"phone": "+62812\x0000000001", "text": ""},
        {"phone": LONG, "text": ""},
        {"phone": ["+6281200000001"], "text": {"a": 1}},
    ):
        for path in ("/simulator/dial", "/simulator/sms"):
            response = admin.client.post(path, json=body, headers={"X-CSRFToken": admin.token})
            assert 400 <= response.status_code < 500, (path, body)


# --- hypothesis over every list page's query parameters --------------------------------------

VALUES = st.text(max_size=300) | st.sampled_from(
    ["", "0", "-1", HUGE, "open", "all", "ready", "\x00", "+6281200000001", "Tejakula", LONG]
)


@pytest.mark.parametrize("path", list(LIST_PAGES))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_query_parameter_gets_a_5xx(admin: Browser, path: str, data: st.DataObject) -> None:
    names = LIST_PAGES[path] + ("lang", "page")
    params = data.draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=3))
    raw = data.draw(st.binary(max_size=40))
    query = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in params.items()})
    for string in (query, f"{query}&{quote(names[0])}={quote(raw)}"):
        response = admin.client.get(
            path, query_string=string, environ_base={"REMOTE_ADDR": admin.addr}
        )
        assert response.status_code < 500, (path, string[:200])
