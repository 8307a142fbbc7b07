"""The HTTP load client: wrk when installed (one thread, a Lua script of benchmarks/), else
benchmarks/loadgen.py, which also seeds every run. Both keep their connections busy in a closed
loop, are bounded in time and in requests, and run on the client's CPUs. Every run notes the CPU
the client used per second of wall time: near 100%, the client was the bottleneck."""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ROOT, BenchError
from harness.pinning import pinned
from harness.servers import Rows, Server, run

BENCHMARKS = Path(__file__).resolve().parent.parent
LOADGEN = BENCHMARKS / "loadgen.py"
WRK_SESSIONS = BENCHMARKS / "wrk.lua"  # creates and gets
WRK_REPLAY = BENCHMARKS / "routing.lua"  # signed webhooks, each posted once

EXPIRY = 600  # the session_expiry of the Session API benchmarks' creates
Request = tuple[str, dict[str, str], str]  # path, headers, form-encoded body


def client_option(p: argparse.ArgumentParser) -> None:
    """--client: wrk, the Python client, or wrk when it is installed (auto)."""
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")


def choose_wrk(client: str) -> bool:
    """Whether a run with --client ``client`` (auto, wrk, python) loads with wrk."""
    if client == "wrk" and not shutil.which("wrk"):
        raise BenchError("--client wrk: wrk is not installed (apt-get install wrk)")
    return client == "wrk" or (client == "auto" and shutil.which("wrk") is not None)


def client_name(use_wrk: bool, info: dict[str, str]) -> str:
    """The client as the report names it (``info``: the machine, with wrk's version)."""
    return info["wrk"] + " (1 thread)" if use_wrk else "benchmarks/loadgen.py (Python, uvloop)"


