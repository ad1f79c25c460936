from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Proxy, Settings, SettingsError, load_settings


def test_no_file_and_no_environment_gives_the_spec_defaults(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    assert settings.database.url == "sqlite:///./tgw.db"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.limits.text_chars == 800
    assert settings.limits.image_bytes == 2 * 1024 * 1024
    assert settings.limits.document_bytes == 3 * 1024 * 1024
    assert settings.sending.per_second == 5
    assert settings.webhook_delivery.retry_schedule_s == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert [i.number for i in settings.instances] == [1]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "tgw.toml"
    config.write_text('[database]\nurl = "sqlite:///a.db"\n[limits]\ntext_chars = 100\n')
    env = {"TGW_DATABASE__URL": "sqlite:///b.db", "TGW_LIMITS__TEXT_CHARS": "200"}
    settings = load_settings(str(config), environ=env)
    assert settings.database.url == "sqlite:///b.db"
    assert settings.limits.text_chars == 200


def test_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "tgw.toml"
    config.write_text("[limits]\ntext_char = 100\n")
    with pytest.raises(SettingsError, match=r"unknown key 'limits\.text_char'"):
        load_settings(str(config), environ={})


def test_unknown_environment_section_is_named() -> None:
    with pytest.raises(SettingsError, match="TGW_DATABSE__URL"):
        load_settings(None, environ={"TGW_DATABSE__URL": "x"})


def test_kubernetes_service_links_are_not_taken_for_settings() -> None:
    # Kubernetes gives every pod these for a Service named tgw-api (enableServiceLinks).
    links = {
        "TGW_API_SERVICE_HOST": "10.0.0.7",
        "TGW_API_SERVICE_PORT": "8080",
        "TGW_API_SERVICE_PORT_HTTP": "8080",
        "TGW_API_PORT": "tcp://10.0.0.7:8080",
        "TGW_API_PORT_8080_TCP": "tcp://10.0.0.7:8080",
        "TGW_API_PORT_8080_TCP_PROTO": "tcp",
        "TGW_API_PORT_8080_TCP_PORT": "8080",
        "TGW_API_PORT_8080_TCP_ADDR": "10.0.0.7",
    }
    settings = load_settings(None, environ={**links, "TGW_CLUSTER__ROLE": "api"})
    assert settings.cluster.role == "api"


def test_a_variable_without_a_section_is_still_refused() -> None:
    with pytest.raises(SettingsError, match="expected TGW_<SECTION>__<KEY>"):
        load_settings(None, environ={"TGW_DATABASE_URL": "sqlite:///x.db"})


def test_bad_value_is_named() -> None:
    with pytest.raises(SettingsError, match=r"server\.port"):
        load_settings(None, environ={"TGW_SERVER__PORT": "eighty"})


def test_the_slow_client_bounds_have_defaults_and_the_environment_sets_them() -> None:
    server = load_settings(None, environ={}).server
    assert (server.header_timeout_s, server.body_timeout_s) == (10, 30)
    assert (server.min_body_rate_bytes_s, server.min_body_rate_after_s) == (1024, 5)
    assert (server.max_connections, server.keep_alive_timeout_s) == (1000, 5)
    env = {"TGW_SERVER__HEADER_TIMEOUT_S": "2.5", "TGW_SERVER__MAX_CONNECTIONS": "40"}
    server = load_settings(None, environ=env).server
    assert (server.header_timeout_s, server.max_connections) == (2.5, 40)


@pytest.mark.parametrize(
    "key",
    [
        "header_timeout_s",
        "body_timeout_s",
        "min_body_rate_bytes_s",
        "min_body_rate_after_s",
        "max_connections",
        "keep_alive_timeout_s",
    ],
)
def test_a_slow_client_bound_of_zero_is_refused_naming_the_key(key: str) -> None:
    with pytest.raises(SettingsError, match=rf"server\.{key}.*greater than"):
        load_settings(None, environ={f"TGW_SERVER__{key.upper()}": "0"})


def test_bad_config_stops_the_cli_with_exit_code_2(tmp_path: Path) -> None:
    config = tmp_path / "tgw.toml"
    config.write_text("[sending]\nper_secnd = 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert result.returncode == 2
    assert "sending.per_secnd" in result.stderr


def test_telegram_server_must_be_host_and_port() -> None:
    with pytest.raises(SettingsError, match=r"telegram\.server.*host:port"):
        load_settings(None, environ={"TGW_TELEGRAM__SERVER": "149.154.167.40"})
    settings = load_settings(None, environ={"TGW_TELEGRAM__SERVER": "149.154.167.40:443"})
    assert settings.telegram.server == "149.154.167.40:443"


def test_telegram_public_key_file_must_be_a_readable_pem_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(SettingsError, match=r"public_key_file.*cannot read"):
        load_settings(None, environ={"TGW_TELEGRAM__PUBLIC_KEY_FILE": str(missing)})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(SettingsError, match="not a PEM public key"):
        load_settings(None, environ={"TGW_TELEGRAM__PUBLIC_KEY_FILE": str(garbage)})


def test_an_spki_public_key_is_converted_for_telethon(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from app.telegram.telethon import telethon_config

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    spki = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / "server.pem"
    path.write_bytes(spki)
    env = {
        "TGW_TELEGRAM__API_ID": "1",
        "TGW_TELEGRAM__API_HASH": "x" * 32,
        "TGW_TELEGRAM__SERVER": "127.0.0.1:4430",
        "TGW_TELEGRAM__DC_ID": "3",
        "TGW_TELEGRAM__PUBLIC_KEY_FILE": str(path),
    }
    config = telethon_config(load_settings(None, environ=env))
    assert config is not None
    assert (config.server, config.dc_id) == (("127.0.0.1", 4430), 3)
    assert config.public_key_pem is not None
    assert config.public_key_pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert telethon_config(load_settings(None, environ={})) is None


# --- [[instances]] proxy ---


def _instance_proxy(tmp_path: Path, value: str) -> Settings:
    config = tmp_path / "tgw.toml"
    config.write_text(f'[[instances]]\nnumber = 1\nproxy = "{value}"\n')
    return load_settings(str(config), environ={})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("socks5://10.0.0.1:1080", Proxy("socks5", "10.0.0.1", 1080)),
        (
            "SOCKS5://ops:p%40ss%3Aword@proxy.example:1080",
            Proxy("socks5", "proxy.example", 1080, username="ops", password="p@ss:word"),
        ),
        ("socks4://ops@10.0.0.1:1080", Proxy("socks4", "10.0.0.1", 1080, username="ops")),
        (
            "http://ops:secret@[2001:db8::1]:3128",
            Proxy("http", "2001:db8::1", 3128, username="ops", password="secret"),
        ),
        (
            "mtproxy://0123456789ABCDEF0123456789abcdef@mt.example:443",
            Proxy("mtproxy", "mt.example", 443, secret=bytes.fromhex("0123456789abcdef" * 2)),
        ),
        (
            "mtproxy://dd0123456789abcdef0123456789abcdef@mt.example:443",
            Proxy(
                "mtproxy",
                "mt.example",
                443,
                secret=bytes.fromhex("0123456789abcdef" * 2),
                padded=True,
            ),
        ),
    ],
)
def test_each_form_of_proxy_is_parsed(tmp_path: Path, value: str, expected: Proxy) -> None:
    settings = _instance_proxy(tmp_path, value)
    assert settings.instances[0].proxy == expected


def test_no_proxy_by_default() -> None:
    assert load_settings(None, environ={}).instances[0].proxy is None


def test_a_proxy_never_shows_its_password_or_secret(tmp_path: Path) -> None:
    socks = _instance_proxy(tmp_path, "socks5://ops:hunter2@10.0.0.1:1080").instances[0].proxy
    assert str(socks) == "socks5://ops:***@10.0.0.1:1080"
    assert "hunter2" not in repr(socks)
    secret = "0123456789abcdef0123456789abcdef"
    mtproxy = _instance_proxy(tmp_path, f"mtproxy://dd{secret}@mt.example:443").instances[0].proxy
    assert str(mtproxy) == "mtproxy://dd<secret>@mt.example:443"
    assert secret not in repr(mtproxy) and "0123" not in repr(mtproxy)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.0.1:1080", "must be a URL"),
        ("ftp://10.0.0.1:21", "unknown proxy type 'ftp'"),
        ("https://10.0.0.1:3128", r"https://\) is not supported"),
        ("tg://proxy?server=mt.example&port=443&secret=00", "write it as mtproxy://"),
        ("socks5://10.0.0.1", "the port is missing"),
        ("socks5://10.0.0.1:0", "port must be a number from 1 to 65535"),
        ("socks5://10.0.0.1:99999", "port must be a number from 1 to 65535"),
        ("socks5://10.0.0.1:x", "port must be a number from 1 to 65535"),
        ("socks5://:1080", "the host is missing"),
        ("socks5://10.0.0.1:1080/path", "nothing after the port"),
        ("socks5://ops@10.0.0.1:1080", "both the user name and the password"),
        ("http://:secret@10.0.0.1:3128", "both the user name and the password"),
        ("socks4://ops:secret@10.0.0.1:1080", "SOCKS4 has no passwords"),
        ("mtproxy://mt.example:443", "MTProxy secret is missing"),
        ("mtproxy://a:b@mt.example:443", "takes a secret, not user:password"),
        ("mtproxy://xyz@mt.example:443", "must be hexadecimal"),
        ("mtproxy://0123@mt.example:443", "32 hex digits, or dd followed by 32"),
        ("mtproxy://aa0123456789abcdef0123456789abcdef@mt.example:443", "32 hex digits"),
        (
            "mtproxy://ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d@mt.example:443",
            "fake-TLS MTProxy secrets .* not supported by Telethon",
        ),
        (
            "mtproxy://7gEjRWeJq83vASNFZ4mrze9leGFtcGxlLmNvbQ@mt.example:443",  # base64 "ee..."
            "fake-TLS MTProxy secrets",
        ),
    ],
)
def test_a_malformed_proxy_is_refused_naming_the_instance_and_the_key(
    tmp_path: Path, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=rf"\[\[instances\]\] number 1: proxy: .*{message}"):
        _instance_proxy(tmp_path, value)


def test_a_refused_proxy_does_not_echo_its_password(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        _instance_proxy(tmp_path, "socks5://ops:hunter2@10.0.0.1:99999")
    assert "hunter2" not in str(refused.value)


def test_an_instance_without_a_number_is_named_by_its_place(tmp_path: Path) -> None:
    config = tmp_path / "tgw.toml"
    config.write_text('[[instances]]\nnumber = 1\n[[instances]]\nproxy = "socks5://h"\n')
    with pytest.raises(SettingsError) as refused:
        load_settings(str(config), environ={})
    assert "[[instances]] entry 2: number: Field required" in str(refused.value)
    assert "[[instances]] entry 2: proxy: the port is missing" in str(refused.value)


def test_a_proxy_given_as_a_table_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "tgw.toml"
    config.write_text('[[instances]]\nnumber = 1\nproxy = {scheme = "socks5", host = "h"}\n')
    with pytest.raises(SettingsError, match=r"number 1: proxy: must be a string"):
        load_settings(str(config), environ={})
