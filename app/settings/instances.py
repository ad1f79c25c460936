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

    @field_validator("proxy", mode="before")
    @classmethod
    def _proxy_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_proxy(value)
        if value is None or isinstance(value, Proxy):
            return value
        raise ValueError(f"must be a string: {PROXY_FORMS}")
