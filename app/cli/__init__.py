"""`tgw` commands: the only place that reads settings and builds things.

One module per group of commands; each registers its commands on `main` (app/cli/base.py)
when imported here. Commands that write migrate the database first; those that only read
check its schema and never write (app/migrate.py).
"""

from __future__ import annotations

from app.cli import account, callbacks, clients, messaging, queue, reach, server, status
from app.cli.base import main
from app.cli.status import _counts

__all__ = [
    "_counts",
    "account",
    "callbacks",
    "clients",
    "main",
    "messaging",
    "queue",
    "reach",
    "server",
    "status",
]
