"""Test helpers: a fake clock, a server on a background thread, accounts and numbers."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from maskline.config import Config
from maskline.domain.errors import MaskingError
from maskline.domain.model import Account
from maskline.domain.ports import Store
from maskline.edge import EdgeLimits, edge_protocol
from maskline.http.app import create_app
from maskline.service.accounts import create_account, new_auth_id
from maskline.service.numbers import NumberService
from maskline.store.open import open_store

START = 1_767_225_600  # 2026-01-01 00:00:00 UTC


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_counter = itertools.count(2_000_000)


def same_error(error: BaseException, expected: MaskingError) -> bool:
    """Whether ``error`` is the error ``expected`` is, saying the same words (the code itself
    tells errors apart by their type alone)."""
    return type(error) is type(expected) and str(error) == str(expected)


def fresh_number(prefix: str = "+1415") -> str:
    """A valid US number not used before in this process."""
    return f"{prefix}{next(_counter):07d}"


@dataclass
class Tenant:
    auth_id: str
    auth_token: str
    numbers: list[str]


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a background thread, with an injectable clock."""

    def __init__(self, database: str, clock: FakeClock, **settings: object) -> None:
        self.database = database
        self.clock = clock
        self.config = Config(
            database_url=database,
            # allow_private_callbacks: the test receivers listen on 127.0.0.1
            **{  # type: ignore[arg-type]
                "sweep_interval": 0.05,
                "delivery_interval": 0.05,
                "auth_failures_per_minute": 0,
                "allow_private_callbacks": True,
                **settings,
            },
        )
        # IPPROTO_TCP so that asyncio sets TCP_NODELAY: otherwise each reply waits ~40 ms.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(self.config, clock=clock)
        edge = edge_protocol(EdgeLimits.of(self.config))
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                lifespan="on",
                loop="asyncio",
                access_log=False,
                http=edge,
                ws="none",
                proxy_headers=False,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    # -- set-up through a second connection to the same database ----------------------------
    def _with_store(self, work):  # type: ignore[no-untyped-def]
        async def run():  # type: ignore[no-untyped-def]
            store = await open_store(self.database, pool_size=1)
            try:
                return await work(store)
            finally:
                await store.close()

        return asyncio.run(run())

    def tenant(
        self,
        numbers: int | list[str] = 3,
        *,
        parent: str | None = None,
        country: str | None = None,
    ) -> Tenant:
        """A new account (a subaccount of ``parent`` if given) with numbers in its pool."""
        listed = [fresh_number("+1628") for _ in range(numbers)] if isinstance(numbers, int) else numbers

        async def work(store: Store) -> Tenant:
            auth_id = new_auth_id(parent is not None)
            account, token = await create_account(
                store.accounts,
                int(self.clock()),
                auth_id=auth_id,
                auth_token="token-" + auth_id,
                parent_id=parent,
            )
            if listed:
                owner = Account(parent, None) if parent else account
                await NumberService(store.numbers, store.accounts, self.clock).add(
                    owner, listed, subaccount=account.auth_id if parent else None, country=country
                )
            return Tenant(account.auth_id, token, list(listed))

        return self._with_store(work)

    def api(self, tenant: Tenant) -> httpx.Client:
        """An HTTP client authenticated as ``tenant``, rooted at its Masking API."""
        return httpx.Client(
            base_url=f"{self.url}/v1/Account/{tenant.auth_id}/Masking",
            auth=(tenant.auth_id, tenant.auth_token),
            trust_env=False,
            timeout=30,  # a busy two-core machine (the SIP load test, say) can take seconds to answer
        )

    def add_numbers(self, tenant: Tenant, numbers: list[str], **options: object) -> None:
        async def work(store: Store) -> None:
            service = NumberService(store.numbers, store.accounts, self.clock)
            await service.add(Account(tenant.auth_id, None), numbers, **options)

        self._with_store(work)
        tenant.numbers += numbers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def maskline(
    *args: str, database: str, check: bool = True, answer: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as an operator would (``answer``: what the operator types, if asked; ``env``:
    settings of the environment besides the database)."""
    env = {**os.environ, "MASKLINE_DATABASE_URL": database, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "maskline", *args],
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


class ServerProcess:
    """``maskline serve`` in a child process on 127.0.0.1; stopped by its PID. With
    ``journal``, its output is what systemd's journal would be (named by JOURNAL_STREAM)."""

    def __init__(
        self, database: str, *extra: str, env: dict[str, str] | None = None, journal: bool = False
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MASKLINE_DATABASE_URL": database, **(env or {})}
        env.pop("JOURNAL_STREAM", None)
        # Output goes to a file: a pipe nobody reads while the server runs would fill up with
        # log lines and stall the server.
        self._output = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by stop)
        if journal:
            status = os.fstat(self._output.fileno())
            env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "maskline", "serve", "--port", str(self.port), *extra],
            env=env,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("maskline serve did not start") from None
                time.sleep(0.05)

    def stop(self) -> str:
        """Stop the server (SIGINT, as Ctrl-C would) and return what it printed (again, if
        it was stopped before)."""
        if self._output.closed:
            return self.output
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._output.seek(0)
        self.output = self._output.read()
        self._output.close()
        return self.output


CARRIER_IDS = {"plivo": "MAPLIVOCARRIER000001", "twilio": "AC" + "0" * 31 + "1"}


