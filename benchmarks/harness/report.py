"""What a run reports: the machine and the revision measured, medians of rounds, and the section
of docs/benchmarks.md (or another page) that each script owns between its two markers."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from harness import ROOT

DOCS = ROOT / "docs" / "benchmarks.md"


def markers(script: str) -> tuple[str, str]:
    """The lines that open and close the section ``script`` (its ``__file__``) writes."""
    name = f"benchmarks/{Path(script).name}"
    return f"<!-- BEGIN {name}: generated, do not edit by hand -->", f"<!-- END {name} -->"


# -- the machine and the revision ----------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = ""
    if shutil.which("wrk"):
        probe = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        wrk = (probe.stdout + probe.stderr).split("Copyright")[0].strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk,
        "revision": revision(),
    }


def note_load(info: dict[str, str]) -> None:
    """Add the load average of the last minute to ``info``; say so when other work is running."""
    info["load"] = f"{os.getloadavg()[0]:.2f}"
    if os.getloadavg()[0] > 0.5:
        print(f"note: load average {info['load']}: something else is running, figures will be noisy")


def load_text(info: dict[str, str]) -> str:
    """The load average noted by note_load, as a section says it."""
    return (
        f"load average {info['load']} in the minute before the run (other work on the machine makes "
        "the figures noisier)"
    )


def revision() -> str:
    """The maskline commit measured, and whether src/ differs from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    if head.returncode != 0:
        return "unknown revision"
    changed = " plus uncommitted changes in src/" if dirty.stdout.strip() else ""
    return f"commit {head.stdout.strip()}{changed}"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)


def command_line() -> str:
    """The command that is running, as the docs show it."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(ROOT))
    except ValueError:
        shown = str(exe)
    script = os.path.relpath(Path(sys.argv[0]).resolve(), ROOT)  # the benchmark that is running
    return shlex.join([shown, script, *sys.argv[1:]])


def produced(revision: str, also: str = "") -> str:
    """How a section begins: Produced on <now> by `<command>`<also>, maskline at <revision>."""
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Produced on {date} by `{command_line()}`{also}, maskline at {revision}"


def machine_line(info: dict[str, str]) -> str:
    """The start of a section's machine line: Machine: <CPUs>, <model>, <OS>; Python <version>."""
    return f"Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}, {info['os']}; Python {info['python']}"


# -- figures ---------------------------------------------------------------------------------------
def fmt_us(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


class Rated(Protocol):
    """A measured run as the helpers below read it."""

    rate: float
    p50_us: float
    p99_us: float


def median(results: Sequence[Rated], key: str) -> float:
    return float(statistics.median(getattr(r, key) for r in results))


def spread(results: Sequence[Rated]) -> float:
    """(max - min) / median of the rounds' rates: how noisy one server's figures were."""
    rates = [r.rate for r in results]
    return (max(rates) - min(rates)) / statistics.median(rates)


def paired(s: Sequence[Rated], g: Sequence[Rated], key: str = "rate") -> list[float]:
    """Second figure over first, round by round (measured back to back, so the drift cancels)."""
    return [getattr(b, key) / getattr(a, key) for a, b in zip(s, g, strict=True)]


# -- the docs --------------------------------------------------------------------------------------
def docs_options(p: argparse.ArgumentParser, default: Path = DOCS) -> None:
    """--docs (the page whose section the run rewrites) and --no-docs; read them with docs_target."""
    p.add_argument("--docs", type=Path, default=default, help="page whose section of this run is rewritten")
    p.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")


def docs_target(args: argparse.Namespace) -> Path | None:
    """The page a run writes its section to, None with --no-docs."""
    return None if args.no_docs else Path(args.docs)


def write_docs(section: str, path: Path, begin: str, end: str) -> None:
    """Replace the text between ``begin`` and ``end`` in ``path`` (append it the first time)."""
    if path.exists():
        text = path.read_text()
    else:
        text = (
            "# Benchmarks\n\nFigures produced by the scripts in `benchmarks/`; each section names the "
            "command that produced it. Rerun it to refresh the section.\n"
        )
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def publish(section: str, docs: Path | None, begin: str, end: str) -> None:
    """Print a run's section, and write it to ``docs`` unless that is None (--no-docs)."""
    print(section)
    _write(section, docs, begin, end)


def finish(
    section: str, began: float, bad: list[str], workdir: Path, docs: Path | None, begin: str, end: str
) -> int:
    """Print a run's section; write it to ``docs`` only if no measurement went wrong (``bad``)."""
    print()
    print(section)
    print(f"\ntotal time {time.monotonic() - began:.0f} s")
    if bad:
        print(
            f"INVALID RUN (docs not written; logs and databases kept in {workdir}):\n  " + "\n  ".join(bad),
            file=sys.stderr,
        )
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    _write(section, docs, begin, end)
    return 0


def _write(section: str, docs: Path | None, begin: str, end: str) -> None:
    if docs is not None:
        write_docs(section, docs, begin, end)
        print(f"wrote {os.path.relpath(docs, ROOT)}")
