"""The console's operator pages on a real server, on both databases: who called whom from calls
made through the carrier's webhooks, the pools with their charts, the number actions and their
confirmation step, the carrier's setup, each scoped as the API scopes, refusing a POST without
its CSRF token, and naming no full phone number in any URL they link or redirect to."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx

from tests.console_client import ConsoleClient
from tests.contract.test_webhooks import Carrier, session
from tests.support import ServerThread, Tenant, fresh_number

_LINKS = re.compile(r'(?:href|action)="([^"]*)"')
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_VALUES = re.compile(r'value="[^"]*"|<textarea[^>]*>[^<]*</textarea>')


@contextlib.contextmanager
def signed_in(server: ServerThread, tenant: Tenant) -> Iterator[ConsoleClient]:
    with ConsoleClient(server.url) as client:
        assert client.sign_in(tenant.auth_id, tenant.auth_token).status_code == 303
        yield client


def moment(server: ServerThread) -> str:
    """The server's time now, as the lookup form's field holds it."""
    return datetime.fromtimestamp(server.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def shown(page: str) -> str:
    """What a page shows: without the values of its form fields (a typed number, a number
    named by a hidden field of an action's form)."""
    return _VALUES.sub("", page)


def no_number_in(url: str) -> bool:
    return re.search(r"\d{7,}", _UUID.sub("", url)) is None and "+" not in url and "%2B" not in url


def number_state(server: ServerThread, tenant: Tenant, number: str) -> str:
    with server.api(tenant) as http:
        reply = http.get(f"/Number/{number}/")
        assert reply.status_code == 200, reply.text
        return str(reply.json()["response"]["status"])


def virtual_number_of(http: httpx.Client, s: dict[str, str]) -> str:
    return str(http.get(f"/Session/{s['session_uuid']}/").json()["response"]["virtual_number"])


def test_lookup_names_the_session_and_the_party_a_real_call_reached(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    carrier = Carrier(server, tenant, "plivo")
    s = session(http)
    caller, number = "+" + s["first_party"], "+" + s["virtual_number"]
    carrier.call("lookup-1", caller, number)
    carrier.leg("lookup-1", "answered")
    carrier.hangup("lookup-1")
    at = moment(server)
    server.clock.advance(60)
    with signed_in(server, tenant) as client:
        assert client.get("/console/lookup").status_code == 200
        reply = client.submit("/console/lookup", virtual_number=number, party=caller, at=at)
        assert reply.status_code == 200 and reply.url.path == "/console/lookup"
        page = shown(reply.text)
        assert f'href="/console/sessions/{s["session_uuid"]}"' in page
        assert "connected: the called party answered" in page
        assert "+*******" + s["second_party"][-4:] in page  # the counterpart, masked
        for field in ("first_party", "second_party", "virtual_number"):
            assert s[field] not in page
        # Who called this customer from our number: asked by the called party's number.
        called = shown(
            client.submit("/console/lookup", virtual_number=number, party="+" + s["second_party"], at=at).text
        )
        assert "Call to it" in called and "Called by" in called
        assert "+*******" + s["first_party"][-4:] + "</span> (first party)" in called
        # Far from the call, nothing was recorded, and the page says so.
        far = client.submit(
            "/console/lookup", virtual_number=number, party=caller, at="2001-01-01T00:00", tolerance="1"
        )
        assert "Nothing recorded" in far.text and "no call from or to that number" in far.text
        bad = client.submit("/console/lookup", virtual_number="not a number", party=caller, at=at)
        assert bad.status_code == 400 and "must be phone numbers" in bad.text


def test_a_refused_call_is_shown_with_its_reason(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    carrier = Carrier(server, tenant, "plivo")
    s = session(http)
    stranger, number = fresh_number(), "+" + s["virtual_number"]
    carrier.call("lookup-refused", stranger, number)
    carrier.hangup("lookup-refused")
    with signed_in(server, tenant) as client:
        page = client.submit(
            "/console/lookup", virtual_number=number, party=stranger, at=moment(server), tolerance="2"
        ).text
        assert "refused: routed to nobody" in page
        assert "the caller was a party of no session on this number" in page
        assert stranger not in shown(page)


def test_the_pools_page_shows_each_pool_with_its_chart_and_the_age_of_its_figures(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    session(http)
    with signed_in(server, tenant) as client:
        page = client.get("/console/pools")
        assert page.status_code == 200
        text = shown(page.text)
        assert f"{tenant.auth_id} · US" in text
        assert text.count("<svg") == 1 and 'role="img"' in text and "Live sessions" in text
        assert "Traffic figures and charts made" in text and " ago" in text
        for number in tenant.numbers:
            assert "+*******" + number[-4:] in text and number not in text
        # The figures are kept: a second view within the refresh shows the same time.
        made = re.search(r"made ([^(]+) \(", text)
        assert made is not None
        server.clock.advance(30)
        again = shown(client.get("/console/pools").text)
        assert f"made {made.group(1)} (" in again


def test_retiring_a_number_asks_first_and_acts_only_when_confirmed(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    s = session(http)
    number = "+" + s["virtual_number"]
    with signed_in(server, tenant) as client:
        confirm = client.submit("/console/pools/retire", number=number)
        assert confirm.status_code == 200
        assert f"Retire +*******{number[-4:]}" in confirm.text
        assert "Its 1 live session stays on it" in confirm.text
        assert 'name="confirm" value="yes"' in confirm.text
        assert number_state(server, tenant, number) == "in_service"
        acted = client.submit("/console/pools/retire", number=number, confirm="yes")
        assert (acted.status_code, acted.headers["location"]) == (303, "/console/pools/done")
        assert number_state(server, tenant, number) == "retired"
        with signed_in(server, tenant) as another:  # what an action did is its own sign-in's
            elsewhere = another.get("/console/pools/done")
            assert (elsewhere.status_code, elsewhere.headers["location"]) == (303, "/console/pools")
        done = client.get("/console/pools/done")
        assert done.status_code == 200 and f"+*******{number[-4:]} is retired" in done.text
        assert "Its 1 live session stays on it" in done.text and number not in done.text
        # Shown once: a reload goes to the pools, and posts nothing again.
        again = client.get("/console/pools/done")
        assert (again.status_code, again.headers["location"]) == (303, "/console/pools")
    with server.api(tenant) as as_main:  # its live session stays on it
        assert virtual_number_of(as_main, s) == s["virtual_number"]


def test_replacing_a_number_moves_its_live_sessions_once_confirmed(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    s = session(http)
    number = "+" + s["virtual_number"]
    with signed_in(server, tenant) as client:
        confirm = client.submit("/console/pools/replace", number=number)
        assert "its 1 live session moves to another number" in confirm.text
        assert number_state(server, tenant, number) == "in_service"
        assert virtual_number_of(http, s) == s["virtual_number"]
        assert client.submit("/console/pools/replace", number=number, confirm="yes").status_code == 303
        done = client.get("/console/pools/done")
        assert "1 session moved to another number, 0 not moved" in done.text
    assert number_state(server, tenant, number) == "retired"
    assert virtual_number_of(http, s) != s["virtual_number"]


def test_adding_numbers_asks_first_and_acts_only_when_confirmed(server: ServerThread, tenant: Tenant) -> None:
    new = [fresh_number("+1628"), fresh_number("+1628")]
    with signed_in(server, tenant) as client:
        confirm = client.submit("/console/pools/add", numbers="\n".join(new), country="")
        assert "Put 2 numbers in service" in confirm.text
        with server.api(tenant) as http:
            assert http.get(f"/Number/{new[0]}/").status_code == 404
        acted = client.submit("/console/pools/add", numbers="\n".join(new), country="", confirm="yes")
        assert acted.status_code == 303
        done = client.get("/console/pools/done")
        assert "2 numbers in service" in done.text
        for n in new:
            assert n not in shown(done.text)
            assert number_state(server, tenant, n) == "in_service"
        bad = client.submit("/console/pools/add", numbers="12")
        assert bad.status_code == 400 and "is not a valid phone number" in bad.text


def test_a_number_action_without_the_csrf_token_is_refused_and_changes_nothing(
    server: ServerThread, tenant: Tenant
) -> None:
    number = tenant.numbers[0]
    with signed_in(server, tenant) as client:
        for path in ("/console/pools/retire", "/console/pools/replace"):
            for fields in (
                {"number": number, "confirm": "yes"},
                {"csrf_token": "x", "number": number, "confirm": "yes"},
            ):
                assert client.post(path, data=fields).status_code == 403
        add = client.post("/console/pools/add", data={"numbers": fresh_number("+1628"), "confirm": "yes"})
        assert add.status_code == 403
        lookup = client.post(
            "/console/lookup", data={"virtual_number": number, "party": number, "at": "2026-01-01T00:00"}
        )
        assert lookup.status_code == 403
    assert number_state(server, tenant, number) == "in_service"


def test_a_subaccount_sees_only_its_own_pool_and_can_change_no_number(
    server: ServerThread, tenant: Tenant
) -> None:
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    other = server.tenant(numbers=1)
    with signed_in(server, sub) as client:
        page = shown(client.get("/console/pools").text)
        assert f"{sub.auth_id} · US" in page and f"{tenant.auth_id} · US" not in page
        assert "+*******" + sub.numbers[0][-4:] in page
        for n in tenant.numbers:
            assert "*" + n[-4:] not in page
        assert "/console/pools/retire" not in page and "/console/pools/add" not in page
        for target in (sub.numbers[0], tenant.numbers[0]):
            for path in ("/console/pools/retire", "/console/pools/replace"):
                assert client.submit(path, number=target, confirm="yes").status_code == 403
        assert (
            client.submit("/console/pools/add", numbers=fresh_number("+1628"), confirm="yes").status_code
            == 403
        )
    assert number_state(server, sub, sub.numbers[0]) == "in_service"
    assert number_state(server, tenant, tenant.numbers[0]) == "in_service"
    with signed_in(server, tenant) as client:
        page = shown(client.get("/console/pools").text)
        assert f"{sub.auth_id} · US" in page and f"{tenant.auth_id} · US" in page
        assert f"{other.auth_id} · US" not in page
        # Another account's number is none of this one's.
        reply = client.submit("/console/pools/retire", number=other.numbers[0], confirm="yes")
        assert reply.status_code == 404
    assert number_state(server, other, other.numbers[0]) == "in_service"


def test_the_carrier_page_says_how_to_connect_one_then_lists_the_urls(
    server: ServerThread, tenant: Tenant
) -> None:
    with signed_in(server, tenant) as client:
        page = client.get("/console/carrier").text
        assert "No carrier serves this account yet" in page
        assert f"maskline carrier set --account {tenant.auth_id}" in page
        Carrier(server, tenant, "plivo")
        page = client.get("/console/carrier").text
        for setting, action in (
            ("answer_url", "answer"),
            ("hangup_url", "hangup"),
            ("message_url", "message"),
        ):
            assert setting in page
            assert f"{server.url}/webhooks/plivo/{tenant.auth_id}/{action}" in page
        assert '<td data-label="Method">POST</td>' in page


def test_no_page_links_or_redirects_to_a_url_with_a_number(
    server: ServerThread, tenant: Tenant, http: httpx.Client
) -> None:
    carrier = Carrier(server, tenant, "plivo")
    s = session(http)
    caller, number = "+" + s["first_party"], "+" + s["virtual_number"]
    carrier.call("links-1", caller, number)
    carrier.hangup("links-1")
    with signed_in(server, tenant) as client:
        pages = [
            client.get("/console/lookup"),
            client.submit("/console/lookup", virtual_number=number, party=caller, at=moment(server)),
            client.get("/console/pools"),
            client.get("/console/carrier"),
            client.submit("/console/pools/retire", number=number),
            client.submit("/console/pools/replace", number=number),
            client.submit("/console/pools/add", numbers=fresh_number("+1628")),
        ]
        assert client.submit("/console/pools/replace", number=number, confirm="yes").status_code == 303
        pages.append(client.get("/console/pools/done"))
        for reply in pages:
            assert reply.status_code == 200, reply.text
            links = _LINKS.findall(reply.text)
            assert links
            for link in links:
                assert no_number_in(link), link
            assert no_number_in(str(reply.url))
            for earlier in reply.history:
                assert no_number_in(earlier.headers.get("location", ""))
    with ConsoleClient(server.url) as anonymous:
        for path in ("/console/lookup", "/console/pools", "/console/carrier"):
            reply = anonymous.get(path)
            assert reply.status_code == 303 and no_number_in(reply.headers["location"])
