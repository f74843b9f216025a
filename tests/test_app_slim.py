"""The slimming steps of the PyInstaller spec (build_spec/slim.py), on real files where they act
on files. The frozen app built with them is checked by tests/test_packaging.py (slow)."""

from __future__ import annotations

import importlib.util
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("pneumoscope_slim", REPO / "build_spec" / "slim.py")
slim = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slim)

linux_strip = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("strip") is None or shutil.which("readelf") is None,
    reason="stripping is a Linux step (binutils)",
)


def test_keras_unit_tests_are_left_out_but_not_modules_that_merely_sound_like_tests():
    assert slim.is_test_module("keras.src.layers.core.dense_test")
    assert slim.is_test_module("keras.src.conftest")
    assert slim.is_test_module("h5py.tests.test_file")
    assert not slim.is_test_module("keras.src.layers.core.dense")
    assert not slim.is_test_module("keras.src.testing")  # imported by keras itself
    assert not slim.is_test_module("scipy.stats._bws_test")  # a real scipy module
    assert not slim.is_test_module("tensorflow.python.platform.test")  # tf.test is imported eagerly


def test_orphaned_libraries_are_those_only_dropped_plugins_need():
    needed = {
        "/src/theme.so": ["libcairo.so.2"],
        "/src/libcairo.so.2": ["libpixman.so.0", "libpng.so.16"],
        "/src/libpixman.so.0": [],
        "/src/libpng.so.16": [],
        "/src/libQt6Gui.so.6": ["libpng.so.16"],
        "/src/libloaded_by_ctypes.so": [],
    }
    kept = [
        ("libcairo.so.2", "/src/libcairo.so.2", "BINARY"),
        ("libpixman.so.0", "/src/libpixman.so.0", "BINARY"),
        ("libpng.so.16", "/src/libpng.so.16", "BINARY"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/src/libQt6Gui.so.6", "BINARY"),
        ("libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Gui.so.6", "SYMLINK"),
        ("libloaded_by_ctypes.so", "/src/libloaded_by_ctypes.so", "BINARY"),
    ]
    dropped = [("PySide6/Qt/plugins/platformthemes/theme.so", "/src/theme.so", "BINARY")]
    orphans = slim.orphaned(kept, dropped, needed=lambda src: needed[src])
    # libpng stays (Qt needs it); a library nothing links to stays (it may be opened at run time).
    assert orphans == {"libcairo.so.2", "libpixman.so.0"}


def test_without_also_removes_links_to_what_it_removes():
    entries = [
        ("PySide6/Qt/lib/libQt6Network.so.6", "/x/libQt6Network.so.6", "BINARY"),
        ("libQt6Network.so.6", "PySide6/Qt/lib/libQt6Network.so.6", "SYMLINK"),
        ("PySide6/Qt/lib/libQt6Core.so.6", "/x/libQt6Core.so.6", "BINARY"),
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
    ]
    left = slim.without(entries, {"PySide6/Qt/lib/libQt6Network.so.6"})
    assert [e[0] for e in left] == ["PySide6/Qt/lib/libQt6Core.so.6", "libQt6Core.so.6"]


def test_strippable_spares_auditwheel_patched_files_and_qt():
    site = "/venv/lib/python3.11/site-packages"
    assert slim.strippable("tensorflow/libtensorflow_cc.so.2", f"{site}/tensorflow/libtensorflow_cc.so.2",
                           "$ORIGIN/../../_solib_x86_64/x:$ORIGIN/")
    assert slim.strippable("libpython3.11.so.1.0", "/usr/lib/libpython3.11.so.1.0")
    assert not slim.strippable("numpy.libs/libscipy_openblas64_-32a4b2a6.so",
                               f"{site}/numpy.libs/libscipy_openblas64_-32a4b2a6.so")
    assert not slim.strippable("numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
                               f"{site}/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
                               "$ORIGIN/../../numpy.libs")
    assert not slim.strippable("PySide6/Qt/lib/libQt6Core.so.6", f"{site}/PySide6/Qt/lib/libQt6Core.so.6")
    assert not slim.strippable("base_library.zip", "/build/base_library.zip")


def test_package_modules_lists_the_checkout_as_pkgutil_sees_it():
    import core

    listed = slim.package_modules(REPO, "core")
    walked = {"core"} | {m.name for m in pkgutil.walk_packages(core.__path__, "core.")}
    assert set(listed) == walked
    assert len(listed) == len(set(listed))


@linux_strip
def test_stripped_copy_is_smaller_and_still_loads(tmp_path):
    import kiwisolver._cext  # a matplotlib dependency; its wheel is not auditwheel-patched

    src = kiwisolver._cext.__file__
    dest = f"kiwisolver/{Path(src).name}"
    (entry,) = slim.strip_binaries([(dest, src, "EXTENSION")], tmp_path, log=lambda _msg: None)
    copy = Path(entry[1])
    assert copy.parent.parent == tmp_path and copy.stat().st_size < Path(src).stat().st_size
    symtab = subprocess.run(["readelf", "-S", "-W", str(copy)], capture_output=True, text=True).stdout
    assert ".symtab" not in symtab
    # The dynamic symbols stay: a fresh interpreter imports the stripped copy and uses it.
    code = (
        "import importlib.util, sys; "
        f"s = importlib.util.spec_from_file_location('kiwisolver._cext', {str(copy)!r}); "
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
        "v = m.Variable('x'); print(type(v).__name__)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "Variable", res.stderr


@linux_strip
def test_auditwheel_patched_files_are_passed_through_unstripped(tmp_path):
    import numpy._core._multiarray_umath as umath

    src = umath.__file__
    if ".libs" not in slim.elf_runpath(src):
        pytest.skip("this numpy is not a PyPI (auditwheel) build")
    entry = ("numpy/_core/" + Path(src).name, src, "EXTENSION")
    assert slim.strip_binaries([entry], tmp_path, log=lambda _msg: None) == [entry]
    assert not any(tmp_path.rglob("*.so"))


def test_minified_json_holds_the_same_data_and_leaves_other_files_alone(tmp_path):
    import json

    hd = pytest.importorskip("highdicom")
    src = Path(hd.__file__).parent / "_standard" / "iod_module_map.json"
    other = Path(hd.__file__).parent / "py.typed"
    entries = [("highdicom/_standard/iod_module_map.json", str(src), "DATA"),
               ("highdicom/py.typed", str(other), "DATA")]
    out = slim.minified_json(entries, tmp_path, ("highdicom/_standard/",))
    assert out[1] == entries[1]
    copy = Path(out[0][1])
    assert copy.parent.parent.parent == tmp_path and out[0][0] == entries[0][0]
    assert copy.stat().st_size < src.stat().st_size
    assert json.loads(copy.read_text(encoding="utf-8")) == json.loads(src.read_text(encoding="utf-8"))


def _result_attributes(dicom_dir):
    """Which attributes (tag, VR), at every depth, each node result object holds: what highdicom's
    module table decides when it copies and checks attributes."""
    from core.node.results import build_results
    from tests.core.node_support import chest_files
    from tests.core.test_node_orthanc import scorer_with_map

    out = []
    for src in chest_files(dicom_dir)[:3]:
        case = scorer_with_map(src)
        for kw in ({"heat_map": "both"}, {"sr_style": "legacy", "heat_map": "sc"}):
            out += [sorted((int(e.tag), e.VR) for e in ds.iterall())
                    for ds in build_results(src, case, "ab" * 32, **kw)]
    return out


def _use_table(monkeypatch, table):
    import highdicom._standard_utils as su

    for mod in (su, __import__("highdicom.base", fromlist=["x"]), __import__("highdicom.image", fromlist=["x"])):
        monkeypatch.setattr(mod, "get_module_attribute_map", lambda: table)


def test_trimmed_highdicom_table_builds_the_same_results(dicom_dir, monkeypatch):
    """The frozen apps ship highdicom's module table trimmed (slim.trimmed_module_attribute_map): the
    node's SC, Parametric Map and both SR styles built with it hold the same attributes."""
    import json

    import highdicom

    std = Path(highdicom.__file__).parent / "_standard"
    full = json.loads((std / "module_attribute_map.json").read_text())
    trimmed = slim.trimmed_module_attribute_map(full, json.loads((std / "iod_module_map.json").read_text()))
    assert len(json.dumps(trimmed)) < 0.5 * len(json.dumps(full))
    expected = _result_attributes(dicom_dir)
    _use_table(monkeypatch, trimmed)
    assert _result_attributes(dicom_dir) == expected
    # The check can fail: a table without the nested attributes it keeps breaks the Parametric Map.
    _use_table(monkeypatch, {k: [a for a in v if not a["path"]] for k, v in full.items()})
    with pytest.raises(Exception):  # noqa: B017
        assert _result_attributes(dicom_dir) == expected


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("cc") is None, reason="Linux with cc")
def test_qt_runs_on_the_empty_icu_data_stub(tmp_path):
    """The stub replaces only libicudata, and Qt (with ICU's case mapping) works on it: a window is
    drawn, Turkish and German upper-casing still come out right, and only collation, which the app
    never asks ICU for, falls back (Qt says "Could not create collator")."""
    qt_lib = Path(importlib.util.find_spec("PySide6").origin).parent / "Qt" / "lib"
    real = next(qt_lib.glob("libicudata.so.*"))
    entries = [(f"PySide6/Qt/lib/{real.name}", str(real), "BINARY"), ("libpython3.11.so.1.0", "/x/libpython", "BINARY")]
    out = slim.icu_data_stub(entries, tmp_path, log=lambda _msg: None)
    assert out[1] == entries[1] and out[0][0] == entries[0][0]
    stub = Path(out[0][1])
    assert stub != real and stub.stat().st_size < 100_000 < real.stat().st_size
    code = ("from PySide6.QtCore import QCollator, QLocale\n"
            "from PySide6.QtWidgets import QApplication, QLabel\n"
            "app = QApplication([]); w = QLabel('Pneumoscope'); w.show(); app.processEvents()\n"
            "assert not w.grab().isNull()\n"
            "QCollator(QLocale('de_DE')).compare('a', 'b')\n"
            "print(QLocale('tr_TR').toUpper('i'), QLocale('de_DE').toUpper('straße'))\n")
    env = dict(os.environ, LD_PRELOAD=str(stub), QT_QPA_PLATFORM="offscreen")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["\u0130", "STRASSE"]
    assert "Could not create collator" in res.stderr  # the stub, not the real data, was loaded


def test_icu_stub_is_skipped_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMOSCOPE_APP_KEEP_ICU", "1")
    entries = [("PySide6/Qt/lib/libicudata.so.73", "/x/libicudata.so.73", "BINARY")]
    assert slim.icu_data_stub(entries, tmp_path, log=lambda _msg: None) == entries
