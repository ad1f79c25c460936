"""JSON bodies of the admin and sandbox API: a small pydantic model per body, and the one
mapping of what pydantic refuses to the API's error codes and messages.

Models are strict (a string is not an integer, `true` is not 1) and refuse unknown fields, so
a misspelt or unsupported field is a 400 that names it instead of being silently ignored.
Bounds follow the database columns (PostgreSQL refuses an over-long VARCHAR or an INTEGER
past 32 bits, where SQLite would store it), so nothing reaches the database that it refuses.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from app.errors import ApiError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class Body(BaseModel):
    """A request body (or an object inside one)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# Field shapes used by several bodies.
Text255 = Annotated[str, Field(max_length=255)]
# A phone number, as a string or a bare integer; outbound/validation.py checks the digits.
PhoneNumber = Annotated[str, Field(max_length=64)] | Annotated[int, Field(ge=0, le=INT64_MAX)]
# Telegram message ids are 32-bit.
MessageId = Annotated[int, Field(ge=1, le=INT32_MAX)]

B = TypeVar("B", bound=BaseModel)


def parse_body(model: type[B], data: dict[str, Any]) -> B:
    """`data` as a `model`, or the ApiError that says what is wrong (400)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise body_error(model, exc.errors(include_url=False, include_input=False)) from None


def body_error(model: type[BaseModel], errors: list[ErrorDetails]) -> ApiError:
    # Unknown fields first, all of them at once: the likeliest mistake is a misspelt name.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        names = [_where(e["loc"]) for e in unknown]
        accepted = _accepted(model, unknown[0]["loc"][:-1])
        return ApiError(
            "invalid_field",
            f"unknown field(s) {', '.join(repr(n) for n in names)}; "
            f"accepted: {', '.join(accepted)}",
        )
    first = errors[0]
    where = _where(first["loc"])
    if first["type"] == "missing":
        return ApiError("missing_field", f"Missing field '{where}'")
    return ApiError("invalid_field", f"'{where}' {_describe(first)}")


def _where(loc: tuple[int | str, ...]) -> str:
    """('from', 'number') -> 'from.number'; ('members', 2) -> 'members[2]'. Union branches
    (pydantic names them by type: 'str', 'constrained-int', 'function-after[...]') are left
    out, so the path is the caller's."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _is_branch_name(part):
            path = f"{path}.{part}" if path else part
    return path or "body"


def _is_branch_name(part: str) -> bool:
    return part in {"str", "int", "bool", "float", "constrained-str", "constrained-int"} or (
        "[" in part and part.endswith("]")
    )


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    simple = {
        "string_type": "must be a string",
        "int_type": "must be an integer",
        "bool_type": "must be true or false",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "list_type": "must be a list",
    }
    if kind in simple:
        return simple[kind]
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "string_too_long":
        return f"may have at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"must have at least {ctx.get('min_length')} character(s)"
    if kind == "too_long":
        return f"may have at most {ctx.get('max_length')} items"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    return str(error["msg"])


def _accepted(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the (nested) model at `loc`, for the unknown-field message."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or _is_branch_name(part):
            continue
        fields = _fields_by_name(current) if _is_model(current) else {}
        if part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    return sorted(_fields_by_name(current)) if _is_model(current) else []


def _fields_by_name(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """The fields by the name a body uses ("from", not the attribute `from_`)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _model_in(annotation: Any) -> Any:
    """The model class inside `Model | None` (or the annotation itself)."""
    if _is_model(annotation):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            if _is_model(arg):
                return arg
    return annotation
