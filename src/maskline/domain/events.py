"""Session events for the customer's callback URLs (docs/calls.md, "Session status events"
and "Recording events").

An event is made by a call step or by expiry, stored in an outbox in the same moment, and
delivered later, at least once, in order of its per-session ``SequenceNumber``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from maskline.domain.calls import Call
from maskline.domain.message_log import Direction, Message, Status
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
    session_uuid: str = ""


def status_event(
    session: Session, name: str, now: int, call: Call | None = None, **extra: object
) -> Event | None:
    """A session status event (docs/calls.md, "Session status events"), or None when the
    session has no ``callback_url``."""
    s = session.settings
    if not s.callback_url:
        return None
    fields = _fields(session, name, now, call, extra)
    return Event(
        session.uuid, session.account_id, s.callback_url, s.callback_method, created=now, fields=fields
    )


def recording_event(session: Session, name: str, now: int, call: Call, **extra: object) -> Event | None:
    """A recording event (docs/calls.md, "Recording events"), or None when the session has no
    ``recording_callback_url``."""
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


def replaced_event(session: Session, previous: str, now: int) -> Event | None:
    """``SessionVirtualNumberReplaced``: the session has moved from ``previous`` to its
    ``virtual_number`` (docs/calls.md, "Session status events")."""
    return status_event(session, "SessionVirtualNumberReplaced", now, PreviousVirtualNumber=digits(previous))


def message_event(session: Session, message: Message, now: int) -> Event | None:
    """The event of a message's news (docs/messages.md, "Message events"): relayed or sent when
    it is stored, then delivered or failed as the carrier reports; never its text."""
    if message.status is Status.DELIVERED:
        name = "SessionMessageDelivered"
    elif message.final:
        name = "SessionMessageFailed"
    else:
        name = "SessionMessageRelayed" if message.direction is Direction.RELAYED else "SessionMessageSent"
    fields: dict[str, object] = {
        "From": digits(message.sender), "To": digits(message.recipient),
        "MessageUUID": message.message_id, "MessageDirection": message.direction.value,
        "FromParty": message.from_party.value, "ToParty": message.to_party.value,
        "MessageStatus": message.status.value, "Segments": message.segments or "",
        "MediaCount": message.media,
    }  # fmt: skip
    # An unknown value is left out, not sent empty (many form parsers drop empty fields).
    return status_event(session, name, now, None, **{k: v for k, v in fields.items() if v != ""})


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


def callback_origin(url: str) -> str:
    """The scheme, host and port a callback URL reaches: what delivery limits requests by."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").rstrip(".")
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


def names_private_host(url: str) -> bool:
    """Whether a URL names a private host outright (an IP literal in any spelling the resolver
    takes, or localhost); host names are checked again, resolved, when an event is sent."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        numeric = _inet_aton(host)
        return numeric is not None and not is_public_address(str(numeric))
    return not is_public_address(host)


def is_public_address(address: str) -> bool:
    """Whether a callback may be sent to this IP address: not loopback, private, link-local,
    multicast, reserved or unspecified. An IPv6 address that stands for IPv4 ones (see
    ``embedded_ipv4``) is judged by those; the local-use NAT64 prefix is never public."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        inside = embedded_ipv4(ip)
        if inside:
            return all(_public(v4) for v4 in inside)
    return _public(ip)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address reaches: mapped ``::ffff:a.b.c.d``, compatible
    ``::a.b.c.d``, translated ``::ffff:0:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002::/16``
    (bits 16-47), Teredo ``2001::/32`` (its server, bits 32-63, and its client, the last 32 bits
    inverted); none for any other address."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if any(ip in net for net in _LAST_32_BITS):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    return ()


_LAST_32_BITS = tuple(map(ipaddress.IPv6Network, ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")))
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: where IPv4 sits is the network's choice


# Special-purpose ranges (the IANA registries) refused whatever the Python release's own
# ``is_global`` table says: it has changed between patch releases.
_NOT_PUBLIC = tuple(
    map(
        ipaddress.ip_network,
        (
            "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
            "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
            "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
            "::/127", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16",
            "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
        ),
    )
)  # fmt: skip


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not any(ip in net for net in _NOT_PUBLIC)


_INET_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*", re.ASCII)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of a host in the short and numeric spellings resolvers take
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``), or None if it is not one."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_PART.fullmatch(part) for part in parts):
        return None
    values = [
        int(p[2:] or "0", 16) if p[:2] in ("0x", "0X") else int(p, 8 if p[0] == "0" else 10) for p in parts
    ]
    *front, last = values
    if any(v > 255 for v in front) or last >= 256 ** (4 - len(front)):
        return None
    number = last
    for position, value in enumerate(front):
        number |= value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)
