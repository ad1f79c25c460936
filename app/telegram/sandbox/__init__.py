"""The sandbox backend: a simulated Telegram network per instance.

It behaves like Telegram where the pipeline can tell: people have stable ids and access hashes,
message ids grow per account, a repeated random_id is refused (RANDOM_ID_DUPLICATE), updates are
pushed in order and replayed after a restart from the stored position (like pts), and faults
(FloodWait, blocked, deactivated, privacy...) can be injected, and what @SpamBot answers about
the account's standing can be set. Its state lives in its own database tables, so it survives
restarts.

One module per part: `state` (identities, shared statements, the base class), `sending`,
`faults`, `pump` (the update pump), `inbound` (people writing, in batches), `login`, `sessions`
(authorizations and new-login alerts), `profile`, `spambot`, `reach` (people who need Premium
or paid messages, or whose account is gone), `history` (a chat's history, and messages the
gateway never heard of), and `backend`, whose SandboxTelegram ties them
together.
"""

from app.telegram.sandbox.backend import SandboxTelegram
from app.telegram.sandbox.faults import FAULT_ERRORS
from app.telegram.sandbox.inbound import InboundPerson
from app.telegram.sandbox.login import SANDBOX_LOGIN_CODE, SandboxLogin
from app.telegram.sandbox.state import (
    SandboxInputError,
    fake_access_hash,
    fake_user_id,
    gateway_phone,
)

__all__ = [
    "FAULT_ERRORS",
    "SANDBOX_LOGIN_CODE",
    "InboundPerson",
    "SandboxInputError",
    "SandboxLogin",
    "SandboxTelegram",
    "fake_access_hash",
    "fake_user_id",
    "gateway_phone",
]
