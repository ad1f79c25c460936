"""The documentation of sending a message on the native API (app/routes/messages.py), for the
generated OpenAPI document: every kind, the options, and what each refusal means."""

from __future__ import annotations

from app.routes import messages_schemas as schemas
from app.routes.apidoc import SEND_ERRORS, Answer, Body, Doc, IdempotencyHeader

TAG_MESSAGES = "Messages"

CREATE_MESSAGE = Doc(
    "createMessage",
    TAG_MESSAGES,
    "Send a message",
    "Queue a text, a medium (image, document, audio, voice note, video, sticker), a "
    "location or a contact card for a registered number or a group, as JSON (media in "
    "base64) or as a multipart upload. Same validation as the /v3 endpoints. Options: "
    "'reply_to' (any kind), 'silent' (no notification sound), 'link_preview' (texts; "
    "false: no preview of the first link).",
    {202: Answer("Queued: the message resource.", schemas.Message)},
    errors=SEND_ERRORS,
    error_texts={
        400: "Malformed JSON, a missing field, more than one of text/media/location/contact, "
        "coordinates out of range, text over ${text_chars} characters, a caption over "
        "${caption_chars} characters, a bad filename, undecodable base64, media that is not of "
        "its kind (a sticker that is not a still WebP or is over 512x512 pixels, a video that "
        "is not MP4, QuickTime or WebM).",
        413: "Decoded media over its limit (image and sticker ${image_bytes}, document "
        "${document_bytes}, audio and voice note ${audio_bytes}, video ${video_bytes}), or a "
        "request body over ${largest_native_body} bytes, refused before it is read whole.",
    },
    headers=IdempotencyHeader,
    body=Body(
        schemas.SendMessage,
        "The message and its target.",
        multipart=schemas.SendMessageUpload,
    ),
)
