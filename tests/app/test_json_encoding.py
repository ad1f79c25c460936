"""The one JSON encoder: models and dicts alike, one timestamp format, enums as their values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import BaseModel, Field

from app.json_encoding import dumps
from app.vocabulary import MessageStatus


class Answer(BaseModel):
    sent_at: datetime | None
    status: MessageStatus
    from_: str = Field(alias="from")


def test_a_model_and_a_dict_give_the_same_json_with_z_timestamps() -> None:
    moment = datetime(2026, 12, 6, 4, 5, 6, 7, tzinfo=UTC)
    model = Answer(sent_at=moment, status=MessageStatus.SENT, **{"from": "+34 600"})
    as_dict = {"sent_at": moment, "status": "sent", "from": "+34 600"}
    assert dumps(model) == dumps(as_dict)
    assert orjson.loads(dumps(model)) == {
        "sent_at": "2026-12-06T04:05:06.000007Z",
        "status": "sent",
        "from": "+34 600",
    }


def test_other_zones_and_naive_moments_leave_in_utc() -> None:
    plus_two = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 1, 1, 10, 0)
    assert orjson.loads(dumps([plus_two, naive])) == ["2026-01-01T10:00:00Z"] * 2


def test_nested_models_and_null_fields_are_written() -> None:
    inner = Answer(sent_at=None, status=MessageStatus.QUEUED, **{"from": "x"})
    assert orjson.loads(dumps({"data": [inner]})) == {
        "data": [{"sent_at": None, "status": "queued", "from": "x"}]
    }


def test_the_cli_form_is_indented_and_the_same_data() -> None:
    body = {"at": datetime(2026, 1, 1, tzinfo=UTC), "n": 1}
    text = dumps(body, indent=True).decode()
    assert "\n  " in text
    assert orjson.loads(text) == orjson.loads(dumps(body)) == {"at": "2026-01-01T00:00:00Z", "n": 1}


def test_what_json_cannot_hold_is_refused_not_stringified() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})
