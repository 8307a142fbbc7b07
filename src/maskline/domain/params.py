"""Validation of create and update bodies: Plivo's parameters, coercions and check order.

Checks run in the row order of the API contract's parameter table and the first failure wins,
followed by the cross-field rules (contract §4.3). Readers return None for "not set".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import msgspec

from maskline.domain import errors
from maskline.domain.allocation import MAX_COOLOFF
from maskline.domain.model import Session, SessionSettings
from maskline.domain.phone import to_e164

Body = dict[str, Any]

_DIGITS = re.compile(r"[0-9]{1,12}")
_PIN = re.compile(r"[0-9]{4,15}")
_URL_MAX = 999  # recording_callback_url: "under 1000 characters"

# Spellings some SDKs send (contract §10), mapped to the canonical key.
ALIASES = {
    "create_session_with_single_Party": "create_session_with_single_party",
    "geo_match": "geomatch",
    "sub_account": "subaccount",
}


@dataclass(frozen=True, slots=True)
class Defaults:
    session_expiry: int = 1800
    call_time_limit: int = 14400
    ring_timeout: int = 45


@dataclass(slots=True)
class CreateRequest:
    first_party: str | None  # E.164
    second_party: str | None
    session_expiry: int
    settings: SessionSettings
    subaccount: str | None = None


@dataclass(slots=True)
class UpdateRequest:
    session_expiry: int | None = None
    first_party: str | None = None  # a party filled into a single-party session
    second_party: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def canonical(body: Body) -> Body:
    """The body with SDK aliases folded in and JSON nulls dropped (null means absent)."""
    out = {k: v for k, v in body.items() if v is not None}
    for alias, name in ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            out.setdefault(name, value)
    return out


# -- readers: one value each ------------------------------------------------------------------
def read_phone(body: Body, name: str) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    e164 = to_e164(value) if isinstance(value, str) else None
    if e164 is None:
        raise errors.InvalidPhone(name)
    return e164


def read_int(body: Body, name: str, low: int, high: int, *, zero_unset: bool) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise errors.OutOfRange(name)
    if number == 0 and zero_unset:
        return None
    if not low <= number <= high:
        raise errors.OutOfRange(name)
    return number


def read_bool(body: Body, name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise errors.NotBoolean(name)


def is_url(text: str) -> bool:
    if any(c.isspace() or not c.isprintable() for c in text):
        return False
    try:
        text.encode("utf-8")
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host)


def read_url(body: Body, name: str, max_length: int | None = None) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return value
    if not isinstance(value, str) or not is_url(value):
        raise errors.NotUrl(name)
    if max_length is not None and len(value) > max_length:
        raise errors.UrlTooLong(name)
    return value


def read_method(body: Body, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in ("GET", "POST"):
        return value.upper()
    raise errors.NotHttpMethod(name)


def read_file_format(body: Body, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in ("mp3", "wav"):
        return value.lower()
    raise errors.NotFileFormat(name)


def read_pin(body: Body, name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if isinstance(value, str) and _PIN.fullmatch(value):
        return value
    raise errors.NotPin(name)


# Per-field readers for the settings that create and update share, in contract row order.
_Reader = Callable[[Body, str], Any]
_SHARED: tuple[tuple[str, _Reader], ...] = (
    ("call_time_limit", lambda b, n: read_int(b, n, 60, 86400, zero_unset=True)),
    ("ring_timeout", lambda b, n: read_int(b, n, 1, 86400, zero_unset=True)),
    ("record", read_bool),
    ("record_file_format", read_file_format),
    ("recording_callback_url", lambda b, n: read_url(b, n, _URL_MAX)),
    ("recording_callback_method", read_method),
    ("initiate_call_to_first_party", read_bool),
    ("callback_url", read_url),
    ("callback_method", read_method),
    ("first_party_play_url", read_url),
    ("second_party_play_url", read_url),
)
UPDATABLE = frozenset(name for name, _ in _SHARED) - {"initiate_call_to_first_party"}

# Fields that exist only at creation, in row order (after second_party_play_url).
_CREATE_ONLY = (
    "is_pin_authentication_required",
    "generate_pin",
    "generate_pin_length",
    "first_party_pin",
    "second_party_pin",
    "pin_prompt_play",
    "pin_retry",
    "pin_retry_wait",
    "incorrect_pin_play",
    "unknown_caller_play",
    "force_pin_authentication",
)
_PIN_FIELDS = frozenset(_CREATE_ONLY) - {"is_pin_authentication_required", "unknown_caller_play"}


def flag(body: Body, name: str) -> bool:
    """A flag that decides which other checks apply; an invalid one fails later at its own row."""
    try:
        return bool(read_bool(body, name))
    except errors.NotBoolean:
        return False


def parse_create(
    raw: Body,
    defaults: Defaults,
    *,
    subaccount_valid: Callable[[str], bool],
    can_initiate_calls: bool,
) -> CreateRequest:
    body = canonical(raw)
    single = flag(body, "create_session_with_single_party")
    pin_on = flag(body, "is_pin_authentication_required")
    generate = pin_on and flag(body, "generate_pin")

    first = read_phone(body, "first_party")
    if first is None and not single:
        raise errors.Missing("first_party")
    second = read_phone(body, "second_party")
    if second is None and not single:
        raise errors.Missing("second_party")
    read_bool(body, "create_session_with_single_party")
    expiry = read_int(body, "session_expiry", 60, 86400, zero_unset=True)

    values: dict[str, Any] = {}
    for name, reader in _SHARED:
        value = reader(body, name)
        if name == "initiate_call_to_first_party" and value and not can_initiate_calls:
            raise errors.InitiateCallUnavailable()
        if value is not None:
            values[name] = value

    read_bool(body, "is_pin_authentication_required")
    pin: dict[str, Any] = {}
    if pin_on:
        pin["generate_pin"] = bool(read_bool(body, "generate_pin"))
        pin["generate_pin_length"] = read_int(body, "generate_pin_length", 4, 15, zero_unset=False)
        if not generate:
            pin["first_party_pin"] = read_pin(body, "first_party_pin")
            pin["second_party_pin"] = read_pin(body, "second_party_pin")
        pin["pin_prompt_play"] = read_url(body, "pin_prompt_play")
        pin["pin_retry"] = read_int(body, "pin_retry", 0, 5, zero_unset=False)
        pin["pin_retry_wait"] = read_int(body, "pin_retry_wait", 5, 10, zero_unset=True)
        pin["incorrect_pin_play"] = read_url(body, "incorrect_pin_play")
    unknown_caller_play = read_url(body, "unknown_caller_play")
    force = bool(read_bool(body, "force_pin_authentication")) if pin_on else False

    subaccount = body.get("subaccount")
    if subaccount == "":
        subaccount = None
    if subaccount is not None and not (isinstance(subaccount, str) and subaccount_valid(subaccount)):
        raise errors.InvalidSubaccount()
    geomatch = read_bool(body, "geomatch")
    cooloff = read_int(body, "virtual_number_cooloff_period", 0, MAX_COOLOFF, zero_unset=False)

    # Cross-field rules, in the contract's order.
    if first is None and second is None:
        raise errors.Missing("first_party")
    if first is not None and first == second:
        raise errors.PartiesEqual()
    if pin_on:
        if not generate:
            if pin["first_party_pin"] is None:
                raise errors.Missing("first_party_pin")
            if pin["second_party_pin"] is None:
                raise errors.Missing("second_party_pin")
            if pin["first_party_pin"] == pin["second_party_pin"]:
                raise errors.PinsEqual()
        if not pin["pin_prompt_play"]:
            raise errors.Missing("pin_prompt_play")
        pin.setdefault("first_party_pin", None)
        pin.setdefault("second_party_pin", None)
        if pin["generate_pin_length"] is None:
            pin["generate_pin_length"] = 4
        if pin["pin_retry"] is None:
            pin["pin_retry"] = 1
        if pin["pin_retry_wait"] is None:
            pin["pin_retry_wait"] = 5
        pin["incorrect_pin_play"] = pin["incorrect_pin_play"] or ""

    settings = SessionSettings(
        call_time_limit=values.pop("call_time_limit", defaults.call_time_limit),
        ring_timeout=values.pop("ring_timeout", defaults.ring_timeout),
        **values,
        **pin,
        is_pin_authentication_required=pin_on,
        unknown_caller_play=unknown_caller_play or "",
        force_pin_authentication=force,
        create_session_with_single_party=single,
        virtual_number_cooloff_period=cooloff or 0,
        geomatch=True if geomatch is None else geomatch,
    )
    return CreateRequest(
        first_party=first,
        second_party=second,
        session_expiry=expiry or defaults.session_expiry,
        settings=settings,
        subaccount=subaccount,
    )


def parse_update(raw: Body, session: Session) -> UpdateRequest:
    """Validate an update of a live session (contract §5)."""
    body = canonical(raw)
    request = UpdateRequest()
    for name in ("first_party", "second_party"):
        if body.get(name, "") == "":
            continue
        if not session.settings.create_session_with_single_party or getattr(session, name):
            raise errors.NotUpdatable(name)
        setattr(request, name, read_phone(body, name))
    request.session_expiry = read_int(body, "session_expiry", 60, 86400, zero_unset=True)
    for name, reader in _SHARED:
        if name in body and name not in UPDATABLE:
            raise errors.NotUpdatable(name)
        value = reader(body, name)
        if value is not None:
            request.settings[name] = value
    for name in (*_CREATE_ONLY, "virtual_number_cooloff_period"):
        if name in body:
            raise errors.NotUpdatable(name)
    first = request.first_party or session.first_party
    if first and first == (request.second_party or session.second_party):
        raise errors.PartiesEqual()
    return request


def apply_update(session: Session, request: UpdateRequest, now: int) -> Session:
    """The session after an update at ``now``: expiry counts from the update (contract §5)."""
    return replace(
        session,
        first_party=request.first_party or session.first_party,
        second_party=request.second_party or session.second_party,
        modified=now,
        expiry=now + request.session_expiry if request.session_expiry else session.expiry,
        settings=msgspec.structs.replace(session.settings, **request.settings),
    )


def generate_pins(length: int, randbelow: Callable[[int], int]) -> tuple[str, str]:
    """Two different PINs of ``length`` uniformly random digits."""

    def one() -> str:
        return "".join(str(randbelow(10)) for _ in range(length))

    first = one()
    second = one()
    while second == first:
        second = one()
    return first, second


# What decoding JSON bytes raises on bad input: bytes that are not UTF-8 inside a string
# (``"\x80"``) give UnicodeDecodeError, not msgspec's own error; deep nesting, RecursionError.
JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def decode_body(raw: bytes) -> Body:
    """A request body as a JSON object; an empty body is ``{}``."""
    raw = raw.removeprefix(b"\xef\xbb\xbf").strip()
    if not raw:
        return {}
    try:
        value = msgspec.json.decode(raw)
    except JSON_ERRORS:
        raise errors.InvalidJson() from None
    if not isinstance(value, dict):
        raise errors.InvalidJson()
    return value
