"""How many instances each process holds: the fair share (pure: no I/O, no clock)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def fair_share(instances: int, caps: Sequence[int | None], own_cap: int | None = None) -> int:
    """The instances one process may hold when `instances` are spread over the live processes
    whose `max_sessions` are `caps` (None: no cap; this process among them).

    Without caps that is ceil(instances / processes). With caps it is the smallest level `s`
    at which the processes, each holding min(s, its cap), hold every instance: a capped
    process leaves its remainder to the others. This process's own cap bounds its share. When
    the caps cannot hold every instance, the share is the largest cap (some stay unowned).
    """
    if instances <= 0:
        return 0
    processes = max(1, len(caps))
    level = math.ceil(instances / processes)
    finite = [c for c in caps if c is not None]
    if finite and len(finite) == len(caps) and sum(finite) < instances:
        level = max(finite)
    else:
        while sum(min(level, c) if c is not None else level for c in caps) < instances:
            level += 1
    return level if own_cap is None else min(level, own_cap)


def to_give_up(owned: Iterable[int], share: int) -> list[int]:
    """Which of the instances this process holds it hands over to bring itself down to its
    share: the highest numbers, so that every process makes the same choice and a process
    that joins takes the same ones over each time (no instance moves back and forth)."""
    held = sorted(owned)
    return held[share:][::-1] if len(held) > share else []
