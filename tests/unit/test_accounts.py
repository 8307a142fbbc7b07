"""Account tokens: stored only as salted slow hashes, checked in constant time."""

from __future__ import annotations

import asyncio
import base64

import pytest

from maskline.domain import errors
from maskline.domain.errors import MaskingError
from maskline.domain.model import Account
from maskline.service.accounts import Authenticator, create_account, hash_token, rotate_token, verify_token
from tests.support import same_error


class Accounts:
    """The two store methods the account use cases need, kept in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Account, str]] = {}

    async def create_account(self, account: Account, token_hash: str, now: int) -> None:
        self.rows[account.auth_id] = (account, token_hash)

    async def get_account(self, auth_id: str) -> tuple[Account, str] | None:
        return self.rows.get(auth_id)

    async def replace_token(self, auth_id: str, token_hash: str) -> bool:
        if auth_id not in self.rows:
            return False
        self.rows[auth_id] = (self.rows[auth_id][0], token_hash)
        return True


def test_tokens_are_stored_hashed_and_salted() -> None:
    stored = hash_token("secret-token-1")
    assert "secret-token-1" not in stored and stored.startswith("pbkdf2_sha256$")
    assert hash_token("secret-token-1") != stored  # a new salt each time
    assert verify_token("secret-token-1", stored)
    assert not verify_token("secret-token-2", stored)
    assert not verify_token("secret-token-1", "garbage")


def test_created_accounts_keep_no_plain_token() -> None:
    store = Accounts()
    account, token = asyncio.run(create_account(store, 0))
    assert account.auth_id.startswith("MA") and len(account.auth_id) == 20 and len(token) >= 32
    assert token not in store.rows[account.auth_id][1]


def _header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_remembered_header_is_refused_once_its_token_is_rotated() -> None:
    store = Accounts()
    account, old = asyncio.run(create_account(store, 0))
    authenticator = Authenticator(store)
    assert asyncio.run(authenticator.authenticate_basic(_header(account.auth_id, old))) == account
    assert (
        asyncio.run(authenticator.authenticate_basic(_header(account.auth_id, old))) == account
    )  # remembered
    new = asyncio.run(rotate_token(store, account.auth_id))
    assert new != old and verify_token(new, store.rows[account.auth_id][1])
    with pytest.raises(MaskingError) as caught:
        asyncio.run(authenticator.authenticate_basic(_header(account.auth_id, old)))
    assert same_error(caught.value, errors.AuthenticationFailed())
    assert asyncio.run(authenticator.authenticate_basic(_header(account.auth_id, new))) == account
    with pytest.raises(MaskingError) as caught:
        asyncio.run(rotate_token(store, "MA" + "Z" * 18))
    assert same_error(caught.value, errors.AccountNotFound("MA" + "Z" * 18))


def test_basic_authentication() -> None:

    store = Accounts()
    account, token = asyncio.run(create_account(store, 0, auth_id="MA" + "A" * 18, auth_token="right-token"))
    authenticator = Authenticator(store)

    def header(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert asyncio.run(authenticator.authenticate_basic(header(account.auth_id, "right-token"))) == account
    for bad in (
        header(account.auth_id, "wrong"),
        header("MA" + "B" * 18, "right-token"),
        "Basic !!",
        "Bearer x",
        "",
    ):
        with pytest.raises(MaskingError) as caught:
            asyncio.run(authenticator.authenticate_basic(bad))
        assert same_error(caught.value, errors.AuthenticationFailed())
