"""Validators for the node's result objects: dciodvfy (dicom3tools) and PixelMed's
DicomSRValidator (Debian libpixelmed-java). Each returns the lines that report a problem."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import pytest

from tests.core.node_support import need_tool

_JAVA_OPTS = ["-Djdk.xml.xpathExprOpLimit=0", "-Djdk.xml.xpathExprGrpLimit=0", "-Djdk.xml.xpathTotalOpLimit=0"]


def dciodvfy_errors(path: Path) -> list[str]:
    exe = need_tool("dciodvfy", "dicom3tools")
    proc = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


def pixelmed_jar() -> str:
    jars = sorted(glob.glob("/usr/share/java/pixelmed*.jar"))
    if not jars:
        need_tool("pixelmed-does-not-exist", "libpixelmed-java")  # installs, or skips / fails in CI
        jars = sorted(glob.glob("/usr/share/java/pixelmed*.jar"))
        if not jars:
            reason = "PixelMed (Debian libpixelmed-java) is not installed"
            if os.environ.get("PNEUMOSCOPE_REQUIRE_DATA") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
    return jars[0]


def pixelmed_problems(paths: list[Path]) -> dict[str, list[str]]:
    """Errors and "not in template" warnings of DicomSRValidator, per file (one JVM for all)."""
    java = need_tool("java", "default-jre-headless")
    out: dict[str, list[str]] = {}
    for path in paths:
        proc = subprocess.run([java, *_JAVA_OPTS, "-cp", pixelmed_jar(), "com.pixelmed.validate.DicomSRValidator",
                               str(path)], capture_output=True, text=True, timeout=180)
        text = proc.stdout + proc.stderr
        assert "Found Root Template" in text or "Error" in text, text[-2000:]
        out[str(path)] = [line for line in text.splitlines()
                          if line.startswith("Error") or "not in template" in line or "Exception" in line]
    return out
