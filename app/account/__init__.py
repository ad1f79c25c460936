"""The Telegram account's lifecycle: logging in and out, its profile, its sessions, its standing.

Core code: the admin API (app/routes/onboarding.py) and the services call it; it talks to
Telegram only through the port (app/telegram/port.py) and imports neither inbound/ nor
outbound/ (tests/app/test_layers.py).
"""
