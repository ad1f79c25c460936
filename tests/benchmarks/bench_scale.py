"""Scale benchmark: several processes on one PostgreSQL database, memory per Telethon session,
a backlog of a million messages, a worker killed under load, and SQLite's accept path.

A script, not a pytest test. From the repository root:

    python tests/benchmarks/bench_scale.py [--part NAME ...] [--quick]

Parts (all by default, in this order; the code is in tests/benchmarks/scale/):

- accept-pg      HTTP sends accepted per second by 1, 2 and 4 `tgw serve --role api` processes
                 on one fresh PostgreSQL database (the load generator spreads its connections
                 over them), beside plain asyncpg INSERTs of the same row into the same table,
                 one commit per row, at the same concurrency.
- rss            VmRSS of one `tgw serve --role worker` holding 0, 1, 10 and 100 Telethon
                 sessions connected to the fake MTProto server (tests/telegram/fake_mtproto).
- backlog        accept rate (api process) and drain rate (worker, unpaced sandbox) with 1
                 million messages queued (--quick: 100,000), against a nearly empty queue.
- handover       two workers hold 8 sandbox instances under a steady send load through an api
                 process; one is killed (-9): time until every instance is held again, delay of
                 the messages of its instances, nothing lost or sent twice.
- sqlite-accept  `tgw serve --sandbox` on SQLite against raw sqlite3 with group commit (WAL,
                 synchronous=FULL), and bare Starlette endpoints (no database; the same raw
                 group commit; one commit per request): maximum rate with the send queue
                 paused (the accept path alone) and with the worker sending, each the median
                 of 3 windows (--quick: 1), then p50/p99 at 200 requests/s open loop.
- low-rate       CPU per message of `tgw serve --sandbox` (SQLite) at steady 20, 50 and 200
                 requests/s (open loop), beside a closed-loop burst (the baseline: messages
                 arriving together share each stage) and the idle process.

PostgreSQL: BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres); each
part creates a database of its own and drops it. Every server runs as `python -m app serve` with
this checkout first on PYTHONPATH. The load generator runs in this process, on the same cores as
the servers: on a 2-core machine it takes a large share of the CPU (each table says how much).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.bench_send import code_version, run_async  # noqa: E402
from tests.benchmarks.scale import accept, backlog, handover, low_rate, rss  # noqa: E402
from tests.benchmarks.scale.common import machine  # noqa: E402

PARTS: dict[str, Any] = {
    "accept-pg": accept.accept_pg,
    "rss": rss.rss,
    "backlog": backlog.backlog,
    "handover": handover.handover,
    "sqlite-accept": accept.sqlite_accept,
    "low-rate": low_rate.low_rate,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--part", action="append", choices=list(PARTS), help="repeatable")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter windows")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop connections")
    parser.add_argument("--backlog", type=int, default=0, help="queued rows (default 1M)")
    parser.add_argument("--tmpdir", default=None, help="where work folders go")
    parser.add_argument("--keep", action="store_true", help="keep work folders and logs")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    print(f"tgw scale benchmark; code {code_version()}; {machine()}", flush=True)
    for name in args.part or list(PARTS):
        await PARTS[name](args)
    print(f"\ndone; {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_async(main(parse_args(sys.argv[1:]))))
