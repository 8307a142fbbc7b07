"""Overload: per-account rate limits and limits on failed authentications (429 with
``Retry-After``, in the Plivo error shape), at most so many requests in flight (503), and a
server that keeps answering under several times what it lets through, then recovers."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter

import httpx
import pytest

from tests.databases import Databases
from tests.support import FakeClock, ServerProcess, ServerThread, hammer, maskline, plivo_sdk

AUTH_ID, TOKEN = "MA" + "R" * 18, "overload-token"


def assert_refusal(reply: httpx.Response, status: int, message: str) -> float:
    """The reply is a refusal in the Plivo shape; returns its Retry-After."""
    assert reply.status_code == status
    body = reply.json()
    assert set(body) == {"api_id", "error"} and body["error"] == message
    return float(reply.headers["Retry-After"])


def test_each_account_is_held_to_its_rate(databases: Databases) -> None:
    server = ServerThread(databases.new(), FakeClock(), rate_limit=1, rate_burst=4).start()
    try:
        one, other = server.tenant(), server.tenant()
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            path = f"/v1/Account/{one.auth_id}/Masking/Session/"
            auth = (one.auth_id, one.auth_token)
            began = time.monotonic()
            replies = [client.get(path, auth=auth) for _ in range(12)]
            elapsed = time.monotonic() - began
            served = [r for r in replies if r.status_code == 200]
            # The burst, then one a second: a slow machine refills the bucket a little meanwhile.
            assert 4 <= len(served) <= 4 + elapsed + 1
            refused = [r for r in replies if r.status_code != 200]
            waits = [assert_refusal(r, 429, "Too many requests") for r in refused]
            assert waits and min(waits) >= 1
            wait = waits[-1]
            # Another account has its own budget.
            theirs = f"/v1/Account/{other.auth_id}/Masking/Session/"
            assert client.get(theirs, auth=(other.auth_id, other.auth_token)).status_code == 200
            time.sleep(wait)
            assert client.get(path, auth=auth).status_code == 200
    finally:
        server.stop()


def test_the_sdk_sees_a_rate_limit_as_an_error(databases: Databases, monkeypatch: pytest.MonkeyPatch) -> None:
    from plivo.exceptions import PlivoRestError

    server = ServerThread(databases.new(), FakeClock(), rate_limit=1, rate_burst=1).start()
    try:
        sessions = plivo_sdk(monkeypatch, server.url, server.tenant()).masking_sessions
        sessions.list_masking_session()
        with pytest.raises(PlivoRestError, match="429"):
            sessions.list_masking_session()
    finally:
        server.stop()


def test_failed_authentications_are_limited_per_address(databases: Databases) -> None:
    server = ServerThread(databases.new(), FakeClock(), auth_failures_per_minute=3).start()
    try:
        tenant = server.tenant()
        path = f"/v1/Account/{tenant.auth_id}/Masking/Session/"
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            for _ in range(3):
                assert client.get(path, auth=(tenant.auth_id, "guess")).status_code == 401
            wait = assert_refusal(client.get(path, auth=(tenant.auth_id, "guess")), 429, "Too many requests")
            # While the address is held back, not even the right token is checked.
            refused = client.get(path, auth=(tenant.auth_id, tenant.auth_token))
            assert_refusal(refused, 429, "Too many requests")
            assert 1 <= wait <= 20  # a token comes back every 20 s
    finally:
        server.stop()


def test_a_flood_is_refused_cleanly_and_the_server_recovers(database: str) -> None:
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=database)
    numbers = [f"+1628562{i:04d}" for i in range(4)]
    maskline("number", "add", *numbers, "--account", AUTH_ID, database=database)
    rate, burst = 40, 40
    env = {"MASKLINE_RATE_LIMIT": str(rate), "MASKLINE_RATE_BURST": str(burst), "MASKLINE_MAX_IN_FLIGHT": "8"}
    server = ServerProcess(database, env=env)
    path = f"/v1/Account/{AUTH_ID}/Masking/Session/"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{AUTH_ID}:{TOKEN}".encode()).decode()}
    try:
        began = time.monotonic()
        replies = asyncio.run(hammer(server.url, path, auth, 1500, 32))
        elapsed = time.monotonic() - began
        statuses = Counter(r.status for r in replies)
        assert set(statuses) <= {200, 429, 503}, statuses
        assert statuses[429] + statuses[503] > len(replies) / 2  # far beyond the limits: most refused,
        assert statuses[200] <= burst + rate * elapsed + 1  # ... and the rate holds
        for reply in replies:
            if reply.status != 200:
                body = json.loads(reply.body)
                assert set(body) == {"api_id", "error"} and int(reply.headers["retry-after"]) >= 1
                assert (
                    body["error"]
                    == {429: "Too many requests", 503: "Service overloaded. Retry later."}[reply.status]
                )
        time.sleep(1.5)  # the load stops: the budget refills and the server answers again
        after = asyncio.run(hammer(server.url, path, auth, 20, 2))
        assert Counter(r.status for r in after)[200] >= 20 - 1
    finally:
        server.stop()
