"""The documentation of the conversation history (app/routes/conversations.py), for the
generated OpenAPI document."""

from __future__ import annotations

from app.routes import conversations_schemas as models
from app.routes.admin_docs import _sandbox_doc
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body, Doc
from app.routes.error_answers import NativeError
from app.telegram.port import HISTORY_PAGE_MAX

TAG_CONVERSATIONS = "Conversations"
FORBIDDEN = Reply(
    "instance_forbidden: the API key is limited to other instances; scope_missing: the key "
    "lacks the scope.",
    NativeError,
)
WHOSE = (
    "A conversation is the private chat of the instance's account with one person, as both "
    "see it: every outgoing message is shown whichever API client sent it (a deployment "
    "serves one organisation), with the gateway's registration replies and, after a "
    "backfill, what the account sent from elsewhere (the phone). Group messages are not part "
    "of it."
)

LIST = Doc(
    "listConversations",
    TAG_CONVERSATIONS,
    "List conversations",
    "The people the gateway's instances talk with (by default the registered ones; "
    "`status=unregistered` or `all` lists those who left, whose history stays), latest "
    "activity first, each with their conversation's latest message and unread count, with "
    "cursor pagination (`after`). People who have no message are not listed. A key limited "
    "to some instances sees theirs only. " + WHOSE,
    {200: Reply("One page.", models.ConversationList), 403: FORBIDDEN},
    errors=(400, 401, 404, 474),
    error_texts={400: "Bad limit, after, instance or status.", 404: "No such instance."},
    query=models.ConversationQuery,
)

MESSAGES = Doc(
    "listConversationMessages",
    TAG_CONVERSATIONS,
    "Read a conversation",
    "One person's conversation, newest first, both directions: the sends of the gateway "
    "(with their status), the person's messages, and what backfills found. Files are "
    "described (kind, name, type, size), not included; a file the person sent has a signed "
    "`media_url`. Page with `before` (the last answer's `next`). " + WHOSE,
    {200: Reply("One page.", models.ChatPage), 403: FORBIDDEN},
    errors=(400, 401, 404, 471, 474),
    error_texts={
        400: "Bad instance, limit or before.",
        404: "not_found: this number never wrote to the instance; unknown_instance.",
    },
    path=models.ConversationPath,
    query=models.HistoryQuery,
)

BACKFILL = Doc(
    "backfillConversation",
    TAG_CONVERSATIONS,
    "Fetch a conversation's older messages from Telegram",
    "Asks Telegram for the chat's history (messages.getHistory), newest first from "
    "`before_id`, and keeps what the gateway does not have: messages the account sent from "
    "the phone or another app, and the person's messages from before the gateway ran. "
    "Messages it has already (by Telegram message id) are counted as known. Backfilled "
    "messages are history, not news: they make no event and no webhook. "
    f"Telegram is asked in pages of {HISTORY_PAGE_MAX} with a pause between them; a "
    "FloodWait stops the backfill (what it found is kept, `flood_wait_s` says how long to "
    "wait) and every backfill of the instance is refused with 429 until the wait ends. Go "
    "further back by giving `next_before_id` as `before_id`. In a deployment of several "
    "processes, the request is passed to the one holding the instance's session. The "
    "sandbox's history holds what its people sent, what the gateway sent, and what POST "
    "/admin/sandbox/{n}/history adds.",
    {
        200: Reply("What was found.", models.BackfillAnswer),
        403: FORBIDDEN,
        409: Reply(
            "not_logged_in: the instance is not logged in; conflict: in a deployment of several "
            "processes, the one holding the instance's session could not be reached (retry).",
            NativeError,
        ),
        429: Reply(
            "flood_wait: Telegram asks to wait `seconds` (also in Retry-After).",
            NativeError,
            retry_after="Seconds.",
        ),
        503: Reply("unavailable: Telegram did not answer; database_unavailable.", NativeError),
    },
    errors=(400, 401, 404, 471, 474),
    error_texts={
        400: "Bad instance, limit or before_id.",
        404: "not_found: this number never wrote to the instance; unknown_instance.",
    },
    path=models.ConversationPath,
    query=models.BackfillQuery,
)

SANDBOX_UNSEEN = _sandbox_doc(
    "sandboxUnseenMessage",
    "Put a message in a chat that the gateway does not hear of",
    "A text message in the sandbox chat with a person who has written to the instance, "
    "without any update to the gateway: the account's owner writing from the phone "
    "(`outgoing`), or the person writing before the gateway ran. Only a backfill (POST "
    "/api/v1/conversations/{number}/backfill) brings it into the conversation.",
    Reply("The message.", models.UnseenMessage),
    Body(models.UnseenBody, "The person, the text and who wrote it."),
    status=201,
)
