"""The documentation of sending a message on the native API (app/routes/messages.py), for the
generated OpenAPI document: every kind, the options, and what each refusal means."""

from __future__ import annotations

from app.routes import messages_schemas as schemas
from app.routes import upload_schemas
from app.routes.apidoc import SEND_ERRORS, Answer, Body, Doc
from app.routes.callback_schemas import SendHeaders
from app.routes.media_url_docs import codes_of

TAG_MESSAGES = "Messages"

CREATE_MESSAGE = Doc(
    "createMessage",
    TAG_MESSAGES,
    "Send a message",
    "Queue a text, a medium (image, document, audio, voice note, video, sticker), a "
    "location or a contact card for a registered number or a group, as JSON (media in "
    "base64 or by URL) or as a multipart upload. Same validation as the /v3 endpoints. Options: "
    "'reply_to' (any kind), 'silent' (no notification sound), 'link_preview' (texts; "
    "false: no preview of the first link), 'callback_url' (that message's status events "
    "POSTed to a URL of yours, signed: README, Per-message callbacks).",
    {202: Answer("Queued: the message resource.", schemas.Message)},
    errors=SEND_ERRORS,
    error_texts={
        400: "Malformed JSON, a missing field, more than one of text/media/location/contact, "
        "coordinates out of range, text over ${text_chars} characters, a caption over "
        "${caption_chars} characters, a bad filename, undecodable base64, media that is not of "
        "its kind (a sticker that is not a still WebP or is over 512x512 pixels, a video that "
        "is not MP4, QuickTime or WebM, audio that cannot be decoded). With media.url: a URL that "
        "is not http(s) (invalid_field), a private target (media_target_forbidden), a host that "
        "does not resolve or refuses the connection (media_unreachable), an origin that answers "
        "an error status, redirects too often or breaks off (media_origin_error), or a file "
        "that does not arrive in time (media_fetch_timeout). A callback_url or X-Callback-URL "
        "that is not http(s) or names a private address (invalid_callback_url). "
        f"Error codes: {codes_of(400)}.",
        413: "Decoded media over its limit (image and sticker ${image_bytes}, document "
        "${document_bytes}, audio and voice note ${audio_bytes}, video ${video_bytes}), a file "
        "at media.url over that limit (reading stops there), a voice note longer than 20 "
        "minutes, or a request body over ${largest_native_body} bytes, refused before it is "
        "read whole. Error codes: payload_too_large.",
    },
    headers=SendHeaders,
    body=Body(
        schemas.SendMessage,
        "The message and its target.",
        multipart=upload_schemas.SendMessageUpload,
    ),
)
