"""The public edge under abuse, against a real ``maskline serve`` process: oversized bodies and
headers are refused before they are held in memory, slow requests time out, and one address
holding thousands of slow connections cannot starve the clients of another."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import Databases
from tests.support import FakeClock, ServerProcess, ServerThread, fresh_number, maskline

AUTH_ID = "MA" + "E" * 18
ATTACKER = "127.0.0.2"  # another loopback address: a client the server tells apart from 127.0.0.1
WEBHOOK = f"/webhooks/plivo/{AUTH_ID}/answer"
MB = 1024 * 1024
AUTHORIZATION = "Authorization: Basic " + base64.b64encode(f"{AUTH_ID}:edge-token".encode()).decode()


@pytest.fixture(autouse=True, scope="module")
def enough_descriptors() -> None:
    """Thousands of client sockets: the soft limit on open files raised to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 12_000:
        pytest.skip(f"the hard limit on open files ({hard}) is too low for these tests")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _server(tmp_path)


def _server(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    database = f"sqlite:///{tmp_path}/edge.db"
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", "edge-token", database=database)
    running = ServerProcess(database, env=env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def impatient_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """Short timeouts, to see them act within a test."""
    yield from _server(
        tmp_path, MASKLINE_HEADER_TIMEOUT="1", MASKLINE_BODY_TIMEOUT="2", MASKLINE_KEEPALIVE_TIMEOUT="1"
    )


# -- a raw HTTP client: exactly the bytes an attacker chooses ---------------------------------------
def head(method: str, path: str, *lines: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{x}\r\n" for x in lines) + "\r\n"
    ).encode()


async def exchange(
    port: int, first: bytes, body: bytes = b"", repeat: int = 1, timeout: float = 10.0, last: bytes = b""
) -> tuple[int, bytes]:
    """Send ``first``, ``body`` ``repeat`` times and ``last`` while reading the reply: (status,
    body), or (0, b"") when the server closed the connection without a reply. ``timeout`` bounds
    it all, from the connection on."""
    async with asyncio.timeout(timeout):
        return await _exchange(port, first, body, repeat, last)


async def _exchange(port: int, first: bytes, body: bytes, repeat: int, last: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        with contextlib.suppress(OSError):
            writer.write(first)
            await writer.drain()
            for _ in range(repeat):
                writer.write(body)
                await writer.drain()
            writer.write(last)

    sending = asyncio.create_task(send())
    try:
        return await read_reply(reader)
    finally:
        sending.cancel()
        writer.transport.abort()


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    try:
        status_line = await reader.readuntil(b"\r\n")
        fields = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
    except (asyncio.IncompleteReadError, OSError):
        return 0, b""
    length = next((int(f.split(":", 1)[1]) for f in fields if f.startswith("content-length:")), 0)
    try:
        body = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, OSError):
        body = b""
    return int(status_line.split()[1]), body


def memory(pid: int) -> tuple[int, int]:
    """(resident now, resident at its peak) of a process, in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


# -- caps on what a request may make the server hold ------------------------------------------------
def test_a_webhook_body_over_the_cap_is_refused_before_it_is_sent(server: ServerProcess) -> None:
    # The length alone is enough: the body is never sent, and the refusal comes at once.
    declared = head(
        "POST", WEBHOOK, "Content-Type: application/x-www-form-urlencoded", f"Content-Length: {100 * MB}"
    )
    status, body = asyncio.run(exchange(server.port, declared, timeout=5))
    assert (status, body) == (413, b"Request body too large")
    # Without a length, the body is counted as it arrives.
    chunked = head(
        "POST", WEBHOOK, "Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: chunked"
    )
    chunk = b"%x\r\n%s\r\n" % (4096, b"a" * 4096)
    status, body = asyncio.run(exchange(server.port, chunked, chunk, repeat=100, timeout=5))
    assert (status, body) == (413, b"Request body too large")


def test_an_api_body_over_the_cap_is_refused_in_the_plivo_shape_before_it_is_sent(
    server: ServerProcess,
) -> None:
    path = f"/v1/Account/{AUTH_ID}/Masking/Session/"
    declared = head("POST", path, AUTHORIZATION, f"Content-Length: {100 * MB}")
    status, body = asyncio.run(exchange(server.port, declared, timeout=5))
    assert status == 400  # the API's refusal of a body too large, as before
    reply = json.loads(body)
    assert set(reply) == {"api_id", "error"}
    assert reply["error"] == "Invalid JSON body. The body should be under 65536 bytes."


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([f"X-Big: {'a' * 16 * MB}"], 431),  # one huge line
        ([f"X-Line-{i}: {'a' * 4000}" for i in range(6)], 431),  # 24 KB of modest lines
        ([f"X-Long: {'a' * 9000}"], 431),  # one line over 8 KB
    ],
)
def test_oversized_headers_are_refused(server: ServerProcess, lines: list[str], status: int) -> None:
    got, body = asyncio.run(exchange(server.port, head("GET", "/healthz", *lines), timeout=10))
    assert got == status and body == b"Request header fields too large"
    # A request of ordinary size is still answered.
    assert asyncio.run(exchange(server.port, head("GET", "/healthz", f"X-Fine: {'a' * 4000}")))[0] == 200


def test_a_request_target_over_8_kb_is_refused(server: ServerProcess) -> None:
    status, body = asyncio.run(exchange(server.port, head("GET", "/healthz?" + "a" * 9000)))
    assert (status, body) == (414, b"URI too long")


def big_bodies_and_headers(port: int, pid: int, timeout: float) -> tuple[int, list[object]]:
    """Twelve 50 MB webhook bodies and four 8 MB headers at once: how much the server's peak
    memory grew, and the replies (a (status, body) each, or the exception)."""
    assert asyncio.run(exchange(port, head("GET", "/healthz")))[0] == 200
    before, _ = memory(pid)
    block = b"a" * MB
    body_head = head(
        "POST", WEBHOOK, "Content-Type: application/x-www-form-urlencoded", f"Content-Length: {50 * MB}"
    )
    header_head = head("GET", "/healthz")[:-2] + b"X-Big: "

    async def attack() -> list[object]:
        bodies = [exchange(port, body_head, block, 50, timeout=timeout) for _ in range(12)]
        headers = [exchange(port, header_head, block, 8, timeout, b"\r\n\r\n") for _ in range(4)]
        return await asyncio.gather(*bodies, *headers, return_exceptions=True)

    replies = asyncio.run(attack())
    _, peak = memory(pid)
    return peak - before, replies


def test_big_bodies_and_headers_leave_memory_flat(server: ServerProcess) -> None:
    """The server's peak memory grows by less than 100 MB (before the caps, it read each body
    whole)."""
    growth, replies = big_bodies_and_headers(server.port, server.process.pid, 20)
    assert growth < 100 * MB, f"peak memory grew by {growth / MB:.0f} MB"
    assert [reply[0] for reply in replies] == [413] * 12 + [431] * 4  # type: ignore[index]


# -- timeouts ---------------------------------------------------------------------------------------
async def _trickle(port: int, parts: list[bytes], pause: float, timeout: float) -> tuple[int, bytes, float]:
    """Send ``parts`` one by one, ``pause`` apart, until the server answers or hangs up."""
    began = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        with contextlib.suppress(OSError):
            for part in parts:
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(pause)

    sending = asyncio.create_task(send())
    try:
        async with asyncio.timeout(timeout):
            status, body = await read_reply(reader)
        return status, body, time.monotonic() - began
    finally:
        sending.cancel()
        writer.transport.abort()


def test_a_request_head_that_never_ends_times_out(impatient_server: ServerProcess) -> None:
    lines = [b"GET /healthz HTTP/1.1\r\n"] + [b"X-Slow-%d: x\r\n" % i for i in range(100)]
    status, body, took = asyncio.run(_trickle(impatient_server.port, lines, 0.2, 8))
    assert (status, body) == (408, b"Request timeout")
    assert took < 5  # the head had 1 s; the line-by-line trickle did not extend it


@pytest.mark.parametrize("path", [WEBHOOK, f"/v1/Account/{AUTH_ID}/Masking/Session/"])
def test_a_body_that_never_ends_times_out(impatient_server: ServerProcess, path: str) -> None:
    first = head("POST", path, AUTHORIZATION, "Content-Length: 1000")  # (webhooks ignore it)
    status, body, took = asyncio.run(_trickle(impatient_server.port, [first] + [b"a"] * 999, 0.2, 10))
    assert (status, body) == (408, b"Request timeout") and took < 6  # the body had 2 s
    output = impatient_server.stop()
    assert "Traceback" not in output and "unexpected failure" not in output  # the app let it go quietly


def test_a_slow_request_within_the_timeouts_is_answered(impatient_server: ServerProcess) -> None:
    first = head("POST", WEBHOOK, "Content-Type: application/x-www-form-urlencoded", "Content-Length: 9")
    parts = [first[:20], first[20:], b"From", b"=1234"]  # 0.8 s for the head, 0.8 s for the body
    status, body, _ = asyncio.run(_trickle(impatient_server.port, parts, 0.4, 8))
    assert (status, body) == (403, b"Forbidden")  # the body was read whole, and its signature checked


def test_an_idle_connection_is_closed(impatient_server: ServerProcess) -> None:
    async def idle() -> tuple[int, bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", impatient_server.port)
        try:
            writer.write(head("GET", "/healthz"))
            assert (await read_reply(reader))[0] == 200
            began = time.monotonic()
            async with asyncio.timeout(8):
                rest = await reader.read()
            return 0, rest, time.monotonic() - began
        finally:
            writer.transport.abort()

    _, rest, took = asyncio.run(idle())
    assert rest == b"" and took < 3  # MASKLINE_KEEPALIVE_TIMEOUT=1 (uvicorn's default: 5)


# -- one address cannot take the service from others ------------------------------------------------
async def _legitimate(port: int, seconds: float) -> tuple[int, int]:
    """A client on 127.0.0.1 asking ``/healthz`` on a new connection every 0.1 s: (asked, answered
    200 within 3 s)."""
    asked = answered = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        asked += 1
        with contextlib.suppress(TimeoutError, OSError):
            status, _ = await exchange(port, head("GET", "/healthz", "Connection: close"), timeout=3)
            answered += status == 200
        await asyncio.sleep(0.1)
    return asked, answered


async def _hold(port: int, first: bytes, drip: bytes, stop: float, opened: list[int]) -> None:
    """One slow client on 127.0.0.2: sends ``first``, then ``drip`` every second; connects again a
    second after the server hangs up; until ``stop``."""
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
        except OSError:
            await asyncio.sleep(1)
            continue
        opened[0] += 1
        try:
            writer.write(first)
            while time.monotonic() < stop and not reader.at_eof():
                await asyncio.sleep(1)
                writer.write(drip)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
        await asyncio.sleep(1)


async def siege(port: int, slow: int, first: bytes, drip: bytes) -> tuple[int, int, int]:
    """``slow`` connections from 127.0.0.2, opened in a burst and kept trickling, while a client
    from 127.0.0.1 asks for 8 s: (asked, answered, connections the attacker opened)."""
    stop = time.monotonic() + 14
    opened = [0]
    attackers = [asyncio.create_task(_hold(port, first, drip, stop, opened)) for _ in range(slow)]
    await asyncio.sleep(4)  # the burst of connections is in
    try:
        asked, answered = await _legitimate(port, 8)
    finally:
        for task in attackers:
            task.cancel()
        await asyncio.gather(*attackers, return_exceptions=True)
    return asked, answered, opened[0]


# The two slow attacks: (connections, what each sends first, what it then trickles).
SLOW_HEADS = (5_000, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n")
SLOW_BODIES = (
    1_200,
    head("POST", WEBHOOK, "Content-Type: application/x-www-form-urlencoded", "Content-Length: 10000"),
    b"a",
)


def test_slow_request_heads_from_one_address_do_not_starve_another(server: ServerProcess) -> None:
    asked, answered, opened = asyncio.run(siege(server.port, *SLOW_HEADS))
    assert opened >= 5_000
    assert answered >= 0.9 * asked, f"{answered} of {asked} answered within 3 s"


def test_slow_webhook_bodies_from_one_address_do_not_starve_another(server: ServerProcess) -> None:
    asked, answered, opened = asyncio.run(siege(server.port, *SLOW_BODIES))
    assert opened >= 1_200
    assert answered >= 0.9 * asked, f"{answered} of {asked} answered within 3 s"


# -- the limits leave ordinary use alone ------------------------------------------------------------
def test_connections_beyond_the_cap_of_an_address_are_reset_unless_it_is_a_trusted_proxy(
    databases: Databases,
) -> None:
    server = ServerThread(
        databases.new(), FakeClock(), max_connections_per_address=3, trusted_proxies=("127.0.0.3/32",)
    )
    server.start()

    async def open_many(source: str, count: int) -> list[int]:
        """Open ``count`` connections from ``source`` and ask on each: the statuses (0: reset)."""
        opened = [
            await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))
            for _ in range(count)
        ]
        try:
            statuses = []
            for reader, writer in opened:
                with contextlib.suppress(OSError):
                    writer.write(head("GET", "/healthz"))
                statuses.append((await read_reply(reader))[0])
            return statuses
        finally:
            for _, writer in opened:
                writer.transport.abort()

    try:
        assert asyncio.run(open_many("127.0.0.2", 5)) == [200, 200, 200, 0, 0]
        assert asyncio.run(open_many("127.0.0.2", 3)) == [200] * 3  # closed ones no longer count
        assert asyncio.run(open_many("127.0.0.3", 8)) == [200] * 8  # a trusted proxy's address
        metrics = asyncio.run(exchange(server.port, head("GET", "/metrics")))[1].decode()
        counted = [line for line in metrics.splitlines() if line.startswith("maskline_edge_refusals_total")]
        assert any('reason="per_address"' in line and float(line.split()[-1]) >= 2 for line in counted)
    finally:
        server.stop()


def test_keep_alive_and_pipelining_still_work(databases: Databases) -> None:
    server = ServerThread(databases.new(), FakeClock()).start()
    tenant = server.tenant()

    async def converse() -> list[tuple[int, bytes]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            auth = (
                "Authorization: Basic "
                + base64.b64encode(f"{tenant.auth_id}:{tenant.auth_token}".encode()).decode()
            )
            body = json.dumps({"first_party": fresh_number(), "second_party": fresh_number()}).encode()
            path = f"/v1/Account/{tenant.auth_id}/Masking/Session/"
            post = head("POST", path, auth, "Content-Type: application/json", f"Content-Length: {len(body)}")
            writer.write(post[:40])  # a head in pieces,
            await asyncio.sleep(0.2)
            writer.write(post[40:] + body[:10])  # and its body too
            await asyncio.sleep(0.2)
            writer.write(body[10:])
            replies = [await read_reply(reader)]
            writer.write(head("GET", "/healthz") * 3)  # three requests in one write
            replies += [await read_reply(reader) for _ in range(3)]
            # Answered before its body came (a wrong token): the body is read after, and the
            # connection goes on.
            writer.write(post.replace(b"Basic ", b"Basic x"))
            replies.append(await read_reply(reader))
            writer.write(body)
            writer.write(head("GET", "/healthz"))
            replies.append(await read_reply(reader))
            return replies
        finally:
            writer.transport.abort()

    try:
        replies = asyncio.run(converse())
    finally:
        server.stop()
    assert [status for status, _ in replies] == [201, 200, 200, 200, 401, 200]
    assert json.loads(replies[0][1])["virtual_number"] in tenant.numbers
