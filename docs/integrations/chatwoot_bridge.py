"""A bridge between tgw and a Chatwoot API-channel inbox (set up as chatwoot.md says).

tgw -> Chatwoot: tgw's signed `message.received` webhooks become `incoming` messages of the
person's conversation (the contact and the conversation are found or created).
Chatwoot -> tgw: the inbox's `message_created` webhooks for agent replies (`outgoing`, not
private) are sent with tgw's POST /api/v1/messages, once each (Idempotency-Key).
Configured by environment variables (Config.from_env); `python chatwoot_bridge.py` runs it.
"""

from __future__ import annotations

import base64
import hmac
import logging
import mimetypes
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("chatwoot_bridge")

Json = dict[str, Any]
Upload = tuple[str, bytes, str]  # file name, bytes, MIME type

# Chatwoot's attachment file_type -> tgw's media kind (others cannot be sent as a file).
KINDS = {"image": "image", "file": "document", "audio": "audio", "video": "video"}
# tgw answers worth retrying (the message was not accepted, and may be later).
TEMPORARY = {408, 429, 469}


@dataclass(frozen=True)
class Config:
    tgw_url: str  # where the bridge reaches tgw's API, e.g. http://127.0.0.1:8080
    tgw_client_id: str
    tgw_client_secret: str
    tgw_webhook_secret: str  # the secret of tgw's webhook endpoint pointing here (whsec_...)
    chatwoot_url: str  # e.g. https://chat.example.com
    chatwoot_token: str  # an agent's or agent bot's access token (Profile settings)
    chatwoot_account_id: int
    chatwoot_inbox_id: int  # the API-channel inbox
    chatwoot_webhook_token: str  # ?token= of the inbox's webhook URL
    tgw_instance: int = 1  # one inbox per tgw instance (run a bridge per instance)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        return cls(
            tgw_url=env["TGW_URL"].rstrip("/"),
            tgw_client_id=env["TGW_CLIENT_ID"],
            tgw_client_secret=env["TGW_CLIENT_SECRET"],
            tgw_webhook_secret=env["TGW_WEBHOOK_SECRET"],
            chatwoot_url=env["CHATWOOT_URL"].rstrip("/"),
            chatwoot_token=env["CHATWOOT_TOKEN"],
            chatwoot_account_id=int(env["CHATWOOT_ACCOUNT_ID"]),
            chatwoot_inbox_id=int(env["CHATWOOT_INBOX_ID"]),
            chatwoot_webhook_token=env["CHATWOOT_WEBHOOK_TOKEN"],
            tgw_instance=int(env.get("TGW_INSTANCE", "1")),
        )


class Seen:
    """The webhook-ids already handled, the newest `size` of them, in memory.

    tgw delivers at least once and repeats a delivery with the same webhook-id; a repeat
    older than this memory (or from before a restart) is posted to Chatwoot again.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, webhook_id: object) -> bool:
        return webhook_id in self._ids

    def add(self, webhook_id: str) -> None:
        self._ids[webhook_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


class Unavailable(Exception):
    """Chatwoot, tgw or a file could not be reached or failed: worth a retry later."""


class Chatwoot:
    """The Application API calls the bridge makes (header api_access_token)."""

    def __init__(self, config: Config, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http
        self.base = f"{config.chatwoot_url}/api/v1/accounts/{config.chatwoot_account_id}"

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"api_access_token": self.config.chatwoot_token}
        try:
            response = await self.http.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Chatwoot {method} {path}: {exc!r}") from exc
        if response.status_code >= 400:
            raise Unavailable(f"Chatwoot {method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def contact(self, number: str, name: str) -> tuple[int, str]:
        """The person's contact (found by phone number or identifier, else created) and its
        source_id in the inbox."""
        inbox_id = self.config.chatwoot_inbox_id
        phone, identifier = f"+{number}", f"tgw:{number}"
        found = await self.call("GET", "/contacts/search", params={"q": number})
        for contact in found.get("payload") or []:
            if contact.get("phone_number") == phone or contact.get("identifier") == identifier:
                for link in contact.get("contact_inboxes") or []:
                    if (link.get("inbox") or {}).get("id") == inbox_id:
                        return int(contact["id"]), str(link["source_id"])
                link = await self.call(
                    "POST",
                    f"/contacts/{contact['id']}/contact_inboxes",
                    json={"inbox_id": inbox_id},
                )
                return int(contact["id"]), str(link["source_id"])
        body = {"inbox_id": inbox_id, "name": name, "phone_number": phone, "identifier": identifier}
        created = (await self.call("POST", "/contacts", json=body))["payload"]
        return int(created["contact"]["id"]), str(created["contact_inbox"]["source_id"])

    async def conversation(self, contact_id: int, source_id: str) -> int:
        """The contact's latest unresolved conversation in the inbox, else a new one (as
        Chatwoot's own channels do: a resolved conversation is not reopened by a new one)."""
        inbox_id = self.config.chatwoot_inbox_id
        listed = await self.call("GET", f"/contacts/{contact_id}/conversations")
        open_ids = [
            int(c["id"])
            for c in listed.get("payload") or []
            if c.get("inbox_id") == inbox_id and c.get("status") != "resolved"
        ]
        if open_ids:
            return max(open_ids)
        body = {"source_id": source_id, "inbox_id": inbox_id, "contact_id": contact_id}
        created = await self.call("POST", "/conversations", json=body)
        return int(created["id"])

    async def message(
        self,
        conversation_id: int,
        content: str,
        message_type: str,
        *,
        private: bool = False,
        upload: Upload | None = None,
    ) -> Json:
        path = f"/conversations/{conversation_id}/messages"
        if upload is None:
            body = {"content": content, "message_type": message_type, "private": private}
            created: Json = await self.call("POST", path, json=body)
            return created
        form = {"content": content, "message_type": message_type, "private": str(private).lower()}
        files = {"attachments[]": upload}
        created = await self.call("POST", path, data=form, files=files)
        return created


