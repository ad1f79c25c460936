"""Answers as models: the documented model of an answer is the one a handler builds and returns
(`JSON(model)`, rendered by app/json_encoding.py), so the document cannot drift from the body.

A `View` writes the fields it was given, and only those: an answer that leaves a documented
field out (a login that has no QR code yet, an endpoint listed without its deliveries) leaves
it out on the wire too, as the builders always did. A key the model does not name is refused
when the model is built (a builder that grew a field the document does not describe fails at
once, in the tests, instead of being dropped).
"""

from __future__ import annotations

from typing import Any

from pydantic import SerializerFunctionWrapHandler, model_serializer, model_validator

from app.routes.apidoc import Model


class View(Model):
    """A documented answer (or an object inside one)."""

    @model_validator(mode="before")
    @classmethod
    def _named_keys_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            names = {info.alias or name for name, info in cls.model_fields.items()}
            unknown = set(data) - names - set(cls.model_fields)
            if unknown:
                raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
        return data

    # Unannotated on purpose: pydantic takes a serializer's return annotation as the answer's
    # JSON Schema, and the document must show the model's own.
    @model_serializer(mode="wrap")
    def _given_fields(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        if isinstance(data, dict):
            for name, info in type(self).model_fields.items():
                if name not in self.model_fields_set:
                    data.pop(info.alias or name, None)
                    data.pop(name, None)
        return data
