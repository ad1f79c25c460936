"""Managing scoped keys: the admin API (create, get, list, PATCH), the last use (recorded at
most once a minute), another process's cache, the migration of existing clients, and the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.client_limits import ALL_SCOPES
from app.clients import LAST_USED_EVERY_S, ClientCache
from app.db import create_engine
from app.errors import ApiError
from app.migrate import upgrade
from app.services import Services
from tests.app.test_cli import tgw
from tests.conftest import ADMIN, Clock, empty_database


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"instances": [{"number": 1, "backend": "sandbox"}, {"number": 2, "backend": "sandbox"}]}


async def create(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post(
        "/admin/clients", json={"client_id": "ops@example.com", **body}, headers=ADMIN
    )


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    message: str = response.json()["error"]["message"]
    return message


async def test_a_client_created_with_limits_shows_them_in_get_and_list(
    http: httpx.AsyncClient,
) -> None:
    created = await create(
        http,
        scopes=["read", "send"],
        instances=[2],
        daily_quota=500,
        ip_allow=["10.1.2.3/8", "2001:db8::1"],
    )
    assert created.status_code == 201, created.text
    expected = {
        "scopes": ["send", "read"],
        "instances": [2],
        "daily_quota": 500,
        "ip_allow": ["10.0.0.0/8", "2001:db8::1/128"],
        "last_used_at": None,
    }
    assert {k: created.json()[k] for k in expected} == expected
    got = (await http.get("/admin/clients/ops@example.com", headers=ADMIN)).json()
    assert {k: got[k] for k in expected} == expected
    listed = (await http.get("/admin/clients", headers=ADMIN)).json()["data"]
    assert {k: listed[0][k] for k in expected} == expected


async def test_a_client_created_without_limits_shows_none(http: httpx.AsyncClient) -> None:
    body = (await create(http)).json()
    assert [body[k] for k in ("scopes", "instances", "daily_quota", "ip_allow")] == [None] * 4


@pytest.mark.parametrize(
    ("limits", "status", "code", "named"),
    [
        ({"scopes": ["send", "write"]}, 400, "invalid_field", "'write'"),
        ({"scopes": []}, 400, "invalid_field", "scopes"),
        ({"instances": [3]}, 404, "unknown_instance", "3"),
        ({"ip_allow": ["10.0.0.300/8"]}, 400, "invalid_field", "10.0.0.300/8"),
        ({"daily_quota": 0}, 400, "invalid_field", "daily_quota"),
        ({"daily_quota": "5"}, 400, "invalid_field", "daily_quota"),
    ],
)
async def test_a_bad_limit_is_refused_naming_it(
    http: httpx.AsyncClient, limits: dict[str, Any], status: int, code: str, named: str
) -> None:
    assert named in error(await create(http, **limits), status, code)
    listed = (await http.get("/admin/clients", headers=ADMIN)).json()["data"]
    assert listed == []


async def test_a_patch_changes_only_the_fields_given_and_null_lifts_a_limit(
    http: httpx.AsyncClient,
) -> None:
    await create(http, scopes=["send"], daily_quota=10, expires_at="2027-01-01")
    patched = await http.patch(
        "/admin/clients/ops@example.com",
        json={"scopes": None, "instances": [1]},
        headers=ADMIN,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["scopes"] is None
    assert body["instances"] == [1]
    assert body["daily_quota"] == 10
    assert body["expires_at"].startswith("2027-01-01")


async def test_a_patch_of_an_unknown_client_or_field_is_refused(http: httpx.AsyncClient) -> None:
    unknown = await http.patch("/admin/clients/nobody@example.com", json={}, headers=ADMIN)
    error(unknown, 404, "not_found")
    await create(http)
    misspelt = await http.patch(
        "/admin/clients/ops@example.com", json={"scope": ["send"]}, headers=ADMIN
    )
    assert misspelt.status_code == 400, misspelt.text
    assert "'scope'" in misspelt.text


async def test_the_generic_action_route_still_serves_renew_and_refuses_other_words(
    http: httpx.AsyncClient,
) -> None:
    await create(http)
    renewed = await http.post(
        "/admin/clients/ops@example.com/renew", json={"expires_at": "2028-01-01"}, headers=ADMIN
    )
    assert renewed.status_code == 200
    unknown = await http.post("/admin/clients/ops@example.com/scopes", headers=ADMIN)
    error(unknown, 404, "not_found")


# --- the last use ------------------------------------------------------------------------------


class Ticks:
    """A settable monotonic clock for the cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def last_used(http: httpx.AsyncClient) -> str | None:
    found: str | None = (await http.get("/admin/clients/ops@example.com", headers=ADMIN)).json()[
        "last_used_at"
    ]
    return found


