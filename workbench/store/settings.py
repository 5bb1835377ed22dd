"""The app settings file (JSON in the data directory): profiles, prices, electricity, offline.

Never keys: ``save_settings`` refuses any field that looks like a credential and any value equal
to a key this process knows (see ``workbench.store.secrets``). Unknown top-level fields are kept
as they are, so other parts of the app (and newer versions) can add their own.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import BadInput
from workbench.store import secrets

SETTINGS_FILE = "settings.json"
DEFAULT_ELECTRICITY_USD_PER_KWH = 0.15
DEFAULT_CPU_WATTS_PER_CORE = 8.0
_CREDENTIAL_FIELDS = {"api_key", "apikey", "key", "token", "secret", "password",
                      "authorization", "auth_token", "access_token"}


@dataclass
class AppSettings:
    offline: bool = False
    # None: not set by the user (the default price is used, and labelled as a default)
    electricity_usd_per_kwh: float | None = None
    cpu_watts_per_core: float | None = None  # for the labelled CPU energy estimate
    hardware_usd: float | None = None  # optional amortisation of the local machine
    hardware_lifetime_hours: float | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    pricing_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def electricity_price(self) -> float:
        if self.electricity_usd_per_kwh is None:
            return DEFAULT_ELECTRICITY_USD_PER_KWH
        return self.electricity_usd_per_kwh

    @property
    def cpu_watts(self) -> float:
        return self.cpu_watts_per_core or DEFAULT_CPU_WATTS_PER_CORE

    def to_dict(self) -> dict[str, Any]:
        document = dict(self.extra)
        document.update({
            "offline": self.offline,
            "electricity_usd_per_kwh": self.electricity_usd_per_kwh,
            "cpu_watts_per_core": self.cpu_watts_per_core,
            "hardware_usd": self.hardware_usd,
            "hardware_lifetime_hours": self.hardware_lifetime_hours,
            "profiles": self.profiles,
            "pricing_overrides": self.pricing_overrides,
        })
        return document

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppSettings:
        known = {"offline", "electricity_usd_per_kwh", "cpu_watts_per_core", "hardware_usd",
                 "hardware_lifetime_hours", "profiles", "pricing_overrides"}
        settings = cls(
            offline=bool(data.get("offline", False)),
            electricity_usd_per_kwh=_number(data, "electricity_usd_per_kwh"),
            cpu_watts_per_core=_number(data, "cpu_watts_per_core"),
            hardware_usd=_number(data, "hardware_usd"),
            hardware_lifetime_hours=_number(data, "hardware_lifetime_hours"),
            profiles=dict(data.get("profiles") or {}),
            pricing_overrides=dict(data.get("pricing_overrides") or {}),
            extra={k: v for k, v in data.items() if k not in known},
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        for name in ("electricity_usd_per_kwh", "cpu_watts_per_core", "hardware_usd",
                     "hardware_lifetime_hours"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise BadInput(f"settings: {name} must be >= 0, not {value}")
        if not isinstance(self.profiles, dict) or not isinstance(self.pricing_overrides, dict):
            raise BadInput("settings: profiles and pricing_overrides must be JSON objects")


def _number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"settings: {name} must be a number, not {value!r}")
    return float(value)


def settings_path() -> Path:
    return paths.data_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> AppSettings:
    """The saved settings (defaults when there is no file yet)."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AppSettings()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"the settings file {path} is not valid JSON (line {err.lineno}): fix "
                       "or delete it") from None
    if not isinstance(data, dict):
        raise BadInput(f"the settings file {path} must hold a JSON object")
    return AppSettings.from_dict(data)


def find_credentials(value: Any, where: str = "") -> list[str]:
    """Paths of fields in ``value`` named like credentials (api_key, token, ...)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key).lower().replace("-", "_") in _CREDENTIAL_FIELDS and item:
                found.append(path)
            found.extend(find_credentials(item, path))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(find_credentials(item, f"{where}[{index}]"))
    return found


def save_settings(settings: AppSettings, path: Path | None = None) -> Path:
    """Write the settings atomically; refuses anything that looks like an API key."""
    settings.validate()
    document = settings.to_dict()
    credentials = find_credentials(document)
    if credentials:
        raise BadInput(f"settings never hold API keys (found {', '.join(credentials)}): store "
                       "keys with `workbench keys set NAME`")
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if secrets.contains_secret(text):
        raise BadInput("settings never hold API keys (a known key value was found): store keys "
                       "with `workbench keys set NAME`")
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
