"""What sending a file implies, for both backends and the send worker: the chat action shown
while it goes out, and the time its upload is allowed.

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


# The slowest upload rate a send is given time for (a 16 MiB video: about 2 minutes more).
SLOWEST_UPLOAD_BYTES_S = 128 * 1024


def upload_allowance_s(media: OutgoingMedia | None) -> float:
    """How much longer than a plain message a send with `media` may take."""
    return 0.0 if media is None else len(media.data) / SLOWEST_UPLOAD_BYTES_S
