"""Wire shapes of the replies (docs/api.md), written once: each reply is a ``msgspec.Struct``
whose fields, in their order, are the keys of the JSON object the client gets, and whose JSON
Schema (``msgspec.json.schema_components``) is the reply's schema in the OpenAPI document.

A field that may be left out of a reply is typed ``... | UnsetType`` and defaults to ``UNSET``;
``None`` is JSON ``null``. Amounts are typed ``float`` (a number, as Plivo bills) and are the
integer 0, which JSON shows as ``0``, as Plivo's fixtures do.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeAlias, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from maskline.domain import model
from maskline.domain.calls import Call
from maskline.domain.listing import MAX_LIMIT
from maskline.domain.message_log import Direction as MessageDirection
from maskline.domain.message_log import Message
from maskline.domain.message_log import Party as MessageParty
from maskline.domain.message_log import Status as MessageStatus
from maskline.domain.model import NumberState, SessionStatus
from maskline.domain.params import PARAMS, Choice, SessionSettings
from maskline.domain.phone import digits
from maskline.domain.timefmt import format_time
from maskline.http.wire import ApiReply

_TIME = "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000 UTC"
Digits = Annotated[str, Meta(pattern="^[0-9]*$", description="A number without '+'.")]
Timestamp = Annotated[str, Meta(pattern=f"^{_TIME}$", examples=["2026-01-03 13:35:51 +0000 UTC"])]
TimestampOrEmpty = Annotated[str, Meta(pattern=f"^({_TIME})?$", description="A timestamp, or '' for none.")]
Uuid = Annotated[str, Meta(extra_json_schema={"format": "uuid"})]
Count = Annotated[int, Meta(ge=0)]


def _words(name: str) -> Any:
    """A string that is one of the words a parameter of the table takes."""
    (reader,) = (p.read for p in PARAMS if p.name == name)
    assert isinstance(reader, Choice)
    return Annotated[str, Meta(extra_json_schema={"enum": list(reader.words)})]


if TYPE_CHECKING:  # to the type checker a word is a string; to the schema, one of a few
    Method: TypeAlias = str
    FileFormat: TypeAlias = str
else:
    Method = _words("callback_method")
    FileFormat = _words("record_file_format")


class Interaction(Struct, kw_only=True):
    """One call or text of a session (docs/api.md, "The interaction object"). A text has the
    keys of a call, with nothing to count (0, null), so that clients that read every interaction
    as a call still parse it; then its own keys."""

    start_time: Timestamp
    end_time: TimestampOrEmpty
    type: Literal["call", "message"] = "call"
    total_call_amount: float = 0
    call_billed_duration: int
    recording_resource_url: str | None
    auth_id: str
    total_call_count: Annotated[
        int, Meta(ge=0, le=2, description="Legs of a call (1 or 2); 0 for a message.")
    ]
    duration: float
    first_party_resource_url: str | UnsetType = UNSET
    first_party_status: str | UnsetType = UNSET
    second_party_resource_url: str | UnsetType = UNSET
    second_party_status: str | UnsetType = UNSET
    # messages only
    message_uuid: Annotated[str, Meta(description="The carrier's message id.")] | UnsetType = UNSET
    message_direction: MessageDirection | UnsetType = UNSET
    from_party: MessageParty | UnsetType = UNSET
    to_party: MessageParty | UnsetType = UNSET
    message_status: MessageStatus | UnsetType = UNSET
    segments: Annotated[int, Meta(ge=1)] | None | UnsetType = UNSET
    media_count: Count | UnsetType = UNSET


class Session(Struct, kw_only=True):
    """A session (docs/api.md, "The session object")."""

    session_uuid: Uuid
    first_party: Digits
    second_party: Digits
    virtual_number: Digits
    status: SessionStatus
    initiate_call_to_first_party: bool
    callback_url: str
    callback_method: Method
    created_time: Timestamp
    modified_time: Timestamp
    expiry_time: Timestamp
    duration: int
    amount: float = 0
    call_time_limit: int
    ring_timeout: int
    first_party_play_url: str
    second_party_play_url: str
    record: bool
    record_file_format: FileFormat
    recording_callback_url: str
    recording_callback_method: Method
    interaction: list[Interaction] | None
    total_call_amount: float = 0
    total_call_count: int
    total_call_billed_duration: int
    total_session_amount: float = 0
    last_interaction_time: TimestampOrEmpty
    is_pin_authentication_required: bool
    generate_pin: bool | None
    generate_pin_length: int | None
    first_party_pin: str | None
    second_party_pin: str | None
    pin_prompt_play: str | None
    pin_retry: int | None
    pin_retry_wait: int | None
    incorrect_pin_play: str | None
    unknown_caller_play: str
    create_session_with_single_party: bool
    virtual_number_cooloff_period: int
    force_pin_authentication: bool
    subaccount: Annotated[str, Meta(description="Only on sessions of a subaccount.")] | UnsetType = UNSET


# A session in a list: the same fields and resource_uri, in alphabetical order, as in Plivo's
# fixtures (docs/api.md, "The session object").
ListedSession = msgspec.defstruct(
    "ListedSession",
    sorted(
        [(f.name, f.type, f.default) for f in msgspec.structs.fields(Session)]
        + [("resource_uri", str, msgspec.NODEFAULT)]
    ),
    kw_only=True,
    module=__name__,
)


class Number(Struct):
    """A number of the pool."""

    number: Digits
    country: str
    subaccount: Annotated[str, Meta(description="'' for the main account's own pool.")]
    status: NumberState
    live_session_count: Count
    added_time: Timestamp
    resource_uri: str


class PageMeta(Struct):
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)]
    next: str | None
    offset: Count
    previous: str | None
    total_count: Count


T = TypeVar("T")


class Page(Struct, Generic[T]):
    meta: PageMeta
    objects: list[T]


# -- the replies --------------------------------------------------------------------------------
class SessionCreated(ApiReply, kw_only=True):
    session_uuid: Uuid
    virtual_number: Annotated[str, Meta(pattern="^\\+[0-9]+$")]
    message: Literal["Session created"] = "Session created"
    session: Session


class SessionFound(ApiReply, kw_only=True):
    response: Session


class SessionUpdated(ApiReply, kw_only=True):
    message: Literal["Session updated"] = "Session updated"
    session: Session


class SessionExpired(ApiReply, kw_only=True):
    message: Literal["Session expired"] = "Session expired"


class SessionPage(ApiReply, kw_only=True):
    response: Page[ListedSession]  # type: ignore[valid-type]


class MessageQueued(ApiReply, kw_only=True):
    message: Literal["Message queued"] = "Message queued"
    message_uuid: Annotated[str, Meta(description="The carrier's id of the message.")]


class NumbersAdded(ApiReply, kw_only=True):
    message: Literal["Numbers added"] = "Numbers added"
    numbers: list[Number]


class NumberFound(ApiReply, kw_only=True):
    response: Number


class NumberRetired(ApiReply, kw_only=True):
    message: Literal["Number retired"] = "Number retired"


class NumberReplaced(ApiReply, kw_only=True):
    message: Literal["Number replaced"] = "Number replaced"
    sessions_moved: Count
    sessions_not_moved: Annotated[
        list[Uuid], Meta(description="Live sessions no other number of their pool takes: they stay on it.")
    ]


class NumberPage(ApiReply, kw_only=True):
    response: Page[Number]


class Health(Struct, omit_defaults=True):
    status: Literal["ok", "unavailable"]
    version: Annotated[str, Meta(description="maskline's version (/healthz only)")] | UnsetType = UNSET


# Every reply of the Masking API and the operator's endpoints, for the OpenAPI document.
REPLIES: tuple[type[Struct], ...] = (
    SessionCreated,
    SessionFound,
    SessionUpdated,
    SessionExpired,
    SessionPage,
    MessageQueued,
    NumbersAdded,
    NumberFound,
    NumberRetired,
    NumberReplaced,
    NumberPage,
    Health,
)


# -- from the model -----------------------------------------------------------------------------
def session_uri(auth_id: str, session_uuid: str) -> str:
    return f"/v1/Account/{auth_id}/Masking/Session/{session_uuid}/"


# The settings a session object shows, as the session keeps them.
_KEPT = {f.name for f in msgspec.structs.fields(SessionSettings)}
_SHOWN = tuple(f.name for f in msgspec.structs.fields(Session) if f.name in _KEPT)
_shown_settings = attrgetter(*_SHOWN)


def session_object(session: model.Session, now: int) -> Session:
    return Session(
        session_uuid=session.uuid,
        first_party=digits(session.first_party),
        second_party=digits(session.second_party),
        virtual_number=digits(session.virtual_number),
        status=session.status(now),
        created_time=format_time(session.created),
        modified_time=format_time(session.modified),
        expiry_time=format_time(session.expiry),
        duration=session.duration,
        interaction=(
            None if session.interactions is None else [interaction_object(c) for c in session.interactions]
        ),
        total_call_count=session.total_call_count,
        total_call_billed_duration=session.total_call_billed_duration,
        last_interaction_time=(
            format_time(session.last_interaction) if session.last_interaction is not None else ""
        ),
        subaccount=session.account_id if session.account_id != session.main_id else UNSET,
        **dict(zip(_SHOWN, _shown_settings(session.settings), strict=True)),
    )


def list_object(session: model.Session, now: int, auth_id: str) -> Any:
    fields = msgspec.structs.asdict(session_object(session, now))
    return ListedSession(**fields, resource_uri=session_uri(auth_id, session.uuid))


def interaction_object(call: Call | Message) -> Interaction:
    """One call or text of a session (docs/api.md, "The interaction object")."""
    if isinstance(call, Message):
        return message_interaction(call)
    interaction = Interaction(
        start_time=format_time(call.started),
        end_time=format_time(call.ended) if call.ended is not None else "",
        call_billed_duration=call.billed,
        recording_resource_url=call.recording_url or None,
        auth_id=call.account_id,
        total_call_count=call.legs,
        duration=call.duration,
    )
    if call.first_party_leg:
        interaction.first_party_resource_url = call.first_party_leg
        interaction.first_party_status = call.first_party_status
    if call.second_party_leg:
        interaction.second_party_resource_url = call.second_party_leg
        interaction.second_party_status = call.second_party_status
    return interaction


def message_interaction(message: Message) -> Interaction:
    """A text of a session: ended when the carrier's report is final."""
    return Interaction(
        start_time=format_time(message.created),
        end_time=format_time(message.updated) if message.final and message.updated is not None else "",
        type="message",
        call_billed_duration=0,
        recording_resource_url=None,
        auth_id=message.account_id,
        total_call_count=0,
        duration=0,
        message_uuid=message.message_id,
        message_direction=message.direction,
        from_party=message.from_party,
        to_party=message.to_party,
        message_status=message.status,
        segments=message.segments,
        media_count=message.media,
    )


def number_uri(auth_id: str, number: str) -> str:
    return f"/v1/Account/{auth_id}/Masking/Number/{digits(number)}/"


def number_object(number: model.Number, auth_id: str) -> Number:
    return Number(
        number=digits(number.number),
        country=number.country,
        subaccount=number.pool_id if number.pool_id != number.main_id else "",
        status=number.state,
        live_session_count=number.live_sessions,
        added_time=format_time(number.added),
        resource_uri=number_uri(auth_id, number.number),
    )
