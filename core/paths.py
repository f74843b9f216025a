"""Where Pneumoscope keeps things: bundled read-only resources and per-user folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Pneumoscope"
APP_AUTHOR = "Pneumoscope"


def install_root() -> Path:
    """Folder holding ``models/`` and ``resources/``: the repo checkout, or the frozen app's folder."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return install_root() / "resources"


def default_bundle_dir() -> Path:
    return install_root() / "models" / "default"


def _override(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value) if value else None


def user_data_dir() -> Path:
    """Per-user data folder (``PNEUMOSCOPE_HOME`` overrides it, for tests and portable use)."""
    home = _override("PNEUMOSCOPE_HOME")
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_config_dir() -> Path:
    home = _override("PNEUMOSCOPE_HOME")
    path = home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_log_dir() -> Path:
    home = _override("PNEUMOSCOPE_HOME")
    path = home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_models_dir() -> Path:
    path = user_data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def audit_log_path() -> Path:
    return user_log_dir() / "audit.jsonl"
