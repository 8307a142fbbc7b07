"""Small helpers shared by the contract tests (no fixtures here; see conftest.py)."""

from __future__ import annotations

import itertools
import re
import uuid
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

PROMPT = "https://media.example.com/prompt.mp3"
AUDIO = "https://media.example.com/hello.wav"

_gb = itertools.count(100_000)
_ca = itertools.count(2_000_000)
_intl = itertools.count(12_340_000)


def gb_number() -> str:
    """A valid GB mobile number (+44 7400 ...), new each call."""
    return f"+447400{next(_gb):06d}"


def ca_number() -> str:
    """A valid Canadian number (+1 204 ...), new each call."""
    return f"+1204{next(_ca):07d}"


def freephone_number() -> str:
    """A valid international freephone number (+800 ...): region "001", no country."""
    return f"+800{next(_intl):08d}"


def digits(number: str) -> str:
    """The wire form of a number inside a session object: no leading ``+``."""
    return number.removeprefix("+")


def ts(epoch: float) -> str:
    """A timestamp as the API prints it: Go's ``time.Time.String()`` in UTC, whole seconds."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def filter_time(epoch: float) -> str:
    """A list-filter timestamp ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S")


def plain(obj: Any) -> Any:
    """A Plivo ``ResponseObject`` tree as plain dicts and lists (JSON key order kept)."""
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: plain(v) for k, v in vars(obj).items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def raises_exact(exc_type: type[BaseException], message: str) -> AbstractContextManager[Any]:
    """``pytest.raises`` whose message must be exactly ``message``."""
    return pytest.raises(exc_type, match=f"^{re.escape(message)}$")


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    """A JSON error reply of contract §8.1: ``{"api_id": uuid, "error": message}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == message
    uuid.UUID(body["api_id"])
    assert set(body) == {"api_id", "error"}


def page_query(link: str | None) -> dict[str, list[str]] | None:
    """The query of a ``meta.next``/``meta.previous`` link, or None for a null link."""
    if link is None:
        return None
    return parse_qs(urlsplit(link).query)


def link_path(link: str) -> str:
    return urlsplit(link).path


def default_session(
    *,
    session_uuid: str,
    first: str,
    second: str,
    virtual: str,
    created: float,
    expiry_seconds: int = 1800,
) -> dict[str, Any]:
    """The session object (§7.7) of a plain session created with no optional parameter."""
    return {
        "session_uuid": session_uuid,
        "first_party": digits(first),
        "second_party": digits(second),
        "virtual_number": digits(virtual),
        "status": "active",
        "initiate_call_to_first_party": False,
        "callback_url": "",
        "callback_method": "POST",
        "created_time": ts(created),
        "modified_time": ts(created),
        "expiry_time": ts(created + expiry_seconds),
        "duration": expiry_seconds,
        "amount": 0,
        "call_time_limit": 14400,
        "ring_timeout": 45,
        "first_party_play_url": "",
        "second_party_play_url": "",
        "record": False,
        "record_file_format": "mp3",
        "recording_callback_url": "",
        "recording_callback_method": "POST",
        "interaction": None,
        "total_call_amount": 0,
        "total_call_count": 0,
        "total_call_billed_duration": 0,
        "total_session_amount": 0,
        "last_interaction_time": "",
        "is_pin_authentication_required": False,
        "generate_pin": None,
        "generate_pin_length": None,
        "first_party_pin": None,
        "second_party_pin": None,
        "pin_prompt_play": None,
        "pin_retry": None,
        "pin_retry_wait": None,
        "incorrect_pin_play": None,
        "unknown_caller_play": "",
        "create_session_with_single_party": False,
        "virtual_number_cooloff_period": 0,
        "force_pin_authentication": False,
    }
