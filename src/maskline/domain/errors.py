"""The error catalogue: every error a client, a carrier or an operator can be answered with.

One class per error, each saying once:

* ``status``: the HTTP status it is answered with;
* ``code``: a stable snake_case name for the error, never renamed (the wire carries the
  message alone);
* ``template``: the message, byte for byte. Published Plivo texts are reproduced exactly; the
  rest follow their pattern ("Invalid parameter. <field> ..." / "Mandatory parameter missing.
  <field> must be present."). Blanks in braces are filled from the constructor's arguments.

Code raises the classes (``raise errors.PoolExhausted()``) and catches them by type
(``except errors.PoolExhausted``), never by comparing messages. The storage adapters raise them
too: the status is data of the class, which the HTTP edge reads when it renders the error
(``maskline.http.wire.error_reply``: ``{"api_id": ..., "error": message}``); the carrier
webhooks, ``/metrics`` and the connection edge answer theirs as plain text; the command line
prints the message. No user-visible error text is written anywhere else.

Every class derives from :class:`MaskingError`, so one ``except`` catches them all.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccountNotFound",
    "AuthIdTaken",
    "AuthenticationFailed",
    "BadCount",
    "BadLimit",
    "BadOffset",
    "BadSignature",
    "BadSipEvent",
    "BadStatus",
    "BadTimestamp",
    "BodyTooLarge",
    "CannotRoute",
    "CarrierRefusedMessage",
    "ForbiddenForSubaccount",
    "HeadTooLarge",
    "InitiateCallUnavailable",
    "InternalError",
    "InvalidAuthId",
    "InvalidCountry",
    "InvalidJson",
    "InvalidNumber",
    "InvalidPhone",
    "InvalidSubaccount",
    "MalformedRequest",
    "MaskingError",
    "MessagingUnavailable",
    "MethodNotAllowed",
    "MetricsForbidden",
    "Missing",
    "NotBoolean",
    "NotFileFormat",
    "NotHttpMethod",
    "NotParty",
    "NotPin",
    "NotUpdatable",
    "NotUrl",
    "NumberNotFound",
    "NumberNotHeld",
    "NumberOwnedElsewhere",
    "NumberStillJoinsMovedSessions",
    "OutOfRange",
    "Overloaded",
    "ParentNotMain",
    "PartiesEqual",
    "PartyAbsent",
    "PartyOptedOut",
    "PartyTaken",
    "PinsEqual",
    "PoolExhausted",
    "PrivateCallback",
    "ProxyOnly",
    "RequestTimeout",
    "ResourceNotFound",
    "SessionAlreadyExpired",
    "SessionNotFound",
    "TargetTooLong",
    "TextTooLong",
    "TooManyRequests",
    "Unavailable",
    "UnknownCarrier",
    "UrlTooLong",
    "WeakToken",
    "WebhookBodyTooLarge",
    "WindowTooLong",
]


class MaskingError(Exception):
    """An error answered with ``status`` and ``message``; with ``retry_after``, also a
    ``Retry-After`` header of that many seconds. ``args`` are the constructor's arguments."""

    status: ClassVar[int]
    code: ClassVar[str]
    template: ClassVar[str]
    retry_after: ClassVar[int | None] = None

    def __init__(self) -> None:
        self._say()

    def _say(self, **blanks: str | int) -> None:
        """Fill the template's blanks; their values, in order, are the exception's ``args``."""
        super().__init__(*blanks.values())
        self.message = self.template.format(**blanks)

    def __str__(self) -> str:
        return self.message


class _AboutField(MaskingError):
    """An error about one request field, which ``{field}`` names."""

    def __init__(self, field: str) -> None:
        self._say(field=field)


class _AboutAccount(MaskingError):
    """An error about the account ``{auth_id}``."""

    def __init__(self, auth_id: str) -> None:
        self._say(auth_id=auth_id)


class _AboutNumber(MaskingError):
    """An error about the phone number ``{number}``."""

    def __init__(self, number: str) -> None:
        self._say(number=number)


# -- the API's transport -------------------------------------------------------------------------
class AuthenticationFailed(MaskingError):
    status = 401
    code = "authentication_failed"
    template = "Authentication failed"


class ForbiddenForSubaccount(MaskingError):
    status = 403
    code = "forbidden_for_subaccount"
    template = "Subaccounts cannot manage numbers."


class ResourceNotFound(MaskingError):
    status = 404
    code = "resource_not_found"
    template = "Resource not found"


class SessionNotFound(MaskingError):
    status = 404
    code = "session_not_found"
    template = "Session not found"


class NumberNotFound(MaskingError):
    status = 404
    code = "number_not_found"
    template = "Number not found"


class MethodNotAllowed(MaskingError):
    status = 405
    code = "method_not_allowed"
    template = "Method not allowed"


