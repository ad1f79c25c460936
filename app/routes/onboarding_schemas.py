"""The bodies, parameters and answers of logging instances in and out, their profile, sessions
and standing (app/routes/onboarding.py), as the OpenAPI document shows them. The strict parsers
of the same bodies are in onboarding.py; these say what a caller may send and gets back."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.routes.apidoc import INSTANCE_NUMBER_MAX, Closed, Model, Omitted, Timestamp, one_of

LOGIN_STEPS = ("idle", "code_sent", "password_needed", "awaiting_qr", "ready")
CONDITIONS = ("ok", "restricted", "frozen")

# --- logging in -------------------------------------------------------------------------------


class LoginError(Model):
    code: str = Field(description="Stable error code.")
    message: str = Field(description="What happened.")


class LoginState(Model):
    step: str = Field(description="Where the login stands.", json_schema_extra=one_of(LOGIN_STEPS))
    method: Literal["code", "qr"] | Omitted = Field(None, description="How it started.")
    url: str | Omitted = Field(
        None, description="The QR code's tg://login?token=... (awaiting_qr)."
    )
    expires_at: Timestamp | None = Field(None, description="When that QR token expires.")
    password_hint: str | None = Field(None, description="The 2FA password's hint.")
    user_id: int | Omitted = Field(None, description="The account (ready).")
    phone: str | None = Field(None, description="The account's number (ready).")
    error: LoginError | Omitted = None


class PhoneBody(Closed):
    phone: str = Field(max_length=256, description="The phone.")


class CodeBody(Closed):
    code: str = Field(max_length=256, description="The code.")


class PasswordBody(Closed):
    password: str = Field(max_length=256, description="The password.")


class LoggedOut(Model):
    status: Literal["logged_out"] = Field(description="logged_out")
    instance: int | Omitted = Field(None, description="Instance.")


# --- the profile ------------------------------------------------------------------------------


class ProfileBody(Closed):
    first_name: str = Field(max_length=64, description="First name.")
    last_name: str | None = Field(None, max_length=64, description="Last name.")
    about: str | None = Field(None, max_length=70, description="Bio.")


class ProfilePhoto(Model):
    photo_url: str | None = Field(description="The new picture.")
    width: int = Field(description="Width in pixels (at most 1280).")
    height: int = Field(description="Height in pixels (at most 1280).")


# --- sessions and standing --------------------------------------------------------------------


class Session(Model):
    hash: str = Field(description="Names the session (a 64-bit integer, as a string).")
    current: bool = Field(description="The gateway's own session (ended only by logging out).")
    device_model: str = Field(description="Device, as the app reports it.")
    platform: str | Omitted = Field(None, description="Platform.")
    system_version: str | Omitted = Field(None, description="Operating system.")
    app_name: str = Field(description="The Telegram app.")
    app_version: str | Omitted = Field(None, description="Its version.")
    ip: str | Omitted = Field(None, description="Last IP address.")
    country: str | Omitted = Field(None, description="Country (from the IP address).")
    region: str | Omitted = Field(None, description="Region.")
    date_created: Timestamp | None = Field(description="When it logged in (UTC).")
    date_active: Timestamp | None = Field(description="When it was last active (UTC).")
    official_app: bool | Omitted = Field(None, description="An official Telegram app.")
    password_pending: bool | Omitted = Field(
        None, description="Logged in with the code, the 2FA password not yet."
    )


class SessionList(Model):
    data: list[Session] = Field(description="The gateway's own first, then the most recent.")


class SessionPath(Model):
    n: int = Field(ge=1, le=INSTANCE_NUMBER_MAX, description="Instance number.")
    hash: str = Field(pattern="^-?[0-9]{1,19}$", description="The session, from GET .../sessions.")


class SessionEnded(Model):
    hash: str = Field(description="The session.")
    ended: bool = Field(description="true")


class StandingCheck(Model):
    condition: str = Field(
        description="What @SpamBot says: not limited, limited, or frozen.",
        json_schema_extra=one_of(CONDITIONS),
    )
    reply: str = Field(description="@SpamBot's own words.")
    until: Timestamp | None = Field(description="When the limit ends, where the reply says so.")
    status: str = Field(description="The instance status after the check.")
    status_detail: str | None = Field(None, description="Its detail.")
    checked_at: Timestamp = Field(description="When the check was made.")


# --- the sandbox ------------------------------------------------------------------------------


class SpamBotBody(Closed):
    reply: str | None = Field(None, max_length=4096, description="@SpamBot's answer from now on.")


class SpamBotAnswer(Model):
    reply: str = Field(description="The reply.")
    condition: Literal["ok", "restricted", "frozen"] | None = Field(
        description="How a check reads it (null: not readable, so a check answers 502)."
    )


class Scanned(Model):
    scanned: bool
