"""Reading the settings: `tgw.toml`, then `TGW_<SECTION>__<KEY>` environment overrides."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.settings.base import SettingsError
from app.settings.root import Settings

ENV_PREFIX = "TGW_"


def _parse_env_value(raw: str) -> Any:
    """Environment values are strings; JSON lets lists, numbers and booleans through."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


# What Kubernetes puts in every pod for each Service of its namespace (service links): for a
# Service named tgw-api, TGW_API_SERVICE_HOST, TGW_API_PORT_8080_TCP_ADDR, ... They are not
# settings and have no "__"; every other TGW_ variable without one is a mistake, refused.
_SERVICE_LINK = re.compile(
    r"TGW_[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?"
    r"|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)"
)


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "TGW_CONFIG":
            continue
        if "__" not in name and _SERVICE_LINK.fullmatch(name):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise SettingsError(
                f"environment variable {name}: expected TGW_<SECTION>__<KEY>, "
                "e.g. TGW_DATABASE__URL"
            )
        section, key = parts
        if section not in Settings.model_fields or section == "source":
            raise SettingsError(f"environment variable {name}: unknown section [{section}]")
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            raise SettingsError(
                f"environment variable {name}: [{section}] is a list; set it in the TOML file"
            )
        value: Any = raw if key in _STRING_KEYS else _parse_env_value(raw)
        target[key] = value


# Keys whose values are always strings even if they look like JSON (a token of digits).
_STRING_KEYS = {"url", "admin_token", "secret_key", "api_hash", "host", "public_url", "server"}


def _format_error(exc: ValidationError, source: str, data: Mapping[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        where, loc = _instance_entry(err["loc"], data)
        key = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: {where}unknown key '{key}'")
        elif where:
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {where}{key}: {message}")
        else:
            lines.append(f"{source}: bad value for '{key}': {err['msg']}")
    return "\n".join(lines)


def _instance_entry(
    loc: tuple[int | str, ...], data: Mapping[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    """An error inside one [[instances]] table is named by its number, not its list index."""
    if len(loc) < 3 or loc[0] != "instances" or not isinstance(loc[1], int):
        return "", loc
    entries = data.get("instances")
    entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
    number = entry.get("number") if isinstance(entry, dict) else None
    if isinstance(number, int) and not isinstance(number, bool):
        return f"[[instances]] number {number}: ", loc[2:]
    return f"[[instances]] entry {loc[1] + 1}: ", loc[2:]


def find_config_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get("TGW_CONFIG"):
        return Path(environ["TGW_CONFIG"])
    default = Path("tgw.toml")
    return default if default.exists() else None


def load_settings(
    config_path: str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    environ = os.environ if environ is None else environ
    path = find_config_path(config_path, environ)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SettingsError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    if "source" in data:
        raise SettingsError(f"{source}: unknown key 'source'")
    _apply_env(data, environ)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_format_error(exc, source, data)) from exc
    return settings.model_copy(update={"source": None if path is None else str(path)})
