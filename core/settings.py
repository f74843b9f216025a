"""Application settings that persist between launches (the active model), in the user config folder.

A small JSON file written atomically; a damaged file is set aside rather than crashing start-up,
and every reader falls back to the defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from core.paths import atomic_open, user_config_dir

SETTINGS_FILE = "settings.json"


def settings_path() -> Path:
    return user_config_dir() / SETTINGS_FILE


def read_settings() -> dict[str, Any]:
    """The saved settings, or ``{}`` when there are none or the file is unreadable."""
    path = settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        with contextlib.suppress(OSError):  # keep it for inspection, start from defaults
            os.replace(path, path.with_suffix(".damaged"))
        return {}
    return data if isinstance(data, dict) else {}


def write_settings(**changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the saved settings (a value of None removes the key); atomic."""
    data = read_settings()
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    with atomic_open(settings_path(), "w", fsync=True, encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    return data
