"""A minimal AI-agent loop over tgw's event stream (docs/integrations/ai-agent.md).

It follows GET /api/v1/events/stream for `message.received`, asks an OpenAI-compatible chat
completions endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM...) for an answer, given the
last messages of the conversation from GET /api/v1/conversations/{number}/messages, and sends it
with POST /api/v1/messages as a reply to the person's message.

Nothing is lost or answered twice across restarts of either side:
- the seq of the last event handled is kept in a file, and the stream is resumed from it with
  Last-Event-ID (so an event that arrives while the agent is down is answered when it is back);
- the state file is written only after the reply was accepted, so a crash in between gets the
  event again; the reply then carries the same Idempotency-Key (`agent-<event id>`), and tgw
  answers it with the first reply's answer instead of sending a second one.

Run it next to tgw (Python 3.11+, `pip install httpx`):

    TGW_URL=http://localhost:8080 TGW_CLIENT_ID=agent@example.com TGW_CLIENT_SECRET=... \\
    LLM_URL=https://api.openai.com/v1 LLM_API_KEY=sk-... LLM_MODEL=gpt-4o-mini \\
    python ai_agent.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("ai_agent")

STREAM = "/api/v1/events/stream"
RETRY_S = 2.0  # before reconnecting after the stream ended or the gateway could not be reached


@dataclass(frozen=True)
class Config:
    tgw_url: str
    client_id: str
    client_secret: str
    llm_url: str  # the base URL that `/chat/completions` is appended to
    llm_key: str
    model: str
    state_file: Path  # the seq of the last event handled
    system_prompt: str = "You answer customers of our shop on Telegram, briefly and politely."
    history: int = 10  # how many earlier messages of the chat the model sees

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            tgw_url=env.get("TGW_URL", "http://localhost:8080"),
            client_id=env["TGW_CLIENT_ID"],
            client_secret=env["TGW_CLIENT_SECRET"],
            llm_url=env.get("LLM_URL", "https://api.openai.com/v1"),
            llm_key=env.get("LLM_API_KEY", ""),
            model=env.get("LLM_MODEL", "gpt-4o-mini"),
            state_file=Path(env.get("AGENT_STATE_FILE", "ai_agent.seq")),
            system_prompt=env.get("AGENT_SYSTEM_PROMPT", cls.system_prompt),
        )

    @property
    def credentials(self) -> dict[str, str]:
        return {"X-WM-CLIENT-ID": self.client_id, "X-WM-CLIENT-SECRET": self.client_secret}


def load_seq(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def save_seq(path: Path, seq: int) -> None:
    """Replace the state file in one step, so a crash leaves the old or the new seq."""
    part = path.with_suffix(path.suffix + ".part")
    part.write_text(str(seq))
    part.replace(path)


async def received(http: httpx.AsyncClient, cfg: Config, after: int) -> AsyncIterator[Any]:
    """The `message.received` events after seq `after`, until the stream ends (the gateway
    stops, drops a slow reader, or ends a long connection): reconnect from the last one."""
    headers = {**cfg.credentials, "Last-Event-ID": str(after)}
    params = {"types": "message.received"}
    async with http.stream("GET", STREAM, params=params, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"stream refused: {response.status_code} {await response.aread()!r}")
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                body = json.loads(line.removeprefix("data: "))
                if event in ("dropped", "end"):
                    log.info("stream ended (%s); resuming", body.get("reason"))
                    return
                yield body


async def chat_history(http: httpx.AsyncClient, cfg: Config, event: Any) -> list[dict[str, str]]:
    """The chat's last messages as the model's turns, oldest first (this one included)."""
    response = await http.get(
        f"/api/v1/conversations/{event['number']}/messages",
        params={"instance": event["instance_id"], "limit": cfg.history},
        headers=cfg.credentials,
    )
    response.raise_for_status()
    turns = []
    for item in reversed(response.json()["data"]):
        words = item.get("text") or item.get("caption")
        if words:
            turns.append(
                {"role": "user" if item["direction"] == "in" else "assistant", "content": words}
            )
    return turns


async def ask_model(llm: httpx.AsyncClient, cfg: Config, turns: list[dict[str, str]]) -> str:
    body = {
        "model": cfg.model,
        "messages": [{"role": "system", "content": cfg.system_prompt}, *turns],
    }
    headers = {"Authorization": f"Bearer {cfg.llm_key}"} if cfg.llm_key else {}
    response = await llm.post(
        f"{cfg.llm_url.rstrip('/')}/chat/completions", json=body, headers=headers
    )
    response.raise_for_status()
    answer: str = response.json()["choices"][0]["message"]["content"]
    return answer.strip()


async def handle(http: httpx.AsyncClient, llm: httpx.AsyncClient, cfg: Config, event: Any) -> None:
    """Answer one received message (a private text); anything else is left alone."""
    data = event["data"]
    if data.get("group") or not event.get("number") or not data.get("text"):
        return
    answer = await ask_model(llm, cfg, await chat_history(http, cfg, event))
    if not answer:
        return
    body = {
        "instance": event["instance_id"],
        "to": event["number"],
        "text": answer,
        "reply_to": data["id"],
    }
    headers = {**cfg.credentials, "Idempotency-Key": f"agent-{event['id']}"}
    response = await http.post("/api/v1/messages", json=body, headers=headers)
    if response.status_code >= 500 or response.status_code == 429:
        response.raise_for_status()  # try again later: the event is not marked handled
    if response.status_code >= 400:  # e.g. the person unregistered meanwhile: not retried
        log.warning("reply to %s refused: %s", event["number"], response.text)


async def run(
    cfg: Config,
    *,
    tgw: httpx.AsyncClient | None = None,
    llm: httpx.AsyncClient | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Answer received messages until `stop` is set (or forever)."""
    stop = stop or asyncio.Event()
    http = tgw or httpx.AsyncClient(base_url=cfg.tgw_url, timeout=httpx.Timeout(30, read=None))
    model = llm or httpx.AsyncClient(timeout=60)
    try:
        while not stop.is_set():
            try:
                async for event in received(http, cfg, load_seq(cfg.state_file)):
                    await handle(http, model, cfg, event)
                    save_seq(cfg.state_file, event["seq"])
                    if stop.is_set():
                        return
            except (httpx.HTTPError, RuntimeError) as exc:
                log.warning("%s; reconnecting in %s s", exc, RETRY_S)
            await asyncio.sleep(RETRY_S)
    finally:
        if tgw is None:
            await http.aclose()
        if llm is None:
            await model.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(run(Config.from_env()))