class Bridge:
    def __init__(self, config: Config, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.http = httpx.AsyncClient(transport=transport, timeout=30)
        self.chatwoot = Chatwoot(config, self.http)
        self.hook = Webhook(config.tgw_webhook_secret)
        self.seen = Seen()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def download(self, url: str) -> tuple[bytes, str]:
        """The file and its MIME type. No credentials: tgw's media links are signed, and
        Chatwoot's file links are public (and may redirect to a storage service)."""
        try:
            response = await self.http.get(url, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise Unavailable(f"GET {url}: {exc!r}") from exc
        if response.status_code != 200:
            raise Unavailable(f"GET {url}: {response.status_code}")
        mime = response.headers.get("content-type", "").split(";")[0].strip()
        return response.content, mime or "application/octet-stream"

    # tgw -> Chatwoot

    async def from_tgw(self, request: Request) -> Response:
        body = await request.body()
        try:
            event = self.hook.verify(body, dict(request.headers))
        except WebhookVerificationError:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        webhook_id = request.headers["webhook-id"]
        if webhook_id in self.seen:
            return JSONResponse({"status": "duplicate"})
        try:
            status = await self.to_chatwoot(event)
        except Unavailable as exc:
            log.warning("tgw event %s not posted to Chatwoot (tgw retries): %s", webhook_id, exc)
            return JSONResponse({"error": str(exc)}, status_code=502)
        self.seen.add(webhook_id)
        return JSONResponse({"status": status})

    async def to_chatwoot(self, event: Json) -> str:
        data = event.get("data") or {}
        number = event.get("number")
        if event.get("type") != "message.received" or event.get("instance_id") != (
            self.config.tgw_instance
        ):
            return "ignored"
        if data.get("group") is not None or not number:
            return "ignored"  # a group, or a person who hides their number: no reply path
        contact_id, source_id = await self.chatwoot.contact(number, display_name(data, number))
        conversation_id = await self.chatwoot.conversation(contact_id, source_id)
        content = describe(data)
        media = data.get("media")
        upload = None
        if media is not None:
            content_bytes, served_as = await self.download(media["url"])
            name = media.get("filename") or media["kind"]
            mime = media.get("mime_type") or served_as
            if mime == "application/octet-stream":  # Chatwoot previews what it can type
                mime = mimetypes.guess_type(name)[0] or mime
            upload = (name, content_bytes, mime)
        elif not content:
            content = "(a message without text: see it in Telegram)"
        await self.chatwoot.message(conversation_id, content, "incoming", upload=upload)
        return "posted"

    # Chatwoot -> tgw

    async def from_chatwoot(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        if not hmac.compare_digest(token.encode(), self.config.chatwoot_webhook_token.encode()):
            return JSONResponse({"error": "bad token"}, status_code=401)
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not isinstance(payload, dict) or not is_agent_reply(payload, self.config):
            return JSONResponse({"status": "ignored"})  # our own incoming echo, a note...
        number = recipient(payload)
        try:
            if number is None:
                await self.note(payload, "Not sent to Telegram: the contact has no phone number")
                return JSONResponse({"status": "ignored"})
            sent = await self.to_tgw(payload, number)
        except Unavailable as exc:
            log.warning("Chatwoot message %s not sent: %s", payload.get("id"), exc)
            with suppress(Unavailable):  # tell the agents, if Chatwoot answers
                await self.note(payload, f"Not sent to Telegram yet ({exc}): send it again")
            return JSONResponse({"error": str(exc)}, status_code=502)
        return JSONResponse({"status": "sent", "ids": sent})

    async def note(self, payload: Json, text: str) -> None:
        """A private note in the conversation: the agents see why a reply did not go out."""
        conversation_id = int(payload["conversation"]["id"])
        await self.chatwoot.message(conversation_id, text, "outgoing", private=True)

    async def to_tgw(self, payload: Json, number: str) -> list[str]:
        """Send the reply (each attachment as its own message, the text as the first one's
        caption); a refusal is told to the agents as a private note."""
        account = (payload.get("account") or {}).get("id", self.config.chatwoot_account_id)
        key = f"chatwoot-{account}-{payload['id']}"
        text = payload.get("content") or ""
        bodies: list[tuple[str, Json]] = []
        for index, attachment in enumerate(payload.get("attachments") or []):
            kind = KINDS.get(attachment.get("file_type", ""))
            url = attachment.get("data_url")
            if kind is None or not url:
                continue
            media: Json = {
                "kind": kind,
                "base64": base64.b64encode((await self.download(url))[0]).decode(),
                "filename": unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or kind,
            }
            if text and not bodies:
                media["caption"] = text
            bodies.append((f"{key}-{index}", {"media": media}))
        if text and not bodies:
            bodies.append((key, {"text": text}))
        sent = []
        for idempotency_key, body in bodies:
            answer = await self.send(
                idempotency_key, {"instance": self.config.tgw_instance, "to": number, **body}
            )
            if answer.status_code == 202:
                sent.append(str(answer.json()["id"]))
                continue
            try:  # tgw's {"error": {"code", "message"}}, or whatever a proxy answered
                error = answer.json()["error"]
                why = f"{error['code']}): {error['message']}"
            except (ValueError, KeyError, TypeError):
                why = f"{answer.status_code}): {answer.text[:200]}"
            await self.note(payload, f"Not sent to Telegram ({why}")
        return sent

    async def send(self, idempotency_key: str, body: Json) -> httpx.Response:
        headers = {
            "X-WM-CLIENT-ID": self.config.tgw_client_id,
            "X-WM-CLIENT-SECRET": self.config.tgw_client_secret,
            # A retried Chatwoot webhook (or a retry of ours) is answered by tgw with the
            # first answer, and the message is sent once.
            "Idempotency-Key": idempotency_key,
        }
        url = f"{self.config.tgw_url}/api/v1/messages"
        try:
            answer = await self.http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"tgw: {exc!r}") from exc
        if answer.status_code >= 500 or answer.status_code in TEMPORARY:
            raise Unavailable(f"tgw: {answer.status_code} {answer.text}")
        return answer


def is_agent_reply(payload: Json, config: Config) -> bool:
    """A message an agent wrote to the person in this inbox: not a private note, not an
    incoming message (the bridge's own posts come back as those), not an activity."""
    conversation = payload.get("conversation") or {}
    inbox_id = conversation.get("inbox_id", (payload.get("inbox") or {}).get("id"))
    return (
        payload.get("event") == "message_created"
        and payload.get("message_type") == "outgoing"
        and payload.get("private") is False
        and inbox_id == config.chatwoot_inbox_id
        and str(payload.get("id")).isdigit()
        and str(conversation.get("id")).isdigit()
    )


def recipient(payload: Json) -> str | None:
    """The person's number (digits): the contact's phone, else the identifier we gave it."""
    sender = ((payload.get("conversation") or {}).get("meta") or {}).get("sender") or {}
    phone = str(sender.get("phone_number") or "")
    identifier = str(sender.get("identifier") or "")
    if not phone and identifier.startswith("tgw:"):
        phone = identifier.removeprefix("tgw:")
    digits = "".join(c for c in phone if c.isdigit())
    return digits or None


def display_name(data: Json, number: str) -> str:
    sender = data.get("sender") or {}
    name = " ".join(p for p in (sender.get("first_name"), sender.get("last_name")) if p)
    return name or (f"@{sender['username']}" if sender.get("username") else f"+{number}")


def describe(data: Json) -> str:
    """The message as text: its text or caption, or a shared location as a map link."""
    location = data.get("location")
    if location is not None:
        lat, lon = location["latitude"], location["longitude"]
        place = ", ".join(p for p in (location.get("title"), location.get("address")) if p)
        link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"
        return f"📍 {place + ' ' if place else ''}{link}"
    text = data.get("text")
    return str(text) if text else ""


def create_app(config: Config, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    bridge = Bridge(config, transport)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await bridge.aclose()

    app = Starlette(
        routes=[
            Route("/tgw/events", bridge.from_tgw, methods=["POST"]),
            Route("/chatwoot/events", bridge.from_chatwoot, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
    app.state.bridge = bridge
    return app


if __name__ == "__main__":
    import uvicorn

    logging.basicConfig(level=logging.INFO)
    uvicorn.run(
        create_app(Config.from_env()),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8090")),
    )
