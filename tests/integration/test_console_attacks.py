"""The operator console attacked on a real server: forged and cross-site forms, forged and stale
cookies, cookie flags behind proxies, one tenant reaching another's sessions, fixation, open
redirects, markup in stored data, full numbers where they do not belong, guessing tokens, and
hostile bodies and connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from maskline.http.console import cookies
from maskline.http.console.pages import environment
from maskline.service.console_auth import token_hash
from tests.console_client import ConsoleClient, csrf_token
from tests.contract.test_messages import Texter
from tests.contract.test_webhooks import Carrier, session
from tests.databases import Databases, query
from tests.support import FakeClock, ServerProcess, ServerThread, Tenant, maskline

PAGES_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@contextlib.contextmanager
def signed_in(server: ServerThread, tenant: Tenant) -> Iterator[ConsoleClient]:
    with ConsoleClient(server.url) as client:
        assert client.sign_in(tenant.auth_id, tenant.auth_token).status_code == 303
        yield client


def bare(server: ServerThread, **options: object) -> httpx.Client:
    return httpx.Client(base_url=server.url, trust_env=False, timeout=30, **options)  # type: ignore[arg-type]


def sign_in_rows(server: ServerThread, client: httpx.Client) -> list[tuple[object, ...]]:
    token = client.cookies[cookies.SESSION].rpartition(".")[0]
    return query(
        server.database, "SELECT auth_id FROM console_sessions WHERE token_hash = ?", token_hash(token)
    )


def execute(url: str, sql: str, *args: object) -> None:
    """One committed write on the database at ``url``, from outside the server."""
    from maskline.store.open import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute(sql, args)
            db.commit()
        return

    async def write() -> None:
        import asyncpg

        from maskline.store.postgres import numbered

        connection = await asyncpg.connect(url)
        try:
            await connection.execute(numbered(sql), *args)
        finally:
            await connection.close()

    asyncio.run(write())


# -- CSRF ------------------------------------------------------------------------------------


def test_forms_without_their_sign_ins_token_or_origin_are_refused(
    server: ServerThread, tenant: Tenant
) -> None:
    other = server.tenant(numbers=0)
    with signed_in(server, tenant) as client, signed_in(server, other) as intruder:
        with ConsoleClient(server.url) as before:  # a sign-in form's token, from before signing in
            early = csrf_token(before.get("/console/sign-in").text)
        origin = server.url
        attempts = [
            ({}, {"Origin": origin}),
            ({"csrf_token": intruder.token}, {"Origin": origin}),  # another sign-in's token
            ({"csrf_token": early}, {"Origin": origin}),
            ({"csrf_token": client.token}, {"Origin": "https://evil.example"}),
            ({"csrf_token": client.token}, {"Origin": "null"}),
            ({"csrf_token": client.token}, {"Origin": origin + ".evil.example"}),
            ({"csrf_token": client.token}, {"Origin": "", "Referer": "https://evil.example/console/"}),
            ({"csrf_token": client.token}, {"Origin": ""}),  # neither Origin nor Referer
        ]
        for fields, headers in attempts:
            for path, extra in (("/console/sign-out", {}), ("/console/sessions", {"party": ""})):
                request = client.build_request("POST", path, data={**fields, **extra}, headers=headers)
                if not headers.get("Origin"):
                    del request.headers["Origin"]
                reply = client.send(request)
                assert reply.status_code == 403, (fields, headers, path)
                assert "<table" not in reply.text
        assert sign_in_rows(server, client) == [(tenant.auth_id,)]
        # A same-origin Referer stands in for a missing Origin.
        request = client.build_request(
            "POST",
            "/console/sessions",
            data={"csrf_token": client.token},
            headers={"Referer": origin + "/console/"},
        )
        del request.headers["Origin"]
        assert client.send(request).status_code == 200


def test_a_sign_in_cannot_be_forged_from_another_browser(server: ServerThread, tenant: Tenant) -> None:
    """Login CSRF: the attacker's own form token does not sign the victim's browser in."""
    with ConsoleClient(server.url) as attacker:
        token = csrf_token(attacker.get("/console/sign-in").text)
    credentials = {"auth_id": tenant.auth_id, "auth_token": tenant.auth_token, "csrf_token": token}
    with ConsoleClient(server.url) as victim:
        victim.get("/console/sign-in")  # the victim's own pre-sign-in cookie
        reply = victim.post("/console/sign-in", data=credentials)
        assert reply.status_code == 403 and cookies.SESSION not in victim.cookies
    with ConsoleClient(server.url) as victim:  # no pre-sign-in cookie at all
        reply = victim.post("/console/sign-in", data=credentials)
        assert reply.status_code == 403 and cookies.SESSION not in victim.cookies
    with ConsoleClient(server.url) as victim:  # its own token, but posted from another site
        form = victim.get("/console/sign-in")
        reply = victim.post(
            "/console/sign-in",
            data={**credentials, "csrf_token": csrf_token(form.text)},
            headers={"Origin": "https://evil.example"},
        )
        assert reply.status_code == 403 and cookies.SESSION not in victim.cookies


# -- cookies ---------------------------------------------------------------------------------


def test_forged_foreign_and_ended_cookies_are_no_sign_in(server: ServerThread, tenant: Tenant) -> None:
    with signed_in(server, tenant) as client:
        value = client.cookies[cookies.SESSION]
        token, _, mac = value.rpartition(".")
    forged = [
        token + "." + mac[::-1],
        token[:-1] + ("A" if token[-1] != "A" else "B") + "." + mac,  # token altered, old signature
        cookies.sign(secrets.token_bytes(32), token),  # signed under another secret
        token,  # unsigned
        value + "x" * 300,
    ]
    with ConsoleClient(server.url) as before:
        before.get("/console/sign-in")
        forged.append(before.cookies[cookies.PRE_SIGN_IN])  # signed by the same secret, but no sign-in
    for cookie in forged:
        with bare(server, cookies={cookies.SESSION: cookie}) as other:
            reply = other.get("/console/sessions")
            assert reply.status_code == 303 and reply.headers["location"].startswith("/console/sign-in")


def test_the_cookie_is_secure_only_when_a_trusted_proxy_says_tls(databases: Databases) -> None:
    def set_cookie(server: ServerThread, tenant: Tenant, headers: dict[str, str]) -> str:
        with ConsoleClient(server.url) as client:
            client.headers.update(headers)
            client.headers["Origin"] = server.url.replace("http:", "https:")  # as the browser sees it
            form = client.get("/console/sign-in")
            # A Secure cookie goes back only over TLS, which ends at the proxy: sent by hand here.
            pre = form.headers["set-cookie"].split(";")[0]
            client.cookies.clear()
            reply = client.post(
                "/console/sign-in",
                data={
                    "csrf_token": csrf_token(form.text),
                    "auth_id": tenant.auth_id,
                    "auth_token": tenant.auth_token,
                },
                headers={"Cookie": pre},
            )
            assert reply.status_code == 303
            [header] = [
                v for k, v in reply.headers.multi_items() if k == "set-cookie" and "maskline_console=" in v
            ]
            return header

    tls = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    untrusted = ServerThread(databases.new(), FakeClock()).start()
    try:
        header = set_cookie(untrusted, untrusted.tenant(numbers=0), tls)
        assert "Secure" not in header  # the client's own word is not believed
    finally:
        untrusted.stop()
    trusted = ServerThread(databases.new(), FakeClock(), trusted_proxies=("127.0.0.1/32",)).start()
    try:
        header = set_cookie(trusted, trusted.tenant(numbers=0), tls)
        assert "Secure" in header and "HttpOnly" in header and "Path=/console" in header
        assert "SameSite=lax" in header
    finally:
        trusted.stop()


def test_a_sign_in_ends_after_its_lifetime_however_active(databases: Databases) -> None:
    clock = FakeClock()
    server = ServerThread(databases.new(), clock, console_lifetime_hours=1).start()
    try:
        tenant = server.tenant(numbers=0)
        with signed_in(server, tenant) as client:
            for _ in range(5):
                clock.advance(10 * 60)
                assert client.get("/console/sessions").status_code == 200
            clock.advance(10 * 60 + 1)
            assert client.get("/console/sessions").status_code == 303
    finally:
        server.stop()


# -- tenants ---------------------------------------------------------------------------------


def test_no_tenant_reaches_another_tenants_sessions(server: ServerThread, tenant: Tenant) -> None:
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    stranger = server.tenant(numbers=1)
    stranger_sub = server.tenant(numbers=1, parent=stranger.auth_id)
    with server.api(tenant) as as_main:
        parents = session(as_main)
    with server.api(stranger_sub) as as_stranger_sub:
        theirs = session(as_stranger_sub)

    def cannot_reach(client: ConsoleClient, s: dict, subaccount: str) -> None:
        uuid = s["session_uuid"]
        for spelling in (uuid, uuid.upper(), uuid.replace("-", "")):
            page = client.get(f"/console/sessions/{spelling}")
            assert page.status_code == 404 and s["first_party"][-4:] not in page.text
            reveal = client.submit(f"/console/sessions/{spelling}/reveal", field="first_party")
            assert reveal.status_code == 404 and s["first_party"] not in reveal.text
        found = client.submit("/console/sessions", party="+" + s["first_party"])
        assert uuid not in found.text
        found = client.submit("/console/sessions", subaccount=subaccount)
        assert uuid not in found.text
        found = client.submit("/console/sessions", virtual_number="+" + s["virtual_number"])
        assert uuid not in found.text

    with signed_in(server, stranger) as client:
        cannot_reach(client, parents, sub.auth_id)
    with signed_in(server, sub) as client:
        cannot_reach(client, parents, tenant.auth_id)
        cannot_reach(client, theirs, stranger_sub.auth_id)
    with signed_in(server, tenant) as client:
        cannot_reach(client, theirs, stranger_sub.auth_id)
    reveals = "SELECT 1 FROM console_reveals WHERE session_uuid IN (?, ?)"
    assert query(server.database, reveals, parents["session_uuid"], theirs["session_uuid"]) == []


def test_no_tenant_acts_on_another_tenants_numbers(server: ServerThread, tenant: Tenant) -> None:
    stranger = server.tenant(numbers=1)
    stranger_sub = server.tenant(numbers=1, parent=stranger.auth_id)
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    theirs = [*stranger.numbers, *stranger_sub.numbers]

    def states() -> list[tuple[object, ...]]:
        found = [
            query(server.database, "SELECT pool_id, state FROM numbers WHERE number = ?", n) for n in theirs
        ]
        return [row for rows in found for row in rows]

    before = states()
    assert len(before) == 2
    with signed_in(server, tenant) as client:
        for number in theirs:
            for action in ("retire", "replace"):
                reply = client.submit(f"/console/pools/{action}", number=number, confirm="yes")
                assert reply.status_code in (400, 404), (action, reply.status_code)
        reply = client.submit(
            "/console/pools/add", numbers="+14155550177", subaccount=stranger_sub.auth_id, confirm="yes"
        )
        assert reply.status_code >= 400
        reply = client.submit("/console/pools/add", numbers=theirs[0], confirm="yes")
        assert reply.status_code >= 400 or "already" in reply.text.lower()
    with signed_in(server, sub) as client:
        for action in ("retire", "replace"):
            assert (
                client.submit(f"/console/pools/{action}", number=sub.numbers[0], confirm="yes").status_code
                == 403
            )
    assert states() == before
    assert query(server.database, "SELECT 1 FROM numbers WHERE number = '+14155550177'") == []


# -- fixation and redirects ------------------------------------------------------------------


def test_signing_in_gives_a_new_token_and_ends_the_browsers_previous_sign_in(
    server: ServerThread, tenant: Tenant
) -> None:
    other = server.tenant(numbers=0)
    with signed_in(server, other) as planted:  # a sign-in of the attacker's, its cookie planted
        value = planted.cookies[cookies.SESSION]
    with ConsoleClient(server.url) as client:
        client.cookies.set(cookies.SESSION, value, path="/console")
        form = client.get("/console/sign-in")
        assert form.status_code == 303  # signed in (as the attacker): the form is not shown
        token = csrf_token(client.get("/console/sessions").text)
        reply = client.post(
            "/console/sign-in",
            data={"csrf_token": token, "auth_id": tenant.auth_id, "auth_token": tenant.auth_token},
        )
        assert reply.status_code == 303
        fresh = reply.headers["set-cookie"].split(";")[0].partition("=")[2]
        assert fresh and fresh != value
        new = fresh.rpartition(".")[0]
        rows = query(
            server.database, "SELECT auth_id FROM console_sessions WHERE token_hash = ?", token_hash(new)
        )
        assert rows == [(tenant.auth_id,)]
        # The sign-in the browser held before is over: its cookie no longer signs anyone in.
        old = value.rpartition(".")[0]
        assert (
            query(server.database, "SELECT 1 FROM console_sessions WHERE token_hash = ?", token_hash(old))
            == []
        )


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "/%2F%2Fevil.example/",
        "%2F%2Fevil.example",
        "https:evil.example",
        "/console/../\\evil.example",
        "/console/sessions/\\evil.example",
        "/console//evil.example",
        "/console/sessions/x\r\nSet-Cookie: planted=1",
        "/console/sessions/x%0d%0aSet-Cookie:%20planted=1",
        "javascript:alert(1)",
        "/console/sessions/+14155550100",  # a console page, but its address would name a number
    ],
)
def test_the_return_path_never_leaves_the_console(
    server: ServerThread, tenant: Tenant, elsewhere: str
) -> None:
    with ConsoleClient(server.url) as client:
        form = client.get("/console/sign-in", params={"next": elsewhere})
        assert form.status_code == 200
        kept = re.findall(r'name="next" value="([^"]*)"', form.text)
        assert all(value.startswith("/console/") for value in kept)  # a console page, if any
        assert "evil" not in form.text and "14155550100" not in form.text
        reply = client.post(
            "/console/sign-in",
            data={
                "csrf_token": csrf_token(form.text),
                "next": elsewhere,
                "auth_id": tenant.auth_id,
                "auth_token": tenant.auth_token,
            },
        )
        assert reply.status_code == 303
        location = reply.headers["location"]
        assert location.startswith("/console/") and not location.startswith(("//", "/\\"))
        assert location == "/console/sessions"  # home: none of these is a page to come back to
        assert not re.search(r"[\s\\]", location)  # percent-encoded: no header, no backslash
        assert "planted" not in reply.headers.get("set-cookie", "") and "planted" not in client.cookies


# -- markup in stored data -------------------------------------------------------------------

SCRIPT = '"><script>alert(1)</script>'


def test_stored_markup_is_escaped_and_no_script_url_is_a_link(databases: Databases) -> None:
    server = ServerThread(databases.new(), FakeClock(), message_retain_bodies=True).start()
    try:
        tenant = server.tenant()
        with server.api(tenant) as http:
            s = session(http, callback_url="http://127.0.0.1:9/cb?x=" + SCRIPT.replace(" ", ""), record=True)
        uuid = s["session_uuid"]
        carrier = Carrier(server, tenant, "plivo")
        carrier.call("xss-1", "+" + s["first_party"], "+" + s["virtual_number"])
        carrier.leg("xss-1", "answered")
        recording = {
            "CallUUID": "xss-1",
            "RecordUrl": "javascript:alert(document.domain)//",
            "RecordingID": "r1",
        }
        assert carrier.post("recording", recording, {"call": "xss-1"}).status_code == 200
        carrier.hangup("xss-1")
        Texter(server, tenant, "plivo").text("+" + s["first_party"], "+" + s["virtual_number"], SCRIPT)
        execute(server.database, "UPDATE events SET last_error = ? WHERE session_uuid = ?", SCRIPT, uuid)
        with signed_in(server, tenant) as client:
            page = client.get(f"/console/sessions/{uuid}")
            assert page.status_code == 200
            assert "<script" not in page.text.lower()
            assert "&lt;script&gt;" in page.text  # the body and the last error, shown as text
            assert not re.search(r"href=\"\s*javascript:", page.text, re.I)
            assert "javascript:alert(document.domain)//" in page.text  # shown, not linked
    finally:
        server.stop()


def test_recording_links_are_web_addresses_only(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    s = session(http, record=True)
    carrier = Carrier(server, tenant, "plivo")
    carrier.call("rec-1", "+" + s["first_party"], "+" + s["virtual_number"])
    carrier.leg("rec-1", "answered")
    url = "https://media.example.com/r.wav"
    assert (
        carrier.post(
            "recording", {"CallUUID": "rec-1", "RecordUrl": url, "RecordingID": "r1"}, {"call": "rec-1"}
        ).status_code
        == 200
    )
    with signed_in(server, tenant) as client:
        assert f'href="{url}"' in client.get(f"/console/sessions/{s['session_uuid']}").text


def test_typed_markup_is_escaped(server: ServerThread, tenant: Tenant) -> None:
    with ConsoleClient(server.url) as client:
        form = client.get("/console/sign-in", params={"next": "/console/sessions/" + SCRIPT})
        assert "<script" not in form.text
        reply = client.post("/console/sign-in", data={"csrf_token": csrf_token(form.text), "auth_id": SCRIPT})
        assert reply.status_code == 401 and "<script" not in reply.text
    with signed_in(server, tenant) as client:
        for name in ("party", "virtual_number", "status", "created_from", "subaccount", "offset"):
            reply = client.submit("/console/sessions", **{name: SCRIPT})
            assert reply.status_code in (200, 400) and "<script" not in reply.text, name


def test_every_template_is_escaped_and_none_marks_data_safe() -> None:
    """Only the pools' charts are put in as they are: SVG that ``maskline.domain.chart`` makes,
    escaping every text in it (tests/unit/test_chart.py)."""
    env = environment()
    folder = Path(__file__).parents[2] / "src/maskline/http/console/templates"
    names = sorted(p.name for p in folder.glob("*.html"))
    assert names and sorted(env.list_templates()) == names
    assert env.autoescape is True
    for name in names:
        text = (folder / name).read_text()
        assert "autoescape false" not in text and "Markup" not in text, name
        assert set(re.findall(r"\{\{\s*([\w.]+)\s*\|\s*safe", text)) <= {"svg"}, name
        assert len(re.findall(r"\|\s*safe", text)) == len(re.findall(r"\{\{\s*svg\s*\|\s*safe", text)), name


# -- privacy ---------------------------------------------------------------------------------


def test_no_full_number_in_a_url_a_location_or_the_log(
    server: ServerThread, tenant: Tenant, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    s = session(http)
    numbers = [s["first_party"], s["second_party"], s["virtual_number"]]
    seen: list[str] = []

    def record(response: httpx.Response) -> None:
        seen.append(response.headers.get("location", ""))

    with caplog.at_level(logging.DEBUG):
        with ConsoleClient(server.url) as stranger:
            stranger.event_hooks["response"].append(record)
            for path in (f"/console/sessions/+{numbers[0]}", f"/console/sessions/{numbers[0]}"):
                reply = stranger.get(path)
                assert numbers[0] not in reply.headers.get("location", "")
            stranger.sign_in("+" + numbers[0], "wrong")  # a number typed as the auth ID
        with signed_in(server, tenant) as client:
            client.event_hooks["response"].append(record)
            client.event_hooks["request"].append(lambda request: seen.append(str(request.url)))
            client.submit("/console/sessions", party="+" + numbers[0], virtual_number="+" + numbers[2])
            page = client.submit("/console/sessions", party="+" + numbers[1], offset="0")
            assert s["session_uuid"] in page.text
            client.get(f"/console/sessions/{s['session_uuid']}")
            revealed = client.submit(f"/console/sessions/{s['session_uuid']}/reveal", field="first_party")
            assert "+" + numbers[0] in revealed.text
    said = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    for number in numbers:
        assert number not in said
        assert all(number not in url for url in seen)
    assert query(
        server.database, "SELECT field FROM console_reveals WHERE session_uuid = ?", s["session_uuid"]
    ) == [("first_party",)]


def test_the_served_log_holds_no_full_number(database: str) -> None:
    """What ``maskline serve`` writes while the console is driven, access lines included."""
    made = json.loads(maskline("account", "create", database=database).stdout)
    maskline("number", "add", "+14155550100", "--account", made["auth_id"], database=database)
    first, second = "+14155550111", "+14155550122"
    server = ServerProcess(database, env={"MASKLINE_LOG_LEVEL": "debug"})
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
            created = http.post(
                f"/v1/Account/{made['auth_id']}/Masking/Session/",
                json={"first_party": first, "second_party": second},
                auth=(made["auth_id"], made["auth_token"]),
            ).json()
        with ConsoleClient(server.url) as client:
            client.get(f"/console/sessions/{first}")
            client.get(f"/console/sessions/{first}/reveal")
            client.post(f"/console/sessions/{first}/reveal", data={"field": "first_party"})
            client.sign_in(first, "wrong")
            assert client.sign_in(made["auth_id"], made["auth_token"]).status_code == 303
            client.submit("/console/sessions", party=first, virtual_number="+14155550100")
            client.get(f"/console/sessions/{created['session_uuid']}")
            revealed = client.submit(
                f"/console/sessions/{created['session_uuid']}/reveal", field="first_party"
            )
            assert first in revealed.text
            client.submit(f"/console/sessions/{created['session_uuid']}/reveal", field="virtual_number")
    finally:
        output = server.stop()
    assert "revealed the first_party of session" in output and "*0111)" in output
    assert "/console/sessions/{session_uuid}" in output  # the access lines, by route template
    for number in (first, second, "+14155550100"):
        assert number[1:] not in output


# -- guessing --------------------------------------------------------------------------------


def test_a_wrong_token_and_an_unknown_account_are_told_apart_by_nothing(
    server: ServerThread, tenant: Tenant
) -> None:
    with ConsoleClient(server.url) as client:
        wrong = client.sign_in(tenant.auth_id, "wrong")
        unknown = client.sign_in("MA" + "Z" * 18, "wrong")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text.replace(tenant.auth_id, "MA" + "Z" * 18) == unknown.text.replace(
        csrf_token(unknown.text), csrf_token(wrong.text)
    )


def test_guessing_tokens_hits_the_shared_limit_whatever_the_client_claims(databases: Databases) -> None:
    server = ServerThread(databases.new(), FakeClock(), auth_failures_per_minute=5).start()
    try:
        tenant = server.tenant(numbers=0)
        with ConsoleClient(server.url) as client:
            for attempt in range(5):
                client.headers["X-Forwarded-For"] = f"198.51.100.{attempt}"  # not believed
                assert client.sign_in(tenant.auth_id, f"guess-{attempt}").status_code == 401
            reply = client.sign_in(tenant.auth_id, tenant.auth_token)
            assert reply.status_code == 429 and cookies.SESSION not in client.cookies
            assert int(reply.headers["retry-after"]) >= 1
    finally:
        server.stop()


# -- hostile input ---------------------------------------------------------------------------


def test_big_and_crowded_forms_are_refused_unread(server: ServerThread, tenant: Tenant) -> None:
    with signed_in(server, tenant) as client:
        many = "&".join(f"f{i}=1" for i in range(5000))
        for body in (
            f"csrf_token={client.token}&party=" + "1" * 40_000,  # over the console's limit, under the edge's
            f"csrf_token={client.token}&party=" + "1" * 2_000_000,  # over the edge's
            f"csrf_token={client.token}&{many}",
        ):
            try:
                reply = client.post(
                    "/console/sessions",
                    content=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            except httpx.TransportError:
                # Refused while the client was still sending: the connection closed under it.
                continue
            assert reply.status_code in (403, 413), reply.status_code
        # Filters out of every range are refused as the API's list refuses them.
        for fields in ({"offset": "9" * 30}, {"created_from": "9" * 40}, {"party": "+1" + "9" * 5000}):
            assert client.submit("/console/sessions", **fields).status_code == 400
        # Sent in chunks, without a length: counted as it comes.
        chunks = iter([f"csrf_token={client.token}&party=".encode()] + [b"1" * 4096] * 16)
        reply = client.post(
            "/console/sessions", content=chunks, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert reply.status_code == 403
        # The same form, sent as something else than a form, is no form either.
        reply = client.post("/console/sign-out", json={"csrf_token": client.token})
        assert reply.status_code == 403 and sign_in_rows(server, client)


def test_a_slow_client_is_cut_off(databases: Databases) -> None:
    server = ServerThread(databases.new(), FakeClock(), header_timeout=1, body_timeout=1).start()
    try:
        for head, trickle in (
            (b"GET /console/sessions HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n"),
            (
                b"POST /console/sign-in HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 1000\r\n\r\n",
                b"a",
            ),
        ):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(head)
                started = time.monotonic()
                closed = False
                while time.monotonic() - started < 6:
                    try:
                        sock.sendall(trickle)
                        sock.settimeout(0.3)
                        if sock.recv(4096) == b"":
                            closed = True
                            break
                        closed = True  # an answer (408) then the close
                        break
                    except TimeoutError:
                        continue
                    except OSError:
                        closed = True
                        break
                assert closed and time.monotonic() - started < 4
    finally:
        server.stop()


# -- headers ---------------------------------------------------------------------------------


def test_every_console_answer_is_unframeable_uncached_and_keeps_its_referrer(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    s = session(http)
    answers = []
    with ConsoleClient(server.url) as stranger:
        answers += [
            stranger.get("/console/sign-in"),
            stranger.get("/console/sessions"),
            stranger.get("/console"),
        ]
        answers.append(stranger.post("/console/sign-out", data={}))
    with signed_in(server, tenant) as client:
        answers += [
            client.get("/console/sessions"),
            client.get(f"/console/sessions/{s['session_uuid']}"),
            client.get("/console/sessions/00000000-0000-4000-8000-000000000000"),
            client.submit("/console/sessions", party="+" + s["first_party"]),
            client.submit("/console/sessions", party="nonsense"),
            client.submit(f"/console/sessions/{s['session_uuid']}/reveal", field="second_party"),
            client.submit(f"/console/sessions/{s['session_uuid']}/reveal", field="pin"),
            client.post("/console/sessions", data={}),
            client.get("/console/lookup"),
            client.get("/console/pools"),
            client.get("/console/carrier"),
            client.get("/console/no-such-page"),
        ]
    for reply in answers:
        assert reply.status_code < 500, reply.request.url
        for name, value in PAGES_HEADERS.items():
            assert reply.headers.get(name) == value, (reply.request.url, reply.status_code, name)
        assert "frame-ancestors 'none'" in reply.headers.get("content-security-policy", ""), reply.request.url
