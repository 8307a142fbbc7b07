"""What the service needs from the world, as Protocols: a clock, a dialer, counters, and the
store, one port per aggregate (accounts, numbers, sessions, calls, the event outbox).

Each service takes the ports it uses. ``Store`` is what a backend opens: its parts, and
what concerns the database as a whole (its health, closing it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from maskline.domain.allocation import Claim, Move
from maskline.domain.calls import Call, Carrier
from maskline.domain.console import ConsoleLogin
from maskline.domain.delivery import EventDelivery
from maskline.domain.events import Event, Outgoing
from maskline.domain.health import NumberCalls
from maskline.domain.listing import ListQuery
from maskline.domain.message_log import Message, Status
from maskline.domain.model import Account, HistoryRow, Number, Scope, Session
from maskline.domain.routing import NumberView
from maskline.domain.series import SeriesPoint


class StoreUnavailable(Exception):
    """The store cannot reach its database now (refused, cut, shutting down, or no connection
    free in time). The unit of work did not happen, or, if the connection was cut while it
    committed, may have: its caller was never told it succeeded. The store raises this, and
    only this, for an outage, whatever its driver raised; the message says what that was."""


class Clock(Protocol):
    def __call__(self) -> float:
        """Seconds since the epoch."""
        ...


class Dialer(Protocol):
    async def call(self, carrier: Carrier, to: str, caller_id: str, answer_url: str, hangup_url: str) -> str:
        """Have the carrier call ``to`` showing ``caller_id``; the new call's id."""
        ...


class Texter(Protocol):
    async def send_message(self, carrier: Carrier, to: str, source: str, text: str, status_url: str) -> str:
        """Have the carrier send ``text`` to ``to`` from ``source``, reporting its delivery to
        ``status_url``; the new message's id."""
        ...


class Counters(Protocol):
    """What the service counts for its operator."""

    def session_created(self) -> None: ...
    def session_expired(self) -> None: ...
    def allocation_refused(self) -> None:
        """A create refused because no number of the pool was free."""
        ...

    def session_moved(self, moved: bool) -> None:
        """A live session was moved off a replaced number (or, not ``moved``, had to stay)."""
        ...

    def unhealthy_number_replaced(self) -> None:
        """A number that number health flagged was replaced."""
        ...

    def delivery_failed(self) -> None:
        """An attempt to deliver an event failed; it may be retried."""
        ...

    def skipped(self, error: StoreUnavailable) -> None:
        """Background work skipped because the database could not be reached."""
        ...


class AccountStore(Protocol):
    """Accounts, their token hashes, and the carrier each one's calls go through."""

    async def create_account(self, account: Account, token_hash: str, now: int) -> None: ...
    async def get_account(self, auth_id: str) -> tuple[Account, str] | None: ...
    async def count_accounts(self) -> int: ...
    async def list_accounts(self) -> list[tuple[Account, int]]:
        """Every account with the time it was created, oldest first."""
        ...

    async def replace_token(self, auth_id: str, token_hash: str) -> bool:
        """Give the account a new token hash, ending its console sign-ins; False if there is no
        such account."""
        ...

    async def set_carrier(self, carrier: Carrier) -> None: ...
    async def get_carrier(self, account_id: str) -> Carrier | None: ...


class NumberStore(Protocol):
    """The number pools."""

    async def add_numbers(
        self, main_id: str, pool_id: str, entries: Sequence[tuple[str, str]], now: int
    ) -> None: ...
    async def retire_numbers(self, main_id: str, numbers: Sequence[str]) -> None: ...
    async def list_numbers(self, scope: Scope, now: int, number: str | None = None) -> list[Number]: ...
    async def numbers_in_service(self, main_id: str | None) -> dict[tuple[str, str], int]: ...
    async def number_owner(self, number: str) -> str | None: ...


class SessionStore(Protocol):
    """Sessions, with the holds that place them on their numbers, and the lookups that route a
    call to one."""

    async def insert_session(self, session: Session, claim: Claim, now: int) -> Session: ...
    async def get_session(self, uuid: str, scope: Scope) -> Session | None: ...
    async def save_session(
        self,
        session: Session,
        hold_until: int,
        now: int,
        added: Mapping[str, str] | None = None,
        released: Sequence[str] = (),
    ) -> bool: ...
    async def list_sessions(self, query: ListQuery, scope: Scope, now: int) -> tuple[int, list[Session]]: ...
    async def session_history(self, main_id: str | None, since: int) -> list[HistoryRow]: ...
    async def sweep(self, now: int, purge_before: int) -> None: ...
    async def purgeable(self, before: int, now: int) -> int: ...
    async def purge(self, before: int, now: int, limit: int | None = None) -> int: ...

    async def number_view(self, caller: str | None, number: str, scope: Scope, now: int) -> NumberView: ...
    async def had_session(self, caller: str, number: str, scope: Scope, now: int) -> bool: ...
    async def session_by_pin(self, number: str, pin: str, scope: Scope, now: int) -> Session | None: ...
    async def session_by_uuid(self, scope: Scope | None, session_uuid: str) -> Session | None: ...
    # replacing a number
    async def live_on(self, number: str, main_id: str, now: int) -> list[str]: ...
    async def move_session(
        self, uuid: str, number: str, claim_for: Callable[[Session], Claim | None], now: int
    ) -> tuple[Move, Session | None]: ...
    # reading back, for the operator
    async def party_sessions(self, scope: Scope, number: str, party: str, until: int) -> list[Session]:
        """The sessions in ``scope`` on ``number`` with ``party`` as a party, created by
        ``until``: the latest ``PARTY_SESSIONS`` of them, oldest first."""
        ...

    async def live_series(
        self, main_id: str, pool: str, country: str, since: int, until: int, step: int
    ) -> list[SeriesPoint]:
        """Live sessions and Δ of the pool (``pool``, ``country``) of ``main_id`` at every step
        point from ``since`` to ``until`` (``maskline.domain.series``)."""
        ...


