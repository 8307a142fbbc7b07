"""Who called whom: what the records say of the calls, and texts, of one number through a virtual
number near a given time, made or received (for an operator answering "whom did this caller
reach?" and "who called this customer from our number?").

Every call the answer webhook routes is recorded (``calls``), refused ones too: a refusal
ends at once, with no session and no callee, and the reason is not stored, so it is read back
from the sessions the caller had on the number (``outcome`` and ``refusal``). A call refused
before routing (a bad signature, a called number that is not a phone number) leaves no record;
nor does a text that reached no session. Pure: the store finds the rows, these decide what
they say.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from maskline.domain.calls import Call, CallState
from maskline.domain.message_log import Message
from maskline.domain.model import Session

TOLERANCE = 300  # seconds either side of the given time that are searched, by default
PARTY_SESSIONS = 50  # the caller's latest sessions on the number that are read, at most
NOT_RECORDED = "no call from or to that number through that virtual number was recorded near that time"


def epoch(moment: int | float | datetime) -> int:
    """Whole epoch seconds of ``moment``: epoch seconds, or a datetime (naive ones are UTC)."""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return int(aware.timestamp())
    return int(moment)


class Outcome(enum.StrEnum):
    """What became of a recorded call."""

    CONNECTED = "connected"  # the dialled party answered
    NOT_ANSWERED = "not_answered"  # dialled, ended without an answer (``b_cause`` says why)
    RINGING = "ringing"  # being dialled now
    TALKING = "talking"  # bridged now
    AT_PIN_PROMPT = "at_pin_prompt"  # waiting for the caller's PIN now
    PIN_FAILED = "pin_failed"  # prompted for a PIN and never connected
    REFUSED = "refused"  # routed to no session: rejected, or played the unknown-caller message


def outcome(call: Call) -> Outcome:
    if call.state is CallState.BRIDGED:
        return Outcome.TALKING
    if call.state is CallState.DIALLING:
        return Outcome.RINGING
    if call.state is CallState.PIN:
        return Outcome.AT_PIN_PROMPT
    if call.callee:
        return Outcome.CONNECTED if call.answered is not None else Outcome.NOT_ANSWERED
    return Outcome.PIN_FAILED if call.session_uuid else Outcome.REFUSED


class Refusal(enum.StrEnum):
    """Why a refused call reached nobody, as far as the sessions tell (routing keeps no reason)."""

    EXPIRED = "expired"  # the caller's session on the number had ended
    NO_COUNTERPART = "no_counterpart"  # the caller's single-party session had no one to call back
    OUT_OF_SCOPE = "out_of_scope"  # the caller had a live session, but not one the carrier may reach
    UNKNOWN_CALLER = "unknown_caller"  # the caller was a party of no session on the number


def refusal(call: Call, sessions: list[Session]) -> Refusal:
    """Why ``call`` was refused, given the caller's sessions on its number (any time)."""
    live = [s for s in sessions if s.created <= call.started < s.expiry]
    if any(not s.second_party or not s.first_party for s in live):
        return Refusal.NO_COUNTERPART
    if live:
        return Refusal.OUT_OF_SCOPE
    if any(s.expiry <= call.started for s in sessions):
        return Refusal.EXPIRED
    return Refusal.UNKNOWN_CALLER


@dataclass(frozen=True, slots=True)
class FoundCall:
    """A recorded call, its outcome, and for a refused one why (None otherwise). ``offset``:
    seconds from the asked time to its start (negative: before). ``received``: the number
    asked about was the one called (its caller is ``call.caller``), not the caller. The session
    it went through and the party it was routed to are ``call.session_uuid`` and
    ``call.callee``; its state, times, duration, legs and ``b_cause`` are the call's own."""

    call: Call
    outcome: Outcome
    offset: int
    refusal: Refusal | None = None
    received: bool = False


@dataclass(frozen=True, slots=True)
class PartySession:
    """A session on the virtual number with the number asked about as a party, near the asked
    time: whom a call from it would have reached, and who would have reached it
    (``counterpart``; empty for a single-party session's missing party), and whether it was
    live at the asked time."""

    session: Session
    counterpart: str
    live_at: bool


@dataclass(frozen=True, slots=True)
class FoundMessage:
    message: Message
    offset: int
    received: bool = False  # the number asked about was sent it, not its writer


@dataclass(frozen=True, slots=True)
class CallLookup:
    """The answer: the calls of ``party`` (made or received) nearest the asked time first, its
    sessions on the number that overlap the window (oldest first), and its texts, nearest
    first."""

    virtual_number: str
    party: str
    at: int
    since: int  # the window searched, both ends included
    until: int
    calls: tuple[FoundCall, ...]
    sessions: tuple[PartySession, ...]
    messages: tuple[FoundMessage, ...]

    @property
    def summary(self) -> str:
        """One line for the operator when no call was recorded (empty when one was)."""
        return "" if self.calls else NOT_RECORDED


def counterpart(session: Session, party: str) -> str:
    return session.second_party if party == session.first_party else session.first_party


def assemble(
    number: str,
    party: str,
    at: int,
    tolerance: int,
    calls: list[Call],
    sessions: list[Session],
    messages: list[Message],
) -> CallLookup:
    """The lookup from the rows found: ``sessions`` are all the party's sessions on the number
    that began before the window ended (a refusal's reason may lie in one that ended before).
    A refused call reached nobody, so the party asked about was its caller."""
    found = [
        FoundCall(
            c,
            outcome(c),
            c.started - at,
            refusal(c, sessions) if outcome(c) is Outcome.REFUSED else None,
            c.caller != party,
        )
        for c in calls
    ]
    found.sort(key=lambda f: (abs(f.offset), f.offset, f.call.call_id))
    since, until = at - tolerance, at + tolerance
    near = [s for s in sessions if s.created <= until and s.expiry >= since]
    near.sort(key=lambda s: (s.created, s.id))
    texts = [FoundMessage(m, m.created - at, m.sender != party) for m in messages]
    texts.sort(key=lambda f: (abs(f.offset), f.offset, f.message.message_id))
    return CallLookup(
        number,
        party,
        at,
        since,
        until,
        tuple(found),
        tuple(PartySession(s, counterpart(s, party), s.created <= at < s.expiry) for s in near),
        tuple(texts),
    )
