"""Timeouts, intervals and sizes of the Telethon backend, in one place.

The other modules read them as `limits.NAME` (never `from ... import NAME`), so a test that
shortens one (monkeypatch) shortens it for the whole package.
"""

from __future__ import annotations

CONNECT_TIMEOUT_S = 15
# How long a failed login waits for the proxy to say why it refused (`_proxy_refusal`).
PROXY_PROBE_S = 5
# How long `tgw serve` waits for Telegram before it starts serving HTTP all the same.
FIRST_CONNECT_WAIT_S = 5
CALL_TIMEOUT_S = 60
# Asking whether people can be messaged: an HTTP request waits for it, so not for long.
REACHABILITY_TIMEOUT_S = 15
CATCH_UP_EVERY_S = 120
WATCH_EVERY_S = 1.0
REPORT_DOWN_AFTER_S = 3.0
LOGIN_POLL_S = 2.0
MAX_BACKOFF_S = 300.0
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
HANDLER_TRIES = 5
# Private chats whose read marks are checked after a (re)connect.
RECONCILE_DIALOGS = 200
# Asking @SpamBot: how long its reply may take, and how often the chat is looked at meanwhile.
SPAMBOT_WAIT_S = 20.0
SPAMBOT_POLL_S = 0.5
SPAMBOT_HISTORY = 10
