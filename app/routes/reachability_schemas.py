"""The bodies, parameters and answers of the reachability check (app/routes/reachability.py)
and of the sandbox's people control, as the OpenAPI document shows them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from app.routes.apidoc import Model, Number, Omitted, Timestamp, number_field, one_of
from app.routes.bodies import INT64_MAX, Body, PhoneNumber
from app.routes.queries import Query
from app.routes.views import View
from app.telegram.sandbox.reach import REQUIREMENTS
from outbound.reach import ANSWERS, MAX_NUMBERS

INSTANCE = "Gateway instance number."
INSTANCE_LIMIT = 1_000_000
MEANINGS = (
    "'registered': opted in (said Hi) and nothing known against messaging them; "
    "'unregistered': not (or no longer) registered, a send would get 472 "
    "recipient_not_registered; 'blocked' / 'deactivated': the last send failed because they "
    "blocked the account / deleted theirs (a send that reaches them or a new registration "
    "clears it); 'premium_required' / 'paid_messages_required': they take messages only from "
    "Premium accounts / only paid ones (Telegram Stars), as Telegram says or a send found; "
    "'unknown': registered, but nothing is known and Telegram could not be asked."
)


class ReachabilityQuery(Query):
    instance: int = Field(1, ge=1, le=INSTANCE_LIMIT, description=INSTANCE)


class ReachabilityPath(Model):
    number: Number = Field(description="The number to check.")


class ReachabilityBody(Body):
    """Numbers to check, on one instance."""

    instance: int = Field(1, ge=1, le=INSTANCE_LIMIT, description=INSTANCE)
    numbers: list[PhoneNumber] = Field(
        min_length=1,
        max_length=MAX_NUMBERS,
        description=f"1 to {MAX_NUMBERS} numbers; "
        + number_field("each")
        + " A number given twice is answered once.",
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"instance": 1, "numbers": ["14155552671", "34612345678"]}]}
    )


class RecipientReachability(View):
    """Whether one number can be messaged."""

    instance: int = Field(description=INSTANCE)
    number: str = Field(description="The normalised number.")
    reachability: str = Field(description=MEANINGS, json_schema_extra=one_of(ANSWERS))
    checked_at: Timestamp = Field(
        description="When this was learned (a stored fact keeps the time it was learned)."
    )
    source: str = Field(
        description="'telegram': Telegram was asked for this answer now; 'stored': the "
        "gateway's own records (registrations, what sends found, Telegram's answer of the last "
        "hour).",
        json_schema_extra=one_of(("stored", "telegram")),
    )
    detail: str = Field(description="What it rests on, in words.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "instance": 1,
                    "number": "34612345678",
                    "reachability": "premium_required",
                    "checked_at": "2026-12-06T07:30:00Z",
                    "source": "telegram",
                    "detail": "Telegram says they take messages only from Premium accounts",
                }
            ]
        }
    )


class RecipientReachabilityList(View):
    instance: int = Field(description=INSTANCE)
    data: list[RecipientReachability] = Field(
        description="One answer per distinct number, in order."
    )


# --- the sandbox's people ------------------------------------------------------------------


class SandboxPersonBody(Body):
    """How a sandbox person takes messages."""

    number: PhoneNumber = Field(description=number_field("the person"))
    requires: Literal[tuple(REQUIREMENTS)] | None = Field(  # type: ignore[valid-type]
        None,
        description="'premium': only Premium accounts may write to them "
        "(PRIVACY_PREMIUM_REQUIRED); 'paid_messages': only paid messages "
        "(ALLOW_PAYMENT_REQUIRED); null: anyone may.",
    )
    stars: Annotated[int, Field(ge=1, le=INT64_MAX)] | Omitted = Field(
        None, description="What a paid message costs, in Stars (paid_messages; default 100)."
    )
    deactivated: bool = Field(
        False, description="Their account was deleted (INPUT_USER_DEACTIVATED)."
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"number": "34612345678", "requires": "premium"}]}
    )


class SandboxPerson(View):
    number: str = Field(description="The normalised number.")
    requires: str | None = Field(
        description="What they require of those who write to them.",
        json_schema_extra={"enum": [*REQUIREMENTS, None]},
    )
    stars: int | None = Field(description="What a paid message costs (paid_messages).")
    deactivated: bool = Field(description="Their account was deleted.")
