"""Typed settings: `tgw.toml` plus `TGW_<SECTION>__<KEY>` environment overrides.

Settings are read once by the CLI and passed down; nothing reads them at import time.
Unknown or malformed keys raise `SettingsError`, which names the key; the CLI exits with 2.

One module per group of sections (server.py, instances.py with proxy.py, messaging.py,
webhooks.py, alerts.py, fetching.py, streaming.py, retention.py, cluster.py), the whole model
in root.py, reading it in loading.py; everything is imported from here
(`from app.settings import Settings, LimitsSettings, ...`).
"""

from __future__ import annotations

from app.settings.alerts import AlertSettings
from app.settings.base import MIB, SettingsError
from app.settings.cluster import ROLES, ClusterSettings, Role
from app.settings.fetching import MediaFetchSettings
from app.settings.instances import InstanceSettings, ProfileSettings
from app.settings.loading import ENV_PREFIX, find_config_path, load_settings
from app.settings.messaging import (
    DEFAULT_GREETINGS,
    TELEGRAM_CAPTION_UNITS,
    TELEGRAM_TEXT_UNITS,
    LimitsSettings,
    RegistrationSettings,
    SendingSettings,
)
from app.settings.proxy import Proxy, ProxyScheme, parse_proxy
from app.settings.retention import RetentionSettings
from app.settings.root import Settings
from app.settings.server import (
    ClientAddressHeader,
    DatabaseSettings,
    SecuritySettings,
    ServerSettings,
    TelegramSettings,
)
from app.settings.streaming import EventStreamSettings
from app.settings.webhooks import WebhookDeliverySettings, WebhookSettings

__all__ = [
    "DEFAULT_GREETINGS",
    "ENV_PREFIX",
    "MIB",
    "ROLES",
    "TELEGRAM_CAPTION_UNITS",
    "TELEGRAM_TEXT_UNITS",
    "AlertSettings",
    "ClientAddressHeader",
    "ClusterSettings",
    "DatabaseSettings",
    "EventStreamSettings",
    "InstanceSettings",
    "LimitsSettings",
    "MediaFetchSettings",
    "ProfileSettings",
    "Proxy",
    "ProxyScheme",
    "RegistrationSettings",
    "RetentionSettings",
    "Role",
    "SecuritySettings",
    "SendingSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "TelegramSettings",
    "WebhookDeliverySettings",
    "WebhookSettings",
    "find_config_path",
    "load_settings",
    "parse_proxy",
]
