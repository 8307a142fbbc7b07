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


class Timelines:
    def __init__(
        self, sessions: SessionStore, calls: CallStore, messages: MessageStore, outbox: Outbox
    ) -> None:
        self._sessions = sessions
        self._calls = calls
        self._messages = messages
        self._outbox = outbox

    async def session(self, account: Account, session_uuid: str) -> Session:
        """The session ``session_uuid`` of ``account`` (a main account's subaccounts' too, as the
        API scopes it), expired ones included; ``errors.SessionNotFound`` for any other."""
        return await find_session(self._sessions, account, session_uuid)

    async def of(self, account: Account, session_uuid: str) -> SessionTimeline:
        """The session (found as ``session`` finds it) with its calls, texts and events."""
        session = await self.session(account, session_uuid)
        return SessionTimeline(
            session,
            tuple(await self._calls.session_calls(session.uuid)),
            tuple(await self._messages.session_messages(session.uuid)),
            tuple(await self._outbox.session_events(session.uuid)),
        )
