"""A message's status as the carriers' reports move it, and the bytes of a message interaction."""

from __future__ import annotations

import msgspec
import pytest

from maskline.domain.message_log import (
    Direction,
    Message,
    Party,
    Status,
    advance_status,
    carrier_status,
    segments_of,
)
from maskline.http.render import interaction_object


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("queued", Status.QUEUED), ("accepted", Status.QUEUED), ("sending", Status.QUEUED),
        ("sent", Status.SENT), ("delivered", Status.DELIVERED), ("read", Status.DELIVERED),
        ("undelivered", Status.UNDELIVERED), ("failed", Status.FAILED), ("rejected", Status.FAILED),
        ("Delivered", Status.DELIVERED), ("received", None), ("", None), ("nonsense", None),
    ],
)  # fmt: skip
def test_the_carriers_words(word: str, status: Status | None) -> None:
    assert carrier_status(word) is status


def test_a_status_only_moves_forward_and_a_final_one_stays() -> None:
    assert advance_status(Status.QUEUED, Status.SENT) is Status.SENT
    assert advance_status(Status.QUEUED, Status.DELIVERED) is Status.DELIVERED
    assert advance_status(Status.SENT, Status.FAILED) is Status.FAILED
    assert advance_status(Status.SENT, Status.SENT) is None  # repeated
    assert advance_status(Status.SENT, Status.QUEUED) is None  # late
    for final in (Status.DELIVERED, Status.UNDELIVERED, Status.FAILED):
        for reported in Status:
            assert advance_status(final, reported) is None


@pytest.mark.parametrize(
    ("raw", "count"), [("1", 1), ("12", 12), ("0", None), ("", None), ("x", None), ("١", None)]
)
def test_segments(raw: str, count: int | None) -> None:
    assert segments_of(raw) == count


def test_a_message_interaction_has_the_keys_of_a_call_first() -> None:
    message = Message(
        "MA" + "1" * 18, "SMabc", "0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40", "+14155550133",
        Direction.RELAYED, Party.FIRST, Party.SECOND, "+14155550111", "+14155550122", 1767225600,
        Status.DELIVERED, 1767225605, 2, 1, body="never shown",
    )  # fmt: skip
    assert msgspec.json.encode(interaction_object(message)) == (
        b'{"start_time":"2026-01-01 00:00:00 +0000 UTC","end_time":"2026-01-01 00:00:05 +0000 UTC",'
        b'"type":"message","total_call_amount":0,"call_billed_duration":0,"recording_resource_url":null,'
        b'"auth_id":"MA111111111111111111","total_call_count":0,"duration":0,"message_uuid":"SMabc",'
        b'"message_direction":"relayed","from_party":"first_party","to_party":"second_party",'
        b'"message_status":"delivered","segments":2,"media_count":1}'
    )
