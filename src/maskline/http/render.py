"""Wire shapes of sessions and numbers (contract §7)."""

from __future__ import annotations

from typing import Any

from maskline.domain.calls import Call
from maskline.domain.model import Number, Session
from maskline.domain.phone import digits
from maskline.domain.timefmt import format_time


def session_uri(auth_id: str, session_uuid: str) -> str:
    return f"/v1/Account/{auth_id}/Masking/Session/{session_uuid}/"


def session_object(session: Session, now: int) -> dict[str, Any]:
    s = session.settings
    body: dict[str, Any] = {
        "session_uuid": session.uuid,
        "first_party": digits(session.first_party),
        "second_party": digits(session.second_party),
        "virtual_number": digits(session.virtual_number),
        "status": session.status(now).value,
        "initiate_call_to_first_party": s.initiate_call_to_first_party,
        "callback_url": s.callback_url,
        "callback_method": s.callback_method,
        "created_time": format_time(session.created),
        "modified_time": format_time(session.modified),
        "expiry_time": format_time(session.expiry),
        "duration": session.duration,
        "amount": 0,
        "call_time_limit": s.call_time_limit,
        "ring_timeout": s.ring_timeout,
        "first_party_play_url": s.first_party_play_url,
        "second_party_play_url": s.second_party_play_url,
        "record": s.record,
        "record_file_format": s.record_file_format,
        "recording_callback_url": s.recording_callback_url,
        "recording_callback_method": s.recording_callback_method,
        "interaction": (
            None if session.interactions is None else [interaction_object(c) for c in session.interactions]
        ),
        "total_call_amount": 0,
        "total_call_count": session.total_call_count,
        "total_call_billed_duration": session.total_call_billed_duration,
        "total_session_amount": 0,
        "last_interaction_time": (
            format_time(session.last_interaction) if session.last_interaction is not None else ""
        ),
        "is_pin_authentication_required": s.is_pin_authentication_required,
        "generate_pin": s.generate_pin,
        "generate_pin_length": s.generate_pin_length,
        "first_party_pin": s.first_party_pin,
        "second_party_pin": s.second_party_pin,
        "pin_prompt_play": s.pin_prompt_play,
        "pin_retry": s.pin_retry,
        "pin_retry_wait": s.pin_retry_wait,
        "incorrect_pin_play": s.incorrect_pin_play,
        "unknown_caller_play": s.unknown_caller_play,
        "create_session_with_single_party": s.create_session_with_single_party,
        "virtual_number_cooloff_period": s.virtual_number_cooloff_period,
        "force_pin_authentication": s.force_pin_authentication,
    }
    if session.account_id != session.main_id:
        body["subaccount"] = session.account_id
    return body


def interaction_object(call: Call) -> dict[str, Any]:
    """One call of a session (contract §7.8)."""
    body: dict[str, Any] = {
        "start_time": format_time(call.started),
        "end_time": format_time(call.ended) if call.ended is not None else "",
        "type": "call",
        "total_call_amount": 0,
        "call_billed_duration": call.billed,
        "recording_resource_url": call.recording_url or None,
        "auth_id": call.account_id,
        "total_call_count": call.legs,
        "duration": call.duration,
    }
    if call.first_party_leg:
        body["first_party_resource_url"] = call.first_party_leg
        body["first_party_status"] = call.first_party_status
    if call.second_party_leg:
        body["second_party_resource_url"] = call.second_party_leg
        body["second_party_status"] = call.second_party_status
    return body


def list_object(session: Session, now: int, auth_id: str) -> dict[str, Any]:
    body = session_object(session, now)
    body["resource_uri"] = session_uri(auth_id, session.uuid)
    return dict(sorted(body.items()))


def number_uri(auth_id: str, number: str) -> str:
    return f"/v1/Account/{auth_id}/Masking/Number/{digits(number)}/"


def number_object(number: Number, auth_id: str) -> dict[str, Any]:
    return {
        "number": digits(number.number),
        "country": number.country,
        "subaccount": number.pool_id if number.pool_id != number.main_id else "",
        "status": number.state.value,
        "live_session_count": number.live_sessions,
        "added_time": format_time(number.added),
        "resource_uri": number_uri(auth_id, number.number),
    }
