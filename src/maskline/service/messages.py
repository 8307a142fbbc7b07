"""Message use cases: a text to a virtual number is relayed to the other party of the session,
or answered (a keyword, an opted-out recipient), or dropped; the business sends a text into a
session; the carriers report on delivery (docs/messages.md).

Message bodies pass through: never logged; stored only when the operator keeps them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from maskline.domain import errors
from maskline.domain.calls import Carrier, CarrierKind
from maskline.domain.events import message_event
from maskline.domain.message_log import (
    FINAL,
    MAX_MESSAGE_ID,
    MAX_TEXT,
    Direction,
    Message,
    Party,
    advance_status,
    carrier_status,
    segments_of,
)
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
from maskline.domain.model import Account, Session
from maskline.domain.phone import to_e164
from maskline.domain.ports import AccountStore, Clock, MessageStore, SessionStore, Texter
from maskline.service.accounts import carrying_carrier
from maskline.service.calls import webhook_scope
from maskline.service.sessions import find_session

log = logging.getLogger("maskline.messages")
STATUS_ACTION = "message-status"  # the webhook action of delivery reports


def status_url(carrier: Carrier, relayed: str = "") -> str:
    """Where the carrier reports a message's delivery: for a relay, with the id of the text
    it relays (the relay's own id is the carrier's to choose)."""
    url = f"{carrier.webhook_base()}/{STATUS_ACTION}"
    return f"{url}?{urlencode({'message': relayed})}" if relayed else url


def _party(session: Session, number: str) -> Party:
    if number and number == session.first_party:
        return Party.FIRST
    if number and number == session.second_party:
        return Party.SECOND
    return Party.OTHER


class MessageService:
    def __init__(
        self,
        store: MessageStore,
        sessions: SessionStore,
        clock: Clock,
        replies: Replies | None = None,
        accounts: AccountStore | None = None,
        texter: Texter | None = None,
        keep_bodies: bool = False,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._clock = clock
        self._replies = replies or Replies()
        self._accounts = accounts
        self._texter = texter
        self._keep_bodies = keep_bodies

    def _now(self) -> int:
        return int(self._clock())

    async def first_use(self, carrier: Carrier, nonce: str) -> bool:
        """Whether a signature's nonce is new for the account (a replayed one is refused)."""
        return await self._store.first_use(carrier.account_id, nonce, self._now())

    async def receive(
        self,
        carrier: Carrier,
        sender_raw: str,
        number_raw: str,
        text: str,
        media: Sequence[str] = (),
        message_id: str = "",
    ) -> Send | None:
        """A text from ``sender_raw`` to the virtual number ``number_raw`` (``message_id``: the
        carrier's id of it): what to send, if anything. A relay is logged in its session, with
        the carrier asked to report its delivery."""
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
        if not 0 < len(message_id) <= MAX_MESSAGE_ID:
            return Send(number, decision.to, text, tuple(media))  # nothing to log it under
        session = decision.session
        message = Message(
            carrier.account_id, message_id, session.uuid, number, Direction.RELAYED,
            _party(session, sender), _party(session, decision.to), sender, decision.to, now,
            media=len(media), body=text if self._keep_bodies else "",
        )  # fmt: skip
        event = message_event(session, message, now)
        if not await self._store.record_message(message, [event] if event else []):
            return None  # logged and relayed before: a retried webhook sends nothing twice
        return Send(number, decision.to, text, tuple(media), status_url(carrier, message_id))

    async def send(self, account: Account, session_uuid: str, body: dict[str, Any]) -> Message:
        """The business sends ``body["text"]`` to a party of the session (docs/api.md, "Send a
        message"), through the account's carrier, from the session's virtual number."""
        session = await find_session(self._sessions, account, session_uuid)
        role = body.get("to")
        if role is None:
            raise errors.Missing("to")
        if role not in (Party.FIRST, Party.SECOND):
            raise errors.NotParty("to")
        text = body.get("text")
        if text is None or (isinstance(text, str) and not text.strip()):
            raise errors.Missing("text")
        if not isinstance(text, str) or len(text) > MAX_TEXT or "\x00" in text:
            raise errors.TextTooLong()
        now = self._now()
        if not session.is_live(now):
            raise errors.SessionAlreadyExpired()
        party = Party(role)
        to = session.first_party if party is Party.FIRST else session.second_party
        if not to:
            raise errors.PartyAbsent("to")
        number = session.virtual_number
        if await self._store.opted_out(to, number):
            raise errors.PartyOptedOut(party.value)
        carrier = None
        if self._texter is not None and self._accounts is not None:
            carrier = await carrying_carrier(self._accounts, account.auth_id, account.main_id)
        if carrier is None or carrier.kind not in (CarrierKind.PLIVO, CarrierKind.TWILIO):
            raise errors.MessagingUnavailable()
        assert self._texter is not None
        try:
            message_id = await self._texter.send_message(carrier, to, number, text, status_url(carrier))
        except Exception as error:  # the carrier's own words may quote the request: not logged
            log.warning("carrier refused a message of session %s (%s)", session.uuid, type(error).__name__)
            raise errors.CarrierRefusedMessage() from None
        if not 0 < len(message_id) <= MAX_MESSAGE_ID:
            log.warning("carrier gave an unusable message id for session %s", session.uuid)
            raise errors.CarrierRefusedMessage()
        message = Message(
            carrier.account_id, message_id, session.uuid, number, Direction.SENT, Party.OTHER, party,
            number, to, now, body=text if self._keep_bodies else "",
        )  # fmt: skip
        event = message_event(session, message, now)
        await self._store.record_message(message, [event] if event else [])
        return message

    async def report(self, carrier: Carrier, message_id: str, word: str, segments: str = "") -> None:
        """A carrier's delivery report on a logged message: its status moves on (late and
        repeated reports change nothing); a final one is announced."""
        if not 0 < len(message_id) <= MAX_MESSAGE_ID:
            return
        reported = carrier_status(word)
        message = await self._store.get_message(carrier.account_id, message_id)
        if message is None or reported is None:
            return
        status = advance_status(message.status, reported)
        if status is None:
            return
        now = self._now()
        moved = replace(
            message, status=status, updated=now, segments=segments_of(segments) or message.segments
        )
        events = []
        if status in FINAL:
            session = await self._sessions.session_by_uuid(None, message.session_uuid)
            event = None if session is None else message_event(session, moved, now)
            events = [event] if event else []
        await self._store.report_message(moved, message.status, events)

    async def _answer(self, number: str, sender: str, text: str) -> Send | None:
        """maskline's own answer to ``sender``, unless there is none or they opted out."""
        if not text or await self._store.opted_out(sender, number):
            return None
        return Send(number, sender, text)
