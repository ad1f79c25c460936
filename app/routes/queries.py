"""Query parameters read through the model their route documents (`Doc(query=...)`).

A query model derives from `Query`: parameters it does not name are ignored, an empty one is
the same as an absent one (its default), and its fields are checked in their order, the first
wrong one answering. Integers are ASCII digits within the field's bounds (`ge`, `le`), refused
with the messages the API has always given ("'limit' must be an integer", "'limit' must be
between 1 and 500"); a field's own validator raises the ApiError it gives.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from annotated_types import Ge, Le
from pydantic import ValidationError, ValidationInfo, field_validator

from app.routes.apidoc import Model
from app.routes.bodies import body_error
from app.routes.common import int_param

Q = TypeVar("Q", bound="Query")


class Query(Model):
    """The query parameters of one route."""

    @field_validator("*", mode="before")
    @classmethod
    def _integer(cls, value: Any, info: ValidationInfo) -> Any:
        bounds = _integers(cls).get(info.field_name or "")
        if bounds is None or not isinstance(value, str):
            return value
        return int_param(value, info.field_name or "", 0, *bounds)


@functools.cache
def _integers(model: type[Query]) -> dict[str, tuple[int, int]]:
    """The integer fields of `model`, with their bounds."""
    found: dict[str, tuple[int, int]] = {}
    for name, info in model.model_fields.items():
        if info.annotation is not int:
            continue
        low, high = -(2**63), 2**63 - 1
        for bound in info.metadata:
            if isinstance(bound, Ge):
                low = int(bound.ge)  # type: ignore[call-overload]
            elif isinstance(bound, Le):
                high = int(bound.le)  # type: ignore[call-overload]
        found[name] = (low, high)
    return found


def parse_query(model: type[Q], params: Mapping[str, str]) -> Q:
    """The query `params` as a `model`."""
    data = {name: value for name, value in params.items() if value != ""}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise body_error(model, exc.errors(include_url=False, include_input=False)) from None
