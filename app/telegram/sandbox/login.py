"""The simulated login (any phone, code 12345, the configured 2FA password, QR codes the admin
endpoint scans) and logging in and out."""

from __future__ import annotations

import asyncio
import base64
import hmac
import secrets
from datetime import datetime, timedelta

from app.db import transaction
from app.telegram.port import Account, ConnectionChanged, LoginError, LoginStep
from app.telegram.sandbox.sessions import SessionsMixin
from app.telegram.sandbox.state import fake_user_id, gateway_phone
from app.telegram.sandbox.tables import SandboxAccount

SANDBOX_LOGIN_CODE = "12345"
SANDBOX_QR_TTL_S = 30


class LoginMixin(SessionsMixin):
    """Logging in and out; a new login is a new session."""

    # The 2FA password the simulated login asks for ([[instances]] sandbox_password).
    password: str | None
    _waiting_qr: SandboxLogin | None

    def new_login(self) -> SandboxLogin:
        return SandboxLogin(self)

    async def login_completed(self) -> None:
        return None  # log_in() already put the account into service

    def scan(self) -> bool:
        """The simulated phone scans the QR code shown; False when no QR login waits."""
        login = self._waiting_qr
        if login is None:
            return False
        login.scanned.set()
        return True

    async def log_in(self, phone: str) -> Account:
        async with transaction(self._factory) as session:
            if self._fence is not None:
                await self._fence.guard(session)
            account = await session.get(SandboxAccount, self.instance)
            if account is None:
                account = SandboxAccount(instance=self.instance, phone=phone, user_id=0)
                session.add(account)
            account.phone = phone
            account.user_id = fake_user_id(phone)
            account.logged_in = True
            await self._end_own_authorization(session)  # a new login is a new session
            result = Account(
                user_id=account.user_id,
                phone=phone,
                first_name=account.first_name,
                last_name=account.last_name,
            )
        await self._tell(ConnectionChanged("ready"))
        return result

    async def log_out(self) -> None:
        async with transaction(self._factory) as session:
            if self._fence is not None:
                await self._fence.guard(session)
            account = await session.get(SandboxAccount, self.instance)
            if account is not None:
                account.logged_in = False
            await self._end_own_authorization(session)
        await self._tell(ConnectionChanged("logged_out"))

    async def _tell(self, update: ConnectionChanged) -> None:
        if self._on_update is not None:
            await self._on_update([update])


class SandboxLogin:
    """The simulated login: any phone, code 12345, the configured 2FA password, and
    QR tokens that a POST /admin/sandbox/{n}/scan accepts."""

    def __init__(self, sandbox: LoginMixin) -> None:
        self._sandbox = sandbox
        self._phone: str | None = None
        self._code_ok = False
        self._qr_url: str | None = None
        self._qr_expires: datetime | None = None
        self.scanned = asyncio.Event()

    async def request_code(self, phone: str) -> LoginStep:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not 7 <= len(digits) <= 15:
            raise LoginError("phone_invalid", f"{phone!r} is not a phone number")
        self._phone = digits
        self._code_ok = False
        return LoginStep("code_sent")

    async def submit_code(self, code: str) -> LoginStep:
        if self._phone is None:
            raise LoginError("code_expired", "no code was requested: start with the phone")
        if code.strip() != SANDBOX_LOGIN_CODE:
            raise LoginError("code_invalid", "the code is wrong (the sandbox's code is 12345)")
        self._code_ok = True
        if self._sandbox.password:
            return LoginStep("password_needed", password_hint="sandbox_password")
        return await self._done()

    async def submit_password(self, password: str) -> LoginStep:
        if not (self._code_ok or self.scanned.is_set()):
            raise LoginError("login_failed", "enter the code (or scan the QR code) first")
        expected = (self._sandbox.password or "").encode()
        if not hmac.compare_digest(password.encode(), expected):
            raise LoginError("password_invalid", "the 2FA password is wrong")
        return await self._done()

    async def start_qr(self) -> LoginStep:
        self._sandbox._waiting_qr = self
        self.scanned.clear()
        return self._new_token()

    def _new_token(self) -> LoginStep:
        token = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
        self._qr_url = f"tg://login?token={token}"
        self._qr_expires = self._sandbox._clock() + timedelta(seconds=SANDBOX_QR_TTL_S)
        return LoginStep("awaiting_qr", qr_url=self._qr_url, expires_at=self._qr_expires)

    async def wait_qr(self, timeout_s: float) -> LoginStep:
        if self._sandbox._waiting_qr is not self:
            return await self.start_qr()
        try:
            await asyncio.wait_for(self.scanned.wait(), timeout_s)
        except TimeoutError:
            return self._new_token()
        self._sandbox._waiting_qr = None
        if self._sandbox.password:
            return LoginStep("password_needed", password_hint="sandbox_password")
        return await self._done()

    async def _done(self) -> LoginStep:
        phone = self._phone or gateway_phone(self._sandbox.instance)
        account = await self._sandbox.log_in(phone)
        return LoginStep("ready", account=account)

    async def close(self) -> None:
        if self._sandbox._waiting_qr is self:
            self._sandbox._waiting_qr = None
