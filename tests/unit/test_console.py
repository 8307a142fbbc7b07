"""The console's pure parts: cookie signing, the CSRF and origin checks, sign-in lifetimes,
masking in templates, form reading, what a delivery's state is."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from maskline.domain.console import ConsoleLogin, Lifetimes, still_good
from maskline.domain.model import Account
from maskline.http.console import cookies, csrf
from maskline.http.console.forms import MAX_FIELDS, BadForm, read_form
from maskline.http.console.pages import NAV, Signed, masked, render, web_address
from maskline.http.forwarded import forwarded_scheme

SECRET = b"s" * 32


def request(headers: dict[str, str], scheme: str = "http", body: bytes = b"") -> Request:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": scheme,
        "path": "/console/sign-out",
        "query_string": b"",
        "server": ("console.example", 443 if scheme == "https" else 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


# -- cookies ------------------------------------------------------------------------------------
@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=64
    )
)
def test_a_signed_token_is_read_back(token: str) -> None:
    assert cookies.unsign(SECRET, cookies.sign(SECRET, token)) == token


@given(st.integers(min_value=0, max_value=42))
def test_a_changed_mac_is_refused(at: int) -> None:
    value = cookies.sign(SECRET, "the-token")
    position = len("the-token.") + at
    changed = value[:position] + ("A" if value[position] != "A" else "B") + value[position + 1 :]
    assert cookies.unsign(SECRET, changed) is None


@given(st.text(min_size=1, max_size=64).filter(lambda t: t != "the-token"))
def test_another_token_under_a_mac_is_refused(token: str) -> None:
    mac = cookies.sign(SECRET, "the-token").rpartition(".")[2]
    assert cookies.unsign(SECRET, f"{token}.{mac}") is None


def test_a_cookie_signed_with_another_secret_or_unsigned_is_refused() -> None:
    value = cookies.sign(b"o" * 32, "the-token")
    assert cookies.unsign(SECRET, value) is None
    for bad in ("", "the-token", ".", "the-token.", "." + value.split(".")[1], "x" * 300):
        assert cookies.unsign(SECRET, bad) is None


def test_cookie_flags_follow_the_scheme() -> None:
    from starlette.responses import Response

    for scheme, secure in (("http", False), ("https", True)):
        response = Response()
        cookies.set_cookie(response, request({}, scheme), cookies.SESSION, "v")
        header = response.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/console" in header
        assert ("Secure" in header) is secure
        assert "expires" not in header.lower() and "max-age" not in header.lower()


def test_a_trusted_proxy_names_the_scheme() -> None:
    assert forwarded_scheme("x-forwarded-for", [(b"x-forwarded-proto", b"https")]) == "https"
    assert forwarded_scheme("x-forwarded-for", [(b"x-forwarded-proto", b"http, https")]) == "https"
    assert forwarded_scheme("forwarded", [(b"forwarded", b'for=1.2.3.4;proto="https"')]) == "https"
    assert forwarded_scheme("forwarded", [(b"forwarded", b"for=1.2.3.4")]) is None
    assert forwarded_scheme("x-forwarded-for", [(b"x-forwarded-proto", b"gopher")]) is None


# -- CSRF ---------------------------------------------------------------------------------------
def test_tokens_match_only_the_expected_one() -> None:
    assert csrf.tokens_match("abc", "abc")
    assert not csrf.tokens_match("abc", "abd")
    assert not csrf.tokens_match("abc", "")
    assert not csrf.tokens_match("", "")  # no expected token: nothing goes


def test_the_sign_in_token_is_tied_to_the_nonce_and_secret() -> None:
    token = csrf.sign_in_token(SECRET, "n1")
    assert token == csrf.sign_in_token(SECRET, "n1")
    assert token != csrf.sign_in_token(SECRET, "n2")
    assert token != csrf.sign_in_token(b"o" * 32, "n1")


@pytest.mark.parametrize(
    ("headers", "scheme", "taken"),
    [
        ({"host": "console.example", "origin": "http://console.example"}, "http", True),
        ({"host": "console.example", "origin": "https://console.example"}, "https", True),
        # TLS ended at a proxy maskline was not told about: the browser's https origin is ours
        ({"host": "console.example", "origin": "https://console.example"}, "http", True),
        ({"host": "console.example", "origin": "http://console.example"}, "https", False),
        ({"host": "console.example", "origin": "https://evil.example"}, "https", False),
        ({"host": "console.example", "origin": "https://console.example.evil.example"}, "https", False),
        ({"host": "console.example", "origin": "null"}, "https", False),
        ({"host": "console.example", "referer": "https://console.example/console/sessions"}, "https", True),
        ({"host": "console.example", "referer": "https://evil.example/console.example"}, "https", False),
        ({"host": "console.example"}, "https", False),
        ({"origin": "https://console.example"}, "https", False),
    ],
)
def test_same_origin(headers: dict[str, str], scheme: str, taken: bool) -> None:
    assert csrf.same_origin(request(headers, scheme)) is taken


# -- lifetimes ----------------------------------------------------------------------------------
def login(created: int, last_seen: int) -> ConsoleLogin:
    return ConsoleLogin("h", "MA" + "0" * 18, "c", created, last_seen)


def test_idle_expiry() -> None:
    lifetimes = Lifetimes(idle=1800, absolute=43200)
    assert still_good(login(0, 0), 1799, lifetimes)
    assert not still_good(login(0, 0), 1800, lifetimes)
    assert still_good(login(0, 10000), 11799, lifetimes)  # seen since: idle from then


def test_absolute_lifetime_ends_even_an_active_sign_in() -> None:
    lifetimes = Lifetimes(idle=1800, absolute=43200)
    assert still_good(login(0, 43000), 43199, lifetimes)
    assert not still_good(login(0, 43199), 43200, lifetimes)


@given(st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**5))
def test_a_sign_in_is_good_exactly_within_both_lifetimes(created: int, seen_after: int, later: int) -> None:
    lifetimes = Lifetimes(idle=600, absolute=3600)
    entry = login(created, created + seen_after)
    now = created + seen_after + later
    assert still_good(entry, now, lifetimes) == (later < 600 and seen_after + later < 3600)


# -- masking and rendering ----------------------------------------------------------------------
def test_numbers_are_masked_to_their_last_four_digits() -> None:
    assert masked("+14155550100") == "+*******0100"
    assert masked("447700900123") == "********0123"
    assert masked("") == ""


def test_pages_escape_what_they_show_and_carry_the_csrf_token() -> None:
    signed = Signed(Account("MA" + "0" * 18, None), login(0, 0))
    page = render("error.html", signed, {"message": "<script>alert(1)</script>"}, status=400)
    body = bytes(page.body).decode()
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert 'name="csrf_token" value="c"' in body  # the sign-out form of the menu
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    for label, path in NAV:
        assert f'href="{path}"' in body and label in body


def test_every_input_has_a_label() -> None:
    import re

    from maskline.http.console.pages import environment

    signed = Signed(Account("MA" + "0" * 18, None), login(0, 0))
    for template, context in (
        ("sign_in.html", {"message": "", "auth_id": "", "next": "/console/sessions"}),
        (
            "sessions.html",
            {
                "filters": dict.fromkeys(
                    ("party", "virtual_number", "status", "created_from", "created_to", "subaccount"), ""
                ),
                "statuses": ("all",),
                "subaccounts": ["SA" + "1" * 18],
                "sessions": [],
                "total": 0,
                "offset": 0,
                "limit": 20,
                "message": "",
                "now": 0,
            },
        ),
    ):
        body = (
            environment()
            .get_template(template)
            .render(account=signed.account, csrf_token="c", current="", **context)
        )
        fields = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', body)
        assert fields, template
        for field in fields:
            assert f'<label for="{field}">' in body, (template, field)
        for tag in re.findall(r"<(?:input|select)\b[^>]*>", body):
            assert 'type="hidden"' in tag or "id=" in tag, tag


# -- forms and deliveries -----------------------------------------------------------------------
def form_of(body: bytes, kind: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    return asyncio.run(
        read_form(request({"content-type": kind, "content-length": str(len(body))}, body=body))
    )


def test_forms_are_read_within_bounds() -> None:
    assert form_of(b"a=1&b=%2B14155550100&a=2") == {"a": "1", "b": "+14155550100"}
    with pytest.raises(BadForm):
        form_of(b"a=1", "application/json")
    with pytest.raises(BadForm):
        form_of(b"a=" + b"x" * 20000)
    with pytest.raises(BadForm):
        form_of("&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1)).encode())
    with pytest.raises(BadForm):
        form_of(b"a=\xff")


def test_every_template_and_style_sheet_ships_as_package_data() -> None:
    """A non-editable install carries only what ``[tool.setuptools.package-data]`` names."""
    import fnmatch
    import tomllib
    from pathlib import Path

    import maskline.http.console

    root = Path(__file__).resolve().parents[2]
    listed = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = listed["maskline.http.console"]
    folder = Path(maskline.http.console.__file__).parent
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    data = [f for f in files if not f.endswith((".py", ".pyc")) and "__pycache__" not in f]
    assert data
    for name in data:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "http:javascript:alert(1)",
        "//evil.example/r.wav",
        "/r.wav",
        "",
    ],
)
def test_only_a_web_address_is_a_link(url: str) -> None:
    assert not web_address(url)


def test_a_web_address_is_a_link() -> None:
    assert web_address("https://media.example.com/r.wav") and web_address("HTTP://media.example.com/r")


def test_a_page_to_come_back_to_is_a_console_page_written_plainly() -> None:
    from maskline.http.console.guard import return_path

    page = "/console/sessions/c1234567-89ab-4def-8123-456789012345"
    assert return_path(page) == page  # a uuid's digits are no phone number
    assert return_path("/console/sessions") == "/console/sessions"
    for other in (
        "/console/sessions/%2e%2e",  # escaped
        "/console/sessions/<script>",
        "/console/sessions/+14155550161",  # a number: it would go into the sign-in form's address
        "/console/sessions/14155550161",
        "/console/no-such-page",
        "/v1/Account/MA/Masking/Session/",
        "//evil.example/console/sessions",
    ):
        assert return_path(other) == "", other
