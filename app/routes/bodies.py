"""Request bodies and query strings of the admin, sandbox, webhook and console API: the
documented pydantic model of each is the one that validates it (`parse_body`, `parse_query`),
and `body_error` is the one mapping of what pydantic refuses to the API's error codes and
messages.

Body models (`Body`) are strict (a string is not an integer, `true` is not 1) and refuse
unknown fields, so a misspelt or unsupported field is a 400 that names it instead of being
silently ignored.
Bounds follow the database columns (PostgreSQL refuses an over-long VARCHAR or an INTEGER
past 32 bits, where SQLite would store it), so nothing reaches the database that it refuses.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from app.errors import ApiError
from app.routes.common import ASCII_INTEGER

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class Body(BaseModel):
    """A request body (or an object inside one)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# Field shapes used by several bodies.
Text255 = Annotated[str, Field(max_length=255)]
# A phone number, as a string or a bare integer; outbound/validation.py checks the digits.
PhoneNumber = (
    Annotated[str, Field(max_length=64, examples=["14155552671"])]
    | Annotated[int, Field(ge=0, le=INT64_MAX)]
)
# Telegram message ids are 32-bit.
MessageId = Annotated[int, Field(ge=1, le=INT32_MAX)]

B = TypeVar("B", bound=BaseModel)
T = TypeVar("T")


def _missing() -> PydanticCustomError:
    return PydanticCustomError("missing", "Field required")


def _given(value: Any) -> Any:
    if value is None or value == "":
        raise _missing()
    return value


# A required field for which null or "" is as good as leaving it out: "Missing field 'x'".
Given = BeforeValidator(_given)


def _stripped(value: str) -> str:
    if not value.strip():
        raise _missing()
    return value.strip()


# A required text taken without its surrounding blanks; only blanks: "Missing field 'x'".
Stripped = AfterValidator(_stripped)


def refusing(check: Callable[[Any], T]) -> Callable[[Any], T]:
    """`check`, which raises ApiError, as a validator: its refusal is an error pydantic
    collects with the others (so unknown fields are still named first), and `body_error`
    answers it as the ApiError it was."""

    def run(value: Any) -> T:
        try:
            return check(value)
        except ApiError as exc:
            context = {"code": exc.code, "message": exc.message}
            raise PydanticCustomError("api_error", "{message}", context) from None

    return run


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
        # At most ten names of at most 40 characters: the message never echoes a huge body.
        names = [_where(e["loc"])[:40] for e in unknown[:10]]
        accepted = _accepted(model, unknown[0]["loc"][:-1])
        return ApiError(
            "invalid_field",
            f"unknown field(s) {', '.join(repr(n) for n in names)}; "
            f"accepted: {', '.join(accepted)}",
        )
    first = errors[0]
    where = _where(first["loc"])
    if first["type"] == "api_error":
        ctx = first.get("ctx") or {}
        return ApiError(str(ctx["code"]), str(ctx["message"]))
    if first["type"] == "missing":
        # A field's title says what it is, where the name alone does not ("the admin token").
        title = _field_at(model, first["loc"])
        suffix = f" ({title.title})" if title is not None and title.title else ""
        return ApiError("missing_field", f"Missing field '{where}'{suffix}")
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
    # A nested model's branch is its class name ("InboundLocation"): fields are snake_case.
    return (
        part in {"str", "int", "bool", "float", "constrained-str", "constrained-int"}
        or ("[" in part and part.endswith("]"))
        or part[:1].isupper()
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


def _field_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The field a top-level error is about (None for a nested one)."""
    if len(loc) != 1 or not isinstance(loc[0], str):
        return None
    return _fields_by_name(model).get(loc[0])


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


# --- query strings --------------------------------------------------------------------------


def parse_query(model: type[B], params: Mapping[str, str]) -> B:
    """The query string as a `model`, or the ApiError that says what is wrong (400).

    Parameters the model does not name are ignored, and an empty one counts as left out (its
    default). Integers are ASCII digits; out of bounds: "'limit' must be between 1 and 500".
    """
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        raw = params.get(key)
        if raw is None or raw == "":
            continue
        if _takes_int(info.annotation):
            # ASCII digits only: int() also takes other scripts' digits ("١").
            if not ASCII_INTEGER.fullmatch(raw.strip()):
                raise ApiError("invalid_field", f"'{key}' must be an integer")
            data[key] = int(raw)
        else:
            data[key] = raw
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise _query_error(model, first) from None


def _query_error(model: type[BaseModel], error: ErrorDetails) -> ApiError:
    key = _where(error["loc"])
    info = _fields_by_name(model).get(key)
    if info is not None and error["type"] in ("greater_than_equal", "less_than_equal"):
        low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
        high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
        return ApiError("invalid_field", f"'{key}' must be between {low} and {high}")
    if info is not None and error["type"] == "literal_error":
        choices = [str(c) for c in _literal_args(info.annotation)]
        return ApiError("invalid_field", f"'{key}' must be one of {', '.join(choices)}")
    return ApiError("invalid_field", f"'{key}' {_describe(error)}")


def _takes_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return get_origin(annotation) in (Union, types.UnionType) and int in get_args(annotation)


def _literal_args(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    for arg in get_args(annotation):
        if get_origin(arg) is Literal:
            return get_args(arg)
    return ()
