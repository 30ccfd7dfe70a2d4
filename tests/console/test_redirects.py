"""After log-in the console goes back to the page asked for (``next=``), and only ever to a
page of its own on this site: never to an address a browser reads as another site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from gateway.console.shared import local_target
from tests.console.helpers import Browser, World

OFF_SITE = [
    "//evil.example/x",
    "/\t/evil.example/",  # a browser drops the tab: //evil.example/
    "/%09/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example",
    "https://evil.example/x",
    "http:/evil.example",
    "HTTPS:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/staff/\\..\\\\evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "javascript:alert(1)",
    " /staff/",
    "/ /evil.example",
    "/\x00/evil.example",
    "/\u2028/evil.example",
    "evil.example",
    "/other-site-page",
    "/staff/" + "x" * 3000,
]


C0_AND_SPACE = "".join(map(chr, range(0x21)))


def browser_reading(location: str) -> tuple[str, str]:
    """The scheme and host a browser takes from a Location header: it drops tabs and new
    lines anywhere (WHATWG URL), trims spaces and controls, and reads backslashes as slashes."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "")
    cleaned = cleaned.strip(C0_AND_SPACE).replace("\\", "/")
    parts = urlsplit(cleaned)
    return parts.scheme, parts.netloc


def test_the_off_site_list_is_refused(app: Flask, world: World) -> None:
    for target in OFF_SITE:
        assert local_target(target) is None, repr(target)
        response = Browser(app).login("staff", next_url=target)
        assert response.status_code == 302, repr(target)
        assert response.headers["Location"] == "/staff/", repr(target)


def test_pages_of_the_console_are_kept(app: Flask, world: World) -> None:
    for target in (
        "/staff/requests?q=1",
        "/staff/residents?q=Desa+Tembok",
        "/staff/residents?q=Desa%20Tembok",
        "/staff/broadcasts/new?audience=status&request_status=ready",
        "/simulator?phone=%2B6281200000001",
    ):
        assert local_target(target) == target
        response = Browser(app).login("staff", next_url=target)
        assert response.headers["Location"] == target


@given(st.text(max_size=80) | st.from_regex(r"\A[/\\\t%2FfC5c:.a-z]{0,12}\Z"))
def test_no_target_leaves_the_site(target: str) -> None:
    kept = local_target(target)
    if kept is None:
        return
    assert browser_reading(kept) == ("", ""), repr(kept)
    assert kept.startswith(("/staff", "/simulator")), repr(kept)
    assert not any(ord(c) < 0x21 or c == "\\" for c in kept), repr(kept)
