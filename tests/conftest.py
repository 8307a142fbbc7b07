from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, settings

from tests.databases import BACKENDS, Databases
from tests.support import CarrierApiStandIn, FakeClock, ServerThread, Tenant, plivo_sdk

# Two noisy cores: time limits on examples would make property tests flaky, not stricter.
settings.register_profile("maskline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("maskline")


@pytest.fixture(scope="session", params=BACKENDS)
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """New databases on each backend in turn: every test that asks runs on both."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    made = Databases(request.param, tmp_path_factory.mktemp(request.param), f"{worker}_{os.getpid()}")
    yield made
    made.close()


@pytest.fixture
def database(databases: Databases) -> str:
    """The URL of a new, empty database."""
    return databases.new()


@pytest.fixture(scope="session")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def carrier_api() -> Iterator[CarrierApiStandIn]:
    stand_in = CarrierApiStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture(scope="session")
def server(databases: Databases, clock: FakeClock, carrier_api: CarrierApiStandIn) -> Iterator[ServerThread]:
    running = ServerThread(
        databases.new(), clock, plivo_api_url=f"{carrier_api.url}/v1/Account", twilio_api_url=carrier_api.url
    ).start()
    yield running
    running.stop()


@pytest.fixture
def tenant(server: ServerThread) -> Tenant:
    return server.tenant()


@pytest.fixture
def http(server: ServerThread, tenant: Tenant) -> Iterator[httpx.Client]:
    """An HTTP client authenticated as ``tenant``, rooted at its Masking API."""
    with server.api(tenant) as client:
        yield client


@pytest.fixture
def plivo_client(monkeypatch: pytest.MonkeyPatch, server: ServerThread, tenant: Tenant):  # type: ignore[no-untyped-def]
    """The official Plivo SDK pointed at the test server (contract §9.2)."""
    return plivo_sdk(monkeypatch, server.url, tenant)
