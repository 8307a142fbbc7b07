"""Forwarding headers are believed only from the proxies the operator lists, in the real server:
the failed-authentication limiter and the loopback rule of /metrics see the same client."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, maskline

AUTH_ID, TOKEN = "MA" + "F" * 18, "forwarded-token"
PATH = f"/v1/Account/{AUTH_ID}/Masking/Session/"


def serve(folder: Path, **env: str) -> ServerProcess:
    folder.mkdir()
    database = f"sqlite:///{folder / 'proxies.db'}"
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=database)
    return ServerProcess(database, env={"MASKLINE_AUTH_FAILURES_PER_MINUTE": "10", **env})


@pytest.fixture
def unlisted(tmp_path: Path) -> Iterator[ServerProcess]:
    server = serve(tmp_path / "unlisted")
    yield server
    server.stop()


@pytest.fixture
def behind_loopback_proxy(tmp_path: Path) -> Iterator[ServerProcess]:
    server = serve(tmp_path / "listed", MASKLINE_TRUSTED_PROXIES="127.0.0.1/32")
    yield server
    server.stop()


def guesses(url: str, forwarded_for: list[str], source: str = "127.0.0.1") -> Counter[int]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=url, transport=transport, trust_env=False, timeout=10) as client:
        return Counter(
            client.get(PATH, auth=(AUTH_ID, "guess"), headers={"X-Forwarded-For": address}).status_code
            for address in forwarded_for
        )


ROTATING = [f"203.0.113.{i}" for i in range(1, 26)]


def test_by_default_no_forwarding_header_is_believed(unlisted: ServerProcess) -> None:
    statuses = guesses(unlisted.url, ROTATING)
    assert statuses[401] == 10 and statuses[429] == 15  # one client, however many names it gives


def test_a_listed_proxy_names_each_client(behind_loopback_proxy: ServerProcess) -> None:
    assert guesses(behind_loopback_proxy.url, ROTATING) == {401: 25}  # 25 clients, each once
    one = guesses(behind_loopback_proxy.url, ["198.51.100.7"] * 12)
    assert one == {401: 10, 429: 2}
    # Through the proxy, the client's own guess on the left is not believed.
    spoofed = guesses(behind_loopback_proxy.url, [f"192.0.2.{i}, 198.51.100.7" for i in range(5)])
    assert spoofed == {429: 5}
    # An address that is not the listed proxy is itself the client, whatever it says.
    assert guesses(behind_loopback_proxy.url, ROTATING, source="127.0.0.2") == {401: 10, 429: 15}


def scrape(url: str, headers: dict[str, str]) -> int:
    return httpx.get(f"{url}/metrics", headers=headers, trust_env=False, timeout=10).status_code


def test_metrics_loopback_rule_sees_the_same_client(
    unlisted: ServerProcess, behind_loopback_proxy: ServerProcess
) -> None:
    assert scrape(unlisted.url, {}) == 200
    # A proxy maskline was not told about forwards the world from loopback: not local.
    assert scrape(unlisted.url, {"X-Forwarded-For": "203.0.113.5"}) == 403
    assert scrape(unlisted.url, {"Forwarded": "for=203.0.113.5"}) == 403
    assert scrape(behind_loopback_proxy.url, {"X-Forwarded-For": "203.0.113.5"}) == 403
    assert scrape(behind_loopback_proxy.url, {"X-Forwarded-For": "127.0.0.1"}) == 200
    # A client the proxy could not name is not the proxy itself.
    assert scrape(behind_loopback_proxy.url, {"X-Forwarded-For": "unknown"}) == 403
