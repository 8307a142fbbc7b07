"""Messages as interactions of their session (docs/messages.md, "Messages in a session"): what
is kept of each text relayed through a session or sent into it by the business, and how the
carriers' delivery reports move its status.

Pure: the store keeps ``Message`` rows, ``advance_status`` decides what a report changes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_TEXT = 1600  # the longest text the business may send (Plivo's and Twilio's limit for one message)
MAX_MESSAGE_ID = 64  # no carrier's message id is longer (Plivo's are uuids, Twilio's 34 characters)


class Direction(enum.StrEnum):
    RELAYED = "relayed"  # a party's text, relayed to the other party
    SENT = "sent"  # sent into the session by the business (the Message endpoint)


class Party(enum.StrEnum):
    FIRST = "first_party"
    SECOND = "second_party"
    OTHER = ""  # an outsider who wrote to an open single-party session, or the business


class Status(enum.StrEnum):
    """A message's delivery status, in the carriers' shared words."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


FINAL = frozenset({Status.DELIVERED, Status.UNDELIVERED, Status.FAILED})
_RANK = {Status.QUEUED: 0, Status.SENT: 1, Status.DELIVERED: 2, Status.UNDELIVERED: 2, Status.FAILED: 2}

# Each carrier's words for a message's status (Plivo's MessageState/Status, Twilio's
# MessageStatus/SmsStatus); others (``received``, ``read``, ``accepted`` …) say nothing new.
_CARRIER_WORDS = {
    "queued": Status.QUEUED,
    "accepted": Status.QUEUED,
    "scheduled": Status.QUEUED,
    "sending": Status.QUEUED,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "rejected": Status.FAILED,
    "canceled": Status.FAILED,
}


def carrier_status(word: str) -> Status | None:
    return _CARRIER_WORDS.get(word.strip().lower())


def advance_status(current: Status, reported: Status) -> Status | None:
    """The status a report moves a message to, or None when it changes nothing: a final status
    stays, and a report that comes late (``sent`` after ``delivered``) is ignored."""
    if current in FINAL or _RANK[reported] <= _RANK[current]:
        return None
    return reported


def segments_of(raw: str) -> int | None:
    """The carrier's count of the parts a text went as (``Units``, ``NumSegments``), if it said."""
    raw = raw.strip()
    count = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 4 else 0
    return count or None


@dataclass(frozen=True, slots=True)
class Message:
    """A text of a session. ``account_id`` is the account whose carrier carried it (whose
    webhooks report on it); ``message_id`` the carrier's id: the sent message's own, or, for a
    relay, the id of the text the party wrote. ``body`` is kept only when the operator turns
    retention on (``MASKLINE_MESSAGE_RETAIN_BODIES``); otherwise it is empty."""

    account_id: str
    message_id: str
    session_uuid: str
    virtual_number: str
    direction: Direction
    from_party: Party
    to_party: Party
    sender: str  # E.164; the virtual number for the business's messages
    recipient: str
    created: int
    status: Status = Status.QUEUED
    updated: int | None = None  # when the last report moved the status
    segments: int | None = None
    media: int = 0
    body: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL
