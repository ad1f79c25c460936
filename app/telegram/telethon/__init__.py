"""The Telethon backend: the ONLY package that imports telethon (ruff TID251 enforces it).

It converts between Telethon and the port (app/telegram/port.py); nothing Telethon's crosses it.
- session.py: the Telethon session kept, sealed, in the gateway's database;
- errors.py: Telethon's errors onto the port's error tree, as tables;
- client.py: building the TelegramClient (server key, proxy, lease fence);
- backend.py: `TelethonBackend`, one logged-in account (with core.py, sending.py,
  updates.py, history.py and account.py: the parts of that one class);
- login.py: `TelethonLogin`, the login steps (code, 2FA password, QR), and `log_out`;
- limits.py: the timeouts, intervals and sizes.
"""

from __future__ import annotations

from app.telegram.telethon.backend import TelethonBackend
from app.telegram.telethon.client import TelethonConfig, telethon_config
from app.telegram.telethon.errors import to_port_error
from app.telegram.telethon.login import TelethonLogin, log_out
from app.telegram.telethon.session import DatabaseSession

__all__ = [
    "DatabaseSession",
    "TelethonBackend",
    "TelethonConfig",
    "TelethonLogin",
    "log_out",
    "telethon_config",
    "to_port_error",
]
