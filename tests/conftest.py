"""Shared fixtures. Data tests read ../shared/data and skip when it is absent, unless
PNEUMOSCOPE_REQUIRE_DATA=1 (set by CI), which turns that skip into a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PNEUMOSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


def _need(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("PNEUMOSCOPE_REQUIRE_DATA") == "1":
        pytest.fail(f"required test data missing: {path} (PNEUMOSCOPE_REQUIRE_DATA=1)")
    pytest.skip(f"test data not available: {path}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def chest_xray_dir() -> Path:
    return _need(SHARED_DATA / "chest_xray")


@pytest.fixture(scope="session")
def dicom_dir() -> Path:
    return _need(SHARED_DATA / "dicom")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own user folders (audit log, user models, settings)."""
    home = tmp_path_factory.mktemp("pneumoscope_home")
    monkeypatch.setenv("PNEUMOSCOPE_HOME", str(home))
    return home
