"""Session events reach a local receiver: in order, signed, retried, and after a restart."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import plivo
import pytest
from plivo.utils import validate_v3_signature

from maskline.domain.events import Event, Outgoing, is_public_address
from maskline.telephony.callbacks import HttpCallbacks
from tests.contract.helpers import assert_error, raises_exact
from tests.contract.test_webhooks import TOKEN, Carrier, session
from tests.support import FakeClock, ServerThread, fresh_number, plivo_sdk

ValidationError = plivo.exceptions.ValidationError


class Hanging:
    """A receiver on 127.0.0.1 that accepts connections and never answers; it counts how many
    it holds open at once."""

    def __init__(self, drip: bool = False) -> None:
        self.drip = drip  # answer headers a byte at a time, forever, instead of nothing
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/events"
        self.open = self.most = self.accepted = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.accepted += 1
                self.most = max(self.most, self.open)
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.drip:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    while True:
                        conn.sendall(b"X")
                        time.sleep(0.05)
                while conn.recv(4096):  # read the request, never answer, until the client leaves
                    pass
            except OSError:
                pass
        with self._lock:
            self.open -= 1

    def close(self) -> None:
        self.listener.close()


class Receiver:
    """A callback receiver on 127.0.0.1 that can be told to fail its next requests."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, str]]] = []
        self.failures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500)
                else:
                    receiver.received.append((form, {k.lower(): v for k, v in self.headers.items()}))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def signed_by(self, token: str, index: int) -> bool:
        """Whether the ``index``-th event received carries a valid Plivo V3 signature by ``token``,
        as the receiver's own check (plivo.utils) finds it."""
        form, headers = self.received[index]
        nonce, signature = headers["x-plivo-signature-v3-nonce"], headers["x-plivo-signature-v3"]
        return bool(validate_v3_signature("POST", self.url, nonce, token, signature, form))

    def names(self) -> list[str]:
        return [form["EventName"] for form, _ in self.received]

    def wait_for(self, count: int, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, self.names()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def test_a_call_reports_every_step_in_order(
    receiver: Receiver, http: httpx.Client, server: ServerThread, tenant
) -> None:  # type: ignore[no-untyped-def]
    carrier = Carrier(server, tenant, "plivo")
    s = session(http, callback_url=receiver.url)
    carrier.call("ev-1", "+" + s["first_party"], "+" + s["virtual_number"])
    carrier.leg("ev-1", "ringing")
    carrier.leg("ev-1", "answered")
    carrier.leg("ev-1", "completed")
    carrier.hangup("ev-1")
    receiver.wait_for(6)
    assert receiver.names() == [
        "SessionFirstPartyAnswer",
        "SessionSecondPartyRing",
        "SessionSecondPartyAnswer",
        "SessionSecondPartyHangup",
        "SessionFirstPartyHangup",
        "SessionPartiesHangup",
    ]
    sequence = [int(form["SequenceNumber"]) for form, _ in receiver.received]
    assert sequence == [1, 2, 3, 4, 5, 6]
    form, _ = receiver.received[0]
    assert form["SessionUUID"] == s["session_uuid"] and form["From"] == s["first_party"]
    assert form["To"] == s["second_party"] and form["VirtualNumber"] == s["virtual_number"]
    assert receiver.signed_by(TOKEN, 0)


def test_a_subaccounts_events_are_signed_as_its_calls_are_carried(
    receiver: Receiver, server: ServerThread, tenant, http_for
) -> None:  # type: ignore[no-untyped-def]
    """A subaccount without a carrier of its own has its calls carried by its main account's;
    its events are signed with that carrier's token, as that carrier would sign them."""
    Carrier(server, tenant, "plivo")
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    s = session(http_for(sub), callback_url=receiver.url, session_expiry=60)
    server.clock.advance(61)
    receiver.wait_for(1)
    form, _ = receiver.received[0]
    assert (form["EventName"], form["SessionUUID"]) == ("SessionTimeout", s["session_uuid"])
    assert receiver.signed_by(TOKEN, 0)


@pytest.mark.parametrize("kind", ["plivo", "twilio"])
def test_late_and_repeated_reports_announce_nothing(
    kind: str, receiver: Receiver, http: httpx.Client, server: ServerThread, tenant
) -> None:  # type: ignore[no-untyped-def]
    carrier = Carrier(server, tenant, kind)
    s = session(http, callback_url=receiver.url)
    carrier.call("ev-6", "+" + s["first_party"], "+" + s["virtual_number"])
    carrier.leg("ev-6", "answered")
    carrier.leg("ev-6", "ringing")  # late: after the answer
    carrier.leg("ev-6", "answered")  # twice
    carrier.leg("ev-6", "completed")
    carrier.leg("ev-6", "answered")  # after the leg ended
    carrier.hangup("ev-6")
    carrier.hangup("ev-6")
    carrier.leg("ev-6", "completed")  # after the call ended
    receiver.wait_for(5)
    time.sleep(0.3)  # room for an event that should not exist
    assert receiver.names() == [
        "SessionFirstPartyAnswer",
        "SessionSecondPartyAnswer",
        "SessionSecondPartyHangup",
        "SessionFirstPartyHangup",
        "SessionPartiesHangup",
    ]
    [interaction] = http.get(f"/Session/{s['session_uuid']}/").json()["response"]["interaction"]
    assert (interaction["first_party_status"], interaction["second_party_status"]) == (
        "completed",
        "completed",
    )


def test_pin_events_and_session_timeout(
    receiver: Receiver, http: httpx.Client, server: ServerThread, tenant
) -> None:  # type: ignore[no-untyped-def]
    carrier = Carrier(server, tenant, "twilio")
    s = session(
        http,
        callback_url=receiver.url,
        session_expiry=60,
        is_pin_authentication_required=True,
        first_party_pin="4321",
        second_party_pin="8765",
        pin_prompt_play="https://cdn.example.com/p.mp3",
        pin_retry=2,
    )
    carrier.call("ev-2", fresh_number(), "+" + s["virtual_number"])
    carrier.pin("ev-2", "0000")
    carrier.pin("ev-2", "8765", attempt=1)
    receiver.wait_for(3)
    pins = [
        (f["PinAuthenticationStatus"], f["PinRetryCounter"])
        for f, _ in receiver.received
        if f["EventName"] == "SessionPinAuthenticationStatus"
    ]
    assert pins == [("failed", "1"), ("success", "1")]
    server.clock.advance(61)
    receiver.wait_for(4)
    assert receiver.names()[-1] == "SessionTimeout"
    time.sleep(0.3)  # more sweeps pass; the timeout is still sent once
    assert receiver.names().count("SessionTimeout") == 1


def test_a_failed_delivery_is_retried(
    receiver: Receiver, http: httpx.Client, server: ServerThread, tenant
) -> None:  # type: ignore[no-untyped-def]
    receiver.failures = 1
    carrier = Carrier(server, tenant, "plivo")
    s = session(http, callback_url=receiver.url)
    carrier.call("ev-3", "+" + s["first_party"], "+" + s["virtual_number"])
    deadline = time.monotonic() + 10
    while receiver.failures:  # wait for the first attempt, which the receiver fails
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.2)
    assert receiver.received == []  # no second attempt before the retry is due
    server.clock.advance(5)  # the first retry is due after 5 s
    receiver.wait_for(1)
    assert receiver.names() == ["SessionFirstPartyAnswer"]


