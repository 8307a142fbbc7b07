"""Free ports, the processes a benchmark starts (each stopped by its PID, however the run went),
and the maskline accounts they serve."""

from __future__ import annotations

import base64
import http.client
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, BenchError
from harness.pinning import pinned

BIN = Path(sys.executable).parent


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port of 127.0.0.1 that nothing is bound to now (TCP unless ``kind`` says otherwise)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


def run(cmd: Sequence[str], timeout: float, cpus: set[int] | None = None) -> str:
    """Run ``cmd`` to its end (on ``cpus``), its standard output; BenchError if it fails."""
    done = subprocess.run(
        list(cmd), capture_output=True, text=True, timeout=timeout, cwd=ROOT, preexec_fn=pinned(cpus)
    )
    if done.returncode != 0:
        raise BenchError(f"{shlex.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def maskline_command() -> list[str]:
    """How to run the maskline CLI: the venv's script, else the module."""
    script = BIN / "maskline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "maskline"]


APP = "maskline.http.app:worker_app"  # the app factory that other servers import


def uvicorn_command(port: int, *options: str) -> list[str]:
    """maskline's app on plain uvicorn (httptools, uvloop, no access log): without the edge limits."""
    plain = ["--factory", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    return [str(BIN / "uvicorn"), *plain, *options, "--port", str(port), APP]


def granian_command(port: int, *options: str) -> list[str]:
    """maskline's app on granian: uvloop, HTTP/1, one worker, no websockets."""
    asgi = [
        "--interface",
        "asgi",
        "--factory",
        "--loop",
        "uvloop",
        "--http",
        "1",
        "--no-ws",
        "--workers",
        "1",
    ]
    return [str(BIN / "granian"), *asgi, *options, "--port", str(port), APP]


def wait_for(check: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a process this benchmark started (by its PID), however the run went."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Rows:
    """What the load client creates on a server and reads back: where it posts a create, the
    field of the reply naming the row, the row's own path, and the headers of every request."""

    create_path: str
    id_field: str
    get_path: Callable[[str], str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    """A maskline account a benchmark creates and calls the Session API as."""

    auth_id: str
    auth_token: str

    @property
    def sessions(self) -> str:
        return f"/v1/Account/{self.auth_id}/Masking/Session/"

    def authorization(self) -> dict[str, str]:
        credentials = base64.b64encode(f"{self.auth_id}:{self.auth_token}".encode()).decode()
        return {"Authorization": f"Basic {credentials}"}

    def rows(self) -> Rows:
        sessions = self.sessions
        return Rows(sessions, "session_uuid", lambda uuid: f"{sessions}{uuid}/", self.authorization())

    def create(self, database: str, numbers: list[str]) -> None:
        """The account and its pool of ``numbers`` on ``database``, made with the CLI alone."""
        maskline, where = maskline_command(), ["--database", database]
        run([*maskline, "account", "create", "--auth-id", self.auth_id, "--auth-token", self.auth_token,
             *where], timeout=60)  # fmt: skip
        run([*maskline, "number", "add", *numbers, "--account", self.auth_id, *where], timeout=60)


# The account of the Session API benchmarks (api.py, scale.py, durability.py).
BENCHMARK = Account("MABENCHMARK000000001", "benchmark-token-not-a-secret-0001")


@dataclass
class Server:
    """An HTTP server on 127.0.0.1:``port``, its output in ``log``; ``rows``: what the load client
    creates on it, if it does."""

    name: str
    cmd: list[str]
    port: int
    log: Path
    rows: Rows | None = None
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cpus: set[int] | None) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                preexec_fn=pinned(cpus),
                env={**os.environ, **self.env},
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the server answers an HTTP request, whatever the status."""

        def answers() -> bool:
            if not self.alive():
                raise BenchError(f"{self.name} exited early:\n{self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                return True
            except OSError:
                return False

        wait_for(answers, f"{self.name} to answer on port {self.port}", timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        """BenchError, with the end of its log, if the server died during the run."""
        if not self.alive():
            raise BenchError(f"{self.name} died during the run:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        stop(self.process)
