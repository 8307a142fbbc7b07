"""The message decisions: what a text to a virtual number is (docs/messages.md).

Pure, like ``routing``: the store gathers the same ``NumberView`` a call gets, ``route_message``
decides whom the text reaches, and the carrier renderers write Plivo Message XML or TwiML. The
texts maskline itself sends in reply are written here and nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from maskline.domain.model import Session
from maskline.domain.routing import NumberView


class Keyword(enum.Enum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"


_KEYWORDS = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Keyword.OPT_OUT),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.OPT_IN),
    "HELP": Keyword.HELP,
}

# What maskline answers the sender, from the virtual number.
OPTED_OUT = "You will no longer receive messages from this number. Reply START to resume."
OPTED_IN = "You will receive messages from this number again. Reply STOP to stop."
NOT_DELIVERED = "Your message was not delivered: the recipient does not receive messages from this number."
DEFAULT_HELP = "Messages to this number are relayed to the other party. Reply STOP to stop, START to resume."
MAX_MEDIA = 10  # media a relayed message carries at most (Twilio's limit for one message)


def keyword(text: str) -> Keyword | None:
    """The keyword the whole message is, trimmed, in any letter case; None for anything else.
    Only ASCII letters count: a look-alike (full-width, long s) is an ordinary message."""
    word = text.strip()
    return _KEYWORDS.get(word.upper()) if word.isascii() else None


@dataclass(frozen=True, slots=True)
class Relay:
    """Send the text on to ``to``, from the session's virtual number."""

    session: Session
    to: str
    counterpart: str = ""  # an outsider who wrote to a single-party session: its party's replies go back


@dataclass(frozen=True, slots=True)
class Drop:
    """Relay nothing. ``unknown``: the sender has no way to anyone through this number."""

    unknown: bool


MessageDecision = Relay | Drop


def route_message(sender: str | None, view: NumberView) -> MessageDecision:
    """Whom a text from ``sender`` (E.164, or None if unreadable) reaches: the rule of a call
    (``routing.route``) less what needs a voice. A registered party always reaches the other
    party, PIN or not; nobody else reaches a PIN session (a PIN cannot be typed into a text
    thread) nor hears a prompt."""
    own = view.own
    if own is not None and sender is not None:
        to = own.second_party if sender == own.first_party else own.first_party
        if to:
            return Relay(own, to)
        # A single-party session's own party answers whoever wrote or called last.
        return Relay(own, own.last_counterpart) if own.last_counterpart else Drop(unknown=False)
    if view.open is not None and sender is not None:
        return Relay(view.open, view.open.first_party or view.open.second_party, counterpart=sender)
    return Drop(unknown=True)


@dataclass(frozen=True, slots=True)
class Send:
    """A message the carrier sends from the virtual number ``source``: a relay, or maskline's
    own reply to the sender."""

    source: str
    to: str
    text: str
    media: tuple[str, ...] = ()
    status_url: str = ""  # where the carrier reports the relay's delivery; empty: nowhere


@dataclass(frozen=True, slots=True)
class Replies:
    """The operator's texts (``MASKLINE_MESSAGE_HELP``, ``MASKLINE_MESSAGE_UNKNOWN_SENDER_REPLY``)."""

    help: str = DEFAULT_HELP
    unknown_sender: str = ""  # empty: an unknown sender gets no answer at all
