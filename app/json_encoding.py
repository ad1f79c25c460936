"""The one JSON encoder of everything the gateway answers, sends or prints.

Answers are built from pydantic models (the same ones the OpenAPI document is generated from)
or plain dicts; moments leave in the one timestamp format of `app.timestamps` (UTC, `Z`),
whether they sit in a model or a dict. orjson does the work; its own datetime format
(`+00:00`) is bypassed so that no answer can carry a second format.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel

from app.timestamps import iso

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, BaseModel):
        # Python mode keeps datetimes as datetimes, so they come back here; aliases are the
        # names on the wire ("from", not "from_"). Every documented key is written, null or not.
        return value.model_dump(by_alias=True)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(content: Any, *, indent: bool = False) -> bytes:
    """`content` (models, dicts, lists, datetimes, enums) as JSON bytes; `indent` for people
    (the CLI's --json)."""
    option = _OPTIONS | orjson.OPT_INDENT_2 if indent else _OPTIONS
    return orjson.dumps(content, default=_default, option=option)
