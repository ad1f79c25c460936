"""The multipart form of POST /api/v1/messages, as the OpenAPI document shows it (the fields
are read as the JSON body's: app/routes/multipart.py)."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from app.routes.apidoc import Model, Number, Omitted, limit, number_field, one_of
from app.routes.callback_schemas import callback_url_field
from app.routes.messages_schemas import (
    EXPIRES_AT,
    GROUP_ADMIN,
    GROUP_NAME,
    LINK_PREVIEW,
    MEDIA_KIND,
    SILENT,
    TTL_S,
)
from app.telegram.port import ALL_MEDIA_KINDS
from outbound.expiry import TTL_S_MAX


class SendMessageUpload(Model):
    """Multipart upload: one 'file' part plus fields; same rules as the JSON body."""

    file: str | Omitted = Field(
        None,
        description="The medium as an uploaded file.",
        json_schema_extra={"contentMediaType": "application/octet-stream"},
    )
    media_kind: str | Omitted = Field(
        None,
        description="Kind of the uploaded file ('kind' works too). " + MEDIA_KIND,
        json_schema_extra=one_of(ALL_MEDIA_KINDS),
    )
    instance: int = Field(1, ge=1, description="Gateway instance number.")
    to: Number | Omitted = Field(None, description=number_field("the destination"))
    group_name: str | Omitted = Field(None, min_length=1, max_length=255, description=GROUP_NAME)
    group_admin: Number | Omitted = Field(None, description=GROUP_ADMIN)
    filename: str | Omitted = Field(
        None, max_length=255, description="File name; defaults to the upload's."
    )
    caption: str | Omitted = Field(
        None, description="Optional caption.", json_schema_extra=limit("caption_chars")
    )
    text: str | Omitted = Field(None, description="Text, or the caption when 'caption' is absent.")
    reply_to: str | Omitted = Field(None, description="Id of a message to answer.")
    silent: bool = Field(False, description=SILENT)
    link_preview: bool = Field(True, description=LINK_PREVIEW)
    ttl_s: int | Omitted = Field(None, ge=1, le=TTL_S_MAX, description=TTL_S)
    expires_at: AwareDatetime | Omitted = Field(None, description=EXPIRES_AT)
    callback_url: str | Omitted = callback_url_field()
