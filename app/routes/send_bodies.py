"""Send bodies (WhatsMate v3 and v1, native): validated by the models the OpenAPI document
shows, and the one mapping of what they refuse to the codes and messages of the send surfaces.

The body models (`whatsmate_schemas.py`, `messages_schemas.py`) derive from the bases here,
whose field validators call the content checks of `outbound/requests.py` and
`outbound/validation.py`. Those checks raise `ApiError` with the exact WhatsMate texts; a
validator hands it on as a pydantic error of type `api_error`, so that the errors keep the
order of the fields (the first one answers, as when the body was read field by field) and
`send_error` gives back the same ApiError. Bodies are open: fields a model does not name are
ignored, as WhatsMate ignores them. The limits come from the settings through the validation
context, so each model is built once, not per deployment or per request.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import (
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from app.errors import ApiError
from app.routes.apidoc import Model
from app.routes.bodies import body_error
from app.settings import LimitsSettings
from app.telegram.port import MEDIA_KINDS, MediaKind
from outbound.expiry import ttl_seconds
from outbound.fetch import MediaFetcher, MediaUrl
from outbound.requests import (
    Content,
    Target,
    batch_numbers,
    destination,
    flag,
    group_admin,
    group_title,
    native_content,
    native_instance,
    reply_target,
    requests_for,
)
from outbound.send_request import SendRequest
from outbound.validation import (
    base64_text,
    check_caption,
    check_filename,
    check_media,
    check_text,
    decode_base64,
)

API_ERROR = "api_error"
F = TypeVar("F", bound=Callable[..., Any])
B = TypeVar("B", bound="SendBody")


def checked(check: F) -> F:
    """A validator whose ApiError becomes a pydantic error in its field's place."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ApiError as exc:
            context = {"code": exc.code, "message": exc.message}
            raise PydanticCustomError(API_ERROR, "{message}", context) from None

    return run  # type: ignore[return-value]


def limits_of(info: ValidationInfo) -> LimitsSettings:
    found: LimitsSettings = (info.context or {})["limits"]
    return found


def _required(model: type[SendBody], info: ValidationInfo) -> bool:
    return info.field_name is not None and model.model_fields[info.field_name].is_required()


class SendBody(Model):
    """A send body (open: unknown fields are ignored)."""

    # What an absent required field answers, where it is not "Missing field '<name>'".
    missing: ClassVar[dict[str, tuple[str, str]]] = {}
    # The order fields are checked in, which is which error a body with several gets answered
    # (the document lists them in its own order). Fields not named come after, in their order.
    check_order: ClassVar[tuple[str, ...]] = ()


def parse_send(
    model: type[B],
    data: dict[str, Any],
    limits: LimitsSettings,
    upload: tuple[bytes, str | None] | None = None,
) -> B:
    """`data` as a `model`, or the ApiError the send surfaces answer."""
    try:
        return model.model_validate(data, context={"limits": limits, "upload": upload})
    except ValidationError as exc:
        raise send_error(model, exc.errors(include_url=False, include_input=False)) from None


def send_error(model: type[SendBody], errors: list[ErrorDetails]) -> ApiError:
    """The first error, in the order the fields are checked, as the send surfaces word it."""
    first = min(errors, key=lambda error: _check_rank(model, error))
    if first["type"] == API_ERROR:
        context = first.get("ctx") or {}
        return ApiError(str(context["code"]), str(context["message"]))
    if first["type"] == "missing" and len(first["loc"]) == 1:
        named = model.missing.get(str(first["loc"][0]))
        if named is not None:
            return ApiError(*named)
    return body_error(model, [first])


def _check_rank(model: type[SendBody], error: ErrorDetails) -> int:
    """Where the error's field comes in `check_order` (the order the gateway has always checked
    a body's fields in); errors of other places keep their own order behind them."""
    field = str(error["loc"][0]) if error["loc"] else ""
    order = model.check_order
    return order.index(field) if field in order else len(order)


