"""Which carrier serves an account, and the webhook URLs to paste into that carrier's console:
the ones ``maskline carrier set`` prints (``maskline.telephony.xml.webhook_urls``)."""

from __future__ import annotations

from dataclasses import dataclass

from maskline.domain.calls import Carrier, CarrierKind
from maskline.domain.model import Account
from maskline.domain.ports import AccountStore
from maskline.service.accounts import carrying_carrier
from maskline.telephony.xml import webhook_urls


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


def carrier_webhooks(carrier: Carrier) -> tuple[WebhookSetting, ...]:
    """The URLs to set at ``carrier``'s console, in the order its console shows them: those
    ``maskline carrier set`` prints, with the method the webhook route takes."""
    return tuple(WebhookSetting(name, url, "POST") for name, url in webhook_urls(carrier).items())


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
