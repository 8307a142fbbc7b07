"""The operator console on a real server, on both databases: sign-in and its limits, sessions
kept as rows (sign-out ends them for good, idle ones end), CSRF, the session search, the session
page with its calls and callbacks, and reveals recorded."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from maskline.service.console_auth import token_hash
from maskline.telemetry import mask_phones
from tests.console_client import ConsoleClient, csrf_token
from tests.contract.test_webhooks import Carrier, session
from tests.databases import query
from tests.support import FakeClock, ServerThread, Tenant


@contextlib.contextmanager
def signed_in(server: ServerThread, tenant: Tenant) -> Iterator[ConsoleClient]:
    with ConsoleClient(server.url) as client:
        assert client.sign_in(tenant.auth_id, tenant.auth_token).status_code == 303
        yield client


def test_signing_in_keeps_a_row_and_signing_out_removes_it(server: ServerThread, tenant: Tenant) -> None:
    with signed_in(server, tenant) as client:
        cookie = client.cookies["maskline_console"]
        token = cookie.rpartition(".")[0]
        rows = query(
            server.database, "SELECT auth_id FROM console_sessions WHERE token_hash = ?", token_hash(token)
        )
        assert rows == [(tenant.auth_id,)]
        page = client.get("/console/sessions")
        assert page.status_code == 200 and tenant.auth_id in page.text
        assert client.submit("/console/sign-out").status_code == 303
        assert (
            query(server.database, "SELECT 1 FROM console_sessions WHERE token_hash = ?", token_hash(token))
            == []
        )
    # The cookie as it was: no longer a sign-in.
    with httpx.Client(base_url=server.url, trust_env=False, cookies={"maskline_console": cookie}) as stale:
        reply = stale.get("/console/sessions")
        assert reply.status_code == 303 and reply.headers["location"].startswith("/console/sign-in")


def test_the_cookie_is_signed_and_flagged(server: ServerThread, tenant: Tenant) -> None:
    with ConsoleClient(server.url) as client:
        form = client.get("/console/sign-in")
        reply = client.post(
            "/console/sign-in",
            data={
                "csrf_token": csrf_token(form.text),
                "auth_id": tenant.auth_id,
                "auth_token": tenant.auth_token,
            },
        )
        set_cookie = [
            v for k, v in reply.headers.multi_items() if k == "set-cookie" and "maskline_console=" in v
        ]
        [header] = set_cookie
        assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/console" in header
        assert "Secure" not in header  # plain HTTP here; over TLS it is Secure
        value = client.cookies["maskline_console"]
        forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    with httpx.Client(base_url=server.url, trust_env=False, cookies={"maskline_console": forged}) as other:
        assert other.get("/console/sessions").status_code == 303


def test_a_wrong_token_is_refused_and_counts_against_the_apis_limit(database: str) -> None:
    server = ServerThread(database, FakeClock(), auth_failures_per_minute=3).start()
    try:
        tenant = server.tenant()
        with ConsoleClient(server.url) as client:
            for _ in range(2):
                reply = client.sign_in(tenant.auth_id, "wrong-token")
                assert reply.status_code == 401 and "Authentication failed" in reply.text
                assert "maskline_console" not in client.cookies
        # The API's failures and the console's share one budget per client address.
        with httpx.Client(trust_env=False) as api:
            url = f"{server.url}/v1/Account/{tenant.auth_id}/Masking/Session/"
            assert api.get(url, auth=(tenant.auth_id, "wrong")).status_code == 401
            assert api.get(url, auth=(tenant.auth_id, tenant.auth_token)).status_code == 429
        with ConsoleClient(server.url) as client:
            reply = client.sign_in(tenant.auth_id, tenant.auth_token)
            assert reply.status_code == 429 and "Retry-After" in reply.headers
    finally:
        server.stop()


def test_a_sign_in_ends_when_idle(database: str) -> None:
    clock = FakeClock()
    server = ServerThread(database, clock, console_idle_minutes=5).start()
    try:
        tenant = server.tenant()
        with signed_in(server, tenant) as client:
            clock.advance(4 * 60)
            assert client.get("/console/sessions").status_code == 200  # activity: idle again from here
            clock.advance(4 * 60)
            assert client.get("/console/sessions").status_code == 200
            clock.advance(5 * 60 + 1)
            assert client.get("/console/sessions").status_code == 303
    finally:
        server.stop()


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    server: ServerThread, tenant: Tenant
) -> None:
    with signed_in(server, tenant) as client:
        token = client.cookies["maskline_console"].rpartition(".")[0]
        for fields in ({}, {"csrf_token": "not-it"}):
            reply = client.post("/console/sign-out", data=fields)
            assert reply.status_code == 403
        assert query(
            server.database, "SELECT 1 FROM console_sessions WHERE token_hash = ?", token_hash(token)
        )
        # The right token from another origin is refused too.
        reply = client.post(
            "/console/sign-out", data={"csrf_token": client.token}, headers={"Origin": "https://evil.example"}
        )
        assert reply.status_code == 403
        assert client.get("/console/sessions").status_code == 200
        # So is a sign-in form without its token.
    with httpx.Client(base_url=server.url, trust_env=False, headers={"Origin": server.url}) as bare:
        reply = bare.post(
            "/console/sign-in", data={"auth_id": tenant.auth_id, "auth_token": tenant.auth_token}
        )
        assert reply.status_code == 403 and "maskline_console" not in bare.cookies


def test_searching_by_a_party_finds_its_sessions_and_no_number_is_shown_whole(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    found = session(http)
    other = session(http)
    first = "+" + found["first_party"]
    with signed_in(server, tenant) as client:
        page = client.submit("/console/sessions", party=first).text
        assert found["session_uuid"] in page and other["session_uuid"] not in page
        assert mask_phones(first) in page
        # The number searched for stays in the form's fields (the operator typed it), and
        # is shown nowhere else.
        assert page.count(first) == page.count(f'value="{first}"') == 1
        shown = page.replace(f'value="{first}"', "")
        for s in (found, other):
            for field in ("first_party", "second_party", "virtual_number"):
                assert s[field] not in shown
        bad = client.submit("/console/sessions", party="not a number")
        assert bad.status_code == 400 and "party is not a valid phone number" in bad.text


def test_a_subaccount_sees_only_its_own_sessions_and_a_main_account_its_subaccounts(
    server: ServerThread, tenant: Tenant
) -> None:
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    with server.api(sub) as as_sub, server.api(tenant) as as_main:
        mine = session(as_sub)
        parents = session(as_main)
    with signed_in(server, sub) as client:
        page = client.get("/console/sessions").text
        assert mine["session_uuid"] in page and parents["session_uuid"] not in page
        assert client.get(f"/console/sessions/{parents['session_uuid']}").status_code == 404
    with signed_in(server, tenant) as client:
        page = client.get("/console/sessions").text
        assert mine["session_uuid"] in page and parents["session_uuid"] in page
        only = client.submit("/console/sessions", subaccount=sub.auth_id).text
        assert mine["session_uuid"] in only and parents["session_uuid"] not in only


def test_the_session_page_shows_calls_and_callbacks_and_a_reveal_is_recorded(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    carrier = Carrier(server, tenant, "plivo")
    s = session(http, callback_url="http://127.0.0.1:9/unreachable")
    carrier.call("console-1", "+" + s["first_party"], "+" + s["virtual_number"])
    carrier.leg("console-1", "answered")
    carrier.hangup("console-1")
    with signed_in(server, tenant) as client:
        page = client.get(f"/console/sessions/{s['session_uuid']}").text
        assert "Call at" in page and "completed" in page
        assert "SessionFirstPartyAnswer" in page and "http://127.0.0.1:9/unreachable" in page
        assert re.search(r"<td data-label=\"State\">retrying</td>", page)  # port 9 never answers
        assert s["first_party"] not in page
        revealed = client.submit(f"/console/sessions/{s['session_uuid']}/reveal", field="first_party")
        assert revealed.status_code == 200 and "+" + s["first_party"] in revealed.text
        assert s["second_party"] not in revealed.text
    rows = query(
        server.database,
        "SELECT auth_id, field FROM console_reveals WHERE session_uuid = ?",
        s["session_uuid"],
    )
    assert rows == [(tenant.auth_id, "first_party")]


def test_the_cookie_secret_is_one_for_every_process(server: ServerThread, tenant: Tenant) -> None:
    with signed_in(server, tenant):
        pass
    [(secret,)] = query(server.database, "SELECT secret FROM console_secrets")
    assert len(str(secret)) >= 32


def test_a_rotated_token_ends_the_accounts_console_sign_ins(server: ServerThread, tenant: Tenant) -> None:
    from maskline.service.accounts import rotate_token

    with signed_in(server, tenant) as client:
        assert client.get("/console/sessions").status_code == 200
        server._with_store(lambda store: rotate_token(store.accounts, tenant.auth_id))
        assert client.get("/console/sessions").status_code == 303


def test_a_link_to_a_session_comes_back_to_it_after_signing_in(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    s = session(http)
    page = f"/console/sessions/{s['session_uuid']}"
    with ConsoleClient(server.url) as client:
        reply = client.get(page)
        assert reply.status_code == 303
        assert reply.headers["location"] == "/console/sign-in?next=" + page.replace("/", "%2F")
        form = client.get(reply.headers["location"])
        reply = client.post(
            "/console/sign-in",
            data={
                "csrf_token": csrf_token(form.text),
                "next": page,
                "auth_id": tenant.auth_id,
                "auth_token": tenant.auth_token,
            },
        )
        assert reply.status_code == 303 and reply.headers["location"] == page


def test_the_log_holds_no_full_number(
    server: ServerThread, tenant: Tenant, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """What the console logs, before the log's own masking: searches and reveals name no full
    number."""
    s = session(http)
    with caplog.at_level(logging.DEBUG), signed_in(server, tenant) as client:
        client.submit(
            "/console/sessions", party="+" + s["first_party"], virtual_number="+" + s["virtual_number"]
        )
        client.submit(f"/console/sessions/{s['session_uuid']}/reveal", field="second_party")
    said = "\n".join(record.getMessage() for record in caplog.records)
    assert f"revealed the second_party of session {s['session_uuid']}" in said
    assert "*" + s["second_party"][-4:] in said
    for field in ("first_party", "second_party", "virtual_number"):
        assert s[field] not in said


def test_a_path_under_the_console_that_is_no_page_gets_a_page(server: ServerThread) -> None:
    with httpx.Client(base_url=server.url, trust_env=False) as browser:
        reply = browser.get("/console/no-such-page")
        assert reply.status_code == 404 and reply.headers["content-type"].startswith("text/html")
        assert "No such page." in reply.text
        api = browser.get("/v1/no-such-path")  # the API's paths keep the API's JSON error
        assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")
