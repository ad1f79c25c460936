"""Chat actions ("sending a video...") shown to a person: once (the port's show_action), or
for as long as an upload takes (Telegram forgets an action after about 5 s unless it is sent
again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from telethon import functions
from telethon.tl import types

from app.telegram import port
from app.telegram.uploads import ACTION_REPEAT_S

log = logging.getLogger(__name__)

# The cancel after an upload is a courtesy: never wait long for it.
CANCEL_TIMEOUT_S = 5.0


def action_tl(action: port.ChatAction | None) -> Any:
    """The SendMessageAction of a port action (None: cancel)."""
    if action is None:
        return types.SendMessageCancelAction()
    return {
        "typing": lambda: types.SendMessageTypingAction(),
        "upload_photo": lambda: types.SendMessageUploadPhotoAction(progress=0),
        "upload_document": lambda: types.SendMessageUploadDocumentAction(progress=0),
        "upload_audio": lambda: types.SendMessageUploadAudioAction(progress=0),
        "upload_video": lambda: types.SendMessageUploadVideoAction(progress=0),
    }[action]()


def set_typing(input_peer: Any, action: port.ChatAction | None) -> Any:
    return functions.messages.SetTypingRequest(peer=input_peer, action=action_tl(action))


@contextlib.asynccontextmanager
async def showing(
    client: Any, input_peer: Any, action: port.ChatAction | None
) -> AsyncIterator[None]:
    """Show `action` while the block runs (repeated every few seconds), then cancel it.

    Best effort: an action that cannot be shown never fails the send it decorates.
    """
    if action is None:
        yield
        return

    async def repeat() -> None:
        while True:
            try:
                await client(set_typing(input_peer, action))
            except Exception as exc:  # an RPC error or a dropped connection: stop showing
                log.info("chat action %s not shown: %s", action, exc)
                return
            await asyncio.sleep(ACTION_REPEAT_S)

    task = asyncio.create_task(repeat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await asyncio.wait_for(client(set_typing(input_peer, None)), CANCEL_TIMEOUT_S)
        except Exception as exc:
            log.info("chat action %s not cancelled: %s", action, exc)
