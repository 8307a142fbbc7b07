"""Where each event of a session stands in its delivery to the callback URL.

The outbox keeps an event ``pending`` until it is delivered or given up (``retry_at`` in
``maskline.domain.events``: after the last of ``RETRY_DELAYS``, or at once when the receiver's
answer says a retry is pointless); ``delivered`` is set only when the receiver took it. So a row's
three columns say which of four states it is in. Pure: the store reads the rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class DeliveryState(enum.StrEnum):
    DELIVERED = "delivered"
    WAITING = "waiting"  # not tried yet (or being tried now): ``next_attempt`` says when
    RETRYING = "retrying"  # tried and failed; tried again at ``next_attempt``
    GIVEN_UP = "given_up"  # failed for the last time: it will not be sent


def delivery_state(pending: bool, attempts: int, delivered: int | None) -> DeliveryState:
    if delivered is not None:
        return DeliveryState.DELIVERED
    if not pending:
        return DeliveryState.GIVEN_UP
    return DeliveryState.RETRYING if attempts else DeliveryState.WAITING


@dataclass(frozen=True, slots=True)
class EventDelivery:
    """One event of a session and its delivery. ``next_attempt`` only while it is pending;
    ``delivered_at`` only once delivered; ``last_error`` what the last failed attempt met."""

    sequence: int
    name: str  # the EventName of its payload
    url: str
    method: str
    created: int
    state: DeliveryState
    attempts: int
    next_attempt: int | None
    delivered_at: int | None
    last_error: str
