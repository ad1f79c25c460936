"""The documentation of editing, deleting and reacting to messages
(app/routes/message_actions.py), for the generated OpenAPI document."""

from __future__ import annotations

from app.routes import message_actions_schemas as schemas
from app.routes.apidoc import Answer, Body, Doc, IdempotencyHeader

TAG = "Messages"
QUEUED = Answer(
    "Queued: the action resource (see GET /api/v1/messages/{id}/actions).", schemas.Action
)
CANNOT = (
    "The message cannot take it now: message_not_sent (still queued or sending, or failed), "
    "message_deleted"
)
HOW = (
    " The action is queued like a send (the same account-wide pace, FloodWait pauses, retries "
    "and crash safety) and made by the send worker; its event follows when Telegram took it. "
    "Not counted against the daily quota."
)

EDIT = Doc(
    "editMessage",
    TAG,
    "Edit a sent message",
    "Change the text of a sent text message, or the caption of a sent medium, for both sides. "
    "Telegram allows it for 48 hours after the message was sent; locations, contact cards and "
    "stickers cannot be edited. When done, the message shows the new words and `edited_at`, and "
    "a `message.edited` event (direction outbound) is written." + HOW,
    {202: QUEUED},
    errors=(400, 401, 404, 409, 413, 474, 503),
    error_texts={
        400: "Missing or bad text, text_too_long, caption_too_long.",
        404: "No such message for this client.",
        409: CANNOT + ", not_editable (a location, contact or sticker), edit_window_expired "
        "(sent 48 h ago or more), idempotency_conflict.",
    },
    headers=IdempotencyHeader,
    path=schemas.MessageRef,
    body=Body(schemas.EditMessage, "The new words."),
)

DELETE = Doc(
    "deleteMessage",
    TAG,
    "Delete a sent message",
    "Delete a sent message for both sides (revoke). When done, the message has `deleted_at` "
    "and a `message.deleted` event (direction outbound) is written." + HOW,
    {202: QUEUED},
    errors=(400, 401, 404, 409, 474, 503),
    error_texts={
        404: "No such message for this client.",
        409: CANNOT + ", idempotency_conflict.",
    },
    headers=IdempotencyHeader,
    path=schemas.MessageRef,
)

REACT = Doc(
    "reactToMessage",
    TAG,
    "React to a message",
    "Set the account's reaction on a message — one this client sent, or one a person sent to "
    "the account, privately or in a group (its id from a `message.received` event) — or take "
    "it back with "
    '`{"emoji": null}`. When done, the message shows `reaction` and a `message.reaction` event '
    "(direction outbound) is written." + HOW,
    {202: QUEUED},
    errors=(400, 401, 404, 409, 413, 474, 503),
    error_texts={
        400: "Missing or bad emoji.",
        404: "No such message for this client, and no inbound message with this id.",
        409: CANNOT + ", idempotency_conflict.",
    },
    headers=IdempotencyHeader,
    path=schemas.MessageRef,
    body=Body(schemas.SetReaction, "The reaction."),
)

LIST = Doc(
    "listMessageActions",
    TAG,
    "List the actions on a message",
    "This client's edits, deletions and reactions of a message (or of an inbound message it "
    "reacted to), oldest first, with their status. Actions are not listed by GET "
    "/api/v1/messages.",
    {200: Answer("The actions.", schemas.ActionList)},
    errors=(401, 404, 474),
    error_texts={404: "No such message for this client."},
    path=schemas.MessageRef,
)
