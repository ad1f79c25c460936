"""The checks of the native kinds that carry no file: a location (a point, or a venue with a
title) and a contact card. Pure; they raise ApiError with the message the caller gets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from app.errors import ApiError
from app.telegram.port import ContactCard, Location
from outbound.validation import normalize_number, reject_nul

# Telegram's limits for a venue's title and address, and for a contact's names.
VENUE_TEXT_MAX = 255
NAME_MAX = 64


def _object(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ApiError("invalid_field", f"'{field}' must be an object")
    return value


def _coordinate(value: object, field: str, bound: float) -> float:
    if value is None:
        raise ApiError("missing_field", f"Missing field '{field}'")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError("invalid_field", f"'{field}' must be a number (degrees)")
    number = float(value)
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise ApiError(
            "invalid_field", f"'{field}' must be between -{bound:g} and {bound:g}, not {value}"
        )
    return number


def _text(value: object, field: str, limit: int, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise ApiError("missing_field", f"Missing field '{field}'")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError("invalid_field", f"'{field}' must be a non-empty string")
    reject_nul(value, field)
    if len(value) > limit:
        raise ApiError("invalid_field", f"'{field}' is {len(value)} characters; at most {limit}")
    return value.strip()


def check_location(value: object) -> Location:
    """`{"latitude", "longitude", "title"?, "address"?}`: a point, or a venue with a title."""
    spec = _object(value, "location")
    latitude = _coordinate(spec.get("latitude"), "location.latitude", 90)
    longitude = _coordinate(spec.get("longitude"), "location.longitude", 180)
    title = _text(spec.get("title"), "location.title", VENUE_TEXT_MAX, required=False)
    address = _text(spec.get("address"), "location.address", VENUE_TEXT_MAX, required=False)
    if address is not None and title is None:
        raise ApiError(
            "invalid_field",
            "'location.address' needs 'location.title': a place with an address is sent as a "
            "venue, which Telegram shows by its title",
        )
    return Location(latitude, longitude, title, address)


def check_contact(value: object) -> ContactCard:
    """`{"phone", "first_name", "last_name"?}`; the phone is checked as a destination is."""
    spec = _object(value, "contact")
    phone = spec.get("phone")
    if phone is None or phone == "":
        raise ApiError("missing_field", "Missing field 'contact.phone'")
    try:
        digits = normalize_number(phone, "contact.phone")
    except ApiError as exc:
        message = exc.message.replace("Destination number", "Contact phone number")
        raise ApiError("invalid_field", message) from exc
    first_name = _text(spec.get("first_name"), "contact.first_name", NAME_MAX, required=True)
    assert first_name is not None
    last_name = _text(spec.get("last_name"), "contact.last_name", NAME_MAX, required=False)
    return ContactCard(phone=digits, first_name=first_name, last_name=last_name)
