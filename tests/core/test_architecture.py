"""core never imports Qt, the GUI package or a Qt matplotlib backend: statically (source AST),
at run time (a fresh interpreter importing every core module) and through import-linter."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "core"
FORBIDDEN = (
    "PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "shiboken2", "qtpy", "pyqtgraph", "gui",
    "matplotlib.backends.backend_qt",  # prefix: backend_qt, backend_qtagg, backend_qt5agg, ...
)
QT_MPL_BACKENDS = ("qt", "qtagg", "qt5agg", "qtcairo", "qt5cairo", "qt5", "qt4agg")


def _is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") or (bad.endswith("backend_qt") and
               module.startswith(bad)) for bad in FORBIDDEN)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def forbidden_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Forbidden imports in one module's source, as 'line: name' strings."""
    found = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{alias.name}" if prefix else alias.name for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            func_name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if func_name in ("import_module", "__import__"):
                    names = [arg.value]
                elif func_name in ("use", "switch_backend") and arg.value.lower() in QT_MPL_BACKENDS:
                    names = [f"matplotlib.backends.backend_{arg.value.lower()}"]
        found += [f"{node.lineno}: {name}" for name in names if name and _is_forbidden(name)]
    return found


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_scanner_catches_forbidden_imports() -> None:
    source = """
import os
import PySide6.QtWidgets
from PyQt5 import QtCore
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from .. import gui
from ..gui.app import main
import importlib
importlib.import_module("shiboken6")
import matplotlib
matplotlib.use("QtAgg")
from matplotlib.backends import backend_agg
import guidance
"""
    found = forbidden_imports(source, "core.sub")
    names = sorted({f.split(": ")[1] for f in found})
    assert names == [
        "PyQt5", "PyQt5.QtCore", "PySide6.QtWidgets", "gui", "gui.app", "gui.app.main",
        "matplotlib.backends.backend_qtagg", "matplotlib.backends.backend_qtagg.FigureCanvasQTAgg",
        "shiboken6",
    ]
    assert forbidden_imports("import numpy\nfrom matplotlib.figure import Figure\n", "core.x") == []


def test_core_sources_import_no_qt_or_gui() -> None:
    files = _core_files()
    assert CORE / "imaging" / "__init__.py" in files and CORE / "__init__.py" in files
    problems = {}
    for path in files:
        found = forbidden_imports(
            path.read_text(encoding="utf-8"), _module_name(path), is_package=path.name == "__init__.py"
        )
        if found:
            problems[str(path.relative_to(REPO))] = found
    assert problems == {}, f"core must not import Qt/gui: {problems}"


def test_importing_all_of_core_loads_no_qt() -> None:
    modules = [_module_name(p) for p in _core_files()]
    script = f"""
import importlib, json, sys
skipped = []
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name or name.startswith((exc.name or "") + "."):
            skipped.append(name)  # a module that does not exist yet
        else:
            raise
bad = sorted(m for m in sys.modules if m.split(".")[0] in
             ("PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "gui")
             or m.startswith("matplotlib.backends.backend_qt"))
print(json.dumps({{"bad": bad, "skipped": skipped}}))
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": ""}
    env.pop("MPLBACKEND")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["bad"] == [], f"importing core pulled in {report['bad']}"
    assert "core.imaging" not in report["skipped"]


def test_import_linter_contract_is_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and "0 broken" in result.stdout


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_cycle_finder_finds_cycles() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules() -> None:
    """No module of core or gui imports (directly or through others) a module that imports it back;
    imports inside functions count, as they do for import-linter."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("core", "gui")
    modules = {m for m in graph.modules if m.split(".")[0] in ("core", "gui")}
    # A package's __init__ re-exporting its own submodules is not a cycle between modules.
    edges = {
        m: {n for n in graph.find_modules_directly_imported_by(m)
            if n in modules and not m.startswith(n + ".") and not n.startswith(m + ".")}
        for m in modules
    }
    assert import_cycles(edges) == []
