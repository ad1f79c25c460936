"""The `harness` fixture (real `tgw serve` processes) for every end-to-end module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_serve_process import ServeHarness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[ServeHarness]:
    serve = ServeHarness(tmp_path)
    try:
        yield serve
    finally:
        serve.stop_all()
