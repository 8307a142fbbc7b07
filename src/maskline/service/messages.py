"""Message use cases: a text to a virtual number is relayed to the other party of the session,
or answered (a keyword, an opted-out recipient), or dropped (docs/messages.md).

Message bodies pass through: never logged, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from maskline.domain.calls import Carrier
from maskline.domain.messages import (
    NOT_DELIVERED,
    OPTED_IN,
    OPTED_OUT,
    Drop,
    Keyword,
    Replies,
    Send,
    keyword,
    route_message,
)
from maskline.domain.phone import to_e164
from maskline.domain.ports import Clock, MessageStore, SessionStore
from maskline.service.calls import webhook_scope


class MessageService:
    def __init__(
        self, store: MessageStore, sessions: SessionStore, clock: Clock, replies: Replies | None = None
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._clock = clock
        self._replies = replies or Replies()

    def _now(self) -> int:
        return int(self._clock())

    async def first_use(self, carrier: Carrier, nonce: str) -> bool:
        """Whether a signature's nonce is new for the account (a replayed one is refused)."""
        return await self._store.first_use(carrier.account_id, nonce, self._now())

    async def receive(
        self, carrier: Carrier, sender_raw: str, number_raw: str, text: str, media: Sequence[str] = ()
    ) -> Send | None:
        """A text from ``sender_raw`` to the virtual number ``number_raw``: what to send, if anything."""
        number, sender = to_e164(number_raw), to_e164(sender_raw)
        if number is None or sender is None:
            return None
        scope = webhook_scope(carrier)
        if not await self._store.serves_number(number, scope):
            return None  # not this account's number: nothing, not even a keyword's answer
        now = self._now()
        word = keyword(text)
        if word is Keyword.OPT_OUT or word is Keyword.OPT_IN:
            await self._store.set_opted_out(sender, number, word is Keyword.OPT_OUT, now)
            return Send(number, sender, OPTED_OUT if word is Keyword.OPT_OUT else OPTED_IN)
        if word is Keyword.HELP:
            return Send(number, sender, self._replies.help)
        if not text.strip() and not media:
            return None  # nothing to relay
        decision = route_message(sender, await self._sessions.number_view(sender, number, scope, now))
        if isinstance(decision, Drop):
            reply = self._replies.unknown_sender if decision.unknown else ""
            return await self._answer(number, sender, reply)
        if await self._store.opted_out(decision.to, number):
            return await self._answer(number, sender, NOT_DELIVERED)
        if decision.counterpart:
            await self._store.note_counterpart(decision.session.uuid, decision.counterpart, now)
        return Send(number, decision.to, text, tuple(media))

    async def _answer(self, number: str, sender: str, text: str) -> Send | None:
        """maskline's own answer to ``sender``, unless there is none or they opted out."""
        if not text or await self._store.opted_out(sender, number):
            return None
        return Send(number, sender, text)
