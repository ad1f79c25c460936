"""The bodies and answers of the admin API's clients (app/routes/admin_clients.py): the models
the OpenAPI document shows are the ones the handlers parse bodies with (`Body`, strict) and
build answers from (`View`). What a key may do is checked by app/client_limits.py."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from app.client_limits import MAX_DAILY_QUOTA, MAX_INSTANCES, MAX_NETWORKS
from app.routes.apidoc import INSTANCE_NUMBER_MAX, Model, Timestamp, one_of
from app.routes.bodies import Body, Given
from app.routes.views import View
from app.vocabulary import ClientState, Scope, values

_EXPIRES = (
    "ISO 8601 date or date-time in the future (UTC when no offset); null or absent: never expires."
)
_SCOPES = (
    "What the key may do: send (send, edit, delete, react, cancel), read (messages, their "
    "actions, instance status), recipients (the recipient list, unregistering, reachability), "
    "events (the event log and its streams)."
)
_INSTANCES = "The instances the key may use; their messages, recipients and events only."
_QUOTA = (
    "The client's own messages a day (in [limits] day_timezone), besides the deployment's "
    "[limits] messages_per_day, which applies as well."
)
_IP_ALLOW = (
    "Addresses or CIDR networks the key may be used from (the client address as the gateway "
    "determines it: behind a trusted proxy, the address the proxy reports)."
)

ScopeName = Annotated[str, Field(max_length=32, json_schema_extra=one_of(values(Scope)))]
InstanceNumber = Annotated[int, Field(ge=1, le=INSTANCE_NUMBER_MAX)]
Cidr = Annotated[str, Field(max_length=64, examples=["10.0.0.0/8"])]
Scopes = Annotated[list[ScopeName], Field(min_length=1, max_length=len(values(Scope)))]
Instances = Annotated[list[InstanceNumber], Field(min_length=1, max_length=MAX_INSTANCES)]
Quota = Annotated[int, Field(ge=1, le=MAX_DAILY_QUOTA)]
Networks = Annotated[list[Cidr], Field(min_length=1, max_length=MAX_NETWORKS)]


class Client(View):
    client_id: str = Field(description="The client id (e-mail-like).", examples=["ops@example.com"])
    created_at: Timestamp = Field(description="When the client was created.")
    expires_at: Timestamp | None = Field(None, description="Expiry; null: never expires.")
    revoked_at: Timestamp | None = Field(
        None, description="When the client was revoked, if it was."
    )
    state: str = Field(
        description="Whether the credentials work now.",
        json_schema_extra=one_of(values(ClientState)),
    )
    scopes: list[str] | None = Field(description=f"{_SCOPES} null: every scope.")
    instances: list[int] | None = Field(description=f"{_INSTANCES} null: every instance.")
    daily_quota: int | None = Field(description=f"{_QUOTA} null: the deployment's alone.")
    ip_allow: list[str] | None = Field(description=f"{_IP_ALLOW} null: any address.")
    last_used_at: Timestamp | None = Field(
        description="When the key was last used (recorded at most once a minute); null: never."
    )


class ClientCreated(Client):
    client_secret: str = Field(description="The secret: shown once, only now.")


class ClientSecret(View):
    client_id: str = Field(description="The client id.")
    client_secret: str = Field(description="The new secret: shown once, only now.")


class ClientList(View):
    data: list[Client] = Field(description="API clients.")


# Its form is checked by app/clients.py (an e-mail-like id).
ClientId = Annotated[str, Field(max_length=254), Given]
ExpiresAt = Annotated[str, Field(max_length=64)] | None


class NewClientBody(Body):
    client_id: ClientId = Field(description="An e-mail-like id.", examples=["ops@example.com"])
    expires_at: ExpiresAt = Field(None, description=_EXPIRES, examples=["2027-01-01"])
    scopes: Scopes | None = Field(
        None, description=f"{_SCOPES} Null or absent: every scope.", examples=[["send", "read"]]
    )
    instances: Instances | None = Field(
        None, description=f"{_INSTANCES} Null or absent: every instance.", examples=[[1]]
    )
    daily_quota: Quota | None = Field(
        None, description=f"{_QUOTA} Null or absent: the deployment's alone.", examples=[500]
    )
    ip_allow: Networks | None = Field(
        None, description=f"{_IP_ALLOW} Null or absent: any address.", examples=[["10.0.0.0/8"]]
    )


class ClientChanges(Body):
    """Only the fields given change; null lifts a limit (or the expiry)."""

    expires_at: ExpiresAt = Field(None, description=_EXPIRES, examples=["2027-01-01"])
    scopes: Scopes | None = Field(
        None, description=f"{_SCOPES} null: every scope.", examples=[["read"]]
    )
    instances: Instances | None = Field(
        None, description=f"{_INSTANCES} null: every instance.", examples=[[1, 2]]
    )
    daily_quota: Quota | None = Field(
        None, description=f"{_QUOTA} null: the deployment's alone.", examples=[1000]
    )
    ip_allow: Networks | None = Field(
        None, description=f"{_IP_ALLOW} null: any address.", examples=[["192.0.2.0/24"]]
    )


class RenewalBody(Body):
    expires_at: ExpiresAt = Field(None, description=_EXPIRES, examples=["2027-01-01"])


class ClientPath(Model):
    client_id: str = Field(description="The client id.")
