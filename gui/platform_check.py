"""Before the window opens on Linux: can Qt's xcb platform plugin load, and if not, what is missing?

When a system library of the xcb plugin is absent, Qt aborts with a message that names only
``libxcb-cursor0`` whatever is really missing. This check asks the dynamic linker (``ldd``) which
libraries of the plugin cannot be found and names the Debian/Ubuntu packages that provide them.
It imports no Qt (it must work when Qt cannot start) and is what ``make run`` runs first:

    python -m gui.platform_check      # exit 0: fine or not applicable; 1: libraries missing
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Library soname -> Debian/Ubuntu package (the system libraries PySide6's xcb plugin links against).
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin (``libqxcb.so``), or None where PySide6 or the plugin is absent."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for candidate in (Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so",
                          Path(root) / "plugins" / "platforms" / "libqxcb.so"):
            if candidate.is_file():
                return candidate
    return None


def parse_ldd(output: str) -> list[str]:
    """Sonames that ``ldd`` reports as "not found", in order, without repeats."""
    missing: list[str] = []
    for line in output.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and where.strip() == "not found" and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def missing_libraries(plugin: Path) -> list[str] | None:
    """Libraries the plugin needs and the dynamic linker cannot find; None when ``ldd`` is unavailable."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        result = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_ldd(result.stdout)


def packages_for(libraries: list[str]) -> list[str]:
    """Debian/Ubuntu package names for ``libraries`` (a library we cannot name stays as it is)."""
    out: list[str] = []
    for lib in libraries:
        pkg = DEBIAN_PACKAGES.get(lib, lib)
        if pkg not in out:
            out.append(pkg)
    return out


def applies(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Only Linux, and only when Qt will use xcb (not offscreen, wayland, ...)."""
    env = os.environ if environ is None else environ
    chosen = env.get("QT_QPA_PLATFORM", "")
    return (platform or sys.platform).startswith("linux") and (chosen == "" or chosen.startswith("xcb"))


def problem(plugin: Path | None = None) -> str | None:
    """A plain-language message naming what is missing, or None when nothing is known to be."""
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin)
    if not missing:
        return None
    packages = packages_for(missing)
    return (
        "Pneumoscope cannot open its window: Qt's X11 (xcb) platform plugin needs system libraries that are "
        f"not installed: {', '.join(missing)}.\n"
        f"On Debian/Ubuntu install them with:\n    sudo apt install {' '.join(packages)}\n"
        "(other distributions: the packages providing those files), then run `make run` again."
    )


def main() -> int:
    if not applies():
        return 0
    message = problem()
    if message is None:
        return 0
    print(message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
