"""The bodies, parameters and answers of logging instances in and out, their profile, sessions
and standing (app/routes/onboarding.py): the models the OpenAPI document shows are the ones the
handlers parse bodies with (`Body`, strict) and build answers from (`View`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from app.account.profile import MAX_ABOUT_CHARS, MAX_NAME_CHARS
from app.routes.apidoc import INSTANCE_NUMBER_MAX, Model, Omitted, Timestamp, one_of
from app.routes.bodies import Body, Given
from app.routes.views import View
from app.telegram.sandbox.spambot import SPAMBOT_REPLY_MAX_CHARS

LOGIN_STEPS = ("idle", "code_sent", "password_needed", "awaiting_qr", "ready")
CONDITIONS = ("ok", "restricted", "frozen")

# --- logging in -------------------------------------------------------------------------------


class LoginError(View):
    code: str = Field(description="Stable error code.")
    message: str = Field(description="What happened.")


class LoginState(View):
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


# Bounded so that no request body can make the gateway hold or pass on more than Telegram
# itself would take (phone numbers, login codes and 2FA passwords are short); null or "" is a
# missing field.
Short = Annotated[str, Field(max_length=256)]


class PhoneBody(Body):
    phone: Annotated[Short, Given] = Field(description="The phone.")


class CodeBody(Body):
    code: Annotated[Short | Annotated[int, Field(ge=0, le=10**12)], Given] = Field(
        description="The code (digits; a number is taken as its digits)."
    )


class PasswordBody(Body):
    password: Annotated[Short, Given] = Field(description="The password.")


class LoggedOut(View):
    status: Literal["logged_out"] = Field(description="logged_out")
    instance: int | Omitted = Field(None, description="Instance.")


# --- the profile ------------------------------------------------------------------------------


class ProfileBody(Body):
    # Telegram's own limits; app/account/profile.py checks them again for the configuration.
    first_name: Annotated[str, Field(max_length=MAX_NAME_CHARS), Given] = Field(
        description="First name."
    )
    last_name: Annotated[str, Field(max_length=MAX_NAME_CHARS)] | None = Field(
        None, description="Last name."
    )
    about: Annotated[str, Field(max_length=MAX_ABOUT_CHARS)] | None = Field(
        None, description="Bio."
    )


class ProfilePhoto(View):
    photo_url: str | None = Field(description="The new picture.")
    width: int = Field(description="Width in pixels (at most 1280).")
    height: int = Field(description="Height in pixels (at most 1280).")


# --- sessions and standing --------------------------------------------------------------------


class Session(View):
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


class SessionList(View):
    data: list[Session] = Field(description="The gateway's own first, then the most recent.")


class SessionPath(Model):
    n: int = Field(ge=1, le=INSTANCE_NUMBER_MAX, description="Instance number.")
    hash: str = Field(pattern="^-?[0-9]{1,19}$", description="The session, from GET .../sessions.")


class SessionEnded(View):
    hash: str = Field(description="The session.")
    ended: bool = Field(description="true")


class StandingCheck(View):
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


class SpamBotBody(Body):
    reply: Annotated[str, Field(max_length=SPAMBOT_REPLY_MAX_CHARS)] | None = Field(
        None, description="@SpamBot's answer from now on."
    )


class SpamBotAnswer(View):
    reply: str = Field(description="The reply.")
    condition: Literal["ok", "restricted", "frozen"] | None = Field(
        description="How a check reads it (null: not readable, so a check answers 502)."
    )


class Scanned(View):
    scanned: bool