def children_cpu() -> float:
    """CPU seconds the children of this process that have ended have used so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Result:
    """One bounded load run."""

    rate: float
    p50_us: float
    p99_us: float
    requests: int
    bad_status: int  # responses of another status than expected: 2xx, or 200 for replays
    errors: int  # socket errors
    detail: str = ""  # the statuses seen, when some were bad
    capped: bool = False  # the request bound was reached before the time (loads)
    exhausted: bool = False  # the requests ran out before the time (replays)
    mismatched: int = 0  # 2xx responses without the text expected (replays)
    client_cpu: float = 0.0  # CPU the load client used, per second of wall time

    @property
    def bad(self) -> int:
        return self.bad_status + self.mismatched + self.errors


class Client:
    """Seeds and loads servers from this machine. Sessions are created with ``session_expiry``
    ``expiry``; creates under load draw their parties from ``parties``."""

    def __init__(
        self,
        use_wrk: bool,
        cpus: set[int] | None,
        connections: int,
        workdir: Path,
        parties: list[tuple[str, str]] | None = None,
        expiry: int = EXPIRY,
    ) -> None:
        self.use_wrk = use_wrk
        self.cpus = cpus
        self.connections = connections
        self.workdir = workdir
        self.expiry = expiry
        self.parties_file = workdir / "parties.txt"
        if parties is not None:
            self.parties_file.write_text("".join(f"{a} {b}\n" for a, b in parties))
        self.jobs = 0

    def loadgen(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one loadgen job. Its result line (half a megabyte for a large seeding) goes to a
        file: read back through a pipe, such lines were seen cut short at a 4 KiB page boundary."""
        self.jobs += 1
        spec, result = self.workdir / f"job-{self.jobs}.json", self.workdir / f"job-{self.jobs}.out"
        spec.write_text(json.dumps(job))
        cmd = [sys.executable, str(LOADGEN), str(spec)]
        try:
            with open(result, "wb") as out:
                done = subprocess.run(
                    cmd, stdout=out, stderr=subprocess.PIPE, timeout=timeout, cwd=ROOT,
                    preexec_fn=pinned(self.cpus),
                )  # fmt: skip
            if done.returncode != 0:
                stderr = done.stderr.decode("utf-8", "replace")[-2000:]
                raise BenchError(f"{shlex.join(cmd)} exited {done.returncode}:\n{stderr}")
            lines = result.read_text().strip().splitlines()
            try:
                parsed = dict(json.loads(lines[-1]))
            except (ValueError, IndexError) as error:
                raise BenchError(f"loadgen printed no result ({error}); its output is in {result}") from None
            result.unlink()
            return parsed
        finally:
            spec.unlink(missing_ok=True)

    def seed(
        self,
        server: Server,
        pairs: list[tuple[str, str]],
        connections: int | None = None,
        fields: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Create one session per pair, every create checked: loadgen's result, whose "ids" are
        the rows created, in order, and "records" the ``fields`` of each reply."""
        rows = _rows(server)
        job = {
            "mode": "seed",
            "port": server.port,
            "connections": connections or self.connections,
            "headers": rows.headers,
            "path": rows.create_path,
            "pairs": pairs,
            "expiry": self.expiry,
            "id_field": rows.id_field,
            "fields": list(fields),
            "timeout": 30 + len(pairs) / 100,
        }
        result = self.loadgen(job, timeout=60 + len(pairs) / 100)
        records = (result.get("records") or []) if fields else result["ids"]
        if result["non2xx"] or result["errors"] or len(records) != len(pairs) or None in records:
            raise BenchError(
                f"seeding {len(pairs):,} sessions on {server.name} failed: statuses {result['statuses']},"
                f" {result['errors']} socket errors"
            )
        return result

    def load(self, server: Server, kind: str, duration: float, seed: int, paths_file: Path) -> Result:
        """Creates (``kind`` "post") of random parties or gets of random ``paths_file`` lines, for
        ``duration`` seconds over the client's connections; every 2xx counts."""
        max_requests = int(60_000 * duration)  # far above what one core serves: a safety bound
        if self.use_wrk:
            return self._timed(lambda: self._wrk_load(server, kind, duration, seed, paths_file, max_requests))
        rows = _rows(server)
        job: dict[str, Any] = {
            "mode": "load",
            "kind": kind,
            "port": server.port,
            "connections": self.connections,
            "headers": rows.headers,
            "seed": seed,
            "duration": duration,
            "max_requests": max_requests,
        }
        if kind == "post":
            job.update(
                path=rows.create_path,
                expiry=self.expiry,
                parties=[line.split() for line in self.parties_file.read_text().splitlines()],
            )
        else:
            job["paths"] = paths_file.read_text().splitlines()
        return self._timed(lambda: _result(self.loadgen(job, duration + 60), lambda s: 200 <= s < 300))

    def replay(
        self,
        server: Server,
        requests: list[Request],
        duration: float,
        connections: int | None = None,
        python: bool = False,
    ) -> Result:
        """Post each signed webhook once (or until ``duration`` passes) over ``connections``
        (default: the client's); each must be a 200 holding a <Dial>. ``python``: use loadgen.py
        whatever the client, as it stops once the requests run out (wrk runs for its whole -d)."""
        conns = connections or self.connections
        if self.use_wrk and not python:
            return self._timed(lambda: self._wrk_replay(server, requests, duration, conns))
        job = {
            "mode": "replay",
            "port": server.port,
            "connections": conns,
            "requests": requests,
            "duration": duration,
            "expect": "<Dial",
        }
        return self._timed(lambda: _result(self.loadgen(job, duration + 60), lambda s: s == 200))

    def _timed(self, load: Callable[[], Result]) -> Result:
        before, start = children_cpu(), time.monotonic()
        result = load()
        result.client_cpu = (children_cpu() - before) / (time.monotonic() - start)
        return result

    def _wrk(self, duration: float, connections: int, script: Path, url: str, *args: str) -> dict[str, Any]:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(script),
               url, "--", *args]  # fmt: skip
        out = run(cmd, timeout=duration + 60, cpus=self.cpus)
        lines = [line for line in out.splitlines() if line.startswith("WRKJSON ")]
        if not lines:
            raise BenchError(f"wrk printed no result:\n{out[-2000:]}")
        return dict(json.loads(lines[-1][len("WRKJSON ") :]))

    def _wrk_load(
        self, server: Server, kind: str, duration: float, seed: int, paths_file: Path, max_requests: int
    ) -> Result:
        rows = _rows(server)
        auth = rows.headers.get("Authorization", "-")
        data = self.parties_file if kind == "post" else paths_file
        r = self._wrk(
            duration, self.connections, WRK_SESSIONS, server.base_url,
            kind, str(data), str(max_requests), str(seed), auth, rows.create_path, str(self.expiry),
        )  # fmt: skip
        seconds = r["duration_us"] / 1e6
        return Result(
            r["requests"] / seconds, r["p50_us"], r["p99_us"], r["requests"], r["non2xx"], r["errors"],
            r["bad_statuses"], capped=r["requests"] >= max_requests,
        )  # fmt: skip

    def _wrk_replay(
        self, server: Server, requests: list[Request], duration: float, connections: int
    ) -> Result:
        data = self.workdir / f"requests-{self.jobs}.tsv"
        self.jobs += 1
        data.write_text(
            "".join(
                f"{path}\t{h['X-Plivo-Signature-V3']}\t{h['X-Plivo-Signature-V3-Nonce']}\t{body}\n"
                for path, h, body in requests
            )
        )
        try:
            r = self._wrk(duration, connections, WRK_REPLAY, server.base_url, str(data))
        finally:
            data.unlink(missing_ok=True)
        # wrk's duration is always the full -d; when the requests ran out before, the span counts.
        seconds = (r["span_us"] if r["exhausted"] else r["duration_us"]) / 1e6
        return Result(
            r["requests"] / seconds, r["p50_us"], r["p99_us"], r["requests"], r["non200"], r["errors"],
            r["bad_statuses"], exhausted=bool(r["exhausted"]), mismatched=r["nodial"],
        )  # fmt: skip


def _rows(server: Server) -> Rows:
    if server.rows is None:
        raise BenchError(f"{server.name} has no rows for the load client")
    return server.rows


def _result(r: dict[str, Any], expected: Callable[[int], bool]) -> Result:
    """A Result from loadgen's figures; statuses not ``expected`` are bad."""
    bad = sum(n for status, n in r["statuses"].items() if not expected(int(status)))
    return Result(
        r["rate"], r["p50_us"], r["p99_us"], r["requests"], bad, r["errors"],
        json.dumps(r["statuses"]) if bad else "", capped=r["capped"],
        exhausted=r.get("exhausted", False), mismatched=r.get("mismatched", 0),
    )  # fmt: skip