def test_delivery_survives_a_restart(receiver: Receiver, database: str) -> None:
    clock = FakeClock()
    first = ServerThread(database, clock).start()
    tenant = first.tenant()
    carrier = Carrier(first, tenant, "plivo")
    receiver.failures = 100  # the receiver is down while the first server runs
    with first.api(tenant) as http:
        s = http.post(
            "/Session/",
            json={
                "first_party": fresh_number(),
                "second_party": fresh_number(),
                "callback_url": receiver.url,
            },
        ).json()["session"]
    carrier.call("ev-4", "+" + s["first_party"], "+" + s["virtual_number"])
    time.sleep(0.3)
    first.stop()
    assert receiver.received == []
    receiver.failures = 0
    second = ServerThread(database, clock).start()
    try:
        clock.advance(60)
        receiver.wait_for(1)
        assert receiver.names() == ["SessionFirstPartyAnswer"]
    finally:
        second.stop()


def test_a_hanging_receiver_delays_only_its_own_events(receiver: Receiver, database: str) -> None:
    clock = FakeClock()
    running = ServerThread(database, clock).start()
    hanging = Hanging()
    try:
        slow, fair = running.tenant(), running.tenant()
        with httpx.Client(base_url=running.url, trust_env=False, timeout=30) as http:

            def create(account, url: str) -> str:  # type: ignore[no-untyped-def]
                http.auth = (account.auth_id, account.auth_token)
                return session(http, callback_url=url)["session_uuid"]  # type: ignore[arg-type]

            http.base_url = f"{running.url}/v1/Account/{slow.auth_id}/Masking"
            stuck = [create(slow, hanging.url) for _ in range(5)]
            http.base_url = f"{running.url}/v1/Account/{fair.auth_id}/Masking"
            waiting = create(fair, receiver.url)
        now = int(clock())

        def event(uuid: str, account: str, url: str, n: int) -> Event:
            return Event(uuid, account, url, "POST", now, {"EventName": f"Step{n}", "SessionUUID": uuid})

        # 20 events for the receiver that hangs, 4 for each of 5 sessions, then one for another
        # account's receiver: all due at once, the hanging ones first in the outbox.
        backlog = [event(uuid, slow.auth_id, hanging.url, n) for uuid in stuck for n in range(4)]
        backlog.append(event(waiting, fair.auth_id, receiver.url, 0))
        running._with_store(lambda store: store.outbox.enqueue_events(backlog))
        receiver.wait_for(1, seconds=3)  # well under one attempt's timeout at the hanging receiver
        assert receiver.names() == ["Step0"] and receiver.received[0][0]["SessionUUID"] == waiting
        assert hanging.accepted >= 1  # the hanging receiver was being tried meanwhile
        assert hanging.most <= 4  # a few requests at a time per callback host
    finally:
        running.stop()
        hanging.close()


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "dripping"])
def test_an_attempt_ends_at_its_timeout(drip: bool) -> None:
    hanging = Hanging(drip)

    async def attempt() -> tuple[str, bool]:
        transport = HttpCallbacks(allow_private=True, timeout=0.5)
        try:
            event = Outgoing(1, "MA", hanging.url, "POST", {"EventName": "x"}, 0)
            return await asyncio.wait_for(transport.send(event, None), 10)  # the test ends regardless
        finally:
            await transport.close()

    try:
        assert asyncio.run(attempt()) == ("no reply within 0.5 s", True)  # failed, to be retried
        assert hanging.accepted == 1
    finally:
        hanging.close()