def _media_missing(kind: MediaKind) -> tuple[str, str]:
    try:
        base64_text(kind, None)
    except ApiError as exc:
        return exc.code, exc.message
    raise AssertionError("an absent medium is always refused")


class WhatsMateBody(SendBody):
    """A v3 or v1 send: a target (number, numbers, or a group) and a text or a medium."""

    # The medium is decoded last, once the rest is right.
    check_order: ClassVar[tuple[str, ...]] = (
        "number",
        "numbers",
        "group_name",
        "group",
        "group_admin",
        "message",
        "caption",
        "filename",
        *MEDIA_KINDS,
    )

    missing: ClassVar[dict[str, tuple[str, str]]] = {
        "number": ("number_invalid", "Destination number is invalid: 'number' is missing"),
        "numbers": ("missing_field", "Missing field 'numbers' (a list of phone numbers)"),
        "group": ("missing_field", "Missing field 'group' (the group's name)"),
        **{kind: _media_missing(kind) for kind in MEDIA_KINDS},
    }
    _media: Any = PrivateAttr(None)
    if TYPE_CHECKING:
        # The fields the models built on this class (v3_model, v1_model) declare, by kind.
        message: str
        number: str
        numbers: list[str]
        group: str
        group_admin: str

    @field_validator("number", mode="before", check_fields=False)
    @classmethod
    @checked
    def _number(cls, value: object) -> str:
        return destination(value)

    @field_validator("numbers", mode="before", check_fields=False)
    @classmethod
    @checked
    def _numbers(cls, value: object, info: ValidationInfo) -> list[str]:
        return batch_numbers(value, limits_of(info).max_recipients)

    @field_validator("group_name", mode="before", check_fields=False)
    @classmethod
    @checked
    def _group_name(cls, value: object) -> str:
        return group_title(value)

    @field_validator("group", mode="before", check_fields=False)
    @classmethod
    @checked
    def _group(cls, value: object) -> str:
        return group_title(value, "group", " (the group's name)")

    @field_validator("group_admin", mode="before", check_fields=False)
    @classmethod
    @checked
    def _group_admin(cls, value: object, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            if _required(cls, info):
                raise ApiError("missing_field", "Missing field 'group_admin'")
            return None  # v1: the title alone names the group
        return group_admin(value)

    @field_validator("message", mode="before", check_fields=False)
    @classmethod
    @checked
    def _message(cls, value: object, info: ValidationInfo) -> str:
        return check_text(value, limits_of(info))

    @field_validator("caption", mode="before", check_fields=False)
    @classmethod
    @checked
    def _caption(cls, value: object, info: ValidationInfo) -> str | None:
        return check_caption(value, limits_of(info))

    @field_validator("filename", mode="before", check_fields=False)
    @classmethod
    @checked
    def _filename(cls, value: object, info: ValidationInfo) -> str | None:
        return check_filename(value, required=_required(cls, info))

    @field_validator(*MEDIA_KINDS, mode="before", check_fields=False)
    @classmethod
    @checked
    def _base64(cls, value: object, info: ValidationInfo) -> str:
        kind: MediaKind = info.field_name  # type: ignore[assignment]
        return base64_text(kind, value)

    @model_validator(mode="after")
    @checked
    def _decode(self, info: ValidationInfo) -> WhatsMateBody:
        """The medium decoded and sniffed, once every field is right (as it always came last)."""
        fields = type(self).model_fields
        for kind in MEDIA_KINDS:
            if kind in fields:
                raw = decode_base64(kind, getattr(self, kind), limits_of(info))
                self._media = check_media(kind, raw, getattr(self, "filename", None))
        return self

    def requests(self, kind: str, instance: int) -> list[SendRequest]:
        """The messages this body asks for: one, or one per number of a batch."""
        if kind == "text":
            what = Content("text", text=self.message)
        else:
            what = Content(kind, media=self._media, caption=getattr(self, "caption", None))
        fields = type(self).model_fields
        if "numbers" in fields:
            targets = [Target(number=number) for number in self.numbers]
        elif "number" in fields:
            targets = [Target(number=self.number)]
        else:
            name = getattr(self, "group_name", None) or self.group
            targets = [Target(group_name=name, group_admin=self.group_admin)]
        return requests_for(instance, what, targets)


def _deferred(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """Left as given: the content is checked as a whole once the target is known."""
    return value


class NativeBody(SendBody):
    """A POST /api/v1/messages body: instance, target, reply_to and the options, then one of
    text, media, location or contact."""

    _content: Any = PrivateAttr(None)
    if TYPE_CHECKING:
        # Declared by SendMessage (messages_schemas.py), the one model built on this class.
        instance: int
        to: str | None
        group_name: str | None
        group_admin: str | None
        reply_to: str | None
        silent: bool
        link_preview: bool
        text: Any
        media: Any
        location: Any
        contact: Any
        ttl_s: int | None
        expires_at: datetime | None

    @field_validator("instance", mode="before", check_fields=False)
    @classmethod
    @checked
    def _instance(cls, value: object) -> int:
        return native_instance(value)

    @field_validator("group_name", mode="before", check_fields=False)
    @classmethod
    @checked
    def _group_name(cls, value: object) -> str | None:
        return None if value is None else group_title(value)

    @field_validator("group_admin", mode="before", check_fields=False)
    @classmethod
    @checked
    def _group_admin(cls, value: object, info: ValidationInfo) -> str | None:
        if info.data.get("group_name") is None:
            return None  # a send to a number: ignored
        if value is None or value == "":
            raise ApiError("missing_field", "Missing field 'group_admin'")
        return group_admin(value)

    @field_validator("to", mode="before", check_fields=False)
    @classmethod
    @checked
    def _to(cls, value: object, info: ValidationInfo) -> str | None:
        if "group_name" not in info.data or info.data["group_name"] is not None:
            return None  # a send to a group (or a refused one): ignored
        return destination(value, "to")

    @field_validator("reply_to", mode="before", check_fields=False)
    @classmethod
    @checked
    def _reply_to(cls, value: object) -> str | None:
        return reply_target(value)

    @field_validator("silent", "link_preview", mode="before", check_fields=False)
    @classmethod
    @checked
    def _flag(cls, value: object, info: ValidationInfo) -> bool | None:
        return flag(value, info.field_name or "")

    @field_validator("ttl_s", mode="before", check_fields=False)
    @classmethod
    @checked
    def _ttl(cls, value: object) -> int | None:
        return ttl_seconds(value)

    _defer_media = field_validator("media", mode="wrap", check_fields=False)(_deferred)
    _defer_text = field_validator("text", mode="wrap", check_fields=False)(_deferred)
    _defer_cards = field_validator("location", "contact", mode="wrap", check_fields=False)(
        _deferred
    )

    @model_validator(mode="after")
    @checked
    def _check_content(self, info: ValidationInfo) -> NativeBody:
        context = info.context or {}
        self._content = native_content(
            self.text,
            self.media,
            limits_of(info),
            context.get("upload"),
            location=self.location,
            contact=self.contact,
        )
        return self

    @property
    def media_url(self) -> MediaUrl | None:
        """The medium to fetch before the send is accepted (media.url), if any."""
        content: Content = self._content
        return content.pending

    async def fetch_media(self, fetcher: MediaFetcher) -> None:
        """Media by URL: the file fetched and checked as a base64 medium is (outbound/fetch.py)."""
        content: Content = self._content
        if content.pending is not None:
            media = await fetcher.fetch(content.pending)
            self._content = dataclasses.replace(content, media=media, pending=None)

    def request(self) -> SendRequest:
        target = Target(
            number=self.to,
            group_name=self.group_name,
            group_admin=self.group_admin,
        )
        content: Content = self._content
        assert content.pending is None, "media by URL is fetched (fetch_media) before this"
        return requests_for(
            self.instance,
            content,
            [target],
            self.reply_to,
            silent=bool(self.silent),
            link_preview=self.link_preview is not False,
        )[0]
