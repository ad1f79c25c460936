"""A fake Chatwoot: the few Application API endpoints the bridge calls, with Chatwoot's
documented request and response shapes (swagger/paths/application/... and the jbuilder views
of chatwoot/chatwoot), and the `message_created` webhook its API-channel inbox posts.

It checks the `api_access_token` header and the fields Chatwoot requires, and answers 401 or
422 as Chatwoot does, so a bridge that calls it wrongly fails the test.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Json = dict[str, Any]
HOST = "chatwoot.test"
BASE = f"http://{HOST}"
FILE_TYPES = {"image": "image", "audio": "audio", "video": "video"}  # else "file"


@dataclass
class Attachment:
    key: str
    filename: str
    content: bytes
    mime_type: str


@dataclass
class FakeChatwoot:
    token: str = "cw-agent-token"
    account_id: int = 3
    inbox_id: int = 7
    contacts: dict[int, Json] = field(default_factory=dict)
    contact_inboxes: list[Json] = field(default_factory=list)  # {contact_id, inbox_id, source_id}
    conversations: dict[int, Json] = field(default_factory=dict)
    messages: list[Json] = field(default_factory=list)
    files: dict[str, Attachment] = field(default_factory=dict)
    webhooks: list[Json] = field(default_factory=list)  # what the inbox posted to its webhook
    calls: list[str] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to that many API calls
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        prefix = "/api/v1/accounts/{account_id:int}"
        return Starlette(
            routes=[
                Route(prefix + "/contacts/search", self.search_contacts, methods=["GET"]),
                Route(prefix + "/contacts", self.create_contact, methods=["POST"]),
                Route(
                    prefix + "/contacts/{id:int}/contact_inboxes",
                    self.create_contact_inbox,
                    methods=["POST"],
                ),
                Route(
                    prefix + "/contacts/{id:int}/conversations",
                    self.contact_conversations,
                    methods=["GET"],
                ),
                Route(prefix + "/conversations", self.create_conversation, methods=["POST"]),
                Route(
                    prefix + "/conversations/{id:int}/messages",
                    self.create_message_route,
                    methods=["POST"],
                ),
                Route("/rails/active_storage/blobs/{key}/{name}", self.blob, methods=["GET"]),
            ]
        )

    # The API

    def _refused(self, request: Request) -> Response | None:
        self.calls.append(f"{request.method} {request.url.path}")
        if request.headers.get("api_access_token") != self.token:
            return JSONResponse(
                {"error": "You need to sign in or sign up before continuing."}, status_code=401
            )
        if request.path_params["account_id"] != self.account_id:
            return JSONResponse({"error": "Account not found"}, status_code=404)
        if self.fail_next:
            self.fail_next -= 1
            return JSONResponse({"error": "Internal Server Error"}, status_code=500)
        return None

    async def search_contacts(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        # Chatwoot matches q against name, email, phone number and identifier (ILIKE %q%).
        q = request.query_params.get("q", "").lower()
        keys = ("name", "email", "phone_number", "identifier")
        found = [
            self.contact_view(c)
            for c in self.contacts.values()
            if q and any(q in str(c.get(k) or "").lower() for k in keys)
        ]
        return JSONResponse({"meta": {"count": len(found), "current_page": 1}, "payload": found})

    async def create_contact(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        if "inbox_id" not in body:
            return JSONResponse({"message": "inbox_id is required"}, status_code=422)
        for other in self.contacts.values():
            for unique in ("phone_number", "identifier"):
                if body.get(unique) and other.get(unique) == body[unique]:
                    return JSONResponse(
                        {"message": f"{unique} has already been taken"}, status_code=422
                    )
        contact = self.add_contact(
            body.get("name"), body.get("phone_number"), body.get("identifier")
        )
        link = self.link(contact["id"], int(body["inbox_id"]))
        view = {"contact": self.contact_view(contact), "contact_inbox": self.link_view(link)}
        return JSONResponse({"payload": view})

    async def create_contact_inbox(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        if request.path_params["id"] not in self.contacts or "inbox_id" not in body:
            return JSONResponse({"message": "Incorrect payload"}, status_code=422)
        link = self.link(request.path_params["id"], int(body["inbox_id"]), body.get("source_id"))
        return JSONResponse(self.link_view(link))

    async def contact_conversations(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        contact_id = request.path_params["id"]
        if contact_id not in self.contacts:
            return JSONResponse({"error": "Resource could not be found"}, status_code=404)
        mine = [self.conversation_view(c) for c in self.conversations.values()]
        return JSONResponse(
            {"payload": [c for c in mine if c["meta"]["sender"]["id"] == contact_id]}
        )

    async def create_conversation(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        links = [
            link
            for link in self.contact_inboxes
            if link["source_id"] == body.get("source_id")
            and link["inbox_id"] == body.get("inbox_id", link["inbox_id"])
        ]
        if not links:
            return JSONResponse({"message": "source_id is not valid"}, status_code=422)
        conversation = self.add_conversation(links[0])
        return JSONResponse(
            {"id": conversation["id"], "account_id": self.account_id, "inbox_id": self.inbox_id}
        )

    async def create_message_route(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        conversation_id = request.path_params["id"]
        if conversation_id not in self.conversations:
            return JSONResponse({"error": "Resource could not be found"}, status_code=404)
        uploads: list[Attachment] = []
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with request.form() as form:
                body: Json = {k: v for k, v in form.items() if isinstance(v, str)}
                body["private"] = body.get("private") == "true"
                for part in form.getlist("attachments[]"):
                    assert isinstance(part, UploadFile), "attachments[] must be files"
                    uploads.append(
                        Attachment(
                            uuid.uuid4().hex,
                            part.filename or "file",
                            await part.read(),
                            part.content_type or "application/octet-stream",
                        )
                    )
        else:
            body = await request.json()
        if body.get("message_type", "outgoing") not in ("incoming", "outgoing"):
            return JSONResponse({"message": "message_type is not valid"}, status_code=422)
        if not body.get("content") and not uploads:
            return JSONResponse({"message": "content can't be blank"}, status_code=422)
        message = self.add_message(
            conversation_id,
            body.get("content") or "",
            body.get("message_type", "outgoing"),
            private=bool(body.get("private", False)),
            uploads=uploads,
        )
        return JSONResponse(self.message_view(message))

    async def blob(self, request: Request) -> Response:
        found = self.files.get(request.path_params["key"])
        if found is None:
            return Response(status_code=404)
        return Response(found.content, media_type=found.mime_type)

    # What an agent does in the dashboard

    def agent_reply(
        self,
        conversation_id: int,
        content: str,
        *,
        private: bool = False,
        uploads: list[Attachment] | None = None,
    ) -> Json:
        """An agent writes in the conversation; the webhook payload the inbox posts."""
        message = self.add_message(
            conversation_id, content, "outgoing", private=private, uploads=uploads or []
        )
        assert self.webhooks[-1]["id"] == message["id"]
        return self.webhooks[-1]

    # The store

    def add_contact(self, name: str | None, phone: str | None, identifier: str | None) -> Json:
        contact_id = next(self._ids)
        contact = {
            "id": contact_id,
            "name": name or "",
            "email": None,
            "phone_number": phone,
            "identifier": identifier,
            "thumbnail": "",
            "custom_attributes": {},
            "additional_attributes": {},
        }
        self.contacts[contact_id] = contact
        return contact

    def link(self, contact_id: int, inbox_id: int, source_id: str | None = None) -> Json:
        link = {"contact_id": contact_id, "inbox_id": inbox_id, "source_id": source_id}
        link["source_id"] = source_id or str(uuid.uuid4())  # API channels get a UUID
        self.contact_inboxes.append(link)
        return link

    def add_conversation(self, link: Json) -> Json:
        conversation = {
            "id": next(self._ids),
            "inbox_id": link["inbox_id"],
            "contact_id": link["contact_id"],
            "source_id": link["source_id"],
            "status": "open",
        }
        self.conversations[conversation["id"]] = conversation
        return conversation

    def add_message(
        self,
        conversation_id: int,
        content: str,
        message_type: str,
        *,
        private: bool,
        uploads: list[Attachment],
    ) -> Json:
        message_id = next(self._ids)
        for upload in uploads:
            self.files[upload.key] = upload
        message = {
            "id": message_id,
            "content": content,
            "message_type": message_type,
            "private": private,
            "conversation_id": conversation_id,
            "created_at": datetime.now(UTC),
            "attachments": uploads,
        }
        self.messages.append(message)
        self.webhooks.append(self.webhook_payload(message))
        return message

    # Chatwoot's views

    def contact_view(self, contact: Json) -> Json:
        links = [c for c in self.contact_inboxes if c["contact_id"] == contact["id"]]
        return {
            **contact,
            "availability_status": "offline",
            "contact_inboxes": [self.link_view(link) for link in links],
        }

    def link_view(self, link: Json) -> Json:
        return {"source_id": link["source_id"], "inbox": self.inbox_view(link["inbox_id"])}

    def inbox_view(self, inbox_id: int) -> Json:
        return {"id": inbox_id, "name": "Telegram (tgw)", "channel_type": "Channel::Api"}

    def conversation_view(self, conversation: Json) -> Json:
        contact = self.contacts[conversation["contact_id"]]
        return {
            "id": conversation["id"],
            "inbox_id": conversation["inbox_id"],
            "status": conversation["status"],
            "channel": "Channel::Api",
            "can_reply": True,
            "contact_inbox": {"source_id": conversation["source_id"]},
            "meta": {
                "sender": {**contact, "type": "contact"},
                "assignee": None,
                "team": None,
                "hmac_verified": False,
            },
            "labels": [],
            "additional_attributes": {},
            "custom_attributes": {},
        }

    def attachment_view(self, message: Json, attachment: Attachment) -> Json:
        kind = attachment.mime_type.split("/")[0]
        return {
            "id": abs(hash(attachment.key)) % 100_000,
            "message_id": message["id"],
            "file_type": FILE_TYPES.get(kind, "file"),
            "account_id": self.account_id,
            "extension": None,
            "data_url": f"{BASE}/rails/active_storage/blobs/{attachment.key}/{attachment.filename}",
            "thumb_url": "",
            "file_size": len(attachment.content),
        }

    def message_view(self, message: Json) -> Json:
        # The API answers message_type as Chatwoot's enum integer (incoming 0, outgoing 1).
        return {
            "id": message["id"],
            "content": message["content"],
            "inbox_id": self.inbox_id,
            "conversation_id": message["conversation_id"],
            "message_type": 0 if message["message_type"] == "incoming" else 1,
            "content_type": "text",
            "private": message["private"],
            "created_at": int(message["created_at"].timestamp()),
            "attachments": [self.attachment_view(message, a) for a in message["attachments"]],
        }

    def webhook_payload(self, message: Json) -> Json:
        """Message#webhook_data plus "event", as the API channel posts it."""
        conversation = self.conversations[message["conversation_id"]]
        contact = self.contacts[conversation["contact_id"]]
        incoming = message["message_type"] == "incoming"
        payload: Json = {
            "event": "message_created",
            "id": message["id"],
            "content": message["content"],
            "created_at": message["created_at"].isoformat(),
            "message_type": message["message_type"],
            "content_type": "text",
            "private": message["private"],
            "content_attributes": {},
            "source_id": None,
            "sender": (
                {"id": contact["id"], "name": contact["name"], "type": "contact"}
                if incoming
                else {"id": 1, "name": "Agent Smith", "email": "agent@example.com", "type": "user"}
            ),
            "inbox": {"id": conversation["inbox_id"], "name": "Telegram (tgw)"},
            "conversation": self.conversation_view(conversation),
            "account": {"id": self.account_id, "name": "Acme"},
        }
        if message["attachments"]:
            payload["attachments"] = [
                self.attachment_view(message, a) for a in message["attachments"]
            ]
        return payload

    def conversation_messages(self, conversation_id: int) -> list[Json]:
        return [m for m in self.messages if m["conversation_id"] == conversation_id]
