"""Fixtures for the contract tests: SDK and HTTP clients for any account."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support import ServerThread, Tenant


@pytest.fixture
def sessions(plivo_client):  # type: ignore[no-untyped-def]
    """``masking_sessions`` of the SDK client authenticated as ``tenant``."""
    return plivo_client.masking_sessions


@pytest.fixture
def sdk_for(plivo_client):  # type: ignore[no-untyped-def]
    """A factory of SDK clients for other accounts (the base-URL patch of ``plivo_client``
    is active for the whole test)."""
    import plivo

    def make(account: Tenant, token: str | None = None):  # type: ignore[no-untyped-def]
        return plivo.RestClient(account.auth_id, account.auth_token if token is None else token)

    return make


@pytest.fixture
def http_for(server: ServerThread) -> Iterator[Callable[..., httpx.Client]]:
    """A factory of raw HTTP clients rooted at ``/v1/Account/{path_id}/Masking``, authenticated
    as ``account`` (or not at all with ``auth=None``)."""
    opened: list[httpx.Client] = []
    unset = object()

    def make(account: Tenant, *, path_id: str | None = None, auth: object = unset) -> httpx.Client:
        credentials = (account.auth_id, account.auth_token) if auth is unset else auth
        client = httpx.Client(
            base_url=f"{server.url}/v1/Account/{path_id or account.auth_id}/Masking",
            auth=credentials,  # type: ignore[arg-type]
            trust_env=False,
            timeout=30,
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()
