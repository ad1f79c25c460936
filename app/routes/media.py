"""GET /media/{id}: inbound media behind a signed, expiring link (app/media_links.py)."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError
from app.media_links import LinkError
from app.models import MediaBlob, table_of
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Doc, Model
from app.routes.common import services
from app.routes.error_answers import NativeError
from app.routes.surface import endpoint
from app.routes.surfaces import MEDIA

B = table_of(MediaBlob)
_SEL_BLOB = select(B.c.data, B.c.mime_type)


async def get_media(request: Request) -> Response:
    svc = services(request)
    media_id = str(request.path_params["id"])
    params = request.query_params
    try:
        svc.media_links.check(media_id, params.get("exp"), params.get("sig"))
    except LinkError as exc:
        raise ApiError("forbidden", str(exc)) from exc
    async with svc.database.read() as session:
        row = (await session.execute(_SEL_BLOB.where(B.c.id == media_id))).first()
    if row is None:
        raise ApiError("not_found", "This medium is no longer stored")
    return Response(
        bytes(row.data),
        media_type=row.mime_type or "application/octet-stream",
        headers={
            "cache-control": "private, max-age=3600",
            "x-content-type-options": "nosniff",
            "content-disposition": "attachment",
        },
    )


TAG_MEDIA = "Media links"


class MediaPath(Model):
    id: str = Field(description="The media id.")


class MediaLink(Model):
    exp: int = Field(description="Expiry (Unix time).")
    sig: str = Field(description="Signature.")


routes = [
    endpoint(
        MEDIA,
        "/media/{id:str}",
        get_media,
        doc=Doc(
            "getMedia",
            TAG_MEDIA,
            "Download inbound media",
            "The link comes in events as data.media.url, signed and valid for 24 h from when "
            "the event was rendered; no other authentication.",
            {
                200: Reply("The file.", media="*/*"),
                403: Reply("The link was altered, is incomplete or has expired.", NativeError),
                404: Reply("The medium is no longer stored.", NativeError),
            },
            path=MediaPath,
            query=MediaLink,
        ),
    )
]
