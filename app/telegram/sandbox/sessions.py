"""The account's sessions, simulated (account.getAuthorizations / resetAuthorization): the
gateway's own, and logins from other devices announced as Telegram does."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import and_, select, update
from sqlmodel import col

from app.db import transaction
from app.telegram.notices import login_notice_text
from app.telegram.port import (
    SERVICE_USER_ID,
    Authorization,
    AuthorizationNotFound,
    CurrentAuthorization,
)
from app.telegram.sandbox.state import (
    _TAKE_MESSAGE_IDS,
    SERVICE_NUMBER,
    SandboxState,
    fake_access_hash,
)
from app.telegram.sandbox.tables import SandboxAuthorization, SandboxMessage, SandboxUpdate
from app.telegram.sandbox.tables import SandboxUser as SandboxUserRow


class SessionsMixin(SandboxState):
    """Listing and ending sessions, and the new-login announcements."""

    async def list_authorizations(self) -> list[Authorization]:
        async with transaction(self._factory) as session:
            await self._logged_in_account(session)
            own = await self._own_authorization(session)
            own.active_at = self._clock()
            rows = await session.scalars(
                select(SandboxAuthorization)
                .where(
                    and_(
                        col(SandboxAuthorization.instance) == self.instance,
                        col(SandboxAuthorization.ended_at).is_(None),
                    )
                )
                .order_by(
                    col(SandboxAuthorization.current).desc(),
                    col(SandboxAuthorization.created_at).desc(),
                    col(SandboxAuthorization.id).desc(),
                )
            )
            return [_authorization(row) for row in rows]

    async def end_authorization(self, hash: int) -> None:
        async with transaction(self._factory) as session:
            await self._logged_in_account(session)
            own = await self._own_authorization(session)
            if hash == own.hash:
                raise CurrentAuthorization("this is the gateway's own session: log out instead")
            row = await session.scalar(
                select(SandboxAuthorization).where(
                    and_(
                        col(SandboxAuthorization.instance) == self.instance,
                        col(SandboxAuthorization.hash) == hash,
                        col(SandboxAuthorization.ended_at).is_(None),
                    )
                )
            )
            if row is None:
                raise AuthorizationNotFound("HASH_INVALID")
            row.ended_at = self._clock()

    async def _own_authorization(self, session: Any) -> SandboxAuthorization:
        """The gateway's session, made when first asked for (one per login)."""
        own: SandboxAuthorization | None = await session.scalar(
            select(SandboxAuthorization).where(
                and_(
                    col(SandboxAuthorization.instance) == self.instance,
                    col(SandboxAuthorization.current).is_(True),
                    col(SandboxAuthorization.ended_at).is_(None),
                )
            )
        )
        if own is None:
            now = self._clock()
            own = SandboxAuthorization(
                instance=self.instance,
                hash=_new_authorization_hash(),
                current=True,
                device_model="tgw gateway",
                platform="Linux",
                system_version="Linux",
                app_name="tgw",
                app_version="tgw",
                ip="127.0.0.1",
                location="Sandbox",
                created_at=now,
                active_at=now,
            )
            session.add(own)
            await session.flush()
        return own

    async def _end_own_authorization(self, session: Any) -> None:
        await session.execute(
            update(SandboxAuthorization)
            .where(
                and_(
                    col(SandboxAuthorization.instance) == self.instance,
                    col(SandboxAuthorization.current).is_(True),
                    col(SandboxAuthorization.ended_at).is_(None),
                )
            )
            .values(ended_at=self._clock())
        )

    async def login_from_device(self, device: str, location: str) -> tuple[int, int]:
        """Someone logs in to the account from another device: a new session, announced as
        Telegram does, with updateNewAuthorization and then the "New login" notice of 777000.
        (the new session's hash, the update id of the notice)."""
        now = self._clock()
        async with transaction(self._factory) as session:
            account = await self._logged_in_account(session)
            await self._own_authorization(session)
            announce = SandboxUpdate(instance=self.instance, type="login")
            session.add(announce)
            await session.flush()
            new = SandboxAuthorization(
                instance=self.instance,
                hash=_new_authorization_hash(),
                device_model=device,
                app_name="Telegram",
                official_app=True,
                location=location,
                created_at=now,
                active_at=now,
                update_id=announce.id,
            )
            session.add(new)
            await self._service_user(session)
            params = {"b_instance": self.instance, "b_count": 1}
            message_id = int((await session.execute(_TAKE_MESSAGE_IDS, params)).scalar_one())
            text = login_notice_text(account.first_name, now, device, location)
            session.add(
                SandboxMessage(
                    instance=self.instance,
                    message_id=message_id,
                    direction="in",
                    user_id=SERVICE_USER_ID,
                    kind="text",
                    text=text,
                    sent_at=now,
                )
            )
            notice = SandboxUpdate(instance=self.instance, type="message", message_id=message_id)
            session.add(notice)
            await session.flush()
            result = (new.hash, notice.id or 0)
        self._wakeup.notify(self._topic)
        return result

    async def _service_user(self, session: Any) -> None:
        """Telegram's service account (777000), which writes the notices."""
        found = await session.scalar(
            select(SandboxUserRow).where(
                and_(
                    col(SandboxUserRow.instance) == self.instance,
                    col(SandboxUserRow.user_id) == SERVICE_USER_ID,
                )
            )
        )
        if found is None:
            session.add(
                SandboxUserRow(
                    instance=self.instance,
                    user_id=SERVICE_USER_ID,
                    access_hash=fake_access_hash(self.instance, SERVICE_USER_ID),
                    number=SERVICE_NUMBER,
                    first_name="Telegram",
                    phone_visible=False,
                )
            )
            await session.flush()


def _new_authorization_hash() -> int:
    return secrets.randbits(62) + 1


def _authorization(row: SandboxAuthorization) -> Authorization:
    return Authorization(
        hash=row.hash,
        current=row.current,
        device_model=row.device_model,
        platform=row.platform,
        system_version=row.system_version,
        app_name=row.app_name,
        app_version=row.app_version,
        ip=row.ip,
        country=row.location,
        region="",
        date_created=row.created_at,
        date_active=row.active_at,
        official_app=row.official_app,
    )
