"""SIP mode end to end: real SIP through Kamailio (``sip/kamailio.cfg``) to maskline and back.

SIPp plays the parties (``tests/sip/``): ``uac*.xml`` a caller dialling a virtual number, ``uas.xml``
the trunk that Kamailio bridges calls to, which refuses any INVITE that is not masked. maskline
runs as ``maskline serve`` with ``MASKLINE_SIP_TRUNK`` pointing at that UAS, and with a SIP
secret, so every test also crosses the proxy's authentication. Everything listens on
127.0.0.1, on ports chosen per run; every daemon runs under ``timeout`` and is stopped by PID.

Skipped where Kamailio or SIPp is not installed (``.ci/run`` installs both on CI). One backend
is enough: SIP adds nothing the store sees differently from a carrier's webhooks.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.databases import Databases, query
from tests.support import ServerProcess, free_port, fresh_number, maskline

KAMAILIO, SIPP, TIMEOUT = shutil.which("kamailio"), shutil.which("sipp"), shutil.which("timeout")
if not (KAMAILIO and SIPP and TIMEOUT):
    pytest.skip(
        "SIP tests need kamailio (Debian: kamailio kamailio-utils-modules kamailio-extra-modules) "
        "and sipp (Debian: sip-tester)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.parametrize("databases", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "sip" / "kamailio.cfg"
SCENARIOS = ROOT / "tests" / "sip"
REFUSED = "uac_refused.xml"
AUTH_ID, TOKEN = "MA" + "SIPTEST" * 2 + "0000", "sip-test-token"
SECRET = 'sip "secret"'  # a quote, to see it cross the -A define intact
CALLERS, OTHERS = "+1415", "+1650"  # uas.xml treats any +1415 number it sees as a leak
# Seconds any process started here may live: a test's own, and the module's (which, under
# pytest-xdist, may wait for tests of other modules run in between).
TEST_LIMIT, MODULE_LIMIT = 120, 1800


def digits(number: str) -> str:
    return number.lstrip("+")


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def wait_for(check: Callable[[], Any], what: str, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Daemon:
    """A process under ``timeout``, its output in a file; ``stop`` ends it by its PID."""

    def __init__(self, command: list[str], log: Path, limit: int = TEST_LIMIT) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [TIMEOUT, "-k", "5", str(limit), *command], stdout=out, stderr=subprocess.STDOUT
            )

    def wait(self, seconds: float) -> int:
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"still running after {seconds} s:\n{self.output()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # timeout passes it on, and waits
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # timeout leads a process group
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Kamailio(Daemon):
    """``sip/kamailio.cfg`` in the foreground, listening on a port of its own."""

    _probes = itertools.count()

    def __init__(
        self, rundir: Path, maskline_url: str, secret: str = SECRET, limit: int = TEST_LIMIT, **defines: str
    ) -> None:
        rundir.mkdir()
        self.port = udp_port()
        # The repository's file, copied: a site's maskline-local.cfg next to it stays out.
        config = rundir / "kamailio.cfg"
        shutil.copy(CONFIG, config)
        settings = {
            "LISTEN": f"udp:127.0.0.1:{self.port}",
            "MASKLINE_URL": f'"{maskline_url}"',
            "MASKLINE_SECRET": '"%s"' % secret.replace('"', '\\"'),
            "TOPOH_KEY": f'"{secrets.token_hex(16)}"',
            "CHILDREN": "4",
            "TRUSTED_SOURCES": '"127.0.0.1/32"',  # where SIPp calls from
            **defines,
        }
        args = [arg for name, value in settings.items() for arg in ("-A", f"{name}={value}")]
        check = subprocess.run(
            [KAMAILIO, "-c", "-f", str(config), *args], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stdout + check.stderr
        command = [KAMAILIO, "-DD", "-E", "-f", str(config), "-Y", str(rundir), "-m", "64", "-M", "8"]
        super().__init__([*command, *args], rundir / "kamailio.log", limit)
        try:
            wait_for(self._answers_options, "Kamailio to answer OPTIONS")
        except AssertionError:
            self.stop()
            raise AssertionError(self.output()) from None

    def _answers_options(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"kamailio exited:\n{self.output()}")
        n = next(self._probes)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(0.2)
            local = probe.getsockname()[1]
            probe.sendto(
                (
                    f"OPTIONS sip:127.0.0.1:{self.port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-probe-{n}\r\n"
                    f"From: <sip:probe@127.0.0.1:{local}>;tag=probe{n}\r\n"
                    f"To: <sip:127.0.0.1:{self.port}>\r\n"
                    f"Call-ID: probe-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
                    "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                ("127.0.0.1", self.port),
            )
            try:
                return probe.recv(4096).startswith(b"SIP/2.0 200 ")
            except OSError:
                return False


@dataclass
class Receiver:
    """Takes the session events maskline sends to a callback URL."""

    url: str
    events: list[dict[str, str]]
    server: ThreadingHTTPServer

    @classmethod
    def start(cls) -> Receiver:
        events: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                events.append(dict(parse_qsl(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return cls(f"http://127.0.0.1:{server.server_address[1]}/events", events, server)

    def named(self, session: str, name: str) -> list[dict[str, str]]:
        return [e for e in list(self.events) if e.get("SessionUUID") == session and e["EventName"] == name]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stack:
    """maskline, the Kamailio in front of it, and the trunk port the UAS listens on."""

    server: ServerProcess
    api: httpx.Client
    kamailio: Kamailio
    trunk_port: int
    receiver: Receiver
    database: str

    def session(self, first: str, second: str, **settings: object) -> tuple[str, str]:
        """A new session, its events sent to the receiver; its uuid and virtual number."""
        settings = {"callback_url": self.receiver.url, **settings}
        reply = self.api.post(
            "/Session/",
            json={
                "first_party": first,
                "second_party": second,
                "session_expiry": 600,
                "call_time_limit": 60,
                **{k: v for k, v in settings.items() if v is not None},
            },
        )
        assert reply.status_code == 201, reply.text
        return reply.json()["session"]["session_uuid"], reply.json()["virtual_number"]

    def get(self, session: str) -> dict[str, Any]:
        reply = self.api.get(f"/Session/{session}/")
        assert reply.status_code == 200, reply.text
        return reply.json()["response"]


@pytest.fixture(scope="module", autouse=True)
def kamailio_modules() -> None:
    """Skip, rather than fail, where Kamailio lacks a module the configuration loads (Debian:
    http_client is in kamailio-utils-modules, jansson in kamailio-extra-modules)."""
    check = subprocess.run(
        [KAMAILIO, "-c", "-f", str(CONFIG), "-A", 'TOPOH_KEY="check"'],
        capture_output=True,
        text=True,
        timeout=30,
    )
    missing = re.findall(r"could not find module <(\w+)>", check.stdout + check.stderr)
    if missing:
        pytest.skip(f"kamailio lacks the module(s) {', '.join(missing)}")


@pytest.fixture(scope="module")
def stack(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = databases.new()
    numbers = [fresh_number("+1628") for _ in range(4)]
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=database)
    maskline("number", "add", *numbers, "--account", AUTH_ID, database=database)
    trunk_port = udp_port()
    with contextlib.ExitStack() as cleanup:
        receiver = Receiver.start()
        cleanup.callback(receiver.close)
        server = ServerProcess(
            database,
            env={
                "MASKLINE_SIP_TRUNK": f"127.0.0.1:{trunk_port}",
                "MASKLINE_SIP_SECRET": SECRET,
                "MASKLINE_ALLOW_PRIVATE_CALLBACKS": "1",  # the receiver listens on 127.0.0.1
            },
        )
        cleanup.callback(server.stop)
        api = cleanup.enter_context(
            httpx.Client(
                base_url=f"{server.url}/v1/Account/{AUTH_ID}/Masking", auth=(AUTH_ID, TOKEN), trust_env=False
            )
        )
        kamailio = Kamailio(tmp_path_factory.mktemp("kamailio") / "run", server.url, limit=MODULE_LIMIT)
        cleanup.callback(kamailio.stop)
        yield Stack(server, api, kamailio, trunk_port, receiver, database)


def sipp(scenario: str, tmp: Path, name: str, *args: str, port: int | None = None) -> list[str]:
    """A SIPp command on 127.0.0.1 with ports of its own (SIP: ``port`` if given), its messages,
    errors and logs under ``tmp``."""
    return [
        SIPP,
        "-sf", str(SCENARIOS / scenario),
        "-i", "127.0.0.1",
        "-p", str(port or udp_port()),
        "-cp", str(udp_port()),
        "-mp", str(udp_port()),
        "-nostdin", "-trace_msg", "-message_file", str(tmp / f"{name}_messages.log"),
        "-trace_err", "-error_file", str(tmp / f"{name}_errors.log"),
        "-trace_logs", "-log_file", str(tmp / f"{name}_logs.log"),
        *args,
    ]  # fmt: skip


def report(tmp: Path, name: str, daemon: Daemon | None = None) -> str:
    """What SIPp printed and logged, for assertion messages."""
    parts = [daemon.output()[-3000:]] if daemon else []
    for kind in ("errors", "logs"):
        path = tmp / f"{name}_{kind}.log"
        if path.exists():
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
    parts.append(f"--- every message: {tmp / f'{name}_messages.log'}")
    return "\n".join(parts)


def injection(tmp: Path, caller: str, dialled: str) -> Path:
    path = tmp / "calls.csv"
    path.write_text(f"SEQUENTIAL\n{caller};{dialled};\n")
    return path


class Callee:
    """The trunk side: a SIPp UAS on the stack's trunk port, checking each INVITE is masked."""

    def __init__(
        self, stack: Stack, tmp: Path, virtual: str, callee: str, calls: int = 1, scenario: str = "uas.xml"
    ) -> None:
        self.tmp = tmp
        checks = ["-set", "virtual", virtual, "-set", "callee", callee] if scenario == "uas.xml" else []
        command = sipp(
            scenario, tmp, "uas", "-m", str(calls), *checks, "-timeout", "40s", "-timeout_error",
            port=stack.trunk_port,
        )  # fmt: skip
        self.daemon = Daemon(command, tmp / "uas.out")
        try:
            wait_for(lambda: udp_bound(stack.trunk_port), "the UAS to bind its port")
        except AssertionError:
            self.daemon.stop()
            raise

    def finished(self, seconds: float = 15) -> None:
        code = self.daemon.wait(seconds)
        assert code == 0, f"UAS exit {code}\n{report(self.tmp, 'uas', self.daemon)}"

    def stop(self) -> None:
        self.daemon.stop()


