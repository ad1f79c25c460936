"""The AI-agent recipe (docs/integrations/ai_agent.py) followed step by step against a real
`tgw serve --sandbox`, with an OpenAI-style chat completions endpoint played by a MockTransport:
people's questions are answered once, as replies, with the chat's history given to the model,
across a restart of the agent and a replay of events it had handled already."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_serve_process import (
    ServeHarness,
    ServerProcess,
    create_client,
    register,
    sent_log,
)
from tests.integrations.recipes import load_recipe
from tests.waiting import eventually

agent = load_recipe("ai_agent")
PERSON = "34612345678"


class FakeModel:
    """POST /v1/chat/completions as OpenAI documents it: `model` and `messages` in, the answer
    in `choices[0].message.content`. It answers the last user turn, and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.transport = httpx.MockTransport(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test"
        body = json.loads(request.content)
        self.requests.append(body)
        question = body["messages"][-1]["content"]
        reply = {"role": "assistant", "content": f"About '{question}': it ships today."}
        return httpx.Response(200, json={"choices": [{"index": 0, "message": reply}]})


@contextlib.asynccontextmanager
async def running_agent(
    server: ServerProcess, cfg: Any, model: FakeModel
) -> AsyncIterator[asyncio.Task[None]]:
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=httpx.Timeout(10, read=None)) as tgw,
        httpx.AsyncClient(transport=model.transport) as llm,
    ):
        task = asyncio.create_task(agent.run(cfg, tgw=tgw, llm=llm))
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def ask(http: httpx.AsyncClient, harness: ServeHarness, text: str) -> None:
    body = {"from": {"number": PERSON, "first_name": "Ana"}, "text": text}
    response = await http.post("/admin/sandbox/1/inbound", json=body, headers=harness.admin_headers)
    assert response.status_code == 200, response.text


async def answers(http: httpx.AsyncClient, harness: ServeHarness) -> list[dict[str, Any]]:
    return [r for r in await sent_log(http, harness, PERSON) if "ships today" in (r["text"] or "")]


async def test_the_agent_answers_each_question_once_across_restarts_and_replays(
    harness: ServeHarness, tmp_path: Path
) -> None:
    server = await harness.start()
    model = FakeModel()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        creds = await create_client(http, harness)
        cfg = agent.Config(
            tgw_url=server.base_url,
            client_id=creds["X-WM-CLIENT-ID"],
            client_secret=creds["X-WM-CLIENT-SECRET"],
            llm_url="https://llm.example.com/v1",
            llm_key="sk-test",
            model="gpt-test",
            state_file=tmp_path / "agent.seq",
        )
        await register(http, harness, PERSON, "Hola")

        async with running_agent(server, cfg, model):
            await ask(http, harness, "Where is my order?")
            (first,) = await eventually(lambda: answers(http, harness), "the first answer")
        assert first["text"] == "About 'Where is my order?': it ships today."
        assert first["reply_to"] is not None  # an answer to the person's message
        turns = model.requests[0]["messages"]
        assert turns[0]["role"] == "system" and turns[-1] == {
            "role": "user",
            "content": "Where is my order?",
        }

        # A question while the agent is down is answered when it is back, with the history.
        await ask(http, harness, "And the invoice?")
        async with running_agent(server, cfg, model):
            found = await eventually(
                lambda: _at_least(answers(http, harness), 2), "the answer to the second question"
            )
        assert [a["text"] for a in found][-1] == "About 'And the invoice?': it ships today."
        history = [t["content"] for t in model.requests[-1]["messages"][1:]]
        assert history[-3:] == [
            "Where is my order?",
            "About 'Where is my order?': it ships today.",
            "And the invoice?",
        ]

        # Handled events seen again (the state file lost): the Idempotency-Key sends nothing.
        handled = agent.load_seq(cfg.state_file)
        cfg.state_file.unlink()
        asked_before = len(model.requests)
        async with running_agent(server, cfg, model):
            await eventually(
                lambda: agent.load_seq(cfg.state_file) == handled, "both events handled again"
            )
        assert len(model.requests) == asked_before + 2  # the model was asked again...
        assert len(await answers(http, harness)) == 2  # ...and nothing more was sent


async def _at_least(found: Any, count: int) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = await found
    return rows if len(rows) >= count else None