def set_carrier(server: ServerThread, tenant: Tenant, kind: str, token: str = "carrier-token") -> None:
    """Connect a tenant to a carrier whose public URL is the test server itself."""
    from maskline.domain.calls import CarrierKind
    from maskline.service.calls import CallService

    async def work(store: Store) -> None:
        calls = CallService(store.calls, store.sessions, store.numbers, store.accounts, server.clock)
        await calls.set_carrier(
            Account(tenant.auth_id, None), CarrierKind(kind), token, server.url, CARRIER_IDS[kind]
        )

    server._with_store(work)


class CarrierApiStandIn:
    """Plays Plivo's and Twilio's REST APIs on 127.0.0.1: records the calls it is asked to
    place and the messages it is asked to send, and answers as the carriers do."""

    def __init__(self) -> None:
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qsl

        self.requests: list[tuple[str, dict[str, object]]] = []
        self.refuse = 0  # refuse this many of the next requests, as a carrier refuses a bad one
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                body: dict[str, object] = (
                    json.loads(raw)
                    if self.headers.get("Content-Type", "").startswith("application/json")
                    else dict(parse_qsl(raw))
                )
                stand_in.requests.append((self.path, body))
                n = len(stand_in.requests)
                status = 201 if "/Calls.json" in self.path or "/Messages.json" in self.path else 202
                if stand_in.refuse > 0:
                    stand_in.refuse -= 1
                    status, reply = 400, {"api_id": "a", "error": "invalid destination"}
                elif "/Calls.json" in self.path:
                    reply = {"sid": f"CAplaced{n:026d}", "status": "queued"}
                elif "/Messages.json" in self.path:
                    reply = {"sid": f"SMsent{n:028d}", "status": "queued"}
                elif self.path.endswith("/Message/"):
                    reply = {"api_id": "a", "message": "message(s) queued", "message_uuid": [f"sent-{n}"]}
                else:
                    reply = {"api_id": "a", "message": "call fired", "request_uuid": f"placed-{n}"}
                    status = 201
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def plivo_sdk(monkeypatch: Any, url: str, tenant: Tenant) -> Any:
    """The official Plivo SDK client of ``tenant``, pointed at the server at ``url`` (contract
    §9.2) for as long as ``monkeypatch`` lasts."""
    import plivo
    import plivo.rest.client as rc

    for name in (
        "API_VOICE_BASE_URI",
        "API_VOICE_BASE_URI_FALLBACK_1",
        "API_VOICE_BASE_URI_FALLBACK_2",
        "PLIVO_API_BASE_URI",
    ):
        monkeypatch.setattr(rc, name, f"{url}/v1/Account")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return plivo.RestClient(tenant.auth_id, tenant.auth_token)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


async def hammer(url: str, path: str, headers: dict[str, str], total: int, connections: int) -> list[Reply]:
    """GET ``path`` ``total`` times over ``connections`` keep-alive connections, as fast as the
    server answers: a load generator far lighter than an HTTP client library."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    replies: list[Reply] = []
    left = iter(range(total))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for _ in left:
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                fields = dict(line.split(": ", 1) for line in head[1:] if line)
                named = {k.lower(): v for k, v in fields.items()}
                body = await reader.readexactly(int(named.get("content-length", "0")))
                replies.append(Reply(int(head[0].split()[1]), named, body))
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return replies


def exported_metrics(database: str) -> set[str]:
    """Every sample name a real server's ``/metrics`` offers once a pool has numbers and a live
    session (the pool gauges need both), whether or not a family has samples yet: a labelled
    counter nothing has counted has a family and no samples, so the names follow from each
    family's type (a counter ``X`` is sampled as ``X_total``, a histogram ``X`` as ``X_bucket``,
    ``X_sum`` and ``X_count``, a gauge ``X`` as ``X``)."""
    from prometheus_client.parser import text_string_to_metric_families

    server = ServerThread(database, FakeClock(), plan_refresh=1).start()
    try:
        tenant = server.tenant(numbers=2)
        created = httpx.post(
            f"{server.url}/v1/Account/{tenant.auth_id}/Masking/Session/",
            json={"first_party": fresh_number(), "second_party": fresh_number()},
            auth=(tenant.auth_id, tenant.auth_token),
            trust_env=False,
        )
        assert created.status_code == 201, created.text
        scraped = httpx.get(f"{server.url}/metrics", trust_env=False)  # loopback: no token needed
        assert scraped.status_code == 200
    finally:
        server.stop()
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in text_string_to_metric_families(scraped.text):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Markdown tables in ``text``, as lists of cells without padding."""
    lines = [line.strip() for line in text.splitlines() if line.startswith("|")]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for i, line in enumerate(lines)
        if not set(line) <= set("|:- ") and not (i + 1 < len(lines) and set(lines[i + 1]) <= set("|:- "))
    ]


def on_a_terminal(*args: str) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """Run the CLI with its standard error on a terminal (100 columns): what it printed, and
    what the terminal showed."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        command = [sys.executable, "-m", "maskline", *args]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=120)
        os.close(terminal)
        shown = b""
        with contextlib.suppress(OSError):  # the terminal's other end is closed: all is read
            while chunk := os.read(controller, 4096):
                shown += chunk
    finally:
        os.close(controller)
    return done, shown