class TooManyRequests(MaskingError):
    status = 429
    code = "too_many_requests"
    template = "Too many requests"


class Overloaded(MaskingError):
    """More requests at once than the process takes."""

    status = 503
    code = "overloaded"
    template = "Service overloaded. Retry later."
    retry_after = 1


class Unavailable(MaskingError):
    """The database cannot be reached (``ports.StoreUnavailable``): nothing was acknowledged."""

    status = 503
    code = "unavailable"
    template = "Service temporarily unavailable. Try again later."
    retry_after = 5


class InternalError(MaskingError):
    status = 500
    code = "internal_error"
    template = "Internal server error."


class InvalidJson(MaskingError):
    status = 400
    code = "invalid_json"
    template = "Invalid JSON body."


class BodyTooLarge(MaskingError):
    status = 400
    code = "body_too_large"
    template = "Invalid JSON body. The body should be under {limit} bytes."

    def __init__(self, limit: int) -> None:
        self._say(limit=limit)


# -- the SIP proxy's endpoints ----------------------------------------------------------------
class ProxyOnly(MaskingError):
    status = 403
    code = "proxy_only"
    template = "Only the SIP proxy may call this."


class CannotRoute(MaskingError):
    status = 503
    code = "cannot_route"
    template = "The call cannot be routed now."


class BadSipEvent(MaskingError):
    status = 400
    code = "bad_sip_event"
    template = "Invalid parameter. event should be answered or ended, with a callid."


# -- sessions ------------------------------------------------------------------------------------
class SessionAlreadyExpired(MaskingError):
    status = 400
    code = "session_already_expired"
    template = "Session already expired"


class PoolExhausted(MaskingError):
    status = 400
    code = "pool_exhausted"
    template = "Number pool exhausted or not available"


class Missing(_AboutField):
    status = 400
    code = "missing"
    template = "Mandatory parameter missing. {field} must be present."


class InvalidPhone(_AboutField):
    status = 400
    code = "invalid_phone"
    template = "Invalid parameter. {field} is not a valid phone number."


class OutOfRange(_AboutField):
    status = 400
    code = "out_of_range"
    template = "Invalid parameter. {field} is outside the allowed range."


class NotBoolean(_AboutField):
    status = 400
    code = "not_boolean"
    template = "Invalid parameter. {field} allowed values are true or false."


class NotFileFormat(_AboutField):
    status = 400
    code = "not_file_format"
    template = "Invalid parameter. {field} allowed values are mp3 or wav."


class NotHttpMethod(_AboutField):
    status = 400
    code = "not_http_method"
    template = "Invalid parameter. {field} allowed values are GET or POST."


class NotUrl(_AboutField):
    status = 400
    code = "not_url"
    template = "Invalid parameter. {field} should be a valid URL."


class UrlTooLong(_AboutField):
    status = 400
    code = "url_too_long"
    template = "Invalid parameter. {field} should be under 1000 characters."


class NotPin(_AboutField):
    status = 400
    code = "not_pin"
    template = "Invalid parameter. {field} should be 4 to 15 digits."


class PinsEqual(MaskingError):
    status = 400
    code = "pins_equal"
    template = "Invalid parameter. first_party_pin and second_party_pin must be different."


class PartiesEqual(MaskingError):
    status = 400
    code = "parties_equal"
    template = "Invalid parameter. first_party and second_party must be different."


class NotUpdatable(_AboutField):
    status = 400
    code = "not_updatable"
    template = "Invalid parameter. {field} cannot be updated for an active session."


class PartyTaken(_AboutField):
    status = 400
    code = "party_taken"
    template = "Invalid parameter. {field} already has a live session on this virtual number."


class PrivateCallback(_AboutField):
    status = 400
    code = "private_callback"
    template = "Invalid parameter. {field} should not point to a private address."


class InvalidSubaccount(MaskingError):
    status = 400
    code = "invalid_subaccount"
    template = "Invalid parameter. subaccount is not valid."


class InitiateCallUnavailable(MaskingError):
    status = 400
    code = "initiate_call_unavailable"
    template = "Invalid parameter. initiate_call_to_first_party is not available on this server."


# -- messages sent into a session (docs/api.md, "Send a message") ------------------------------
class NotParty(_AboutField):
    status = 400
    code = "not_party"
    template = "Invalid parameter. {field} allowed values are first_party or second_party."


class TextTooLong(MaskingError):
    status = 400
    code = "text_too_long"
    template = "Invalid parameter. text should be text of at most 1600 characters."


class PartyAbsent(_AboutField):
    status = 400
    code = "party_absent"
    template = "Invalid parameter. {field} is a party this session does not have."


class PartyOptedOut(_AboutField):
    status = 400
    code = "party_opted_out"
    template = "Message not sent. {field} has opted out of messages from this virtual number."


