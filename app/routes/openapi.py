"""The OpenAPI paths and schemas, generated from the route table (app/routes/apidoc.py).

Every route declared with `endpoint(..., doc=...)` becomes an operation (or one per concrete
path, for a route with `expansions`); its bodies and answers are pydantic models, turned into
JSON Schema under `#/components/schemas/<model name>`. Security and the shared error answers
(`#/components/responses/<family><status>`) come from the route's surface. Limits from the
settings are filled in last (`fill_limits`): `x-limit` marks become `maxLength`/`maxItems`, and
`${name}` in a text becomes the limit's value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from starlette.routing import BaseRoute

from app.routes.apidoc import Answer, Body, Doc, Outgoing
from app.routes.error_answers import error_responses
from app.routes.surface import Endpoint, endpoint_of
from app.settings import LimitsSettings

Schema = dict[str, Any]
REF = "#/components/schemas/{model}"
MIB = 1024 * 1024
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def human(size: int) -> str:
    """2097152 -> '2 MiB (2097152 bytes)'; 1000 -> '1000 bytes'."""
    if size >= MIB and size % 1024 == 0:
        return f"{size / MIB:.3g} MiB ({size} bytes)"
    return f"{size} bytes"


def openapi_path(path: str) -> str:
    """'/api/v1/messages/{id:str}' -> '/api/v1/messages/{id}'."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def documented(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, str, Endpoint, Doc]]:
    """(path, method, endpoint, doc) of every documented operation of `routes`."""
    for route in routes:
        info = endpoint_of(route)
        if info is None:
            continue
        methods = [m.lower() for m in info.methods if m != "HEAD"]
        for method in methods:
            if info.expansions:
                for expansion in info.expansions:
                    yield expansion.path, method, info, expansion.doc
            elif info.doc is not None:
                yield openapi_path(info.path), method, info, info.doc


class _Generator(GenerateJsonSchema):
    """Pydantic's JSON Schema without a title on every field."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


# Pydantic leaves a number's bounds under their Python names when the field is `int | Omitted`.
# A docstring's wrapped lines are one paragraph.
_LINE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _clean(node: Any) -> Any:
    """Without pydantic's titles, and without `default: null` on a field that is simply left
    out (pydantic writes it for every optional field); bounds by their JSON Schema names, and
    descriptions from docstrings unwrapped."""
    if isinstance(node, dict):
        number = node.get("type") in ("integer", "number")
        found = {}
        for key, value in node.items():
            if (key == "title" and isinstance(value, str)) or (key == "default" and value is None):
                continue
            if key == "description" and isinstance(value, str):
                found[key] = _LINE_BREAK.sub(" ", value)
            else:
                found[_BOUNDS.get(key, key) if number else key] = _clean(value)
        return found
    if isinstance(node, list):
        return [_clean(value) for value in node]
    return node


def _parameters(model: type[BaseModel] | None, where: str) -> list[Schema]:
    if model is None:
        return []
    schema = _clean(model.model_json_schema(by_alias=True, schema_generator=_Generator))
    required = set(schema.get("required", ()))
    found = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", "")
        found.append(
            {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                "description": description,
                "schema": prop,
            }
        )
    return found


class _Models:
    """The models the operations use, each turned into a schema once (by name)."""

    def __init__(self) -> None:
        self.wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> Schema:
        if (model, mode) not in self.wanted:
            self.wanted.append((model, mode))
        return {"$ref": REF.format(model=model.__name__)}

    def schemas(self) -> dict[str, Schema]:
        if not self.wanted:
            return {}
        refs, defs = models_json_schema(self.wanted, ref_template=REF, schema_generator=_Generator)
        for (model, _), found in refs.items():
            if found != {"$ref": REF.format(model=model.__name__)}:
                raise ValueError(f"two models are named {model.__name__}")
        schemas: dict[str, Schema] = _clean(defs.get("$defs", {}))
        return schemas


def _answer(answer: Answer, models: _Models) -> Schema:
    found: Schema = {"description": answer.description}
    if answer.retry_after is not None:
        found["headers"] = {
            "Retry-After": {
                "description": answer.retry_after,
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    if answer.media is None:
        return found
    if answer.media == "text/event-stream" and answer.model is not None:
        # OpenAPI 3.1: the schema of a stream of Server-Sent Events describes each event.
        found["content"] = {answer.media: {"schema": models.ref(answer.model, "serialization")}}
    elif answer.media != "application/json":
        schema: Schema = {"type": "string"}
        if answer.media.startswith(("image/", "application/octet", "*/*")):
            schema["format"] = "binary"
        found["content"] = {answer.media: {"schema": schema}}
    else:
        schema = (
            {"type": "object"}
            if answer.model is None
            else models.ref(answer.model, "serialization")
        )
        found["content"] = {"application/json": {"schema": schema}}
    return found


def _request_body(body: Any, models: _Models) -> Schema:
    if isinstance(body, Body):
        content = {"application/json": {"schema": models.ref(body.model, "validation")}}
        if body.multipart is not None:
            content["multipart/form-data"] = {"schema": models.ref(body.multipart, "validation")}
    else:  # an Upload: the file's own bytes
        content = {
            media: {"schema": {"type": "string", "format": "binary"}} for media in body.media
        }
    return {"description": body.description, "required": body.required, "content": content}


def _operation(
    doc: Doc, security: tuple[str, ...], family: str, models: _Models, scope: str | None = None
) -> Schema:
    """One operation; `security` and the error `family` are its surface's unless `doc` says.
    `scope`: what an API client's key needs for it (`x-required-scope`, and 403 when lacking)."""
    if doc.security is not None:
        security = doc.security
    op: Schema = {
        "operationId": doc.operation_id,
        "tags": [doc.tag],
        "summary": doc.summary,
        "description": doc.description,
    }
    errors = doc.errors
    if scope is not None:
        op["description"] = (
            f"{doc.description}\n\nRequires the API key scope `{scope}` (403 scope_missing "
            "without it)."
        )
        op["x-required-scope"] = scope
        errors = tuple(sorted({*errors, 403}))
    if doc.deprecated:
        op["deprecated"] = True
    op["security"] = [{name: [] for name in security}] if security else []
    parameters = [
        *_parameters(doc.path, "path"),
        *_parameters(doc.query, "query"),
        *_parameters(doc.headers, "header"),
    ]
    if parameters:
        op["parameters"] = parameters
    if doc.body is not None:
        op["requestBody"] = _request_body(doc.body, models)
    family = doc.error_family or family
    responses: Schema = {str(s): _answer(a, models) for s, a in doc.answers.items()}
    for status in errors:
        answer: Schema = {"$ref": f"#/components/responses/{family}{status}"}
        if status in doc.error_texts:
            answer["description"] = doc.error_texts[status]
        responses[str(status)] = answer
    op["responses"] = dict(sorted(responses.items()))
    return op


