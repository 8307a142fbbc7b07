"""Phone numbers: parsing, E.164 normalisation and the region used by geomatch."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

# Inputs longer than this are never valid numbers; they are refused before parsing so that
# they cannot crowd the cache.
_MAX_INPUT = 64


@lru_cache(maxsize=65536)
def _parse(text: str) -> str | None:
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def to_e164(raw: str) -> str | None:
    """The E.164 form (with ``+``) of a number given with or without ``+``, or None if invalid.

    Surrounding spaces are ignored; an empty string is not a number.
    """
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT:
        return None
    # One cache entry for both spellings: the API gets "+1415…", Plivo's webhooks "1415…".
    return _parse(text if text.startswith("+") else "+" + text)


@lru_cache(maxsize=65536)
def region_of(e164: str) -> str | None:
    """ISO 3166-1 alpha-2 region of a valid E.164 number; None for non-geographic numbers."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    if region is None or region == "001" or region == "ZZ":
        return None
    return str(region)


def is_region(code: str) -> bool:
    """Whether ``code`` is a region phonenumbers knows (upper-case ISO alpha-2)."""
    return code in phonenumbers.SUPPORTED_REGIONS


def digits(e164: str) -> str:
    """The wire form inside a session object: no leading ``+``."""
    return e164[1:] if e164.startswith("+") else e164
