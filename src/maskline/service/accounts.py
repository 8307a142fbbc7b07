"""Accounts: creation, token hashing, request authentication, and the carrier of their calls."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string

from maskline.domain import errors
from maskline.domain.calls import Carrier
from maskline.domain.model import AUTH_ID, Account, is_subaccount_id
from maskline.domain.ports import AccountStore

_ITERATIONS = 120_000
_ID_ALPHABET = string.ascii_uppercase + string.digits


def hash_token(token: str, salt: bytes | None = None) -> str:
    """A slow salted hash, so that a stolen database does not give the tokens away."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", token.encode(), salt, _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_token(token: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        computed = hashlib.pbkdf2_hmac("sha256", token.encode(), bytes.fromhex(salt), int(iterations))
    except (ValueError, UnicodeEncodeError):
        return False
    return scheme == "pbkdf2_sha256" and hmac.compare_digest(computed, expected)


def new_auth_id(subaccount: bool) -> str:
    return ("SA" if subaccount else "MA") + "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))


async def create_account(
    store: AccountStore,
    now: int,
    *,
    auth_id: str | None = None,
    auth_token: str | None = None,
    parent_id: str | None = None,
) -> tuple[Account, str]:
    """Create a main account, or a subaccount of ``parent_id``; returns it with its token."""
    if parent_id is not None:
        parent = await store.get_account(parent_id)
        if parent is None:
            raise errors.AccountNotFound(parent_id)
        if parent[0].is_subaccount:
            raise errors.ParentNotMain(parent_id)
    auth_id = auth_id or new_auth_id(parent_id is not None)
    if not AUTH_ID.fullmatch(auth_id) or auth_id.startswith("SA") != (parent_id is not None):
        raise errors.InvalidAuthId(auth_id)
    token = _new_token(auth_token)
    account = Account(auth_id, parent_id)
    await store.create_account(account, hash_token(token), now)
    return account, token


def _new_token(chosen: str | None) -> str:
    token = chosen or secrets.token_urlsafe(30)
    if not (8 <= len(token) <= 128 and token.isprintable() and token.isascii()):
        raise errors.WeakToken()
    return token


async def rotate_token(store: AccountStore, auth_id: str) -> str:
    """Give the account a new random token and return it: the old one is refused from now on,
    by every server process (``Authenticator`` checks the stored hash on each request)."""
    token = _new_token(None)
    if not await store.replace_token(auth_id, hash_token(token)):
        raise errors.AccountNotFound(auth_id)
    return token


class Authenticator:
    """Checks credentials. An ``Authorization`` header that verified once is remembered with the
    token hash it verified against, so only a client's first request pays for the slow hash;
    later ones read the account's stored hash and accept the header only while it is the same,
    so a token rotated by any process (``rotate_token``) is refused at once."""

    _REMEMBERED = 4096

    def __init__(self, store: AccountStore) -> None:
        self._store = store
        self._headers: dict[str, tuple[Account, str]] = {}

    async def authenticate(self, auth_id: str, token: str) -> Account:
        return (await self._verify(auth_id, token))[0]

    async def _verify(self, auth_id: str, token: str) -> tuple[Account, str]:
        found = await self._store.get_account(auth_id) if AUTH_ID.fullmatch(auth_id) else None
        if found is None or not verify_token(token, found[1]):
            raise errors.AuthenticationFailed()
        return found

    async def authenticate_basic(self, header: str) -> Account:
        """The account of an HTTP Basic ``Authorization`` header."""
        remembered = self._headers.get(header)
        if remembered is not None:
            account, verified = remembered
            found = await self._store.get_account(account.auth_id)
            if found is not None and hmac.compare_digest(found[1], verified):
                return found[0]
            del self._headers[header]  # the token was rotated (or the account is gone)
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise errors.AuthenticationFailed()
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise errors.AuthenticationFailed() from None
        auth_id, separator, token = decoded.partition(":")
        if not separator:
            raise errors.AuthenticationFailed()
        account, verified = await self._verify(auth_id, token)
        if len(self._headers) >= self._REMEMBERED:
            self._headers.clear()
        self._headers[header] = (account, verified)
        return account


async def carrying_carrier(
    store: AccountStore, account_id: str, main_id: str | None = None
) -> Carrier | None:
    """The carrier that carries an account's calls: its own, else, for a subaccount, its main
    account's (``main_id``; looked up when not given). None when neither has one."""
    own = await store.get_carrier(account_id)
    if own is not None or not is_subaccount_id(account_id):
        return own
    if main_id is None:
        found = await store.get_account(account_id)
        if found is None:
            return None
        main_id = found[0].main_id
    return await store.get_carrier(main_id)
