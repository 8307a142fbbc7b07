"""The routing decision: what to do with a call to a virtual number (docs/calls.md, "The routing decision").

Pure: the store gathers a ``NumberView`` of the dialled number, ``route`` decides, and the
carrier renderers turn the decision into Plivo XML or TwiML.
"""

from __future__ import annotations

from dataclasses import dataclass

from maskline.domain.model import Session

# SIP codes of a rejection (docs/calls.md, "The routing decision"): an unknown caller, nothing to reach, or a
# caller whose session with this number has ended.
UNKNOWN_CALLER = 403
NO_SESSION = 404
SESSION_EXPIRED = 480


@dataclass(frozen=True, slots=True)
class Bridge:
    """Connect the caller to ``to``, showing the virtual number."""

    session: Session
    to: str
    caller_is_first: bool  # the caller is the first party (or stands in for it)
    pin_status: str | None = None  # SessionPinAuthenticationStatus to report, if any

    @property
    def caller_play(self) -> str:
        s = self.session.settings
        return s.first_party_play_url if self.caller_is_first else s.second_party_play_url

    @property
    def callee_play(self) -> str:
        s = self.session.settings
        return s.second_party_play_url if self.caller_is_first else s.first_party_play_url


@dataclass(frozen=True, slots=True)
class PromptPin:
    """Ask for a PIN; ``attempt`` counts the wrong ones so far."""

    session: Session  # whose prompt, retries and wait apply
    attempt: int = 0
    after_wrong: bool = False  # play incorrect_pin_play and wait first


@dataclass(frozen=True, slots=True)
class Play:
    """Play the audio, then hang up."""

    url: str
    session: Session | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    sip_code: int
    reason: str = "rejected"


Decision = Bridge | PromptPin | Play | Reject


@dataclass(frozen=True, slots=True)
class NumberView:
    """What the store knows of a virtual number that matters to one caller, at one moment.

    Every session here is live. ``own`` is the session in which the caller is a party (at most
    one: allocation guarantees it); ``open`` the single-party session without PIN (at most one);
    ``pin`` the session with PIN authentication that lasts longest; ``prompt`` the newest one
    with an ``unknown_caller_play``.
    """

    own: Session | None = None
    open: Session | None = None
    pin: Session | None = None
    prompt: Session | None = None


def _other(session: Session, caller: str) -> tuple[str, bool]:
    """The party the caller reaches in their own session, and whether the caller is first."""
    if caller == session.first_party:
        return session.second_party, True
    return session.first_party, False


def route(caller: str | None, view: NumberView) -> Decision:
    """Decide an inbound call from ``caller`` (E.164, or None if unreadable)."""
    own = view.own
    if own is not None and caller is not None:
        settings = own.settings
        if settings.is_pin_authentication_required and settings.force_pin_authentication:
            return PromptPin(own)
        to, caller_is_first = _other(own, caller)
        if not to:
            # A single-party session's own party calls back whoever reached it last
            # (docs/calls.md, "Single-party sessions").
            if not own.last_counterpart:
                return Reject(UNKNOWN_CALLER)
            to = own.last_counterpart
        status = "AuthorizedCaller" if settings.is_pin_authentication_required else None
        return Bridge(own, to, caller_is_first, status)
    if view.open is not None:
        registered = view.open.first_party or view.open.second_party
        return Bridge(view.open, registered, caller_is_first=not view.open.first_party)
    if view.pin is not None:
        return PromptPin(view.pin)
    if view.prompt is not None:
        return Play(view.prompt.settings.unknown_caller_play, view.prompt)
    return Reject(UNKNOWN_CALLER)


def route_pin(
    digits: str, caller: str | None, prompted: Session, found: Session | None, attempt: int
) -> Decision:
    """Decide after a PIN was entered (docs/calls.md, "PIN authentication").

    ``found`` is the live session on the number that holds that PIN, if any; ``prompted`` the
    session whose prompt was played, whose retry settings apply; ``attempt`` counts the wrong
    PINs before this one. The first party's PIN reaches the second party and vice versa; in a
    single-party session, the party it has.
    """
    if found is not None:
        caller_is_first = digits == found.settings.first_party_pin
        to = found.second_party if caller_is_first else found.first_party
        to = to or found.first_party or found.second_party
        if to != caller:
            return Bridge(found, to, caller_is_first, "success")
    if attempt < (prompted.settings.pin_retry or 0):
        return PromptPin(prompted, attempt + 1, after_wrong=True)
    return Play(prompted.settings.incorrect_pin_play or "", prompted)
