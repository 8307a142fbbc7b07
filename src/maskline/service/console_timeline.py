"""What the console shows of one session: the session with its calls and texts, and every event
sent (or waiting to be sent) to its callback URLs with what became of it."""

from __future__ import annotations

from maskline.domain.console import Delivery
from maskline.domain.model import Account, Session
from maskline.domain.ports import ConsoleStore, SessionStore
from maskline.service.sessions import find_session


class SessionTimeline:
    def __init__(self, sessions: SessionStore, console: ConsoleStore) -> None:
        self._sessions = sessions
        self._console = console

    async def of(self, account: Account, session_uuid: str) -> tuple[Session, list[Delivery]]:
        """The account's session (``SessionNotFound`` for any other) and its deliveries."""
        session = await find_session(self._sessions, account, session_uuid)
        return session, await self._console.session_deliveries(session.uuid)