class MessagingUnavailable(MaskingError):
    status = 400
    code = "messaging_unavailable"
    template = "Message not sent. The account has no carrier that sends messages."


class CarrierRefusedMessage(MaskingError):
    status = 502
    code = "carrier_refused_message"
    template = "Message not sent. The carrier did not accept it."


# -- listing -------------------------------------------------------------------------------------
class BadLimit(MaskingError):
    status = 400
    code = "bad_limit"
    template = "Invalid parameter. limit should be between 1 and 20."


class BadOffset(MaskingError):
    status = 400
    code = "bad_offset"
    template = "Invalid parameter. offset should be 0 or more."


class BadStatus(MaskingError):
    status = 400
    code = "bad_status"
    template = "Invalid parameter. status allowed values are active, in-progress, expired or all."


class BadTimestamp(_AboutField):
    status = 400
    code = "bad_timestamp"
    template = "Invalid parameter. {field} should be a UTC time as YYYY-MM-DD HH:MM[:ss[.uuuuuu]]."


class BadCount(_AboutField):
    status = 400
    code = "bad_count"
    template = "Invalid parameter. {field} should be a whole number 0 or more."


class WindowTooLong(MaskingError):
    status = 400
    code = "window_too_long"
    template = "Invalid parameter. {field} filters should span at most {days} days."

    def __init__(self, field: str, days: int) -> None:
        self._say(field=field, days=days)


# -- numbers and accounts ------------------------------------------------------------------------
class NumberOwnedElsewhere(_AboutNumber):
    status = 400
    code = "number_owned_elsewhere"
    template = "Number {number} already belongs to another account."


class NumberStillJoinsMovedSessions(_AboutNumber):
    """A replaced number added again while sessions moved off it still hold their keys there: a
    new session on it could catch their parties' calls to the old number."""

    status = 400
    code = "number_joins_moved_sessions"
    template = "Number {number} still joins sessions moved off it; add it again once they have ended."


class NumberNotHeld(MaskingError):
    """A number the account does not hold (the API answers :class:`NumberNotFound` instead)."""

    status = 404
    code = "number_not_held"
    template = "Number {number} does not belong to account {auth_id}."

    def __init__(self, number: str, auth_id: str) -> None:
        self._say(number=number, auth_id=auth_id)


class InvalidNumber(_AboutNumber):
    status = 400
    code = "invalid_number"
    template = "Invalid parameter. {number} is not a valid phone number."


class InvalidCountry(MaskingError):
    status = 400
    code = "invalid_country"
    template = "Invalid parameter. country {country} is not an ISO 3166-1 alpha-2 code."

    def __init__(self, country: str) -> None:
        self._say(country=country)


class InvalidAuthId(_AboutAccount):
    status = 400
    code = "invalid_auth_id"
    template = "Invalid parameter. auth_id {auth_id} should be MA or SA followed by 18 letters or digits."


class AuthIdTaken(_AboutAccount):
    status = 400
    code = "auth_id_taken"
    template = "Account {auth_id} already exists."


class AccountNotFound(_AboutAccount):
    status = 400
    code = "account_not_found"
    template = "Account {auth_id} does not exist."


class ParentNotMain(_AboutAccount):
    status = 400
    code = "parent_not_main"
    template = "Invalid parameter. parent {auth_id} is not a main account."


class WeakToken(MaskingError):
    status = 400
    code = "weak_token"
    template = "Invalid parameter. auth_token should be 8 to 128 printable characters."


# -- answered as plain text: the carrier webhooks, /metrics, the connection edge -------------------
class UnknownCarrier(MaskingError):
    """A webhook path naming no carrier maskline speaks to."""

    status = 404
    code = "unknown_carrier"
    template = "Not found"


class WebhookBodyTooLarge(MaskingError):
    status = 413
    code = "webhook_body_too_large"
    template = "Request body too large"


class BadSignature(MaskingError):
    """A webhook without a valid signature of the account's carrier."""

    status = 403
    code = "bad_signature"
    template = "Forbidden"


class MetricsForbidden(MaskingError):
    """A scrape of ``/metrics`` without the operator's token (or, without one, from elsewhere
    than the loopback interface)."""

    status = 403
    code = "metrics_forbidden"
    template = "metrics need the operator's token\n"


class HeadTooLarge(MaskingError):
    status = 431
    code = "head_too_large"
    template = "Request header fields too large"


class TargetTooLong(MaskingError):
    status = 414
    code = "target_too_long"
    template = "URI too long"


class RequestTimeout(MaskingError):
    """A request head or body that did not arrive in time."""

    status = 408
    code = "request_timeout"
    template = "Request timeout"


class MalformedRequest(MaskingError):
    """Bytes that are not an HTTP request."""

    status = 400
    code = "malformed_request"
    template = "Invalid HTTP request received."
