"""The account as Telegram shows it: who the gateway is logged in as, its profile and photo."""

from __future__ import annotations

import hashlib

from app.db import transaction
from app.telegram.port import Account, NotLoggedIn, Profile
from app.telegram.sandbox.state import SandboxState
from app.telegram.sandbox.tables import SandboxAccount


class ProfileMixin(SandboxState):
    """The port's me() and profile calls."""

    photo_sha256: str | None

    async def me(self) -> Account | None:
        async with self._factory() as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None or not account.logged_in:
                return None
            return Account(
                user_id=account.user_id,
                phone=account.phone,
                first_name=account.first_name,
                last_name=account.last_name,
            )

    async def get_profile(self) -> Profile | None:
        async with self._factory() as session:
            account = await session.get(SandboxAccount, self.instance)
        if account is None or not account.logged_in:
            return None
        return Profile(account.first_name, account.last_name, account.about)

    async def set_profile(self, first_name: str, last_name: str | None, about: str | None) -> None:
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None or not account.logged_in:
                raise NotLoggedIn(f"sandbox instance {self.instance} is not logged in")
            account.first_name = first_name
            account.last_name = last_name
            account.about = about

    async def set_photo(self, jpeg: bytes) -> None:
        if await self.me() is None:
            raise NotLoggedIn(f"sandbox instance {self.instance} is not logged in")
        self.photo_sha256 = hashlib.sha256(jpeg).hexdigest()  # what "Telegram" now shows
