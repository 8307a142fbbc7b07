"""Console sign-ins: an account's credentials checked as the API checks them, a sign-in kept as a
row (the browser holds a random token; the row its hash), found again on each request within
its lifetimes, ended on sign-out; and the record of each number an operator reveals."""

from __future__ import annotations

import hashlib
import secrets

from maskline.domain.console import TOUCH_EVERY, ConsoleLogin, Lifetimes, still_good
from maskline.domain.model import Account
from maskline.domain.ports import AccountStore, Clock, ConsoleStore
from maskline.service.accounts import Authenticator


def token_hash(token: str) -> str:
    """What the store keeps of a cookie's token: a stolen database gives no sign-in away. The
    token is 32 random bytes, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleAuth:
    def __init__(
        self,
        store: ConsoleStore,
        accounts: AccountStore,
        authenticator: Authenticator,
        clock: Clock,
        lifetimes: Lifetimes,
        secret: str = "",
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._authenticator = authenticator
        self._clock = clock
        self.lifetimes = lifetimes
        self._secret = secret  # the operator's, else read from the store once

    def now(self) -> int:
        return int(self._clock())

    async def secret(self) -> bytes:
        """The key console cookies and sign-in forms are signed with, the same in every process."""
        if not self._secret:
            self._secret = await self._store.console_secret(secrets.token_urlsafe(32))
        return self._secret.encode()

    async def sign_in(self, auth_id: str, auth_token: str) -> tuple[Account, str]:
        """The account of the credentials (``AuthenticationFailed`` otherwise) and the token of
        its new sign-in, for the cookie."""
        account = await self._authenticator.authenticate(auth_id, auth_token)
        token = secrets.token_urlsafe(32)
        now = self.now()
        login = ConsoleLogin(token_hash(token), account.auth_id, secrets.token_urlsafe(32), now, now)
        await self._store.add_login(login, now - self.lifetimes.idle, now - self.lifetimes.absolute)
        return account, token

    async def signed_in(self, token: str) -> tuple[Account, ConsoleLogin] | None:
        """The account and sign-in of a cookie's token while the sign-in is good; the request
        counts as the sign-in's activity."""
        login = await self._store.get_login(token_hash(token))
        now = self.now()
        if login is None or not still_good(login, now, self.lifetimes):
            return None
        found = await self._accounts.get_account(login.auth_id)
        if found is None:
            return None
        if now - login.last_seen >= TOUCH_EVERY:
            await self._store.touch_login(login.token_hash, now)
        return found[0], login

    async def sign_out(self, token: str) -> bool:
        return await self._store.remove_login(token_hash(token))

    async def revealed(self, account: Account, session_uuid: str, field: str) -> None:
        await self._store.record_reveal(account.auth_id, session_uuid, field, self.now())

    async def tell(self, login: ConsoleLogin, notice: str) -> None:
        """Keep ``notice`` (what an action did) for the sign-in's next page."""
        await self._store.keep_notice(login.token_hash, notice)

    async def told(self, login: ConsoleLogin) -> str | None:
        """The notice kept for the sign-in, once."""
        return await self._store.take_notice(login.token_hash)

    async def subaccounts(self, account: Account) -> list[str]:
        """The subaccounts a main account may look into; none for a subaccount."""
        if account.is_subaccount:
            return []
        return sorted(
            a.auth_id for a, _ in await self._accounts.list_accounts() if a.parent_id == account.auth_id
        )
