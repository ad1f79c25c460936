"""Who may write to whom: users.getRequirementsToContact (layer 200 on) and its predecessor
users.getIsPremiumRequiredToContact (Telethon 1.39's layer), and the errors a send to a
person with such a requirement meets. A person's requirement is set on their FakeUser
(`requires`, `paid_stars`, `deleted`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telethon.tl import types

from .tl import RpcFail
from .world import FakeUser, Group

if TYPE_CHECKING:
    from .methods import Call, Handler


def _requirement(user: FakeUser) -> Any:
    # Only Telethon versions whose layer has the method have these types (and send it).
    if user.requires == "premium":
        return types.RequirementToContactPremium()
    if user.requires == "paid_messages":
        return types.RequirementToContactPaidMessages(stars_amount=user.paid_stars)
    return types.RequirementToContactEmpty()


def get_requirements_to_contact(call: Call, request: Any) -> Any:
    viewer = call.account
    return [
        _requirement(call.server.world.resolve_input_user(input_user, viewer))
        for input_user in request.id
    ]


def get_is_premium_required_to_contact(call: Call, request: Any) -> Any:
    viewer = call.account
    return [
        call.server.world.resolve_input_user(input_user, viewer).requires == "premium"
        for input_user in request.id
    ]


def refuse_send(target: FakeUser | Group) -> None:
    """What Telegram answers a send to a person who does not take it."""
    if not isinstance(target, FakeUser):
        return
    if target.deleted:
        raise RpcFail("INPUT_USER_DEACTIVATED")
    if target.requires == "premium":
        raise RpcFail("PRIVACY_PREMIUM_REQUIRED", 403)
    if target.requires == "paid_messages":
        raise RpcFail(f"ALLOW_PAYMENT_REQUIRED_{target.paid_stars}", 403)


def handlers() -> dict[str, Handler]:
    """The methods of this module, by Telethon's request class name (private: need a login)."""
    return {
        "GetRequirementsToContactRequest": get_requirements_to_contact,
        "GetIsPremiumRequiredToContactRequest": get_is_premium_required_to_contact,
    }