def test_private_callback_addresses_are_refused_unless_allowed() -> None:
    assert not is_public_address("127.0.0.1") and not is_public_address("10.1.2.3")
    assert not is_public_address("169.254.169.254") and not is_public_address("::1")
    assert not is_public_address("192.168.1.1") and is_public_address("8.8.8.8")

    async def attempt(url: str, allow: bool) -> tuple[str, bool]:
        transport = HttpCallbacks(allow_private=allow, timeout=1)
        try:
            return await transport.send(Outgoing(1, "MA", url, "POST", {"EventName": "x"}, 0), None)
        finally:
            await transport.close()

    private = "the host resolves to a private address"
    assert asyncio.run(attempt("http://127.0.0.1:9/x", False)) == (private, False)
    assert asyncio.run(attempt("http://localhost/x", False)) == (private, False)
    assert asyncio.run(attempt("http://10.0.0.1/x", False)) == (private, False)
    for url in EMBEDDED_IPV4:  # checked again when sent: a session may predate the rule
        assert asyncio.run(attempt(url, False)) == (private, False)
    error, retry = asyncio.run(attempt("http://127.0.0.1:9/x", True))  # allowed: it is tried
    assert error.startswith("ConnectError") and retry is True
    # A host that does not resolve now may tomorrow (DNS fails for a while): tried again later.
    error, retry = asyncio.run(attempt("http://no-such-host.invalid/x", False))
    assert error.startswith("cannot resolve the host") and retry is True


EMBEDDED_IPV4 = [
    "http://[::127.0.0.1]:18111/cb",  # IPv4-compatible
    "http://[64:ff9b::7f00:1]:18111/cb",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]:18111/cb",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a00:1]/cb",  # NAT64 of 10.0.0.1
]


