"""A session's story for its operator: its calls and texts, oldest first, and where each of its
events stands in its delivery to the callback URL (``maskline.domain.delivery``)."""

from __future__ import annotations

from dataclasses import dataclass

from maskline.domain.calls import Call
from maskline.domain.delivery import EventDelivery
from maskline.domain.message_log import Message
from maskline.domain.model import Account, Session
from maskline.domain.ports import CallStore, MessageStore, Outbox, SessionStore
from maskline.service.sessions import find_session


@dataclass(frozen=True, slots=True)
class SessionTimeline:
    """``calls``: every call through the session, refused at its PIN prompt or not, oldest first;
    ``messages``: its texts, oldest first; ``events``: its events the outbox keeps (settled ones
    go with the purge), in sequence order."""

    session: Session
    calls: tuple[Call, ...]
    messages: tuple[Message, ...]
    events: tuple[EventDelivery, ...]


async def session_timeline(
    sessions: SessionStore,
    calls: CallStore,
    messages: MessageStore,
    outbox: Outbox,
    account: Account,
    session_uuid: str,
) -> SessionTimeline:
    """The session ``session_uuid`` of ``account`` (a main account's subaccounts' too, as the
    API scopes it), expired ones included; ``errors.SessionNotFound`` for any other."""
    session = await find_session(sessions, account, session_uuid)
    return SessionTimeline(
        session,
        tuple(await calls.session_calls(session.uuid)),
        tuple(await messages.session_messages(session.uuid)),
        tuple(await outbox.session_events(session.uuid)),
    )


async def event_deliveries(
    sessions: SessionStore, outbox: Outbox, account: Account, session_uuid: str
) -> list[EventDelivery]:
    """Only the events of the session (scoped as ``session_timeline``)."""
    session = await find_session(sessions, account, session_uuid)
    return await outbox.session_events(session.uuid)
