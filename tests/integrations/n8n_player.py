"""Plays an n8n workflow the way n8n would, for exactly the node types and expressions the
recipe uses: Webhook (v2), IF (v2), Edit Fields/Set (v3.4) and HTTP Request (v4.2) with a
Header Auth credential. Anything else is refused, so the workflow cannot drift into features
this player would silently get wrong.

Expressions: a parameter starting with "=" is a template; `{{ ... }}` inside holds
`$json.a.b` paths, 'quoted' literals, `JSON.stringify(...)` and `a || b` (JavaScript's "or":
the first truthy value). A template that is a single `{{ ... }}` keeps the value's type, as in
n8n.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

Json = dict[str, Any]
SUPPORTED = {
    "n8n-nodes-base.webhook": 2,
    "n8n-nodes-base.if": 2,
    "n8n-nodes-base.set": 3.4,
    "n8n-nodes-base.httpRequest": 4.2,
}
TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
PATH = re.compile(r"\$json((?:\.[A-Za-z_]\w*|\['[^']*'\])*)")


class Unsupported(Exception):
    pass


class NodeFailed(Exception):
    """A node failed (an HTTP Request answered 4xx/5xx): n8n stops the execution."""


def render(value: Any, item: Json) -> Any:
    if not isinstance(value, str) or not value.startswith("="):
        return value
    template = value[1:]
    whole = TEMPLATE.fullmatch(template.strip())
    if whole is not None:
        return expression(whole.group(1), item)
    return TEMPLATE.sub(lambda m: as_text(expression(m.group(1), item)), template)


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def expression(source: str, item: Json) -> Any:
    alternatives = [a.strip() for a in split_or(source)]
    value: Any = None
    for alternative in alternatives:
        value = term(alternative, item)
        if value:
            return value
    return value


def split_or(source: str) -> list[str]:
    parts, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(source):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif source.startswith("||", i) and depth == 0:
            parts.append(source[start:i])
            start = i + 2
    return [*parts, source[start:]]


def term(source: str, item: Json) -> Any:
    if source.startswith("JSON.stringify(") and source.endswith(")"):
        return json.dumps(expression(source[len("JSON.stringify(") : -1], item), ensure_ascii=False)
    if len(source) >= 2 and source[0] == source[-1] and source[0] in "'\"":
        return source[1:-1]
    match = PATH.fullmatch(source)
    if match is None:
        raise Unsupported(f"expression {source!r}")
    value: Any = item
    for key in re.findall(r"\.([A-Za-z_]\w*)|\['([^']*)'\]", match.group(1)):
        name = key[0] or key[1]
        value = value.get(name) if isinstance(value, dict) else None
    return value


def condition_holds(condition: Json, item: Json, strict: bool) -> bool:
    left = render(condition["leftValue"], item)
    right = render(condition.get("rightValue"), item)
    kind, operation = condition["operator"]["type"], condition["operator"]["operation"]
    exists = left is not None
    if strict and exists and not matches_type(left, kind):
        raise NodeFailed(f"wrong type: {left!r} is not a {kind}")
    empty = left is None or left in ("", [], {})
    checks = {
        "exists": exists,
        "notExists": not exists,
        "empty": empty,
        "notEmpty": not empty,
        "equals": left == right,
        "notEquals": left != right,
    }
    if operation not in checks:
        raise Unsupported(f"IF operation {operation!r}")
    return checks[operation]


def matches_type(value: Any, kind: str) -> bool:
    types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "number": (int, float),
        "boolean": bool,
        "object": dict,
        "array": list,
    }
    return isinstance(value, types[kind])


@dataclass
class Player:
    workflow: Json
    http: httpx.AsyncClient
    credentials: dict[str, tuple[str, str]]  # Header Auth credential name -> (header, value)
    requests: list[httpx.Response] = field(default_factory=list)

    def node(self, name: str) -> Json:
        [found] = [n for n in self.workflow["nodes"] if n["name"] == name]
        return found

    async def webhook(self, path: str, headers: dict[str, str], body: Any) -> list[str]:
        """n8n receives a POST on /webhook/<path>: the names of the nodes that ran."""
        [trigger] = [
            n
            for n in self.workflow["nodes"]
            if n["type"] == "n8n-nodes-base.webhook" and n["parameters"]["path"] == path
        ]
        assert trigger["parameters"]["httpMethod"] == "POST"
        item = {
            "headers": {k.lower(): v for k, v in headers.items()},
            "params": {},
            "query": {},
            "body": body,
            "webhookUrl": f"https://n8n.example.com/webhook/{path}",
            "executionMode": "production",
        }
        ran: list[str] = []
        await self.run(trigger, [item], ran)
        return ran

    async def run(self, node: Json, items: list[Json], ran: list[str]) -> None:
        if SUPPORTED.get(node["type"]) != node["typeVersion"]:
            raise Unsupported(f"{node['type']} v{node['typeVersion']}")
        ran.append(node["name"])
        outputs = await self.execute(node, items)
        links = self.workflow["connections"].get(node["name"], {}).get("main", [])
        for output, targets in zip(outputs, links, strict=False):
            for target in targets if output else []:
                await self.run(self.node(target["node"]), output, ran)

    async def execute(self, node: Json, items: list[Json]) -> list[list[Json]]:
        kind, parameters = node["type"], node["parameters"]
        if kind == "n8n-nodes-base.webhook":
            return [items]
        if kind == "n8n-nodes-base.if":
            conditions = parameters["conditions"]
            strict = conditions["options"]["typeValidation"] == "strict"
            combine = all if conditions["combinator"] == "and" else any
            kept: list[Json] = []
            dropped: list[Json] = []
            for item in items:
                holds = combine(condition_holds(c, item, strict) for c in conditions["conditions"])
                (kept if holds else dropped).append(item)
            return [kept, dropped]
        if kind == "n8n-nodes-base.set":
            return [[self.assign(parameters, item) for item in items]]
        return [[await self.request(node, item) for item in items]]

    def assign(self, parameters: Json, item: Json) -> Json:
        if parameters.get("includeOtherFields") or parameters.get("options"):
            raise Unsupported("Set options")
        out: Json = {}
        for assignment in parameters["assignments"]["assignments"]:
            value = render(assignment["value"], item)
            if assignment["type"] == "string":
                value = as_text(value)
            elif assignment["type"] == "number" and not isinstance(value, int | float):
                raise NodeFailed(f"{assignment['name']}: {value!r} is not a number")
            out[assignment["name"]] = value
        return out

    async def request(self, node: Json, item: Json) -> Json:
        parameters = node["parameters"]
        known = {"method", "url", "authentication", "genericAuthType", "sendHeaders",
                 "headerParameters", "sendBody", "specifyBody", "jsonBody", "options"}  # fmt: skip
        if set(parameters) - known or parameters.get("options"):
            raise Unsupported(f"HTTP Request parameters {sorted(set(parameters) - known)}")
        headers = {
            h["name"]: as_text(render(h["value"], item))
            for h in parameters["headerParameters"]["parameters"]
        }
        assert parameters["authentication"] == "genericCredentialType"
        assert parameters["genericAuthType"] == "httpHeaderAuth"
        name, value = self.credentials[node["credentials"]["httpHeaderAuth"]["name"]]
        headers[name] = value
        assert parameters["sendBody"] and parameters["specifyBody"] == "json"
        body = render(parameters["jsonBody"], item)
        body = json.loads(body) if isinstance(body, str) else body
        response = await self.http.request(
            parameters["method"], render(parameters["url"], item), json=body, headers=headers
        )
        self.requests.append(response)
        if response.status_code >= 400:
            raise NodeFailed(f"{node['name']}: {response.status_code} {response.text}")
        answer: Json = response.json()
        return answer
