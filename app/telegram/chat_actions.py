"""Which chat action a send shows while its file goes out (both backends use this).

A small file goes out in a moment, so nothing is shown for it; a larger one shows the person
"sending a photo/video/file..." until the message arrives, as Telegram's own apps do.
"""

from __future__ import annotations

from app.telegram.port import ChatAction, MediaKind, OutgoingMedia

# Files larger than this show the upload action while they are uploaded.
UPLOAD_ACTION_MIN_BYTES = 512 * 1024
# Telegram shows an action for about 5 s unless it is sent again.
ACTION_REPEAT_S = 4.0

_UPLOAD_ACTIONS: dict[MediaKind, ChatAction] = {
    "image": "upload_photo",
    "document": "upload_document",
    "audio": "upload_audio",
    "voice_note": "upload_audio",
    "video": "upload_video",
    "sticker": "upload_document",
}


def upload_action(media: OutgoingMedia | None) -> ChatAction | None:
    """The action to show while `media` is uploaded; None when it is small (or absent)."""
    if media is None or len(media.data) <= UPLOAD_ACTION_MIN_BYTES:
        return None
    return _UPLOAD_ACTIONS[media.kind]
