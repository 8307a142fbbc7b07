"""What the benchmark scripts share, one module for each part of a run:

* ``servers``: free ports, the processes a run starts and stops, the maskline accounts they serve;
* ``pinning``: which CPUs the servers get and which the load client;
* ``loadclient``: the HTTP load client (wrk when installed, else benchmarks/loadgen.py) and what
  one bounded run of it measured;
* ``numbers``: the parties' and the pools' phone numbers;
* ``stores``: maskline stores holding many live sessions, a small one against a large one;
* ``report``: the machine, medians, and the sections written to docs/benchmarks.md.

The scripts run as files (``.venv/bin/python benchmarks/api.py``), which puts benchmarks/ first on
the import path: they import this package as ``harness``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[2]


class BenchError(RuntimeError):
    """A run that cannot go on, or whose figures cannot be trusted."""


def run_main(main: Callable[[], int]) -> NoReturn:
    """Run a script's ``main`` and exit with its status; a BenchError is said in one line, status 1."""
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        sys.exit(1)
