from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings


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


def test_bad_value_is_named() -> None:
    with pytest.raises(SettingsError, match=r"server\.port"):
        load_settings(None, environ={"TGW_SERVER__PORT": "eighty"})


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

    from app.telegram.telethon_adapter import telethon_config

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
