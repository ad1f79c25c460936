"""What every section of the settings shares: the error and the strict, frozen model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

MIB = 1024 * 1024


class SettingsError(Exception):
    """A configuration problem; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
