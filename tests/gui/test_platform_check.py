"""`make run` names the system packages Qt's xcb plugin lacks (issue 14, item 6)."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gui import platform_check as pc

REPO = Path(__file__).resolve().parents[2]

LDD_SAMPLE = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibfoo-unknown.so.7 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def test_ldd_output_is_read_into_missing_libraries_and_packages():
    missing = pc.parse_ldd(LDD_SAMPLE)
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libfoo-unknown.so.7"]
    assert pc.packages_for(missing) == ["libxcb-cursor0", "libxcb-icccm4", "libfoo-unknown.so.7"]
    assert pc.applies({}, "linux") and pc.applies({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not pc.applies({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not pc.applies({}, "win32") and not pc.applies({}, "darwin")


def _qt_says_xcb_cannot_load() -> bool:
    """Ground truth: start Qt on xcb with no display; a missing library fails differently from no display."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["QT_QPA_PLATFORM"] = "xcb"
    probe = subprocess.run(
        [sys.executable, "-c", "from PySide6.QtGui import QGuiApplication; QGuiApplication([])"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert probe.returncode != 0  # no display either way
    # A plugin that loaded and found no X server says so before Qt gives up; one that could not
    # load (a library missing) never gets that far.
    if "could not connect to display" in probe.stderr:
        return False
    assert 'Could not load the Qt platform plugin "xcb"' in probe.stderr, probe.stderr
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin exists on Linux only")
def test_check_agrees_with_qt_about_this_machine_and_names_real_missing_libraries():
    plugin = pc.xcb_plugin()
    assert plugin is not None and plugin.is_file()
    message = pc.problem(plugin)
    assert (message is not None) == _qt_says_xcb_cannot_load()
    for lib in pc.missing_libraries(plugin) or []:
        with pytest.raises(OSError):
            ctypes.CDLL(lib)
        assert lib in message and pc.DEBIAN_PACKAGES.get(lib, lib) in message
    env = dict(os.environ, QT_QPA_PLATFORM="")
    run = subprocess.run([sys.executable, "-m", "gui.platform_check"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == (0 if message is None else 1)
    if message is not None:
        assert "sudo apt install" in run.stderr


def test_make_run_checks_before_it_launches():
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M)
    assert recipe is not None
    lines = recipe.group(1).splitlines()
    check = next(i for i, line in enumerate(lines) if "gui.platform_check" in line)
    launch = next(i for i, line in enumerate(lines) if "bin/pneumoscope" in line)
    assert check < launch or ("&&" in lines[check] and check == launch)
