"""The parameters and answers of the conversation history (app/routes/conversations.py), as
the OpenAPI document shows them."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from app.errors import ApiError
from app.history.backfill import MAX_MESSAGES
from app.routes.apidoc import Model, Number, Omitted, Timestamp, number_field, one_of
from app.routes.bodies import Body, PhoneNumber
from app.routes.messages_schemas import LocationView
from app.routes.queries import Query
from app.routes.views import View
from app.telegram.content import HISTORY_KINDS
from app.vocabulary import RecipientStatus, values

INSTANCE = "Gateway instance number."
INSTANCE_LIMIT = 1_000_000
STATUSES = (*values(RecipientStatus), "all")
KINDS = HISTORY_KINDS
UNREAD = (
    "The person's messages since the account last wrote to them: those (not deleted) with a "
    "Telegram message id above the account's latest message in the chat (a send of the "
    "gateway that went out, or one of its own a backfill found). With mark_read_on_reply on, "
    "this is what Telegram shows as unread."
)


class ConversationQuery(Query):
    # In the order they are checked.
    limit: int = Field(50, ge=1, le=200, description="Page size.")
    after: str | Omitted = Field(None, description="The 'next' of the previous page.")
    instance: int = Field(0, ge=0, le=INSTANCE_LIMIT, description="Only this instance (0: all).")
    status: str = Field(
        "registered",
        description="Only people in this state ('all': every state; unregistered people keep "
        "their history).",
        json_schema_extra=one_of(STATUSES),
    )

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in STATUSES:
            raise ApiError("invalid_field", f"'status' must be one of {', '.join(STATUSES)}")
        return value


class ConversationPath(Model):
    number: Number = Field(description=number_field("the person"))


class HistoryQuery(Query):
    instance: int = Field(1, ge=1, le=INSTANCE_LIMIT, description=INSTANCE)
    limit: int = Field(50, ge=1, le=200, description="Page size.")
    before: str | Omitted = Field(None, description="The 'next' of the previous (newer) page.")


class BackfillQuery(Query):
    instance: int = Field(1, ge=1, le=INSTANCE_LIMIT, description=INSTANCE)
    limit: int = Field(
        100,
        ge=1,
        le=MAX_MESSAGES,
        description="How many of Telegram's messages to look at, newest first (at most "
        f"{MAX_MESSAGES}: pages of 100 with a pause between them).",
    )
    before_id: int = Field(
        0,
        ge=0,
        le=2**31 - 1,  # Telegram's message ids are 32-bit
        description="Look at messages older than this Telegram message id (0: from the "
        "newest); give the last answer's next_before_id to go on.",
    )


class ChatMessage(View):
    """One message of a conversation, either direction."""

    id: str = Field(
        description="The gateway's id: a sent message's (GET /api/v1/messages/{id} for the "
        "client that sent it), the inbound message's of message.received, or a backfilled "
        "message's."
    )
    direction: str = Field(
        description="'out': the account's; 'in': the person's.",
        json_schema_extra=one_of(("out", "in")),
    )
    origin: str | None = Field(
        description="Who sent an outgoing message: 'api' (an API client, any client of this "
        "gateway), 'system' (the gateway's registration replies), 'account' (the account "
        "itself outside the gateway, e.g. from the phone: found by a backfill); null for the "
        "person's.",
        json_schema_extra={"enum": ["api", "system", "account", None]},
    )
    kind: str = Field(description="What it is.", json_schema_extra=one_of(KINDS))
    text: str | None = Field(description="The text (a text or a contact card's).")
    caption: str | None = Field(description="A file's caption.")
    filename: str | None = Field(description="A file's name.")
    mime_type: str | None = Field(description="A file's MIME type, where known.")
    size: int | None = Field(description="A file's size in bytes, where known.")
    media_url: str | None = Field(
        description="A signed link to a file the person sent (as in message.received); "
        "null otherwise (the gateway's own sends and backfilled files are not served)."
    )
    location: LocationView | None = Field(description="A location's point.")
    status: str | None = Field(
        description="An outgoing message's status as GET /api/v1/messages shows it (null: "
        "the person's, or backfilled)."
    )
    telegram_message_id: int | None = Field(
        description="Telegram's message id (null: not sent yet, or failed)."
    )
    reply_to_telegram_id: int | None = Field(
        description="The Telegram id of the message it answers."
    )
    reply_to: str | None = Field(description="A send's reply_to (the gateway's id).")
    at: Timestamp = Field(
        description="Its place in the conversation: when it was sent (a queued send: when it "
        "was accepted), when the gateway received it, or Telegram's date (backfilled)."
    )
    read_at: Timestamp | None = Field(description="When the person read an outgoing message.")
    edited_at: Timestamp | None = Field(description="When it was last edited.")
    deleted_at: Timestamp | None = Field(description="When it was deleted.")
    backfilled: bool = Field(description="Learned from Telegram's history by a backfill.")


class ChatPage(View):
    instance: int = Field(description=INSTANCE)
    number: str = Field(description="The person's number.")
    data: list[ChatMessage] = Field(description="Newest first.")
    next: str | None = Field(description="Give it as 'before' for older messages; null: no more.")


class Conversation(View):
    instance: int = Field(description=INSTANCE)
    number: str = Field(description="The person's number.")
    user_id: int = Field(description="Their Telegram user id.")
    first_name: str | None = Field(description="Their first name on Telegram.")
    last_name: str | None = Field(description="Their last name on Telegram.")
    username: str | None = Field(description="Their Telegram username.")
    status: str = Field(
        description="Their registration state.", json_schema_extra=one_of(values(RecipientStatus))
    )
    last_activity_at: Timestamp = Field(description="The `at` of their latest message.")
    last_message: ChatMessage | None = Field(description="Their conversation's latest message.")
    unread: int = Field(description=UNREAD)


class ConversationList(View):
    data: list[Conversation] = Field(description="Latest activity first.")
    next: str | None = Field(description="Give it as 'after' for the next page; null: no more.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [], "next": None}]})


class BackfillAnswer(View):
    instance: int = Field(description=INSTANCE)
    number: str = Field(description="The person's number.")
    scanned: int = Field(description="Messages Telegram returned.")
    stored: int = Field(description="New to the gateway: the conversation shows them now.")
    known: int = Field(description="The gateway had them already.")
    pages: int = Field(description="Calls made to Telegram.")
    next_before_id: int | None = Field(
        description="Give it as before_id to look further back; null: the chat's start was reached."
    )
    flood_wait_s: int | None = Field(
        description="Telegram asked to wait this long after some pages: the backfill stopped "
        "early (what it found is kept). Backfills of this instance are refused (429 "
        "flood_wait) until the wait ends."
    )


# --- the sandbox's unseen messages -----------------------------------------------------------


class UnseenBody(Body):
    """A message in a sandbox chat that the gateway does not hear of."""

    number: PhoneNumber = Field(description=number_field("the person (who wrote before)"))
    text: str = Field(min_length=1, max_length=4096, description="The message's text.")
    outgoing: bool = Field(
        False,
        description="true: the account's owner wrote it from the phone; false: the person "
        "wrote it before the gateway ran.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"number": "34612345678", "text": "See you at 5", "outgoing": True}]
        }
    )


class UnseenMessage(View):
    number: str = Field(description="The normalised number.")
    telegram_message_id: int = Field(description="Its message id in the sandbox account.")
    outgoing: bool = Field(description="The account's own.")
