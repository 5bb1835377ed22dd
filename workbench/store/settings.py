"""The app settings file (JSON in the data directory): profiles, prices, electricity, offline.

Never keys: ``save_settings`` refuses any field that looks like a credential and any value equal
to a key this process knows (see ``workbench.store.secrets``). Unknown top-level fields are kept
as they are, so other parts of the app (and newer versions) can add their own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import BadInput
from workbench.store import secrets
from workbench.store.state_file import (
    StateFileUnreadable,
    read_json_document,
    write_text_atomic,
)

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
        offline = data.get("offline", False)
        if not isinstance(offline, bool):
            raise BadInput(f"settings: offline must be true or false, not {offline!r}")
        settings = cls(
            offline=offline,
            electricity_usd_per_kwh=_number(data, "electricity_usd_per_kwh"),
            cpu_watts_per_core=_number(data, "cpu_watts_per_core"),
            hardware_usd=_number(data, "hardware_usd"),
            hardware_lifetime_hours=_number(data, "hardware_lifetime_hours"),
            profiles=_object(data, "profiles"),
            pricing_overrides=_object(data, "pricing_overrides"),
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


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise BadInput(f"settings: {name} must be a JSON object, not {type(value).__name__}")
    return dict(value)


def settings_path() -> Path:
    return paths.data_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> AppSettings:
    """The saved settings (defaults when there is no file yet); a file that cannot be used
    raises ``BadInput`` naming the file and the field, and is left as it is."""
    path = path or settings_path()
    try:
        return AppSettings.from_dict(_read_document(path))
    except BadInput as err:
        raise BadInput(_in_file(path, err)) from None


def read_offline_setting(path: Path | None = None) -> tuple[bool, str | None]:
    """The settings' offline switch, failing safe: ``(offline, problem)``.

    A settings file with a bad field still tells its ``offline`` value (``problem`` names the
    field); one that cannot be read or parsed keeps offline mode ON unless its text says
    ``"offline": false`` exactly once (a torn write that still holds the switch).
    """
    path = path or settings_path()
    try:
        data = _read_document(path)
    except (BadInput, StateFileUnreadable) as err:
        told = _OFFLINE_IN_TEXT.findall(_text_or_empty(path))
        offline = told != ["false"]
        return offline, f"{_in_file(path, err)}; offline mode is " + (
            "kept on until it is fixed" if offline else "off, as the file says")
    offline = data.get("offline", False)
    if not isinstance(offline, bool):
        return True, (f"the settings file {path}: offline must be true or false, not "
                      f"{offline!r}; offline mode is kept on until it is fixed")
    try:
        AppSettings.from_dict(data)
    except BadInput as err:
        return offline, _in_file(path, err)
    return offline, None


_OFFLINE_IN_TEXT = re.compile(r'"offline"\s*:\s*(true|false)\b')


def _read_document(path: Path) -> dict[str, Any]:
    data = read_json_document(path, "settings file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"the settings file {path} must hold a JSON object")
    return data


def _text_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _in_file(path: Path, err: Exception) -> str:
    """``err`` with the settings file named (once)."""
    text = str(err)
    if str(path) in text:
        return text
    return f"the settings file {path}: {text.removeprefix('settings: ')}"


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
    return write_text_atomic(path or settings_path(), text)
