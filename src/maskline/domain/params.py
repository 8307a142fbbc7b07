"""The session parameters of create and update (docs/api.md, "Parameters (create)" and
"Update"), written once: a table of each parameter's name, other spellings, reader, range,
default and description, in the documented row order, which is also the order of the checks.
It drives the parsing of create and update bodies here, and their request schemas in the
OpenAPI document; the defaults an operator may change are read from the environment by the
configuration, and both the parsing and the document take them from the running configuration.

Checks run in the row order and the first failure wins, followed by the cross-field rules
(docs/api.md, "Validation order"). Readers return None for "not set".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, get_origin, get_type_hints
from urllib.parse import urlsplit

import msgspec

from maskline.domain import errors
from maskline.domain.phone import to_e164

if TYPE_CHECKING:
    from maskline.domain.model import Session

Body = dict[str, Any]
Schema = dict[str, Any]

_NULL: Schema = {"type": "null"}


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


def any_case(*words: str) -> str:
    """A pattern matching any of ``words`` in any letter case (JSON Schema patterns have no flags)."""
    spelled = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in w) for w in words)
    return "^(" + "|".join(spelled) + ")$"


# -- readers: one value each, and the JSON Schema of the values they take -----------------------
# (docs/api.md, "Value coercion")
# A reader is called with the value sent (None when absent or null) and the parameter's name,
# and returns the value to use, or None for "not set"; it raises the parameter's error.
@dataclass(frozen=True, slots=True)
class Phone:
    note = "E.164, with or without '+'; '' is unset."

    def __call__(self, value: Any, name: str) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        e164 = to_e164(value) if isinstance(value, str) else None
        if e164 is None:
            raise errors.InvalidPhone(name)
        return e164

    def schema(self) -> Schema:
        return {"anyOf": [{"type": "string"}, _NULL]}


_DIGITS = "[0-9]{1,12}"


@dataclass(frozen=True, slots=True)
class Integer:
    low: int
    high: int
    zero_unset: bool = False  # 0 means "not set" (Java and Go send 0 for every integer they have)
    _digits = re.compile(_DIGITS)

    @property
    def note(self) -> str:
        return ("0 means not set. " if self.zero_unset else "") + "A string of digits is taken."

    def __call__(self, value: Any, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and self._digits.fullmatch(value):
            number = int(value)
        else:
            raise errors.OutOfRange(name)
        if number == 0 and self.zero_unset:
            return None
        if not self.low <= number <= self.high:
            raise errors.OutOfRange(name)
        return number

    def schema(self) -> Schema:
        variants: list[Schema] = [{"type": "integer", "minimum": self.low, "maximum": self.high}]
        if self.zero_unset:
            variants.insert(0, {"const": 0})
        return {"anyOf": [*variants, {"type": "string", "pattern": f"^{_DIGITS}$"}, _NULL]}


@dataclass(frozen=True, slots=True)
class Boolean:
    note = ""

    def __call__(self, value: Any, name: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise errors.NotBoolean(name)

    def schema(self) -> Schema:
        return {
            "anyOf": [{"type": "boolean"}, {"type": "string", "pattern": any_case("true", "false")}, _NULL]
        }


@dataclass(frozen=True, slots=True)
class Url:
    max_length: int | None = None
    note = "An absolute http(s) URL; '' is unset."

    def __call__(self, value: Any, name: str) -> str | None:
        if value is None:
            return None
        if value == "":
            return ""
        if not isinstance(value, str) or not is_url(value):
            raise errors.NotUrl(name)
        if self.max_length is not None and len(value) > self.max_length:
            raise errors.UrlTooLong(name)
        return value

    def schema(self) -> Schema:
        url: Schema = {"type": "string", "format": "uri"}
        if self.max_length is not None:
            url["maxLength"] = self.max_length
        return {"anyOf": [url, {"const": ""}, _NULL]}


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a few words, in any letter case; taken in the case of ``words``."""

    words: tuple[str, ...]
    error: Callable[[str], errors.MaskingError]
    note = ""

    def __call__(self, value: Any, name: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            for word in self.words:
                if value.lower() == word.lower():
                    return word
        raise self.error(name)

    def schema(self) -> Schema:
        return {"anyOf": [{"type": "string", "pattern": any_case(*self.words)}, _NULL]}


@dataclass(frozen=True, slots=True)
class Pin:
    note = ""
    _pin = re.compile(r"[0-9]{4,15}")

    def __call__(self, value: Any, name: str) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if isinstance(value, str) and self._pin.fullmatch(value):
            return value
        raise errors.NotPin(name)

    def schema(self) -> Schema:
        digits = {"type": "string", "pattern": "^[0-9]{4,15}$"}
        integer = {"type": "integer", "minimum": 1000, "maximum": 10**15 - 1}
        return {"anyOf": [digits, integer, {"const": ""}, _NULL]}


@dataclass(frozen=True, slots=True)
class AccountId:
    """An account id: whether the caller may name it is for the caller to say."""

    note = ""

    def __call__(self, value: Any, name: str) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise errors.InvalidSubaccount()
        return value

    def schema(self) -> Schema:
        return {"anyOf": [{"type": "string"}, _NULL]}


Reader = Phone | Integer | Boolean | Url | Choice | Pin | AccountId


class Update(enum.Enum):
    """What an update does with a parameter (docs/api.md, "Update")."""

    TAKEN = "taken"  # changed, validated as on create
    FILL = "fill"  # only to fill the missing party of a single-party session
    IGNORED = "ignored"  # accepted (the SDKs send it) and ignored
    REFUSED = "refused"  # cannot be changed: 400


@dataclass(frozen=True, slots=True)
class Param:
    """A row of the table: how a parameter is read, and what it is when not set."""

    read: Reader
    description: str
    # What a session gets when it is not set (None: nothing). A setting with a default in the
    # table takes that one; a PIN setting's is the one it gets with PIN authentication on.
    default: Any = None
    # The operator may change the default (MASKLINE_<NAME>); the running one is in Defaults.
    configurable: bool = False
    aliases: tuple[str, ...] = ()  # other spellings some SDKs send (docs/api.md, "Other spellings")
    update: Update = Update.REFUSED
    on_update: str = ""  # the description on update, when it differs
    pin: bool = False  # only read with PIN authentication on; null in the session otherwise
    example: str | None = None
    name: str = ""  # the field's name in the table

    @property
    def env(self) -> str:
        return "MASKLINE_" + self.name.upper()


MAX_COOLOFF = 3600  # the longest virtual_number_cooloff_period
_URL_MAX = 999  # recording_callback_url: "under 1000 characters"
_METHOD = Choice(("GET", "POST"), errors.NotHttpMethod)
_PARTY_ON_UPDATE = "Only to fill the missing party of a single-party session."
_SINGLE = "Required unless create_session_with_single_party."


class SessionSettings(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The parameters of create and update, written once, in the row order of docs/api.md,
    "Parameters (create)".

    Each field is a setting the session keeps, with its row of the table in ``Annotated``; the
    store keeps only what differs from the field's default. The ``ClassVar`` rows are the
    session's own (its parties, expiry and owner): read here, kept in the session itself.
    Adding a parameter is adding a row here; the session object shows a setting where its
    reply Struct (``http/render.py``) places it.
    """

    first_party: ClassVar[Param] = Param(
        Phone(), _SINGLE, update=Update.FILL, on_update=_PARTY_ON_UPDATE, example="+14155550100"
    )
    second_party: ClassVar[Param] = Param(
        Phone(), _SINGLE, update=Update.FILL, on_update=_PARTY_ON_UPDATE, example="14155550123"
    )
    create_session_with_single_party: Annotated[
        bool,
        Param(
            Boolean(),
            "Only one party is then needed.",
            aliases=("create_session_with_single_Party",),
            update=Update.IGNORED,
        ),
    ] = False
    session_expiry: ClassVar[Param] = Param(
        Integer(60, 86400, zero_unset=True),
        "Seconds the session lasts.",
        default=1800,
        configurable=True,
        update=Update.TAKEN,
        on_update="Seconds the session lasts from the update.",
    )
    call_time_limit: Annotated[
        int,
        Param(
            Integer(60, 86400, zero_unset=True),
            "Seconds a call may last.",
            default=14400,
            configurable=True,
            update=Update.TAKEN,
        ),
    ]
    ring_timeout: Annotated[
        int,
        Param(
            Integer(1, 86400, zero_unset=True),
            "Seconds a callee's phone rings.",
            default=45,
            configurable=True,
            update=Update.TAKEN,
        ),
    ]
    record: Annotated[bool, Param(Boolean(), "Record bridged calls.", update=Update.TAKEN)] = False
    record_file_format: Annotated[
        str, Param(Choice(("mp3", "wav"), errors.NotFileFormat), "mp3 or wav.", update=Update.TAKEN)
    ] = "mp3"
    recording_callback_url: Annotated[
        str, Param(Url(_URL_MAX), "Where recording events are sent.", update=Update.TAKEN)
    ] = ""
    recording_callback_method: Annotated[str, Param(_METHOD, "GET or POST.", update=Update.TAKEN)] = "POST"
    initiate_call_to_first_party: Annotated[
        bool, Param(Boolean(), "Call the first party at once (needs a carrier).")
    ] = False
    callback_url: Annotated[
        str, Param(Url(), "Where session status events are sent.", update=Update.TAKEN)
    ] = ""
    callback_method: Annotated[str, Param(_METHOD, "GET or POST.", update=Update.TAKEN)] = "POST"
    first_party_play_url: Annotated[
        str, Param(Url(), "Audio played to the first party.", update=Update.TAKEN)
    ] = ""
    second_party_play_url: Annotated[
        str, Param(Url(), "Audio played to the second party.", update=Update.TAKEN)
    ] = ""
    is_pin_authentication_required: Annotated[
        bool, Param(Boolean(), "PIN for callers who are not a party.")
    ] = False
    generate_pin: Annotated[
        bool | None,
        Param(Boolean(), "Generate both PINs.", default=False, pin=True),
    ] = None
    generate_pin_length: Annotated[
        int | None, Param(Integer(4, 15), "Length of generated PINs.", default=4, pin=True)
    ] = None
    first_party_pin: Annotated[
        str | None, Param(Pin(), "4-15 digits; required unless generated.", pin=True)
    ] = None
    second_party_pin: Annotated[
        str | None,
        Param(Pin(), "4-15 digits, not the first party's.", pin=True),
    ] = None
    pin_prompt_play: Annotated[str | None, Param(Url(), "Required with PIN authentication.", pin=True)] = None
    pin_retry: Annotated[
        int | None, Param(Integer(0, 5), "Attempts after a wrong PIN.", default=1, pin=True)
    ] = None
    pin_retry_wait: Annotated[
        int | None,
        Param(Integer(5, 10, zero_unset=True), "Seconds between attempts.", default=5, pin=True),
    ] = None
    incorrect_pin_play: Annotated[
        str | None, Param(Url(), "Played after a wrong PIN.", default="", pin=True)
    ] = None
    unknown_caller_play: Annotated[str, Param(Url(), "Played to callers who are not a party.")] = ""
    force_pin_authentication: Annotated[
        bool,
        Param(Boolean(), "Parties too must enter a PIN.", pin=True),
    ] = False
    subaccount: ClassVar[Param] = Param(
        AccountId(),
        "A subaccount of the caller, whose pool and sessions to use.",
        aliases=("sub_account",),
        update=Update.IGNORED,
    )
    geomatch: Annotated[
        bool,
        Param(
            Boolean(),
            "The number's country must be the first party's.",
            aliases=("geo_match",),
            update=Update.IGNORED,
        ),
    ] = True
    virtual_number_cooloff_period: Annotated[
        int, Param(Integer(0, MAX_COOLOFF), "Seconds the number is held back after the session.")
    ] = 0


def _rows(table: type[msgspec.Struct]) -> tuple[Param, ...]:
    """The rows of ``table``, in order, each named for its field."""
    defaults = {f.name: f.default for f in msgspec.structs.fields(table)}
    rows = []
    for name, hint in get_type_hints(table, include_extras=True).items():
        if get_origin(hint) is ClassVar:
            row = getattr(table, name)
        else:
            (row,) = (m for m in hint.__metadata__ if isinstance(m, Param))
            if row.default is None:  # the field's default, unless the row says otherwise
                row = replace(row, default=defaults[name])
        rows.append(replace(row, name=name))
    return tuple(rows)


# The parameters, in the row order of docs/api.md, "Parameters (create)".
PARAMS = _rows(SessionSettings)


# Spellings some SDKs send (docs/api.md, "Other spellings"), mapped to the canonical key.
ALIASES = {alias: param.name for param in PARAMS for alias in param.aliases}
CONFIGURABLE = tuple(param for param in PARAMS if param.configurable)
_SETTINGS = frozenset(f.name for f in msgspec.structs.fields(SessionSettings))
_PARTIES = ("first_party", "second_party")
_GIVEN_PINS = ("first_party_pin", "second_party_pin")


class Defaults:
    """The defaults an operator may change, as the server runs with them: the table's, unless
    given (from ``MASKLINE_<NAME>``)."""

    __slots__ = ("_values",)

    def __init__(self, **values: int) -> None:
        unknown = set(values) - {param.name for param in CONFIGURABLE}
        if unknown:
            raise TypeError(f"not a configurable default: {', '.join(sorted(unknown))}")
        self._values: dict[str, int] = {p.name: values.get(p.name, p.default) for p in CONFIGURABLE}

    def __getitem__(self, name: str) -> int:
        return self._values[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Defaults) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        return f"Defaults({', '.join(f'{k}={v}' for k, v in self._values.items())})"

    def of(self, param: Param) -> Any:
        """What a session gets when ``param`` is not set."""
        return self._values[param.name] if param.configurable else param.default


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


_BOOLEAN = Boolean()


def flag(body: Body, name: str) -> bool:
    """A flag that decides which other checks apply; an invalid one fails later at its own row."""
    try:
        return bool(_BOOLEAN(body.get(name), name))
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

    # Per-field checks, in row order; fields ignored in this combination are not checked.
    values: dict[str, Any] = {}
    for param in PARAMS:
        name = param.name
        if param.pin and not pin_on or generate and name in _GIVEN_PINS:
            continue
        value = param.read(body.get(name), name)
        if value is None:
            if name in _PARTIES and not single:
                raise errors.Missing(name)
            value = defaults.of(param)
        elif name == "initiate_call_to_first_party" and value and not can_initiate_calls:
            raise errors.InitiateCallUnavailable()
        elif name == "subaccount" and not subaccount_valid(str(value)):
            raise errors.InvalidSubaccount()
        values[name] = value

    # Cross-field rules, in the order of docs/api.md, "Validation order".
    first, second = values["first_party"], values["second_party"]
    if first is None and second is None:
        raise errors.Missing("first_party")
    if first is not None and first == second:
        raise errors.PartiesEqual()
    if pin_on:
        if not generate:
            if values["first_party_pin"] is None:
                raise errors.Missing("first_party_pin")
            if values["second_party_pin"] is None:
                raise errors.Missing("second_party_pin")
            if values["first_party_pin"] == values["second_party_pin"]:
                raise errors.PinsEqual()
        if not values["pin_prompt_play"]:
            raise errors.Missing("pin_prompt_play")

    return CreateRequest(
        first_party=first,
        second_party=second,
        session_expiry=values["session_expiry"],
        settings=SessionSettings(**{name: value for name, value in values.items() if name in _SETTINGS}),
        subaccount=values["subaccount"],
    )


def parse_update(raw: Body, session: Session) -> UpdateRequest:
    """Validate an update of a live session (docs/api.md, "Update")."""
    body = canonical(raw)
    request = UpdateRequest()
    for param in PARAMS:
        name = param.name
        if param.update is Update.TAKEN:
            value = param.read(body.get(name), name)
            if value is None:
                continue
            if name in _SETTINGS:
                request.settings[name] = value
            else:
                setattr(request, name, value)
        elif param.update is Update.FILL:
            if body.get(name, "") == "":
                continue
            if not session.settings.create_session_with_single_party or getattr(session, name):
                raise errors.NotUpdatable(name)
            setattr(request, name, param.read(body[name], name))
        elif param.update is Update.REFUSED and name in body:
            raise errors.NotUpdatable(name)
    first = request.first_party or session.first_party
    if first and first == (request.second_party or session.second_party):
        raise errors.PartiesEqual()
    return request


def apply_update(session: Session, request: UpdateRequest, now: int) -> Session:
    """The session after an update at ``now``: expiry counts from the update (docs/api.md, "Update")."""
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
