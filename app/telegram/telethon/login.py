"""Logging in and out: the login steps (code, 2FA password, QR) for the terminal and the admin
API, on a session kept apart until an account is logged in with it, and ending a stored session
at Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telethon import errors, functions
from telethon.tl import types

from app.telegram import port
from app.telegram.session_store import SessionStore, SessionWriter, Snapshot
from app.telegram.telethon import limits
from app.telegram.telethon.client import TelethonConfig, _new_client, _proxy_refusal
from app.telegram.telethon.errors import to_login_error
from app.telegram.telethon.session import DatabaseSession, _account_dict, _account_of

log = logging.getLogger(__name__)


class _LoginSession(DatabaseSession):
    """A session under construction. Until an account is logged in with it, it is kept apart
    (the pending row, -instance) so an abandoned login never overwrites what the instance had,
    and a login can be resumed by another process: the code is bound to this auth key."""

    def __init__(
        self, writer: SessionWriter, pending: SessionWriter, snapshot: Snapshot | None = None
    ) -> None:
        super().__init__(writer, snapshot)
        self._pending = pending
        self.login: dict[str, Any] = dict(snapshot.get("login") or {}) if snapshot else {}

    def snapshot(self) -> Snapshot:
        data = super().snapshot()
        if self.account is None:
            data["login"] = self.login
        return data

    def save(self) -> None:
        if self.account is not None:
            super().save()
        elif self._auth_key is not None:
            self._pending.submit(self.snapshot())

    def close(self) -> None:
        self.save()


class TelethonLogin:
    """One login attempt. Its steps share one connected client, hence one auth key: a code is
    bound to the key that asked for it."""

    def __init__(
        self,
        instance: int,
        store: SessionStore,
        config: TelethonConfig | None,
        pending: Snapshot | None = None,
        *,
        fence: port.SessionFence | None = None,
    ) -> None:
        self.instance = instance
        self._config = config
        self._fence = fence
        self._writer = SessionWriter(store, instance, fence=fence)
        self._pending = SessionWriter(store, -instance, fence=fence)
        self._session = _LoginSession(self._writer, self._pending, pending)
        self._client: Any = None
        self._phone: str | None = self._session.login.get("phone")
        self._code_hash: str | None = self._session.login.get("code_hash")
        self._qr: Any = None
        self.account: port.Account | None = None

    @classmethod
    async def resume(
        cls,
        instance: int,
        store: SessionStore,
        config: TelethonConfig | None,
        fence: port.SessionFence | None = None,
    ) -> TelethonLogin | None:
        """The login another process (or an earlier run) left waiting for its code."""
        pending = await store.load(-instance)
        if pending is None or not pending.get("login", {}).get("code_hash"):
            return None
        return cls(instance, store, config, pending, fence=fence)

    async def _connected(self) -> Any:
        if self._config is None:
            raise port.LoginError(
                "not_configured", "set [telegram] api_id and api_hash first (my.telegram.org)"
            )
        if self._client is None:
            self._client = _new_client(self._config, self._session, fence=self._fence)
            try:
                await asyncio.wait_for(self._client.connect(), limits.CONNECT_TIMEOUT_S)
            except Exception as exc:
                self._client = None
                proxy = self._config.proxy
                refusal = await _proxy_refusal(proxy, self._session)
                if refusal is not None:
                    raise port.LoginError(
                        "unreachable", f"the proxy {proxy} refused to reach Telegram: {refusal}"
                    ) from exc
                raise to_login_error(exc) from exc
        return self._client

    async def request_code(self, phone: str) -> port.LoginStep:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not 7 <= len(digits) <= 15:
            raise port.LoginError("phone_invalid", f"{phone!r} is not a phone number")
        client = await self._connected()
        try:
            sent = await asyncio.wait_for(client.send_code_request(digits), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_login_error(exc) from exc
        self._phone = digits
        self._code_hash = sent.phone_code_hash
        # Kept with the auth key that asked for the code: the next step may come later.
        self._session.login = {"phone": digits, "code_hash": sent.phone_code_hash}
        self._session.save()
        await self._pending.flush()
        return port.LoginStep("code_sent")

    async def submit_code(self, code: str) -> port.LoginStep:
        if self._phone is None or self._code_hash is None:
            raise port.LoginError("code_expired", "no code was requested: start with the phone")
        client = await self._connected()
        try:
            user = await asyncio.wait_for(
                client.sign_in(
                    phone=self._phone, code=code.strip(), phone_code_hash=self._code_hash
                ),
                limits.CALL_TIMEOUT_S,
            )
        except errors.SessionPasswordNeededError:
            return port.LoginStep("password_needed", password_hint=await self._hint(client))
        except Exception as exc:
            raise to_login_error(exc) from exc
        return await self._logged_in(user)

    async def submit_password(self, password: str) -> port.LoginStep:
        client = await self._connected()
        try:
            # Telethon computes the SRP check locally: the password never leaves this process.
            user = await asyncio.wait_for(client.sign_in(password=password), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_login_error(exc) from exc
        return await self._logged_in(user)

    async def _hint(self, client: Any) -> str | None:
        with contextlib.suppress(Exception):
            info = await client(functions.account.GetPasswordRequest())
            return str(info.hint) if info.hint else None
        return None

    async def start_qr(self) -> port.LoginStep:
        client = await self._connected()
        try:
            self._qr = await asyncio.wait_for(client.qr_login(), limits.CALL_TIMEOUT_S)
        except Exception as exc:
            raise to_login_error(exc) from exc
        return self._qr_step()

    def _qr_step(self) -> port.LoginStep:
        return port.LoginStep("awaiting_qr", qr_url=self._qr.url, expires_at=self._qr.expires)

    async def wait_qr(self, timeout_s: float) -> port.LoginStep:
        """Wait for the scan; on expiry a fresh token is made (the step carries its URL)."""
        if self._qr is None:
            return await self.start_qr()
        client = await self._connected()
        try:
            user = await self._qr.wait(timeout=timeout_s)
        except TimeoutError:
            try:
                await asyncio.wait_for(self._qr.recreate(), limits.CALL_TIMEOUT_S)
            except Exception as exc:
                raise to_login_error(exc) from exc
            fresh = getattr(self._qr, "_resp", None)  # what Telegram answered the renewal
            if isinstance(fresh, types.auth.LoginTokenSuccess):
                # The phone scanned just as the token was renewed: the answer is the login
                # itself, not a new token (Telethon's QRLogin would fail reading its .token).
                return await self._logged_in(fresh.authorization.user)
            return self._qr_step()
        except errors.SessionPasswordNeededError:
            return port.LoginStep("password_needed", password_hint=await self._hint(client))
        except Exception as exc:
            raise to_login_error(exc) from exc
        return await self._logged_in(user)

    async def _logged_in(self, user: Any) -> port.LoginStep:
        if not isinstance(user, types.User):
            raise port.LoginError("login_failed", f"unexpected answer from Telegram: {user!r}")
        self.account = _account_of(user)
        self._session.account = _account_dict(self.account)
        self._session.revoked = None
        # Disconnecting stores the update state Telethon fetched at login: the gateway then
        # catches up on everything said to the number from this moment on.
        await self.close()
        return port.LoginStep("ready", account=self.account)

    async def suspend(self) -> None:
        """Disconnect but keep a pending login for later (a restart of the gateway)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), limits.CONNECT_TIMEOUT_S)
        self._session.save()
        await self._writer.flush()
        await self._pending.flush()

    async def close(self) -> None:
        """End the attempt; a pending (unfinished) login is forgotten."""
        await self.suspend()
        self._pending.submit(None)
        await self._pending.flush()


