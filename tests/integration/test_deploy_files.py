"""The service files shipped in deploy/: the systemd unit passes ``systemd-analyze verify``, its
environment file names only settings maskline reads and loads, and the Prometheus alert rules
are valid, behave as their unit tests say, and use only metrics the server exports.

The unit is verified on a copy in which two lines are changed, and nothing else: ExecStart's
program becomes this environment's ``maskline`` (verify checks that the program exists, and
/opt/maskline is not installed here), and EnvironmentFile points at a copy of the shipped
maskline.env (verify does not read it, but the path is kept real)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maskline.config import Config
from tests.databases import Databases
from tests.support import exported_metrics

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "maskline.service"
ENV_FILE = ROOT / "deploy" / "systemd" / "maskline.env"
CONFIG_SOURCE = ROOT / "src" / "maskline" / "config.py"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or ""
SHIPPED_PROGRAM = "/opt/maskline/.venv/bin/maskline"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
PROMTOOL = shutil.which("promtool") or ""


def unit_for_test(tmp_path: Path, extra: str = "") -> Path:
    """The shipped unit with ExecStart's program and the EnvironmentFile made local (and
    ``extra`` lines appended to [Service], to check the check)."""
    program = Path(sys.executable).parent / "maskline"
    assert program.exists(), program
    env_copy = tmp_path / "maskline.env"
    shutil.copy(ENV_FILE, env_copy)
    text = UNIT.read_text()
    assert f"ExecStart={SHIPPED_PROGRAM} " in text
    assert "EnvironmentFile=/etc/maskline/maskline.env\n" in text
    text = text.replace(f"ExecStart={SHIPPED_PROGRAM} ", f"ExecStart={program} ")
    text = text.replace("EnvironmentFile=/etc/maskline/maskline.env\n", f"EnvironmentFile={env_copy}\n")
    if extra:
        text = text.replace("[Install]", f"{extra}\n\n[Install]")
    unit = tmp_path / "maskline.service"
    unit.write_text(text)
    return unit


def verify(unit: Path) -> list[str]:
    """``systemd-analyze verify``'s complaints about ``unit`` (it exits 0 on unknown keys, and
    says so on stderr, naming the file)."""
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if unit.name in line]


needs_systemd = pytest.mark.skipif(
    not SYSTEMD_ANALYZE, reason="systemd-analyze (Debian: systemd) is not installed"
)


@needs_systemd
def test_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    assert verify(unit_for_test(tmp_path)) == []


@needs_systemd
def test_the_verify_check_sees_an_unknown_directive(tmp_path: Path) -> None:
    complaints = verify(unit_for_test(tmp_path, extra="ProtectEverything=yes"))
    assert any("ProtectEverything" in line for line in complaints), complaints


def test_systemd_unit_keeps_its_promises() -> None:
    """What the README and the environment file say of the unit."""
    settings = dict(
        line.split("=", 1)
        for line in UNIT.read_text().splitlines()
        if line and not line.startswith(("#", "[")) and "=" in line
    )
    assert settings["ExecStart"].startswith(f"{SHIPPED_PROGRAM} serve --host 127.0.0.1 ")
    assert settings["WorkingDirectory"] == "/var/lib/maskline"
    assert settings["StateDirectory"] == "maskline"
    assert settings["ReadWritePaths"] == "/var/lib/maskline"
    assert settings["KillSignal"] == "SIGTERM"
    assert settings["Restart"] == "on-failure"
    assert settings["CapabilityBoundingSet"] == ""
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict"


def environment_file() -> dict[str, str]:
    """The KEY=VALUE lines of maskline.env, comments and blank lines left out."""
    values = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key == key.strip() and key.isupper(), line
        values[key] = value
    return values


def test_environment_file_names_only_settings_maskline_reads() -> None:
    read = set(re.findall(r'"(MASKLINE_[A-Z_]+)"', CONFIG_SOURCE.read_text()))
    named = set(re.findall(r"\bMASKLINE_[A-Z_]+\b", ENV_FILE.read_text()))  # comments too
    assert {"MASKLINE_DATABASE_URL", "MASKLINE_TRUSTED_PROXIES", "MASKLINE_METRICS_TOKEN"} <= named
    assert named - read == set()


def test_environment_file_loads() -> None:
    values = environment_file()
    assert values["MASKLINE_TRUSTED_PROXIES"] == "127.0.0.1"
    config = Config.from_env(values)
    assert config.trusted_proxies == ("127.0.0.1",)
    assert config.database_url == "sqlite:///./maskline.db"
    assert config.metrics_token == values["MASKLINE_METRICS_TOKEN"]


needs_promtool = pytest.mark.skipif(not PROMTOOL, reason="promtool (Debian: prometheus) is not installed")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=ALERTS.parent)


@needs_promtool
def test_alert_rules_are_valid() -> None:
    done = promtool("check", "rules", ALERTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_alert_rules_pass_their_unit_tests() -> None:
    """alerts_test.yml: each important alert fires when it should and stays quiet otherwise."""
    done = promtool("test", "rules", ALERTS_TEST.name)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", ALERTS_TEST.read_text()))
    defined = set(re.findall(r"- alert: (\w+)", ALERTS.read_text()))
    assert tested == defined


def test_alert_rules_use_only_metrics_the_server_exports(databases: Databases) -> None:
    """Every ``maskline_*`` name in alerts.yml is one a real server's /metrics has."""
    exported = exported_metrics(databases.new())
    used = set(re.findall(r"\bmaskline_[a-z0-9_]+\b", ALERTS.read_text()))
    assert {"maskline_pool_headroom", "maskline_database_unavailable_total"} <= used
    assert "maskline_pool_headroom" in exported  # the plan was made
    assert used - exported == set()
