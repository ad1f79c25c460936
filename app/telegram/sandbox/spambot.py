"""The account's standing, simulated: what @SpamBot answers, set through the admin endpoint."""

from __future__ import annotations

from app.db import transaction
from app.telegram.port import SpamCheck
from app.telegram.sandbox.state import SandboxInputError, SandboxState, fake_user_id, gateway_phone
from app.telegram.sandbox.tables import SandboxAccount
from app.telegram.spambot import NOT_LIMITED_REPLY, classify

# Telegram's longest message.
SPAMBOT_REPLY_MAX_CHARS = 4096


class SpamBotMixin(SandboxState):
    """The port's check_restrictions and the control that sets @SpamBot's answer."""

    async def check_restrictions(self) -> SpamCheck:
        """What the simulated @SpamBot answers "/start" (set_spambot_reply), read as on
        Telegram: an unknown text raises SpamBotUnclear."""
        async with self._factory() as session:
            account = await self._logged_in_account(session)
            reply = account.spambot_reply
        return classify(reply if reply is not None else NOT_LIMITED_REPLY)

    async def set_spambot_reply(self, reply: str | None) -> str:
        """Make `reply` @SpamBot's answer from now on (None: the "no limits" text)."""
        if reply is not None:
            if not reply.strip():
                raise SandboxInputError("'reply' must not be empty")
            if len(reply) > SPAMBOT_REPLY_MAX_CHARS:
                raise SandboxInputError(
                    f"'reply' may have at most {SPAMBOT_REPLY_MAX_CHARS} characters"
                )
        async with transaction(self._factory) as session:
            account = await session.get(SandboxAccount, self.instance)
            if account is None:
                phone = gateway_phone(self.instance)
                account = SandboxAccount(
                    instance=self.instance, phone=phone, user_id=fake_user_id(phone)
                )
                session.add(account)
            account.spambot_reply = reply
        return reply if reply is not None else NOT_LIMITED_REPLY
