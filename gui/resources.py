"""Access to files under resources/ (icons, style sheet, texts)."""

from __future__ import annotations

from pathlib import Path


def resource_path(name: str) -> Path:
    from core.paths import resources_dir

    return resources_dir() / name


def read_text(name: str, default: str = "") -> str:
    try:
        return resource_path(name).read_text(encoding="utf-8")
    except OSError:
        return default