def call(
    kamailio: Kamailio,
    tmp: Path,
    caller: str,
    dialled: str,
    *args: str,
    scenario: str = "uac.xml",
    calls: int = 1,
) -> subprocess.CompletedProcess[str]:
    """Place ``calls`` calls from ``caller`` to ``dialled`` through ``kamailio``; SIPp exits 0
    when every one went as ``scenario`` expects."""
    command = sipp(
        scenario, tmp, "uac", f"127.0.0.1:{kamailio.port}",
        "-inf", str(injection(tmp, caller, dialled)),
        "-m", str(calls),
        "-timeout", "30s", "-timeout_error",
        *args,
    )  # fmt: skip
    return subprocess.run(
        [TIMEOUT, "-k", "5", str(TEST_LIMIT), *command],
        capture_output=True,
        text=True,
        timeout=TEST_LIMIT + 10,
    )


def uac_report(done: subprocess.CompletedProcess[str], tmp: Path) -> str:
    return f"UAC exit {done.returncode}\n{done.stdout[-3000:]}\n{report(tmp, 'uac')}"


def ended(stack: Stack, session: str, calls: int = 1, seconds: float = 10) -> dict[str, Any]:
    """The session once ``calls`` interactions have ended: the proxy's "ended" reports arrived."""

    def check() -> dict[str, Any] | None:
        body = stack.get(session)
        done = [i for i in body["interaction"] or [] if i["end_time"]]
        return body if len(done) >= calls else None

    return wait_for(check, f"{calls} ended interaction(s) on {session}", seconds)


