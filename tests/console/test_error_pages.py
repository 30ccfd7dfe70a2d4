"""Refused requests of the pages people use: in the console's layout and the reader's language,
with a sentence saying what to do and a way back; a form whose token expired is shown again
with what was typed; the simulator's fetches get a message to show."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from gateway import console
from gateway.console import residents
from tests.console.helpers import Browser, World


def in_the_layout(page: str) -> bool:
    return "<header>" in page and '<main id="main">' in page and "Traceback" not in page


def test_404_and_403_in_the_layout_with_a_way_back(staff: Browser, officer: Browser) -> None:
    response = staff.get("/staff/no-such-page")
    assert response.status_code == 404
    assert in_the_layout(response.text)
    assert "<h1>Halaman tidak ditemukan</h1>" in response.text
    assert "Halaman ini tidak ada, atau isinya sudah dihapus." in response.text
    assert '<a class="button secondary" href="/staff/">Kembali ke ringkasan</a>' in response.text
    response = officer.get("/staff/broadcasts")
    assert response.status_code == 403
    assert in_the_layout(response.text)
    assert "<h1>Tidak diizinkan</h1>" in response.text
    assert "Minta kepada admin bila perlu." in response.text
    staff.get("/staff/?lang=en")  # the reader's language, kept in their session
    english = staff.get("/staff/no-such-page")
    assert "<h1>Page not found</h1>" in english.text
    assert "Back to the dashboard" in english.text


def test_the_way_back_is_the_page_one_came_from(staff: Browser) -> None:
    response = staff.client.get(
        "/staff/no-such-page", headers={"Referer": "http://localhost/staff/visits?past=1"}
    )
    assert '<a class="button" href="/staff/visits?past=1">Kembali</a>' in response.text
    response = staff.client.get(
        "/staff/no-such-page", headers={"Referer": "https://evil.example/staff/visits"}
    )
    assert 'class="button" href="' not in response.text  # another site: no "Back" to it


def test_400_without_logging_in(app: Flask) -> None:
    response = Browser(app).get("/staff/login?q=%00")
    assert response.status_code == 400
    assert in_the_layout(response.text)
    assert "<h1>Permintaan tidak dapat diterima</h1>" in response.text
    assert 'href="/staff/login">Masuk</a>' in response.text


@pytest.mark.parametrize(
    ("error", "title", "sentence"),
    [
        (TooManyRequests(), "Terlalu banyak percobaan", "Tunggu beberapa menit"),
        (ServiceUnavailable(), "Sementara tidak tersedia", "Tidak ada yang diubah"),
    ],
)
def test_429_and_503_pages(app: Flask, world: World, error: Any, title: str, sentence: str) -> None:
    with app.test_request_context("/staff/visits"):
        response = console.error_page(error)
    page = response.get_data(as_text=True)
    assert response.status_code == error.code
    assert in_the_layout(page)
    assert f"<h1>{title}</h1>" in page and sentence in page


def test_a_failure_behind_a_page_is_a_503_page_not_a_plain_line(
    staff: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(residents, "select", broken)
    response = staff.get("/staff/residents")
    assert response.status_code == 503
    assert in_the_layout(response.text)
    assert "<h1>Sementara tidak tersedia</h1>" in response.text


def test_an_expired_token_on_log_out_explains_itself(staff: Browser) -> None:
    response = staff.post("/staff/logout", token=False)
    assert response.status_code == 400
    assert in_the_layout(response.text)
    assert "formulirnya kedaluwarsa" in response.text


def test_an_expired_booking_form_is_sent_again_with_what_was_typed(
    staff: Browser, world: World
) -> None:
    path = f"/staff/bookings/{world.booking_tembok}/schedule"
    typed = {"date": "2030-01-02", "time": "10:30", "team": "Tim B"}
    response = staff.post(path, {**typed, "csrf_token": "kedaluwarsa"}, token=False)
    assert response.status_code == 400
    page = response.text
    assert "<h1>Tekan lagi untuk menyimpan</h1>" in page
    assert f'<form method="post" action="{path}">' in page
    for name, value in typed.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    assert "<dt>Jam (WITA)</dt><dd>10:30</dd>" in page
    # the page's fresh token lets the same values through
    staff.token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert staff.post(path, typed).status_code == 302


def test_passwords_are_never_sent_back(admin: Browser) -> None:
    response = admin.post(
        "/staff/users",
        {"username": "baru", "password": "rahasia-sekali-1", "role": "staff", "csrf_token": "x"},
        token=False,
    )
    assert "rahasia" not in response.text
    assert '<input type="hidden" name="username" value="baru">' in response.text


def test_the_simulator_gets_a_message_to_show(staff: Browser) -> None:
    page = staff.get("/simulator").text
    token = page.split('data-csrf="')[1].split('"')[0]
    response = staff.client.post(
        "/simulator/dial", json={"phone": "12", "text": ""}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "not a valid phone number",
        "message": "bukan nomor HP yang sah",
    }
    assert 'data-down="Layanan tidak menjawab. Tunggu sebentar lalu coba lagi."' in page


def test_the_simulator_says_its_page_expired(staff: Browser) -> None:
    response = staff.client.post(
        "/simulator/dial", json={"phone": "+6281200000001", "text": ""}, headers={}
    )
    assert response.status_code == 400
    assert "formulirnya kedaluwarsa" in response.get_json()["message"]