async def test_last_used_at_is_written_once_a_minute_not_per_request(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    ticks = Ticks()
    cache = ClientCache(services.database, clock, monotonic=ticks)
    services.enqueuer.clients = cache
    secret = (await create(http)).json()["client_secret"]
    key = {"X-WM-CLIENT-ID": "ops@example.com", "X-WM-CLIENT-SECRET": secret}
    assert await last_used(http) is None
    first = clock.now
    assert (await http.get("/api/v1/messages", headers=key)).status_code == 200
    await cache.settle()
    assert await last_used(http) == first.isoformat().replace("+00:00", "Z")
    clock.advance(30)
    ticks.now += 30
    assert (await http.get("/api/v1/messages", headers=key)).status_code == 200
    await cache.settle()
    assert await last_used(http) == first.isoformat().replace("+00:00", "Z")  # throttled
    clock.advance(LAST_USED_EVERY_S)
    ticks.now += LAST_USED_EVERY_S
    assert (await http.get("/api/v1/messages", headers=key)).status_code == 200
    await cache.settle()
    assert await last_used(http) == clock.now.isoformat().replace("+00:00", "Z")


async def test_another_process_sees_a_change_once_its_cache_entry_expires(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    ticks = Ticks()
    elsewhere = ClientCache(services.database, clock, ttl_s=5.0, monotonic=ticks)
    secret = (await create(http)).json()["client_secret"]
    grant = await elsewhere.authenticate("ops@example.com", secret)
    assert "read" in grant.scopes
    await http.patch("/admin/clients/ops@example.com", json={"scopes": ["send"]}, headers=ADMIN)
    assert "read" in (await elsewhere.authenticate("ops@example.com", secret)).scopes
    ticks.now += 5.0
    assert (await elsewhere.authenticate("ops@example.com", secret)).scopes == {"send"}
    await elsewhere.settle()


async def test_a_wrong_secret_is_refused_before_any_limit_is_looked_at(
    http: httpx.AsyncClient, services: Services, clock: Clock
) -> None:
    await create(http, scopes=["send"])
    with pytest.raises(ApiError) as refused:
        await ClientCache(services.database, clock).authenticate("ops@example.com", "0" * 32)
    assert refused.value.status == 474


# --- migration ---------------------------------------------------------------------------------


async def test_a_client_from_before_0020_keeps_every_scope_and_instance(db_url: str) -> None:
    from sqlalchemy import bindparam

    from app.models import UTCDateTime

    insert = text(
        "INSERT INTO api_client (client_id, secret_hash, created_at) "
        "VALUES ('old@example.com', 'x', :now)"
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    async with empty_database(db_url):
        await asyncio.to_thread(upgrade, db_url, "0019")
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(insert, {"now": Clock().now})
            await asyncio.to_thread(upgrade, db_url)
            from sqlalchemy.ext.asyncio import async_sessionmaker

            from app.client_limits import grant_of
            from app.clients import _get

            async with async_sessionmaker(engine)() as session:
                row = await _get(session, "old@example.com")
                grant = grant_of(row)
        finally:
            await engine.dispose()
    assert grant.scopes == set(ALL_SCOPES)
    assert grant.instances is None
    assert grant.networks is None
    assert grant.daily_quota is None


# --- CLI ---------------------------------------------------------------------------------------


def as_json(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_cli_create_update_and_list_show_the_limits(tmp_path: Path) -> None:
    created = as_json(
        tgw(
            tmp_path,
            "clients",
            "create",
            "ops@example.com",
            "--scope",
            "send",
            "--scope",
            "read",
            "--instance",
            "1",
            "--daily-quota",
            "500",
            "--ip-allow",
            "10.0.0.0/8",
            "--json",
        )
    )
    assert created["scopes"] == ["send", "read"]
    assert created["instances"] == [1]
    assert created["daily_quota"] == 500
    assert created["ip_allow"] == ["10.0.0.0/8"]
    updated = as_json(
        tgw(tmp_path, "clients", "update", "ops@example.com", "--all-scopes", "--json")
    )
    assert updated["scopes"] is None
    assert updated["daily_quota"] == 500  # not named: unchanged
    listed = tgw(tmp_path, "clients", "list")
    assert "scopes all" in listed.stdout
    assert "instances 1" in listed.stdout
    assert "quota 500" in listed.stdout
    assert "ip 10.0.0.0/8" in listed.stdout
    assert "last used never" in listed.stdout


def test_cli_refuses_an_unknown_scope_with_a_clear_message(tmp_path: Path) -> None:
    result = tgw(tmp_path, "clients", "create", "ops@example.com", "--scope", "write")
    assert result.returncode == 1
    assert "Unknown scope 'write'" in result.stderr
    assert "Traceback" not in result.stderr