@pytest.mark.parametrize("caller_is_first", [True, False], ids=["first-party-calls", "second-party-calls"])
def test_a_party_reaches_the_other_and_sees_only_the_virtual_number(
    stack: Stack, tmp_path: Path, caller_is_first: bool
) -> None:
    caller, other = fresh_number(CALLERS), fresh_number(OTHERS)
    first, second = (caller, other) if caller_is_first else (other, caller)
    session, virtual = stack.session(first, second)
    bridged = stack.kamailio.output().count("time limit 60 s")
    callee = Callee(stack, tmp_path, virtual, other)
    try:
        done = call(stack.kamailio, tmp_path, caller, virtual)
        assert done.returncode == 0, uac_report(done, tmp_path)
        callee.finished()
    finally:
        callee.stop()

    body = ended(stack, session)
    assert body["total_call_count"] >= 1
    assert len(body["interaction"]) == 1
    # maskline's answer reached the dialog: the limit Kamailio set is the session's.
    assert stack.kamailio.output().count("time limit 60 s") == bridged + 1
    # Both reports raised the session's events, naming the right parties.
    for name in ("SessionSecondPartyAnswer", "SessionPartiesHangup"):
        event = wait_for(lambda name=name: stack.receiver.named(session, name), name)[0]
        assert (event["From"], event["To"], event["VirtualNumber"]) == tuple(
            map(digits, (caller, other, virtual))
        )


