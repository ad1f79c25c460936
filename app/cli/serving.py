"""The uvicorn server of `tgw serve`, which ends the open event streams first when it stops.

uvicorn stops by waiting (up to its graceful timeout) for the requests in flight, and only
then runs the lifespan's shutdown. An event stream never finishes by itself: left alone it
would be cut off after the timeout without a word. Closing the shared tail of the event log
first ends every stream at once with its last frame (`event: dropped`, reason `shutdown`, and
the seq to resume after; a WebSocket closes with 1012), and waits (briefly) until they have
sent it, before uvicorn closes the connections.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn


def stream_ending_server(
    config: uvicorn.Config, end_streams: Callable[[], Awaitable[None]]
) -> uvicorn.Server:
    import uvicorn

    class StreamEndingServer(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await end_streams()
            await super().shutdown(sockets)

    return StreamEndingServer(config)
