"""The error catalogue: every message a client can see, with its HTTP status.

Published Plivo texts are reproduced byte for byte; the rest follow their pattern
("Invalid parameter. <field> ..." / "Mandatory parameter missing. <field> must be present.").
No user-visible error text is written anywhere else in the code base.
"""

from __future__ import annotations

__all__ = ["MaskingError"]


class MaskingError(Exception):
    """An error the API answers with ``{"api_id": ..., "error": message}``; with
    ``retry_after``, also a ``Retry-After`` header of that many seconds."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaskingError) and (self.status, self.message) == (
            other.status,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.status, self.message))

    def __repr__(self) -> str:
        return f"MaskingError({self.status}, {self.message!r})"


def _bad(message: str) -> MaskingError:
    return MaskingError(400, message)


# -- transport -------------------------------------------------------------------------------
def authentication_failed() -> MaskingError:
    return MaskingError(401, "Authentication failed")


def forbidden_for_subaccount() -> MaskingError:
    return MaskingError(403, "Subaccounts cannot manage numbers.")


def resource_not_found() -> MaskingError:
    return MaskingError(404, "Resource not found")


def session_not_found() -> MaskingError:
    return MaskingError(404, "Session not found")


def number_not_found() -> MaskingError:
    return MaskingError(404, "Number not found")


def method_not_allowed() -> MaskingError:
    return MaskingError(405, "Method not allowed")


def too_many_requests() -> MaskingError:
    return MaskingError(429, "Too many requests")


def proxy_only() -> MaskingError:
    return MaskingError(403, "Only the SIP proxy may call this.")


def cannot_route() -> MaskingError:
    return MaskingError(503, "The call cannot be routed now.")


def bad_sip_event() -> MaskingError:
    return _bad("Invalid parameter. event should be answered or ended, with a callid.")


def overloaded() -> MaskingError:
    return MaskingError(503, "Service overloaded. Retry later.", retry_after=1)


def unavailable() -> MaskingError:
    """The database cannot be reached (``ports.StoreUnavailable``): nothing was acknowledged."""
    return MaskingError(503, "Service temporarily unavailable. Try again later.", retry_after=5)


def internal_error() -> MaskingError:
    return MaskingError(500, "Internal server error.")


def invalid_json() -> MaskingError:
    return _bad("Invalid JSON body.")


def body_too_large(limit: int) -> MaskingError:
    return _bad(f"Invalid JSON body. The body should be under {limit} bytes.")


# -- sessions --------------------------------------------------------------------------------
def session_already_expired() -> MaskingError:
    return _bad("Session already expired")


def pool_exhausted() -> MaskingError:
    return _bad("Number pool exhausted or not available")


def missing(field: str) -> MaskingError:
    return _bad(f"Mandatory parameter missing. {field} must be present.")


def invalid_phone(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} is not a valid phone number.")


def out_of_range(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} is outside the allowed range.")


def not_boolean(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} allowed values are true or false.")


def not_file_format(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} allowed values are mp3 or wav.")


def not_http_method(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} allowed values are GET or POST.")


def not_url(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} should be a valid URL.")


def url_too_long(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} should be under 1000 characters.")


def not_pin(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} should be 4 to 15 digits.")


def pins_equal() -> MaskingError:
    return _bad("Invalid parameter. first_party_pin and second_party_pin must be different.")


def parties_equal() -> MaskingError:
    return _bad("Invalid parameter. first_party and second_party must be different.")


def not_updatable(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} cannot be updated for an active session.")


def party_taken(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} already has a live session on this virtual number.")


def private_callback(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} should not point to a private address.")


def invalid_subaccount() -> MaskingError:
    return _bad("Invalid parameter. subaccount is not valid.")


def initiate_call_unavailable() -> MaskingError:
    return _bad("Invalid parameter. initiate_call_to_first_party is not available on this server.")


# -- listing ---------------------------------------------------------------------------------
def bad_limit() -> MaskingError:
    return _bad("Invalid parameter. limit should be between 1 and 20.")


def bad_offset() -> MaskingError:
    return _bad("Invalid parameter. offset should be 0 or more.")


def bad_status() -> MaskingError:
    return _bad("Invalid parameter. status allowed values are active, in-progress, expired or all.")


def bad_timestamp(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} should be a UTC time as YYYY-MM-DD HH:MM[:ss[.uuuuuu]].")


def bad_count(field: str) -> MaskingError:
    return _bad(f"Invalid parameter. {field} should be a whole number 0 or more.")


def window_too_long(field: str, days: int) -> MaskingError:
    return _bad(f"Invalid parameter. {field} filters should span at most {days} days.")


# -- numbers and accounts --------------------------------------------------------------------
def number_owned_elsewhere(number: str) -> MaskingError:
    return _bad(f"Number {number} already belongs to another account.")


def number_not_held(number: str, auth_id: str) -> MaskingError:
    """A number the account does not hold (the API answers ``number_not_found`` instead)."""
    return MaskingError(404, f"Number {number} does not belong to account {auth_id}.")


def invalid_number(number: str) -> MaskingError:
    return _bad(f"Invalid parameter. {number} is not a valid phone number.")


def invalid_country(country: str) -> MaskingError:
    return _bad(f"Invalid parameter. country {country} is not an ISO 3166-1 alpha-2 code.")


def invalid_auth_id(auth_id: str) -> MaskingError:
    return _bad(f"Invalid parameter. auth_id {auth_id} should be MA or SA followed by 18 letters or digits.")


def auth_id_taken(auth_id: str) -> MaskingError:
    return _bad(f"Account {auth_id} already exists.")


def account_not_found(auth_id: str) -> MaskingError:
    return _bad(f"Account {auth_id} does not exist.")


def parent_not_main(auth_id: str) -> MaskingError:
    return _bad(f"Invalid parameter. parent {auth_id} is not a main account.")


def weak_token() -> MaskingError:
    return _bad("Invalid parameter. auth_token should be 8 to 128 printable characters.")
