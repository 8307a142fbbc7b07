"""Session use cases: create, get, list, update, expire, moving sessions off a number, and the
sweep of ended sessions."""

from __future__ import annotations

import re
import secrets
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from maskline.domain import errors
from maskline.domain.allocation import Claim, CooloffScope, Move, Policy, hold_until, session_keys
from maskline.domain.events import names_private_host
from maskline.domain.listing import DAY, ListQuery, Windows, parse_list
from maskline.domain.model import Account, Scope, Session, is_subaccount_id
from maskline.domain.params import (
    Body,
    Defaults,
    apply_update,
    canonical,
    flag,
    generate_pins,
    parse_create,
    parse_update,
)
from maskline.domain.phone import region_of, to_e164
from maskline.domain.ports import AccountStore, Clock, Counters, SessionStore
from maskline.service.calls import CallService

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """The operator's settings that sessions follow (``maskline.http.app.session_config`` takes
    them from the server's ``Config``)."""

    defaults: Defaults  # of the parameters a create may leave out
    windows: Windows  # of time a list may span
    policy: Policy  # which free number a new session gets
    cooloff_scope: CooloffScope
    allow_private_callbacks: bool
    retention_days: int  # how long ended sessions are kept


@dataclass(slots=True)
class Moves:
    """The live sessions moved off a number, and those that had to stay."""

    number: str
    moved: list[Session] = field(default_factory=list)
    stuck: list[Session] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Page:
    query: ListQuery
    total: int
    sessions: list[Session]
    now: int


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        accounts: AccountStore,
        clock: Clock,
        config: SessionConfig,
        counters: Counters,
        calls: CallService | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._config = config
        self._counters = counters
        self._calls = calls

    def now(self) -> int:
        return int(self._clock())

    async def _subaccount_check(self, account: Account, body: Body) -> str | None:
        """The subaccount named in ``body`` (canonical) if the caller may act for it, else None."""
        value = body.get("subaccount")
        if not isinstance(value, str):
            return None
        if account.is_subaccount:
            return value if value == account.auth_id else None
        if not is_subaccount_id(value):
            return None
        found = await self._accounts.get_account(value)
        return value if found is not None and found[0].parent_id == account.auth_id else None

    async def create(self, account: Account, body: Body) -> Session:
        body = canonical(body)
        allowed = await self._subaccount_check(account, body)
        carrier = None
        if self._calls is not None and flag(body, "initiate_call_to_first_party"):
            carrier = await self._calls.carrier_for(allowed or account.auth_id, account.main_id)
        request = parse_create(
            body,
            self._config.defaults,
            subaccount_valid=lambda value: value == allowed,
            can_initiate_calls=carrier is not None,
        )
        settings = request.settings
        self._refuse_private_callbacks(settings.callback_url, settings.recording_callback_url)
        if settings.generate_pin:
            length = settings.generate_pin_length or 4
            settings.first_party_pin, settings.second_party_pin = generate_pins(length, secrets.randbelow)
        now = self.now()
        first, second = request.first_party or "", request.second_party or ""
        session = Session(
            uuid=str(uuidlib.uuid4()),
            account_id=request.subaccount or account.auth_id,
            main_id=account.main_id,
            first_party=first,
            second_party=second,
            virtual_number="",
            created=now,
            modified=now,
            expiry=now + request.session_expiry,
            settings=settings,
        )
        claim = self._claim(session)
        if claim is None:
            self._counters.allocation_refused()
            raise errors.PoolExhausted()
        try:
            created = await self._store.insert_session(session, claim, now)
        except errors.PoolExhausted:
            self._counters.allocation_refused()
            raise
        self._counters.session_created()
        if carrier is not None and settings.initiate_call_to_first_party and first and second:
            assert self._calls is not None
            self._calls.place_first_call(carrier, created)
        return created

    def _claim(self, session: Session) -> Claim | None:
        """What ``session`` needs from its pool to be placed (created, or moved off a number);
        None when geomatch asks for the country of a party that has none."""
        country = None
        if session.settings.geomatch:
            country = region_of(session.first_party or session.second_party)
            if country is None:
                return None
        return Claim(
            pool_id=session.account_id,
            country=country,
            keys=session_keys(session.first_party, session.second_party, session.settings),
            hold_until=self._hold_until(session),
            policy=self._config.policy,
            scope=self._config.cooloff_scope,
        )

    async def move_off(self, account: Account, number: str) -> Moves:
        """Move every live session of the account's pools on ``number`` (out of service) to another
        number of its pool, each on its own; those no number takes stay where they are."""
        moves, seen = Moves(number), set()
        while True:  # again, until no new one: a create that raced the retirement may have landed
            found = [
                u for u in await self._store.live_on(number, account.main_id, self.now()) if u not in seen
            ]
            if not found:
                return moves
            for uuid in found:
                seen.add(uuid)
                outcome, session = await self._store.move_session(uuid, number, self._claim, self.now())
                if session is not None:
                    (moves.moved if outcome is Move.MOVED else moves.stuck).append(session)
                    self._counters.session_moved(outcome is Move.MOVED)

    def _refuse_private_callbacks(self, callback_url: str, recording_callback_url: str) -> None:
        """Callbacks never reach the operator's own network unless the operator allows it."""
        if self._config.allow_private_callbacks:
            return
        for name, url in (("recording_callback_url", recording_callback_url), ("callback_url", callback_url)):
            if url and names_private_host(url):
                raise errors.PrivateCallback(name)

    def _hold_until(self, session: Session) -> int:
        return hold_until(
            session.expiry, session.settings.virtual_number_cooloff_period, self._config.cooloff_scope
        )

    async def get(self, account: Account, session_uuid: str) -> Session:
        return await find_session(self._store, account, session_uuid)

    async def list(self, account: Account, params: Mapping[str, str], party: str = "") -> Page:
        """A page of the account's sessions that the list filters ``params`` keep (docs/api.md,
        "List filters") and, given ``party``, of which it is the first or second party."""
        now = self.now()
        query = parse_list(params, now, self._config.windows)
        if party:
            query.either_party = to_e164(party)
            if query.either_party is None:
                raise errors.InvalidPhone("party")
        named = {"subaccount": query.subaccount}
        if query.subaccount is not None and await self._subaccount_check(account, named) is None:
            raise errors.InvalidSubaccount()
        total, sessions = await self._store.list_sessions(query, Scope.of(account), now)
        return Page(query, total, sessions, now)

    async def update(self, account: Account, session_uuid: str, body: Callable[[], Body]) -> Session:
        """Update a live session with what ``body`` gives when called: it is decoded only once
        the session is known and live, since an unknown or ended session is said before a
        malformed body."""
        session = await self.get(account, session_uuid)
        now = self.now()
        if not session.is_live(now):
            raise errors.SessionAlreadyExpired()
        request = parse_update(body(), session)
        self._refuse_private_callbacks(
            request.settings.get("callback_url", ""), request.settings.get("recording_callback_url", "")
        )
        updated = apply_update(session, request, now)
        before = session_keys(session.first_party, session.second_party, session.settings)
        after = session_keys(updated.first_party, updated.second_party, updated.settings)
        fields = {updated.first_party: "first_party", updated.second_party: "second_party"}
        added = {key: fields.get(key, "first_party") for key in after if key not in before}
        released = tuple(key for key in before if key not in after)
        if not await self._store.save_session(updated, self._hold_until(updated), now, added, released):
            raise errors.SessionAlreadyExpired()
        return updated

    async def expire(self, account: Account, session_uuid: str) -> Session:
        session = await self.get(account, session_uuid)
        now = self.now()
        if not session.is_live(now):
            raise errors.SessionAlreadyExpired()
        ended = replace(session, expiry=now, modified=now)
        if not await self._store.save_session(ended, self._hold_until(ended), now):
            raise errors.SessionAlreadyExpired()
        self._counters.session_expired()
        return ended

    async def sweep(self) -> None:
        now = self.now()
        await self._store.sweep(now, now - self._config.retention_days * DAY)


async def find_session(store: SessionStore, account: Account, session_uuid: str) -> Session:
    """The account's session of a path's ``session_uuid`` (any spelling of the uuid), expired
    ones included; SessionNotFound for anything else."""
    if not _CANONICAL_UUID.fullmatch(session_uuid):
        try:
            session_uuid = str(uuidlib.UUID(session_uuid))
        except ValueError:
            raise errors.SessionNotFound() from None
    session = await store.get_session(session_uuid, Scope.of(account))
    if session is None:
        raise errors.SessionNotFound()
    return session
