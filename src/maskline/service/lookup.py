"""Who called whom (``maskline.domain.lookup``): the calls and texts of a number through a virtual
number near a time, made or received, with the sessions that tell whom they reached (or who
reached it) or why they reached nobody."""

from __future__ import annotations

from datetime import datetime

from maskline.domain.lookup import TOLERANCE, CallLookup, assemble, epoch
from maskline.domain.model import Account, Scope
from maskline.domain.ports import CallStore, MessageStore, SessionStore
from maskline.service.numbers import parse_number


async def who_called(
    calls: CallStore,
    sessions: SessionStore,
    messages: MessageStore,
    account: Account,
    virtual_number: str,
    party: str,
    at: int | float | datetime,
    tolerance: int = TOLERANCE,
) -> CallLookup:
    """The calls through ``virtual_number`` that ``party`` made, or was put through to, that
    started within ``tolerance`` seconds of ``at`` (epoch seconds, or a datetime; naive is UTC),
    nearest first; the party's sessions on the number in that window; the texts it wrote or was
    sent through it then.

    Scoped as the API scopes (``Scope.of``): a main account sees its subaccounts' numbers and
    sessions too, a subaccount only its own. Either number may be written as a person would
    (with or without ``+``); ``errors.InvalidNumber`` when one is not a phone number."""
    number, party = parse_number(virtual_number), parse_number(party)
    moment, scope = epoch(at), Scope.of(account)
    since, until = moment - tolerance, moment + tolerance
    found = await calls.calls_near(scope, number, party, since, until)
    held = await sessions.party_sessions(scope, number, party, until)
    texts = await messages.messages_near(scope, number, party, since, until)
    return assemble(number, party, moment, tolerance, found, held, texts)