@dataclass(frozen=True)
class Generated:
    paths: dict[str, Schema]
    webhooks: dict[str, Schema]
    schemas: dict[str, Schema]
    responses: dict[str, Schema]


def generate(
    routes: Iterable[BaseRoute],
    outgoing: Iterable[Outgoing] = (),
    shown: Iterable[type[BaseModel]] = (),
) -> Generated:
    """The paths, schemas and shared error answers of every documented route, the requests
    the gateway makes (`outgoing`: POSTs, no security), and the models `shown` though no
    operation refers to them (limits not yet filled)."""
    models = _Models()
    paths: dict[str, Schema] = {}
    for path, method, info, doc in documented(routes):
        item = paths.setdefault(path, {})
        if method in item:
            raise ValueError(f"{method.upper()} {path} is documented twice")
        scope = info.scope if info.surface.scoped and not info.public else None
        item[method] = _operation(
            doc, info.surface.security, info.surface.error_family, models, scope
        )
    webhooks = {
        hook.name: {"post": _operation(hook.doc, (), "Native", models)} for hook in outgoing
    }
    for model in shown:
        models.ref(model, "serialization")
    responses = error_responses(lambda model: models.ref(model, "serialization"))
    return Generated(paths, webhooks, models.schemas(), responses)


def limit_values(limits: LimitsSettings, **extra: int | str) -> dict[str, int | str]:
    return {**limits.model_dump(), **extra}


def fill_limits(node: Any, values: dict[str, int | str]) -> Any:
    """`node` with its `x-limit` marks and `${name}` texts filled from `values`."""
    if isinstance(node, dict):
        found = {k: fill_limits(v, values) for k, v in node.items() if k != "x-limit"}
        if "x-limit" in node:
            key = "maxItems" if node.get("type") == "array" else "maxLength"
            found[key] = values[node["x-limit"]]
        return found
    if isinstance(node, list):
        return [fill_limits(v, values) for v in node]
    if isinstance(node, str) and "${" in node:
        return _PLACEHOLDER.sub(lambda m: _text(m.group(1), values), node)
    return node


def _text(name: str, values: dict[str, int | str]) -> str:
    value = values[name]
    if name.endswith("_bytes") and isinstance(value, int):
        return human(value)
    return str(value)
