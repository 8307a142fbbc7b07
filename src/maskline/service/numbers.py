"""The number pool: add, list, retire and replace an account's virtual numbers."""

from __future__ import annotations

from collections.abc import Sequence

from maskline.domain import errors
from maskline.domain.model import Account, Number, Scope, is_subaccount_id
from maskline.domain.phone import is_region, region_of, to_e164
from maskline.domain.ports import AccountStore, Clock, NumberStore
from maskline.service.sessions import Moves, SessionService


def parse_number(raw: object) -> str:
    e164 = to_e164(raw) if isinstance(raw, str) else None
    if e164 is None:
        raise errors.InvalidNumber(str(raw)[:32])
    return e164


class NumberService:
    def __init__(self, store: NumberStore, accounts: AccountStore, clock: Clock) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock

    async def add(
        self,
        account: Account,
        numbers: Sequence[object],
        *,
        subaccount: str | None = None,
        country: str | None = None,
    ) -> list[Number]:
        """Put numbers in service in the account's pool, or in one of its subaccounts'.

        Re-adding a number the account holds already is allowed: it returns to service and
        takes the given pool and country for new sessions.
        """
        if account.is_subaccount:
            raise errors.ForbiddenForSubaccount()
        if not numbers:
            raise errors.Missing("numbers")
        pool = account.auth_id
        if subaccount:
            found = await self._accounts.get_account(subaccount) if is_subaccount_id(subaccount) else None
            if found is None or found[0].parent_id != account.auth_id:
                raise errors.InvalidSubaccount()
            pool = subaccount
        if country is not None:
            country = country.upper()
            if not is_region(country):
                raise errors.InvalidCountry(country)
        entries = []
        for raw in numbers:
            e164 = parse_number(raw)
            entries.append((e164, country or region_of(e164) or ""))
        await self._store.add_numbers(account.auth_id, pool, entries, int(self._clock()))
        added = {e164 for e164, _ in entries}
        return [n for n in await self.list(account) if n.number in added]

    async def list(self, account: Account) -> list[Number]:
        return await self._store.list_numbers(Scope.of(account), int(self._clock()))

    async def get(self, account: Account, raw: str) -> Number:
        e164 = to_e164(raw)
        found = await self._store.list_numbers(Scope.of(account), int(self._clock()), e164) if e164 else []
        if not found:
            raise errors.NumberNotFound()
        return found[0]

    async def retire(self, account: Account, numbers: Sequence[object]) -> tuple[str, ...]:
        """Take numbers out of service: no new sessions; live sessions keep them until they end.
        The numbers, in E.164."""
        if account.is_subaccount:
            raise errors.ForbiddenForSubaccount()
        if not numbers:
            raise errors.Missing("numbers")
        parsed = tuple(parse_number(n) for n in numbers)
        await self._store.retire_numbers(account.auth_id, parsed)
        return parsed

    async def replace(
        self, account: Account, numbers: Sequence[object], sessions: SessionService
    ) -> tuple[Moves, ...]:
        """Retire numbers and move each of their live sessions to another number of its pool,
        as a create would place it (README, "The number pool resource")."""
        return tuple(
            [await sessions.move_off(account, number) for number in await self.retire(account, numbers)]
        )
