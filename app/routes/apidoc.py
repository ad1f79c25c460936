"""What a route documents of itself, for the generated OpenAPI document (app/routes/openapi.py).

An operation's documentation is a `Doc` given to `endpoint()`: its id, tag, summary and
description, its parameters and request body as pydantic models, and its answers. Security
and the shared error answers come from the route's surface.

Limits that come from the settings are never written as numbers here: a field marked with
`limit("text_chars")` gets `maxLength` (or `maxItems`) from the deployment's settings, and
`${image_bytes}` in any text of the document becomes the size ("2 MiB (2097152 bytes)").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

# A field that may be left out of a request: documented as its type only, not as nullable.
Omitted = SkipJsonSchema[None]

# Statuses every send can answer besides its success (the shared error answers).
SEND_ERRORS = (400, 401, 404, 409, 413, 469, 470, 471, 472, 474, 503)


def limit(name: str, **extra: Any) -> dict[str, Any]:
    """`json_schema_extra` of a field bounded by `settings.limits.<name>`."""
    return {"x-limit": name, **extra}


def one_of(options: Any, **extra: Any) -> dict[str, Any]:
    """`json_schema_extra` of a string that takes one of `options`."""
    return {"enum": [str(o) for o in options], **extra}


# A UUID message id, a timestamp and a base64 medium as they travel in JSON.
Uuid = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
INSTANCE_NUMBER_MAX = 2**31 - 1


def number_field(what: str) -> str:
    """The description of a phone number field."""
    return (
        f"Phone number with the country code and no '+' ({what}); a leading '+', spaces and "
        "dashes are tolerated and stripped. Must be a real phone number."
    )


Number = Annotated[str, Field(min_length=1, examples=["14155552671"])]


def base64_extra(**extra: Any) -> dict[str, Any]:
    return {"format": "byte", "contentEncoding": "base64", **extra}


class Model(BaseModel):
    """A documented body: open to fields it does not name (handlers ignore them)."""

    model_config = ConfigDict(populate_by_name=True)


class Closed(BaseModel):
    """A documented body that refuses unknown fields (a 400 naming them)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IdempotencyHeader(Model):
    idempotency_key: str | Omitted = Field(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="The same key with the same body within 24 h returns the first answer and "
        "sends once; with another body: 409.",
    )


class InstancePath(Model):
    instance: int = Field(
        ge=1,
        description="Gateway instance number (1 for the first account; ASCII digits).",
    )


@dataclass(frozen=True)
class Answer:
    """One documented answer: a JSON body of `model` (None: any object), another media type
    (`media`) as a string, or no body at all (`media` None). For `text/event-stream`, `model`
    (if any) describes each event of the stream."""

    description: str
    model: type[BaseModel] | None = None
    media: str | None = "application/json"
    retry_after: str | None = None  # the Retry-After header's meaning, when it has one


@dataclass(frozen=True)
class Body:
    """A request body: its JSON model, and the multipart one where uploads are accepted."""

    model: type[BaseModel]
    description: str
    required: bool = True
    multipart: type[BaseModel] | None = None


@dataclass(frozen=True)
class Upload:
    """A request body that is a file's own bytes, in one of the `media` types."""

    description: str
    media: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class Doc:
    """The documentation of one operation."""

    operation_id: str
    tag: str
    summary: str
    description: str
    answers: Mapping[int, Answer]
    # Shared error answers of the surface, by status; `error_texts` overrides their text.
    errors: Sequence[int] = ()
    error_texts: Mapping[int, str] = field(default_factory=dict)
    deprecated: bool = False
    path: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    body: Body | Upload | None = None
    # Security scheme names, where they differ from the surface's (() for none).
    security: tuple[str, ...] | None = None
    # The error family ("Wm", "V1", "Native", "Admin"), where it differs from the surface's.
    error_family: str | None = None


@dataclass(frozen=True)
class Expansion:
    """One concrete path a generic route serves, documented as an operation of its own."""

    path: str
    doc: Doc


@dataclass(frozen=True)
class Outgoing:
    """A request the gateway makes to others (the OpenAPI `webhooks` section), by its name."""

    name: str
    doc: Doc