async def _log_out_client(instance: int, client: Any) -> bool:
    """auth.logOut on a connected client, then disconnect whatever the answer. Telethon's
    `log_out()` answers False and stays connected when Telegram refuses; that is not ignored."""
    try:
        confirmed = bool(await asyncio.wait_for(client.log_out(), limits.CALL_TIMEOUT_S))
    except Exception as exc:
        log.warning("instance %s: log out at Telegram failed: %r", instance, exc)
        confirmed = False
    if not confirmed:
        log.warning("instance %s: Telegram did not confirm the logout", instance)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), limits.CONNECT_TIMEOUT_S)
    return confirmed


async def log_out(instance: int, store: SessionStore, config: TelethonConfig | None) -> bool:
    """End the stored session at Telegram and forget it. False when there was none."""
    snapshot = await store.load(instance)
    if snapshot is None:
        return False
    writer = SessionWriter(store, instance)
    if config is not None and snapshot.get("auth_key") and not snapshot.get("revoked"):
        client = _new_client(config, DatabaseSession(None, snapshot))
        try:
            await asyncio.wait_for(client.connect(), limits.CONNECT_TIMEOUT_S)
        except Exception as exc:  # unreachable: forget it here all the same
            log.warning("instance %s: cannot reach Telegram to log out: %r", instance, exc)
            with contextlib.suppress(Exception):
                await client.disconnect()
        else:
            await _log_out_client(instance, client)
    writer.submit(None)
    await writer.flush()
    return True
