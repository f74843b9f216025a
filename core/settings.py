"""User settings that outlive a session and are shared by the app and the command line.

One small JSON file in the user config folder. Today it remembers the active model: the bundle
the user last made active in the app, which is also what ``pneumoscope-cli ... default`` means.
(The threshold in force for a model lives in its profile, :mod:`core.trust.profile`, keyed by
the model's sha256, so it follows the model wherever it is opened.) A damaged or unreadable file
is ignored, never fatal: the app then starts on the shipped model and says so.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from core.errors import PneumoscopeError
from core.paths import user_config_dir

SETTINGS_FILE = "settings.json"


class SettingsError(PneumoscopeError):
    """The settings file could not be written (the message says where and why)."""


def settings_path() -> Path:
    return user_config_dir() / SETTINGS_FILE


def load_settings() -> dict[str, Any]:
    """The saved settings; {} when there are none or the file cannot be read as a JSON object."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_settings(**changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the saved settings (a value of None removes the key), atomically."""
    values = load_settings()
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    dest = settings_path()
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8") as fh:  # a plain open: the user's umask applies
            json.dump(values, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SettingsError(f"cannot save the settings to {dest}: {exc.strerror or exc}") from exc
    return values


def active_bundle_setting() -> Path | None:
    """The model folder the user made active, as saved (it may since have been moved or deleted)."""
    value = load_settings().get("active_bundle")
    return Path(value) if isinstance(value, str) and value else None


def set_active_bundle(path: str | os.PathLike[str] | None) -> None:
    """Remember ``path`` as the active model (None: back to the shipped one)."""
    update_settings(active_bundle=None if path is None else str(Path(path).resolve()))