@pytest.mark.parametrize(
    "case, code",
    [("unknown caller", 403), ("not a maskline number", 404), ("expired session", 480)],
)
def test_refused_calls_get_the_code_maskline_gives(
    stack: Stack, tmp_path: Path, case: str, code: int
) -> None:
    first, second = fresh_number(CALLERS), fresh_number(OTHERS)
    session, virtual = stack.session(first, second)
    caller, dialled = first, virtual
    if case == "unknown caller":
        caller = fresh_number(CALLERS)
    elif case == "not a maskline number":
        dialled = fresh_number("+1628")
    else:
        assert stack.api.delete(f"/Session/{session}/").status_code == 200
    done = call(stack.kamailio, tmp_path, caller, dialled, "-set", "expected", str(code), scenario=REFUSED)
    assert done.returncode == 0, uac_report(done, tmp_path)
    assert f"refused with {code}" in (tmp_path / "uac_logs.log").read_text()


@pytest.mark.parametrize(
    "case, failure",
    [("maskline unreachable", "failed (7)"), ("maskline refuses the proxy", "failed (403)")],
)
def test_no_decision_gives_503(stack: Stack, tmp_path: Path, case: str, failure: str) -> None:
    first, second = fresh_number(CALLERS), fresh_number(OTHERS)
    _, virtual = stack.session(first, second)
    if case == "maskline unreachable":
        kamailio = Kamailio(tmp_path / "run", f"http://127.0.0.1:{free_port()}")  # nobody listens
    else:
        kamailio = Kamailio(tmp_path / "run", stack.server.url, secret="not the secret")
    try:
        done = call(kamailio, tmp_path, first, virtual, "-set", "expected", "503", scenario=REFUSED)
    finally:
        kamailio.stop()
    assert done.returncode == 0, uac_report(done, tmp_path)
    assert f"/sip/route {failure}" in kamailio.output()  # 7: curl could not connect


