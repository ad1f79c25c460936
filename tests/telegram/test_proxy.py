"""An instance behind a proxy (`[[instances]] proxy`): real Telethon through a real SOCKS5,
SOCKS4, HTTP CONNECT proxy or MTProxy (tests/telegram/proxies.py) to the fake Telegram.

Telethon is given a Telegram address that nothing answers (TEST-NET-1); only the proxy knows
the way to the fake, so a login or a send that works went through the proxy.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from telethon.network.connection import (
    ConnectionTcpAbridged,
    ConnectionTcpMTProxyIntermediate,
    ConnectionTcpMTProxyRandomizedIntermediate,
    TcpMTProxy,
)
from telethon.tl import types

from app.cli import terminal_login
from app.cluster.ownership import make_worker, start_instances
from app.main import create_app
from app.services import Services, build_services
from app.settings import Proxy, parse_proxy
from app.telegram.port import LoginError
from app.telegram.telethon import DatabaseSession, TelethonBackend, TelethonConfig, limits
from app.telegram.telethon.client import _new_client, _proxy_kwargs
from tests.conftest import ADMIN, ADMIN_TOKEN, Clock, drain, make_settings
from tests.telegram.fake_mtproto import FakeTelegram
from tests.telegram.proxies import UNREACHABLE, MTProxyRelay, RelayProxy
from tests.telegram.test_telethon_backend import (
    GATEWAY_PHONE,
    PERSON_PHONE,
    SECRET_KEY,
    api_headers,
    config_for,
    greet,
    instance_row,
)
from tests.waiting import eventually

USER = "tgw"
PASSWORD = "s3cret:with@odd/chars"  # written percent-encoded in the URL
SECRET = bytes.fromhex("0123456789abcdef0123456789abcdef")


def proxied_services(
    schema: str, clock: Clock, fake: FakeTelegram, proxy: str, **instance: Any
) -> Services:
    settings = make_settings(
        schema, instances=[{"number": 1, "backend": "telethon", "proxy": proxy, **instance}]
    )
    return build_services(
        settings,
        ADMIN_TOKEN,
        clock=clock,
        run_workers=False,
        secret_key=SECRET_KEY,
        telethon=dataclasses.replace(config_for(fake), server=UNREACHABLE),
    )


@asynccontextmanager
async def proxied_gateway(
    schema: str, clock: Clock, fake: FakeTelegram, proxy: str
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    services = proxied_services(schema, clock, fake, proxy)
    app = create_app(services)
    await start_instances(services, workers=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tgw.test") as http:
            yield services, http
    finally:
        for backend in services.telegram.backends.values():
            await backend.stop()
        await services.close()


async def log_in_over_http(services: Services, http: httpx.AsyncClient, fake: FakeTelegram) -> None:
    started = await http.post(
        "/admin/instances/1/login", json={"phone": GATEWAY_PHONE}, headers=ADMIN
    )
    assert started.status_code == 200, started.text
    done = await http.post(
        "/admin/instances/1/login/code", json={"code": fake.login_code}, headers=ADMIN
    )
    assert done.json()["step"] == "ready", done.text

    async def ready() -> bool:
        return (await instance_row(services)).status == "ready"

    await eventually(ready, "the instance to become ready")


async def greet_and_send(
    services: Services, http: httpx.AsyncClient, fake: FakeTelegram, account: Any, person: Any
) -> None:
    """The person says Hi (pushed by Telegram), then the API sends them a text."""
    await greet(services, fake, account, person, "Hi")
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": PERSON_PHONE, "message": "through the proxy"},
        headers=await api_headers(http),
    )
    assert response.status_code == 200, response.text
    await drain(make_worker(services, 1))
    texts = [record.text for record in fake.sent_to(person)]
    assert "through the proxy" in texts


async def test_an_instance_behind_a_socks5_proxy_logs_in_receives_and_sends_through_it(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    routes = {UNREACHABLE: (fake.host, fake.port)}
    async with RelayProxy(users={USER: PASSWORD}, routes=routes) as proxy:
        url = f"socks5://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{proxy.port}"
        async with proxied_gateway(schema, clock, fake, url) as (services, http):
            await log_in_over_http(services, http, fake)
            await greet_and_send(services, http, fake, account, person)
        # The login's connection, then the running instance's: each authenticated.
        assert len(proxy.relayed) >= 2
        assert {(r.protocol, r.target, r.user) for r in proxy.relayed} == {
            ("socks5", UNREACHABLE, USER)
        }
        assert proxy.refused == []


async def test_a_wrong_proxy_password_fails_the_login_saying_the_proxy_refused(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    fake.add_account(GATEWAY_PHONE)
    routes = {UNREACHABLE: (fake.host, fake.port)}
    async with RelayProxy(users={USER: PASSWORD}, routes=routes) as proxy:
        url = f"socks5://{USER}:wrong@127.0.0.1:{proxy.port}"
        services = proxied_services(schema, clock, fake, url)
        backend = services.telegram.backends[1]
        assert isinstance(backend, TelethonBackend)
        flow = backend.new_login()
        try:
            with pytest.raises(LoginError) as refused:
                await flow.request_code(GATEWAY_PHONE)
        finally:
            await flow.close()
            await services.close()
        assert refused.value.code == "unreachable"
        assert "proxy socks5://tgw:***@127.0.0.1" in str(refused.value)
        assert "authentication failure" in str(refused.value).lower()
        assert PASSWORD not in str(refused.value) and "wrong" not in str(refused.value)
        assert proxy.relayed == []
        assert set(proxy.refused) == {f"socks5: wrong password for {USER!r}"}


@pytest.mark.parametrize(
    ("kind", "userinfo", "user"),
    [("socks4", f"{USER}@", USER), ("http", f"{USER}:{quote(PASSWORD, safe='')}@", USER)],
)
async def test_socks4_and_http_connect_proxies_carry_the_login(
    schema: str, clock: Clock, fake: FakeTelegram, kind: str, userinfo: str, user: str
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    routes = {UNREACHABLE: (fake.host, fake.port)}
    # SOCKS4 has no passwords: the proxy only records the user id.
    users = {USER: PASSWORD} if kind == "http" else {}
    async with RelayProxy(users=users, routes=routes) as proxy:
        services = proxied_services(
            schema, clock, fake, f"{kind}://{userinfo}127.0.0.1:{proxy.port}"
        )
        backend = services.telegram.backends[1]
        assert isinstance(backend, TelethonBackend)
        flow = backend.new_login()
        try:
            assert (await flow.request_code(GATEWAY_PHONE)).step == "code_sent"
            step = await flow.submit_code(fake.login_code)
            assert step.step == "ready"
            assert step.account is not None and step.account.user_id == account.user_id
        finally:
            await flow.close()
            await services.close()
        assert proxy.relayed and {(r.protocol, r.target, r.user) for r in proxy.relayed} == {
            (kind, UNREACHABLE, user)
        }


@pytest.mark.parametrize("padded", [False, True], ids=["plain-secret", "dd-secret"])
async def test_an_instance_behind_an_mtproxy_logs_in_receives_and_sends_through_it(
    schema: str, clock: Clock, fake: FakeTelegram, padded: bool
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    person = fake.add_person(PERSON_PHONE, first_name="Ana")
    async with MTProxyRelay(SECRET, (fake.host, fake.port)) as relay:
        url = f"mtproxy://{'dd' if padded else ''}{SECRET.hex()}@127.0.0.1:{relay.port}"
        async with proxied_gateway(schema, clock, fake, url) as (services, http):
            await log_in_over_http(services, http, fake)
            await greet_and_send(services, http, fake, account, person)
        assert len(relay.relayed) >= 2
        framing = "padded-intermediate" if padded else "intermediate"
        assert {(r.detail["dc_id"], r.detail["framing"]) for r in relay.relayed} == {
            (fake.dc_id, framing)
        }
        assert relay.refused == []
        # Telethon tells Telegram it came through this proxy (initConnection's proxy field).
        assert fake.init_connections[-1].proxy == types.InputClientProxy("127.0.0.1", relay.port)


# Telethon's MTProxy connection does not close its socket when the proxy hangs up on it
# (TcpMTProxy._connect calls disconnect(), a no-op before the connection counts as made), nor
# when the connect times out. Those sockets are collected (and warn) inside this test, once
# nothing holds them: not the exception, nor pytest's captured log records of Telethon's
# warnings, whose exceptions' frames reach them.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_wrong_mtproxy_secret_is_dropped_by_the_proxy_and_the_login_fails(
    schema: str, clock: Clock, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Telethon retries a dropped MTProxy connection for a while: cut that short.
    monkeypatch.setattr(limits, "CONNECT_TIMEOUT_S", 3)
    monkeypatch.setattr(logging.getLogger("telethon"), "propagate", False)
    fake.add_account(GATEWAY_PHONE)
    async with MTProxyRelay(SECRET, (fake.host, fake.port)) as relay:
        url = f"mtproxy://{os.urandom(16).hex()}@127.0.0.1:{relay.port}"
        services = proxied_services(schema, clock, fake, url)
        backend = services.telegram.backends[1]
        assert isinstance(backend, TelethonBackend)
        flow = backend.new_login()
        try:
            with pytest.raises(LoginError) as failed:
                await flow.request_code(GATEWAY_PHONE)
        finally:
            await flow.close()
            await services.close()
        assert failed.value.code == "unreachable"
        del failed
        assert relay.relayed == []
        assert relay.refused and relay.refused[0].startswith("mtproxy: unknown transport tag")
    gc.collect()


async def test_log_out_reaches_telegram_through_the_instance_proxy(
    schema: str, clock: Clock, fake: FakeTelegram
) -> None:
    account = fake.add_account(GATEWAY_PHONE)
    routes = {UNREACHABLE: (fake.host, fake.port)}
    async with RelayProxy(routes=routes) as proxy:
        url = f"socks5://127.0.0.1:{proxy.port}"
        services = proxied_services(schema, clock, fake, url)
        backend = services.telegram.backends[1]
        assert isinstance(backend, TelethonBackend)
        assert services.telegram.session_store is not None
        flow = backend.new_login()
        try:
            await flow.request_code(GATEWAY_PHONE)
            assert (await flow.submit_code(fake.login_code)).step == "ready"
        finally:
            await flow.close()
        before = len(proxy.relayed)
        try:
            # Not running: the backend logs out with a client of its own (as `tgw logout`).
            await backend.log_out()
        finally:
            await services.close()
        assert fake.requests_of("LogOutRequest")
        assert fake.authorized_keys(account) == []
        assert len(proxy.relayed) == before + 1


# --- how the proxy reaches Telethon, without a network ---


def test_socks_and_http_proxies_become_telethon_proxy_dicts() -> None:
    proxy = parse_proxy("socks5://u:p%40ss@10.0.0.1:1080")
    assert _proxy_kwargs(proxy) == {
        "proxy": {
            "proxy_type": "socks5",
            "addr": "10.0.0.1",
            "port": 1080,
            "username": "u",
            "password": "p@ss",
            "rdns": True,
        }
    }
    assert _proxy_kwargs(parse_proxy("http://proxy.example:3128"))["proxy"]["proxy_type"] == "http"
    assert _proxy_kwargs(None) == {}


@pytest.mark.parametrize(
    ("secret", "connection"),
    [
        (SECRET.hex(), ConnectionTcpMTProxyIntermediate),
        ("dd" + SECRET.hex(), ConnectionTcpMTProxyRandomizedIntermediate),
        # A plain secret that happens to start with dd: not random padding, and its key intact.
        ("dd" * 16, ConnectionTcpMTProxyIntermediate),
        ("ee" + "11" * 15, ConnectionTcpMTProxyIntermediate),
    ],
)
def test_an_mtproxy_picks_its_connection_class_and_telethon_reads_the_secret_back(
    secret: str, connection: type
) -> None:
    proxy = parse_proxy(f"mtproxy://{secret}@mtproxy.example:443")
    kwargs = _proxy_kwargs(proxy)
    assert kwargs["connection"] is connection
    host, port, telethon_secret = kwargs["proxy"]
    assert (host, port) == ("mtproxy.example", 443)
    assert TcpMTProxy.normalize_secret(telethon_secret) == proxy.secret
    assert proxy.secret == bytes.fromhex(secret[-32:])


async def test_the_client_is_built_with_the_proxy_and_keeps_a_test_connection() -> None:
    # (async: Telethon 1.39 wants a running event loop to build a client)
    base = TelethonConfig(api_id=1, api_hash="0" * 32, server=UNREACHABLE)
    mtproxy = parse_proxy(f"mtproxy://dd{SECRET.hex()}@127.0.0.1:4443")
    client = _new_client(dataclasses.replace(base, proxy=mtproxy), DatabaseSession(None))
    assert client._connection is ConnectionTcpMTProxyRandomizedIntermediate
    assert client._proxy == ("127.0.0.1", 4443, "dd" + SECRET.hex())
    assert client._init_request.proxy == types.InputClientProxy("127.0.0.1", 4443)
    # A SOCKS proxy leaves a test's own transport in place...
    socks = parse_proxy("socks5://127.0.0.1:1080")
    config = dataclasses.replace(base, connection=ConnectionTcpAbridged, proxy=socks)
    client = _new_client(config, DatabaseSession(None))
    assert client._connection is ConnectionTcpAbridged
    assert client._proxy["addr"] == "127.0.0.1"
    # ... an MTProxy cannot: both would choose the transport, so the config is refused.
    with pytest.raises(ValueError, match="MTProxy"):
        dataclasses.replace(config, proxy=mtproxy)


async def test_each_instance_gets_its_own_proxy_in_the_gateway_and_the_terminal(
    tmp_path: Any,
) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/t.db",
        instances=[
            {"number": 1, "backend": "telethon", "proxy": "socks5://127.0.0.1:1080"},
            {"number": 2, "backend": "telethon"},
        ],
        telegram={"api_id": 1, "api_hash": "0" * 32},
    )
    services = build_services(settings, ADMIN_TOKEN, run_workers=False, secret_key=SECRET_KEY)
    await services.close()
    backends = services.telegram.backends
    assert isinstance(backends[1], TelethonBackend) and isinstance(backends[2], TelethonBackend)
    configs = {n: backends[n]._config for n in (1, 2)}
    assert configs[1] is not None and configs[2] is not None
    assert configs[1].proxy == Proxy("socks5", "127.0.0.1", 1080)
    assert configs[2].proxy is None
    assert services.telegram.telethon is not None and services.telegram.telethon.proxy is None
    # `tgw login` / `tgw logout` (app/cli/terminal_login.py) use the same per-instance config.
    assert terminal_login._config(settings, 1).proxy == configs[1].proxy
    assert terminal_login._config(settings, 2).proxy is None
