"""Fixtures for every end-to-end module: `harness` (real `tgw serve` processes) and
`private_postgres` (a throwaway PostgreSQL cluster a test may stop and restart)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.private_postgres import private_postgres
from tests.e2e.test_serve_process import ServeHarness

__all__ = ["harness", "private_postgres"]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ServeHarness]:
    serve = ServeHarness(tmp_path)
    try:
        yield serve
    finally:
        serve.stop_all()
