"""`Settings`: every section of the configuration in one frozen model."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from app.settings.alerts import AlertSettings
from app.settings.base import _Section
from app.settings.cluster import ClusterSettings
from app.settings.fetching import MediaFetchSettings
from app.settings.instances import InstanceSettings
from app.settings.messaging import LimitsSettings, RegistrationSettings, SendingSettings
from app.settings.retention import RetentionSettings
from app.settings.server import (
    DatabaseSettings,
    SecuritySettings,
    ServerSettings,
    TelegramSettings,
)
from app.settings.streaming import EventStreamSettings
from app.settings.webhooks import WebhookDeliverySettings, WebhookSettings


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    security: SecuritySettings = SecuritySettings()
    telegram: TelegramSettings = TelegramSettings()
    instances: list[InstanceSettings] = Field(default_factory=lambda: [InstanceSettings(number=1)])
    limits: LimitsSettings = LimitsSettings()
    sending: SendingSettings = SendingSettings()
    registration: RegistrationSettings = RegistrationSettings()
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    webhook_delivery: WebhookDeliverySettings = WebhookDeliverySettings()
    alerts: AlertSettings = AlertSettings()
    media_fetch: MediaFetchSettings = MediaFetchSettings()
    event_stream: EventStreamSettings = EventStreamSettings()
    retention: RetentionSettings = RetentionSettings()
    cluster: ClusterSettings = ClusterSettings()
    # Where the config file was read from (None: defaults only). Not a config key.
    source: str | None = Field(default=None, exclude=True)

    @field_validator("instances")
    @classmethod
    def _unique_numbers(cls, value: list[InstanceSettings]) -> list[InstanceSettings]:
        numbers = [i.number for i in value]
        if len(set(numbers)) != len(numbers):
            raise ValueError("instance numbers must be unique")
        return value

    @field_validator("webhooks")
    @classmethod
    def _unique_urls(cls, value: list[WebhookSettings]) -> list[WebhookSettings]:
        urls = [w.url for w in value]
        duplicates = sorted({u for u in urls if urls.count(u) > 1})
        if duplicates:
            raise ValueError(f"each URL once (endpoints are matched by URL): {duplicates}")
        return value

    @property
    def public_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    def instance(self, number: int) -> InstanceSettings | None:
        return next((i for i in self.instances if i.number == number), None)

    def with_sandbox(self) -> Settings:
        """`tgw serve --sandbox`: every instance becomes a sandbox instance."""
        instances = [i.model_copy(update={"backend": "sandbox"}) for i in self.instances]
        return self.model_copy(update={"instances": instances})

    def data_dir(self) -> Path:
        """Folder beside the SQLite database (or the working folder) for generated secrets."""
        url = self.database.url
        if url.startswith("sqlite") and ":///" in url:
            path = url.split(":///", 1)[1].split("?", 1)[0]
            if path and path != ":memory:":
                return Path(path).expanduser().resolve().parent
        return Path.cwd()