class CallStore(Protocol):
    """The interaction log: each call to a virtual number."""

    async def get_call(self, account_id: str, call_id: str) -> Call | None: ...
    async def save_call(
        self, call: Call, before: Call | None, counterpart: str = "", events: Sequence[Event] = ()
    ) -> bool: ...
    async def overdue_calls(self, now: int, limit: int) -> list[Call]: ...
    async def number_calls(
        self, main_id: str | None, since: int, until: int, short_call: int
    ) -> list[NumberCalls]:
        """Per number in service of ``main_id`` (None: of every account), what its calls that
        started from ``since`` to ``until`` came to (``maskline.domain.health``)."""
        ...

    async def calls_near(self, scope: Scope, number: str, party: str, since: int, until: int) -> list[Call]:
        """The calls through ``number``, a number of ``scope``'s pools, that ``party`` made or
        was put through to, that started from ``since`` to ``until``."""
        ...

    async def session_calls(self, session_uuid: str) -> list[Call]:
        """Every call that went through the session (reached a party or not), oldest first."""
        ...


class MessageStore(Protocol):
    """What messages need kept: the message log, opt-outs, a single-party session's
    counterpart, signature nonces."""

    async def record_message(self, message: Message, events: Sequence[Event] = ()) -> bool: ...
    async def get_message(self, account_id: str, message_id: str) -> Message | None: ...
    async def report_message(
        self, message: Message, before: Status, events: Sequence[Event] = ()
    ) -> bool: ...

    async def serves_number(self, number: str, scope: Scope) -> bool: ...
    async def opted_out(self, party: str, number: str) -> bool: ...
    async def set_opted_out(self, party: str, number: str, opted_out: bool, now: int) -> None: ...
    async def note_counterpart(self, session_uuid: str, counterpart: str, now: int) -> None: ...
    async def first_use(self, account_id: str, nonce: str, now: int) -> bool: ...
    async def session_messages(self, session_uuid: str) -> list[Message]: ...
    async def messages_near(
        self, scope: Scope, number: str, party: str, since: int, until: int
    ) -> list[Message]:
        """The texts through ``number`` that ``party`` wrote or was sent, from ``since`` to
        ``until``, through sessions of ``scope``."""
        ...


class Outbox(Protocol):
    """Session events waiting to be delivered to their callback URLs."""

    async def enqueue_events(self, events: Sequence[Event]) -> None: ...
    async def due_events(self, now: int, limit: int) -> list[Outgoing]: ...
    async def release_events(self, events: Sequence[Outgoing], at: int) -> None: ...
    async def event_attempted(
        self, event_id: int, attempts: int, now: int, retry_at: int | None, error: str
    ) -> None: ...
    async def session_events(self, session_uuid: str) -> list[EventDelivery]:
        """The events of a session that the outbox still keeps, in sequence order."""
        ...


class ConsoleStore(Protocol):
    """The operator console's sign-ins (and what each one's last action did, until shown), the
    secret its cookies are signed with, the record of revealed numbers, and what it reads of the
    outbox."""

    async def console_secret(self, candidate: str) -> str:
        """The secret every process signs console cookies with: ``candidate`` if none was kept
        yet (it is kept then), else the one kept."""
        ...

    async def add_login(self, login: ConsoleLogin, stale_before: int, born_before: int) -> None:
        """Keep a new sign-in, dropping those last seen before ``stale_before`` or made before
        ``born_before``."""
        ...

    async def get_login(self, token_hash: str) -> ConsoleLogin | None: ...
    async def touch_login(self, token_hash: str, now: int) -> None: ...
    async def remove_login(self, token_hash: str) -> bool: ...
    async def record_reveal(self, auth_id: str, session_uuid: str, field: str, now: int) -> None: ...
    async def keep_notice(self, token_hash: str, notice: str) -> None:
        """Keep what a sign-in's last action did (text), in place of what was kept before."""
        ...

    async def take_notice(self, token_hash: str) -> str | None:
        """What a sign-in's last action did, once: it is no longer kept after."""
        ...


class Store(Protocol):
    """A database: its parts, one per aggregate, and what concerns it as a whole."""

    @property
    def accounts(self) -> AccountStore: ...
    @property
    def numbers(self) -> NumberStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def calls(self) -> CallStore: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def messages(self) -> MessageStore: ...
    @property
    def console(self) -> ConsoleStore: ...

    async def vital_signs(self, now: int) -> tuple[int, int]:
        """Live sessions and events waiting for delivery; a failure means the database is down."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...
