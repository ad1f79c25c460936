"""`[[webhooks]]` in the config: created at startup, matched by URL, secrets kept or rotated."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.main import sync_webhooks
from app.models import WebhookEndpoint
from app.services import Services, build_services
from app.settings import Settings, SettingsError, load_settings
from tests.conftest import ADMIN_TOKEN, make_settings

SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_B = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


async def endpoints(services: Services) -> dict[str, WebhookEndpoint]:
    async with services.read_factory() as session:
        return {e.url: e for e in await session.scalars(select(WebhookEndpoint))}


async def synced(schema: str, webhooks: list[dict[str, Any]]) -> dict[str, WebhookEndpoint]:
    svc = build_services(make_settings(schema, webhooks=webhooks), ADMIN_TOKEN, run_workers=False)
    try:
        await sync_webhooks(svc)
        found = await endpoints(svc)
        for endpoint in found.values():
            endpoint.__dict__["opened"] = svc.secret_box.open(endpoint.id, endpoint.secret)
        return found
    finally:
        await svc.close()


async def test_config_webhooks_are_created_once_with_their_secret(schema: str) -> None:
    hooks = [
        {"url": "https://a.example.com/", "secret": SECRET_A, "events": ["message.received"]},
        {"url": "https://b.example.com/"},
    ]
    first = await synced(schema, hooks)
    assert set(first) == {"https://a.example.com/", "https://b.example.com/"}
    a, b = first["https://a.example.com/"], first["https://b.example.com/"]
    assert a.__dict__["opened"] == SECRET_A
    assert a.source == "config" and a.events == '["message.received"]'
    assert b.__dict__["opened"].startswith("whsec_")  # generated...
    second = await synced(schema, hooks)
    assert {e.id for e in second.values()} == {a.id, b.id}
    assert second["https://b.example.com/"].__dict__["opened"] == b.__dict__["opened"]  # ...kept


async def test_a_changed_config_secret_is_rotated_in(schema: str) -> None:
    await synced(schema, [{"url": "https://a.example.com/", "secret": SECRET_A}])
    after = (await synced(schema, [{"url": "https://a.example.com/", "secret": SECRET_B}]))[
        "https://a.example.com/"
    ]
    assert after.__dict__["opened"] == SECRET_B
    assert after.previous_secret is not None and after.previous_secret_until is not None


async def test_a_webhook_removed_from_the_config_is_disabled_not_deleted(schema: str) -> None:
    await synced(schema, [{"url": "https://a.example.com/"}])
    gone = (await synced(schema, []))["https://a.example.com/"]
    assert gone.enabled is False
    assert gone.disabled_reason is not None and "configuration" in gone.disabled_reason
    back = (await synced(schema, [{"url": "https://a.example.com/"}]))["https://a.example.com/"]
    assert back.enabled is True


@pytest.mark.parametrize(
    ("hook", "says"),
    [
        ({"url": "ftp://a.example.com/"}, "http:// or https://"),
        ({"url": "https://a.example.com/", "secret": "whsec_YWJj"}, "24 to 64 bytes"),
        ({"url": "https://a.example.com/", "secret": "abc"}, "whsec_"),
        ({"url": "https://a.example.com/", "events": ["message.lost"]}, "message.lost"),
    ],
)
def test_bad_config_webhooks_are_refused_naming_the_key(hook: dict[str, Any], says: str) -> None:
    with pytest.raises(Exception, match="webhooks") as caught:
        Settings.model_validate({"webhooks": [hook]})
    assert says in str(caught.value)


def test_a_bad_webhook_in_tgw_toml_is_a_settings_error(tmp_path: Any) -> None:
    path = tmp_path / "tgw.toml"
    path.write_text('[[webhooks]]\nurl = "https://a.example.com/"\nsecret = "nope"\n')
    with pytest.raises(SettingsError, match=r"webhooks\.0\.secret"):
        load_settings(str(path), environ={})


def test_the_same_url_twice_is_refused() -> None:
    hook = {"url": "https://a.example.com/"}
    with pytest.raises(Exception, match="each URL once"):
        Settings.model_validate({"webhooks": [hook, hook]})