def test_calls_from_outside_the_trusted_sources_are_refused(stack: Stack, tmp_path: Path) -> None:
    first, second = fresh_number(CALLERS), fresh_number(OTHERS)
    session, virtual = stack.session(first, second)
    kamailio = Kamailio(tmp_path / "run", stack.server.url, TRUSTED_SOURCES='"192.0.2.0/24"')
    try:
        done = call(kamailio, tmp_path, first, virtual, "-set", "expected", "403", scenario=REFUSED)
    finally:
        kamailio.stop()
    assert done.returncode == 0, uac_report(done, tmp_path)
    assert "INVITE from untrusted 127.0.0.1 refused" in kamailio.output()
    assert not stack.get(session)["interaction"]  # maskline was not even asked


def test_the_time_limit_ends_the_call_with_a_bye_to_both_parties(stack: Stack, tmp_path: Path) -> None:
    """maskline's shortest time limit is 60 s: this Kamailio caps calls at 2 s (MAX_CALL_TIME),
    so the test sees the dialog module end a call without waiting a minute. That the session's
    own limit reaches the dialog is checked by the first test."""
    caller, other = fresh_number(CALLERS), fresh_number(OTHERS)
    session, virtual = stack.session(caller, other)
    kamailio = Kamailio(tmp_path / "run", stack.server.url, MAX_CALL_TIME="2")
    callee = Callee(stack, tmp_path, virtual, other)
    try:
        started = time.monotonic()
        done = call(kamailio, tmp_path, caller, virtual, scenario="uac_until_bye.xml")
        took = time.monotonic() - started
        assert done.returncode == 0, uac_report(done, tmp_path)  # the caller got a BYE
        callee.finished()  # and so did the callee, who never had one from the caller
        ended(stack, session)
    finally:
        callee.stop()
        kamailio.stop()
    assert "time limit 2 s" in kamailio.output()
    assert 1.0 <= took < 5.0, took  # the dialog timer ticks once a second
    assert stack.receiver.named(session, "SessionSecondPartyAnswer")


def test_an_unanswered_call_ends_at_the_ring_timeout(stack: Stack, tmp_path: Path) -> None:
    caller, other = fresh_number(CALLERS), fresh_number(OTHERS)
    session, virtual = stack.session(caller, other, ring_timeout=1)
    callee = Callee(stack, tmp_path, virtual, other, scenario="uas_unanswered.xml")
    try:
        started = time.monotonic()
        done = call(stack.kamailio, tmp_path, caller, virtual, "-set", "expected", "408", scenario=REFUSED)
        took = time.monotonic() - started
        assert done.returncode == 0, uac_report(done, tmp_path)
        callee.finished()  # it was sent a CANCEL
    finally:
        callee.stop()
    assert took < 3.0, took
    ended(stack, session)  # the failed INVITE was reported
    assert wait_for(lambda: stack.receiver.named(session, "SessionPartiesHangup"), "the hangup event")
    assert not stack.receiver.named(session, "SessionSecondPartyAnswer")
    # With the proxy's final status: no answer within the ring timeout.
    got = query(stack.database, "SELECT b_status, b_cause FROM calls WHERE session_uuid = ?", session)
    assert got == [("no-answer", "408")]


def test_300_calls_at_50_a_second_all_connect(stack: Stack, tmp_path: Path) -> None:
    caller, other = fresh_number(CALLERS), fresh_number(OTHERS)
    # No callback URL: the first test sees the events; here their 1,500 deliveries would only
    # compete with the calls for maskline's one process.
    session, virtual = stack.session(caller, other, callback_url=None)
    callee = Callee(stack, tmp_path, virtual, other, calls=300)
    try:
        done = call(stack.kamailio, tmp_path, caller, virtual, "-r", "50", "-l", "100", calls=300)
        assert done.returncode == 0, uac_report(done, tmp_path)
        callee.finished(30)
    finally:
        callee.stop()
    body = ended(stack, session, calls=300, seconds=60)  # maskline may lag on a busy machine
    assert len(body["interaction"]) == 300
    assert body["total_call_count"] >= 300
    assert " failed (" not in stack.kamailio.output()  # every /sip/route and /sip/event answered