def test_ipv6_forms_of_private_ipv4_addresses_are_refused(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    running = ServerThread(database, clock, allow_private_callbacks=False).start()
    try:
        tenant = running.tenant()
        sessions = plivo_sdk(monkeypatch, running.url, tenant).masking_sessions
        kept = sessions.create_masking_session(
            first_party=fresh_number(),
            second_party=fresh_number(),
            callback_url="https://hooks.example.com/cb",
        )
        first = fresh_number()
        with running.api(tenant) as http:
            for url in EMBEDDED_IPV4:
                for field in ("callback_url", "recording_callback_url"):
                    body = {"first_party": first, "second_party": fresh_number(), field: url}
                    assert_error(http.post("/Session/", json=body), 400, private(field))
                    update = http.post(f"/Session/{kept.session_uuid}/", json={field: url})
                    assert_error(update, 400, private(field))
                with raises_exact(ValidationError, private("callback_url")):
                    sessions.update_masking_session(kept.session_uuid, callback_url=url)
        assert sessions.list_masking_session(first_party=first).response.meta.total_count == 0
        after = sessions.get_masking_session(kept.session_uuid).response
        assert after.callback_url == "https://hooks.example.com/cb" and after.recording_callback_url == ""
    finally:
        running.stop()


def test_ipv6_forms_are_allowed_with_private_callbacks(sessions) -> None:  # type: ignore[no-untyped-def]
    for url in EMBEDDED_IPV4:  # the shared server allows private callbacks
        created = sessions.create_masking_session(
            first_party=fresh_number(), second_party=fresh_number(), callback_url=url
        )
        assert sessions.get_masking_session(created.session_uuid).response.callback_url == url


def private(field: str) -> str:
    return f"Invalid parameter. {field} should not point to a private address."


def test_recording_events_go_to_the_recording_callback(
    receiver: Receiver, http: httpx.Client, server: ServerThread, tenant
) -> None:  # type: ignore[no-untyped-def]
    carrier = Carrier(server, tenant, "plivo")
    s = session(http, record=True, record_file_format="wav", recording_callback_url=receiver.url)
    carrier.call("ev-5", "+" + s["first_party"], "+" + s["virtual_number"])
    carrier.leg("ev-5", "answered")
    recording = {"CallUUID": "ev-5", "RecordUrl": "https://media.example.com/r.wav", "RecordingID": "rec-1"}
    assert carrier.post("recording", recording, {"call": "ev-5"}).status_code == 200
    receiver.wait_for(2)
    assert receiver.names() == ["SessionRecordingInitiated", "SessionRecordingCompleted"]
    completed = receiver.received[1][0]
    assert completed["RecordingURL"] == "https://media.example.com/r.wav"
    assert completed["RecordingUUID"] == "rec-1" and completed["RecordingFormat"] == ".wav"


def test_a_replaced_number_moves_its_sessions_and_says_so(
    receiver: Receiver, http: httpx.Client, server: ServerThread, tenant, sessions
) -> None:  # type: ignore[no-untyped-def]
    """Through the API: the reply, the signed event, the SDK's view of the session, and a party
    who dials the old number reaching the same counterpart."""
    carrier = Carrier(server, tenant, "plivo")
    s = session(http, callback_url=receiver.url)
    old = s["virtual_number"]
    replaced = http.post(f"/Number/{old}/Replace/")
    assert replaced.status_code == 200
    body = replaced.json()
    assert list(body) == ["api_id", "message", "sessions_moved", "sessions_not_moved"]
    assert (body["message"], body["sessions_moved"], body["sessions_not_moved"]) == ("Number replaced", 1, [])

    new = sessions.get_masking_session(s["session_uuid"]).response.virtual_number
    assert new != old and "+" + new in tenant.numbers
    receiver.wait_for(1)
    form, _ = receiver.received[0]
    assert (form["EventName"], form["VirtualNumber"], form["PreviousVirtualNumber"]) == (
        "SessionVirtualNumberReplaced",
        new,
        old,
    )
    assert (form["SessionUUID"], form["SequenceNumber"]) == (s["session_uuid"], "1")
    assert receiver.signed_by(TOKEN, 0)

    for caller, other in ((s["first_party"], s["second_party"]), (s["second_party"], s["first_party"])):
        dial = carrier.call(f"old-{caller}", "+" + caller, "+" + old).find("Dial")
        assert dial is not None and dial.findtext("Number") == "+" + other
        assert dial.get("callerId") == "+" + new  # the other party sees the working number
        carrier.hangup(f"old-{caller}")
    assert http.get(f"/Number/{old}/").json()["response"]["status"] == "retired"
    assert http.post(f"/Number/{old}/Replace/").json()["sessions_moved"] == 0  # nothing left on it
    metrics = httpx.get(f"{server.url}/metrics", trust_env=False).text
    [moved] = [
        line
        for line in metrics.splitlines()
        if line.startswith('maskline_session_moves_total{outcome="moved"}')
    ]
    assert float(moved.split()[-1]) >= 1


def test_replacing_a_number_is_for_its_main_account(
    http: httpx.Client, server: ServerThread, tenant, http_for
) -> None:  # type: ignore[no-untyped-def]
    missing = http.post("/Number/14155559999/Replace/")
    assert missing.status_code == 404 and missing.json()["error"] == "Number not found"
    sub = server.tenant(numbers=1, parent=tenant.auth_id)
    refused = http_for(sub).post(f"/Number/{sub.numbers[0]}/Replace/")
    assert refused.status_code == 403 and refused.json()["error"] == "Subaccounts cannot manage numbers."
    other = server.tenant(numbers=1)
    foreign = http.post(f"/Number/{other.numbers[0]}/Replace/")
    assert foreign.status_code == 404
    assert http_for(other).get(f"/Number/{other.numbers[0]}/").json()["response"]["status"] == "in_service"
