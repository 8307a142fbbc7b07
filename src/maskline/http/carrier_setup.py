"""Which carrier serves an account, and the webhook URLs to paste into that carrier's console:
built from the webhook route of the routing table (``maskline.http.routes.ROUTES``) and each
carrier's settings (``maskline.telephony.xml.CARRIER_SETTINGS``), so that no path is written
twice. Here rather than in the service, which may not import the routing table."""

from __future__ import annotations

import re
from dataclasses import dataclass

from maskline.domain.calls import Carrier, CarrierKind
from maskline.domain.model import Account
from maskline.domain.ports import AccountStore
from maskline.http.routes import ROUTES, Route
from maskline.service.accounts import carrying_carrier
from maskline.telephony.xml import CARRIER_SETTINGS

WEBHOOK_OPERATION = "carrierWebhook"  # the operation carriers are set up to call
_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class WebhookSetting:
    name: str  # the carrier console's setting: answer_url, hangup_url, message_url; voice_url, ...
    url: str
    method: str


@dataclass(frozen=True, slots=True)
class CarrierSetup:
    """The carrier that carries an account's calls and texts: ``account_id`` is the account it
    is set on (a subaccount without one of its own uses its main account's: ``inherited``).
    The carrier's token is never part of it."""

    account_id: str
    kind: CarrierKind
    public_url: str
    carrier_auth_id: str
    inherited: bool
    webhooks: tuple[WebhookSetting, ...]


def _webhook_route() -> tuple[Route, str]:
    for route in ROUTES:
        for operation in route.operations:
            if operation.operation_id == WEBHOOK_OPERATION:
                return route, operation.method
    raise LookupError(WEBHOOK_OPERATION)  # the routing table always has it (tested)


def _filled(template: str, values: dict[str, str]) -> str:
    return _PARAMETER.sub(lambda match: values[match[1]], template)


def carrier_webhooks(carrier: Carrier) -> tuple[WebhookSetting, ...]:
    """The URLs to set at ``carrier``'s console, in the order its console shows them."""
    route, method = _webhook_route()
    base = carrier.public_url.rstrip("/")
    settings = []
    for name, action in CARRIER_SETTINGS.get(carrier.kind, ()):
        values = {"carrier": carrier.kind.value, "auth_id": carrier.account_id, "action": action}
        settings.append(WebhookSetting(name, base + _filled(route.path, values), method))
    return tuple(settings)


async def carrier_setup(accounts: AccountStore, account: Account) -> CarrierSetup | None:
    """The carrier serving ``account`` (its own, else its main account's), with the URLs to
    set there; None when neither has one."""
    carrier = await carrying_carrier(accounts, account.auth_id, account.main_id)
    if carrier is None:
        return None
    return CarrierSetup(
        carrier.account_id,
        carrier.kind,
        carrier.public_url,
        carrier.carrier_auth_id,
        carrier.account_id != account.auth_id,
        carrier_webhooks(carrier),
    )
