"""The things masking is about: accounts, numbers, sessions."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from maskline.domain.calls import Call
from maskline.domain.message_log import Message
from maskline.domain.params import SessionSettings

AUTH_ID = re.compile(r"(MA|SA)[A-Z0-9]{18}")


def shown_account(auth_id: str) -> str:
    """An account id from a path, as a log may show it: only what has an id's shape (a path
    can hold any text, a phone number or megabytes of it)."""
    return auth_id if AUTH_ID.fullmatch(auth_id) else "-"


def is_subaccount_id(auth_id: str) -> bool:
    """Whether ``auth_id`` is shaped like a subaccount's id (anything else, NUL included, is
    refused before it is looked up)."""
    return auth_id.startswith("SA") and AUTH_ID.fullmatch(auth_id) is not None


@dataclass(frozen=True, slots=True)
class Account:
    auth_id: str
    parent_id: str | None  # the main account of a subaccount; None for a main account

    @property
    def main_id(self) -> str:
        return self.parent_id or self.auth_id

    @property
    def is_subaccount(self) -> bool:
        return self.parent_id is not None


class NumberState(enum.StrEnum):
    IN_SERVICE = "in_service"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class Number:
    number: str  # E.164
    main_id: str  # the main account that owns it
    pool_id: str  # whose sessions it serves: the main account or one of its subaccounts
    country: str
    state: NumberState
    added: int
    live_sessions: int = 0


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    IN_PROGRESS = "in-progress"
    EXPIRED = "expired"


@dataclass(slots=True)
class Session:
    uuid: str
    account_id: str  # the owner: a main account or a subaccount
    main_id: str  # the owner's main account
    first_party: str  # E.164, or "" while a single-party session lacks it
    second_party: str
    virtual_number: str
    created: int  # epoch seconds
    modified: int
    expiry: int
    settings: SessionSettings
    calls_live: int = 0
    total_call_count: int = 0
    total_call_billed_duration: int = 0
    last_interaction: int | None = None
    last_counterpart: str = (
        ""  # who last reached a single-party session's party (docs/calls.md, "Single-party sessions")
    )
    message_count: int = 0  # texts relayed through it or sent into it (docs/messages.md)
    id: int = 0  # the store's sequence number; orders sessions created in the same second
    # its calls and texts, oldest first; last: the store reads the rest in order
    interactions: list[Call | Message] | None = field(default=None)

    def status(self, now: int) -> SessionStatus:
        if self.expiry <= now:
            return SessionStatus.EXPIRED
        return SessionStatus.IN_PROGRESS if self.calls_live else SessionStatus.ACTIVE

    def is_live(self, now: int) -> bool:
        return self.expiry > now

    @property
    def duration(self) -> int:
        return self.expiry - self.created

    @property
    def parties(self) -> tuple[str, ...]:
        return tuple(p for p in (self.first_party, self.second_party) if p)


class HistoryRow(NamedTuple):
    """A session as the store keeps it, with the pool and country of its number: what the
    capacity plan is made from. A tuple, so that the store's rows are its arguments."""

    created: int
    expiry: int
    cooloff_until: int
    first: str
    second: str
    number: str
    pool: str
    country: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose sessions and numbers a request may see: a main account sees its subaccounts' too;
    a subaccount (``account_id`` set) only its own."""

    main_id: str
    account_id: str | None = None

    @classmethod
    def of(cls, account: Account) -> Scope:
        if account.is_subaccount:
            return cls(account.main_id, account.auth_id)
        return cls(account.auth_id)
