"""Session events for the customer's callback URLs (contract §11.7, §11.8).

An event is made by a call step or by expiry, stored in an outbox in the same moment, and
delivered later, at least once, in order of its per-session ``SequenceNumber``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from maskline.domain.calls import Call
from maskline.domain.model import Session
from maskline.domain.phone import digits
from maskline.domain.timefmt import format_time

# Delays before the 2nd, 3rd, ... attempt; after the last one the event is given up.
RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600)


@dataclass(frozen=True, slots=True)
class Event:
    session_uuid: str
    account_id: str
    url: str
    method: str
    created: int
    fields: dict[str, str] = field(default_factory=dict)
    dedup: str | None = None  # events that must exist once (SessionTimeout) carry a key


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event taken from the outbox for delivery."""

    id: int
    account_id: str
    url: str
    method: str
    fields: dict[str, str]
    attempts: int


def status_event(
    session: Session, name: str, now: int, call: Call | None = None, **extra: object
) -> Event | None:
    """A session status event (§11.7), or None when the session has no ``callback_url``."""
    s = session.settings
    if not s.callback_url:
        return None
    fields = _fields(session, name, now, call, extra)
    return Event(
        session.uuid, session.account_id, s.callback_url, s.callback_method, created=now, fields=fields
    )


def recording_event(session: Session, name: str, now: int, call: Call, **extra: object) -> Event | None:
    """A recording event (§11.8), or None when the session has no ``recording_callback_url``."""
    s = session.settings
    if not s.recording_callback_url:
        return None
    extra.setdefault("RecordingFormat", "." + s.record_file_format)
    fields = _fields(session, name, now, call, extra)
    return Event(
        session.uuid,
        session.account_id,
        s.recording_callback_url,
        s.recording_callback_method,
        created=now,
        fields=fields,
    )


def timeout_event(session: Session) -> Event | None:
    event = status_event(session, "SessionTimeout", session.expiry)
    if event is None:
        return None
    return replace(event, dedup="timeout:" + session.uuid)


def _fields(
    session: Session, name: str, now: int, call: Call | None, extra: dict[str, object]
) -> dict[str, str]:
    fields = {
        "EventName": name,
        "EventTimestamp": format_time(now),
        "SessionUUID": session.uuid,
        "VirtualNumber": digits(session.virtual_number),
    }
    if call is not None:
        fields["From"] = digits(call.caller)
        fields["To"] = digits(call.callee)
    fields.update({key: str(value) for key, value in extra.items()})
    return fields


def retry_at(attempts: int, now: int) -> int | None:
    """When to try again after ``attempts`` failed attempts; None to give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    return now + RETRY_DELAYS[attempts - 1]


def names_private_host(url: str) -> bool:
    """Whether a URL names a private host outright (an IP literal or localhost); host names
    are checked again, resolved, when an event is sent."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return not is_public_address(host)


def is_public_address(address: str) -> bool:
    """Whether a callback may be sent to this IP address: not loopback, private, link-local,
    multicast, reserved or unspecified."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast
