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
    async with services.database.read() as session:
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


async def test_config_format_and_token_are_synced_and_the_token_follows_the_config(
    schema: str,
) -> None:
    url = "https://wm.example.com/webhook"
    first = (await synced(schema, [{"url": url, "format": "whatsmate", "token": "t-1"}]))[url]
    assert first.format == "whatsmate"
    assert first.token is not None and b"t-1" not in first.token

    async def token_of(endpoint: WebhookEndpoint) -> str | None:
        svc = build_services(make_settings(schema), ADMIN_TOKEN, run_workers=False)
        try:
            return svc.secret_box.open_token(endpoint.id, endpoint.token)
        finally:
            await svc.close()

    assert await token_of(first) == "t-1"
    changed = (await synced(schema, [{"url": url, "format": "whatsmate", "token": "t-2"}]))[url]
    assert changed.id == first.id and await token_of(changed) == "t-2"
    plain = (await synced(schema, [{"url": url}]))[url]
    assert (plain.format, plain.token) == ("standard", None)


@pytest.mark.parametrize(
    ("hook", "says"),
    [
        ({"format": "xml"}, "'standard' or 'whatsmate'"),
        ({"format": "whatsmate", "events": ["message.sent"]}, "message.received only"),
        ({"token": ""}, "at least 1 character"),
        ({"token": "a\tb"}, "control characters"),
    ],
)
def test_bad_config_formats_and_tokens_are_refused(hook: dict[str, Any], says: str) -> None:
    with pytest.raises(Exception, match="webhooks") as caught:
        Settings.model_validate({"webhooks": [{"url": "https://a.example.com/", **hook}]})
    assert says in str(caught.value)


def test_the_config_token_is_kept_out_of_reprs() -> None:
    settings = Settings.model_validate(
        {"webhooks": [{"url": "https://a.example.com/", "token": "t-secret"}]}
    )
    assert "t-secret" not in repr(settings) and "t-secret" not in str(settings.webhooks)


def test_a_bad_format_in_tgw_toml_names_the_key_and_the_choices(tmp_path: Any) -> None:
    path = tmp_path / "tgw.toml"
    path.write_text('[[webhooks]]\nurl = "https://a.example.com/"\nformat = "xml"\n')
    with pytest.raises(SettingsError, match=r"webhooks\.0\.format") as caught:
        load_settings(str(path), environ={})
    assert "'standard' or 'whatsmate'" in str(caught.value)
