"""Waiting in tests: one way to poll until something holds, with a message that says what.

`await eventually(check, what="...", timeout_s=...)` calls `check` (sync or async) until it
returns something truthy, which it returns, or stops raising AssertionError. On timeout it
fails naming what was awaited and the last value or assertion seen, so a failure says why.
`eventually_sync` is the same for code that does not run in an event loop.

Poll only where there is no event to wait on (state owned by another process, by Telethon or
by a background task); an absence is checked after a barrier, never after a fixed sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

INTERVAL_S = 0.02
# Long enough for a loaded machine (2 cores shared with other jobs); a pass returns at once.
DEFAULT_TIMEOUT_S = 15.0


class _Last:
    """What the last call of `check` gave: a value, or the AssertionError it raised."""

    def __init__(self) -> None:
        self.value: object = None
        self.error: AssertionError | None = None
        self.calls = 0

    def seen(self) -> str:
        if self.calls == 0:
            return "never called"
        if self.error is not None:
            return f"AssertionError: {self.error}"
        return f"{self.value!r}"[:500]

    def failure(self, what: str, timeout_s: float) -> AssertionError:
        return AssertionError(
            f"timed out after {timeout_s:g} s waiting for {what}; last seen: {self.seen()}"
        )


@overload
async def eventually(
    check: Callable[[], Awaitable[T]], what: str, *, timeout_s: float = ..., interval_s: float = ...
) -> T: ...
@overload
async def eventually(
    check: Callable[[], T], what: str, *, timeout_s: float = ..., interval_s: float = ...
) -> T: ...
async def eventually(
    check: Callable[[], object],
    what: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    interval_s: float = INTERVAL_S,
) -> object:
    """Call `check` until it returns a truthy value (returned) without raising AssertionError;
    fail after `timeout_s` (at least one call is always made)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = _Last()
    while True:
        last.calls += 1
        try:
            result = check()
            value = await result if inspect.isawaitable(result) else result
        except AssertionError as exc:
            last.error = exc
        else:
            last.value, last.error = value, None
            if value:
                return value
        if loop.time() >= deadline:
            raise last.failure(what, timeout_s) from last.error
        await asyncio.sleep(interval_s)


def eventually_sync(
    check: Callable[[], T],
    what: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    interval_s: float = INTERVAL_S,
) -> T:
    """`eventually` for code outside an event loop: `check` is a plain function."""
    deadline = time.monotonic() + timeout_s
    last = _Last()
    while True:
        last.calls += 1
        try:
            value = check()
        except AssertionError as exc:
            last.error = exc
        else:
            last.value, last.error = value, None
            if value:
                return value
        if time.monotonic() >= deadline:
            raise last.failure(what, timeout_s) from last.error
        time.sleep(interval_s)
