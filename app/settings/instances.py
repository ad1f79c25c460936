"""`[[instances]]`: one Telegram account each, with its backend, profile and proxy."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from app.settings.base import _Section
from app.settings.proxy import PROXY_FORMS, Proxy, parse_proxy


class ProfileSettings(_Section):
    first_name: str | None = None
    last_name: str | None = None
    about: str | None = None
    photo: str | None = None


class InstanceSettings(_Section):
    number: int = Field(ge=1, le=2**31 - 1)  # an INTEGER column (32 bits on PostgreSQL)
    backend: Literal["telethon", "sandbox"] = "telethon"
    profile: ProfileSettings = ProfileSettings()
    # Sandbox only: a 2FA password that the simulated login asks for (see the sandbox backend).
    sandbox_password: str | None = None
    # Telethon only: reach Telegram through this proxy (written as a URL, see parse_proxy).
    proxy: Proxy | None = None
    # Before a message goes to a person, mark what they sent the account read (as a person
    # answering in the app would have read it).
    mark_read_on_reply: bool = False
    # Groups whose messages are forwarded whoever writes them (else only registered people's):
    # Telegram chat ids, as the gateway shows them, or in the Bot API's marked form.
    allowed_groups: list[int] = Field(default_factory=list, max_length=10_000)

    @field_validator("allowed_groups", mode="after")
    @classmethod
    def _plain_ids(cls, value: list[int]) -> list[int]:
        return [plain_group_id(group) for group in value]

    @field_validator("proxy", mode="before")
    @classmethod
    def _proxy_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_proxy(value)
        if value is None or isinstance(value, Proxy):
            return value
        raise ValueError(f"must be a string: {PROXY_FORMS}")


# The Bot API marks a megagroup's (channel's) id as -100<id>, a basic group's as -<id>.
_CHANNEL_MARK = 1_000_000_000_000


def plain_group_id(group_id: int) -> int:
    """A group's id as Telegram numbers it (positive), from either way of writing it."""
    if group_id <= -_CHANNEL_MARK:
        group_id = -group_id - _CHANNEL_MARK
    elif group_id < 0:
        group_id = -group_id
    if group_id <= 0 or group_id >= 2**63:
        raise ValueError(f"{group_id} is not a Telegram group id")
    return group_id
