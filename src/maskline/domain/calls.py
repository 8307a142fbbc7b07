"""Calls through a virtual number: the carrier configuration, call records and their states."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class CarrierKind(enum.StrEnum):
    PLIVO = "plivo"
    TWILIO = "twilio"
    SIP = "sip"  # the operator's own trunk, through a SIP proxy that asks /sip/route


WEBHOOK_CARRIERS = (CarrierKind.PLIVO, CarrierKind.TWILIO)  # the carriers that call webhooks
MAX_CALL_ID = 64  # no carrier's call id is longer (Plivo's are uuids, Twilio's 34 characters)


def usable_call_id(call_id: str) -> bool:
    """Whether a call id from a carrier or proxy can be a call's key on every database."""
    return 0 < len(call_id) <= MAX_CALL_ID and "\x00" not in call_id


MAX_CAUSE = 40  # the longest end cause kept (Plivo's names are the longest, under 30)
_CAUSE = re.compile(r"[A-Za-z0-9_.\- ]+")
_DIGIT_RUN = re.compile(r"\d{5}")  # a phone number's worth of digits has no place in a cause


def leg_cause(raw: str) -> str:
    """A carrier's end cause of the dialled leg as kept: its own word (``USER_BUSY``,
    ``no-answer``, a SIP status such as ``486``), cut to ``MAX_CAUSE`` characters; empty
    when it holds anything but letters, digits, ``_ - .`` and spaces, or five digits in a row
    (what a phone number would)."""
    cause = raw.strip()[:MAX_CAUSE].strip()
    if not _CAUSE.fullmatch(cause) or _DIGIT_RUN.search(cause):
        return ""
    return cause


@dataclass(frozen=True, slots=True)
class Carrier:
    """The carrier that hosts an account's numbers.

    ``public_url`` prefixes every URL handed to the carrier; the carrier signs requests to
    those URLs with ``auth_token``. ``carrier_auth_id`` is the carrier's own account id (Plivo
    auth id, Twilio account SID), used for call-leg URLs and outbound calls.
    """

    account_id: str
    kind: CarrierKind
    auth_token: str
    carrier_auth_id: str
    public_url: str
    main_id: str = ""  # the account's main account

    def webhook_base(self) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/{self.kind.value}/{self.account_id}"

    def leg_url(self, leg_id: str) -> str:
        """The carrier's REST resource of one call leg (docs/api.md, "The interaction object")."""
        if not leg_id:
            return ""
        if self.kind is CarrierKind.SIP:  # no REST resource: the leg's SIP call id names it
            return f"sip:{leg_id}"
        if self.kind is CarrierKind.PLIVO:
            return f"https://api.plivo.com/v1/Account/{self.carrier_auth_id}/Call/{leg_id}/"
        return f"https://api.twilio.com/2010-04-01/Accounts/{self.carrier_auth_id}/Calls/{leg_id}.json"


class CallState(enum.StrEnum):
    PIN = "pin"  # waiting for the caller's PIN
    DIALLING = "dialling"  # the other party is being called
    BRIDGED = "bridged"  # both parties are talking
    ENDED = "ended"  # the caller's leg hung up; nothing more happens


class LegStatus(enum.StrEnum):
    """A leg's status as stored and shown in the interaction object (docs/api.md, "The
    interaction object")."""

    UNREPORTED = ""  # dialled, no word from the carrier yet (or not dialled at all)
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"  # answered, then ended
    NO_ANSWER = "no-answer"  # ended without being answered: busy, unanswered, failed, cancelled

    @property
    def ended(self) -> bool:
        return self in (LegStatus.COMPLETED, LegStatus.NO_ANSWER)


@dataclass(frozen=True, slots=True)
class Call:
    """One call: the caller's leg (A) and, once dialled, the other party's leg (B).

    Immutable: ``maskline.domain.call_transitions`` makes the next one from each report.
    """

    account_id: str
    call_id: str  # the carrier's id of the A leg
    virtual_number: str
    caller: str
    started: int
    state: CallState
    session_uuid: str | None = None
    callee: str = ""
    caller_is_first: bool = True
    pin_attempts: int = 0
    answered: int | None = None
    ended: int | None = None
    a_leg: str = ""
    b_leg: str = ""
    a_status: LegStatus = LegStatus.UNREPORTED
    b_status: LegStatus = LegStatus.UNREPORTED
    recording_url: str = ""
    duration: int = 0
    billed: int = 0
    deadline: int | None = None  # by when a dialled call must have ended
    b_cause: str = ""  # why the dialled leg ended, in the carrier's words (``leg_cause``)

    @property
    def dialled(self) -> bool:
        """Whether the other party is being called or talking: what leg reports are about."""
        return self.state in (CallState.DIALLING, CallState.BRIDGED)

    @property
    def legs(self) -> int:
        return 2 if self.b_leg else 1

    @property
    def first_party_leg(self) -> str:
        """The first party's leg, whichever way the call went (docs/api.md, "The interaction object")."""
        return self.a_leg if self.caller_is_first else self.b_leg

    @property
    def second_party_leg(self) -> str:
        return self.b_leg if self.caller_is_first else self.a_leg

    @property
    def first_party_status(self) -> LegStatus:
        return self.a_status if self.caller_is_first else self.b_status

    @property
    def second_party_status(self) -> LegStatus:
        return self.b_status if self.caller_is_first else self.a_status
