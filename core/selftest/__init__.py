"""Self-test of an installation: ``Pneumoscope --self-test`` (frozen app) or ``pneumoscope --self-test``.

It proves, headless, that everything a user needs is really in the build: the DICOM decoder
plugins (a JPEG 2000 file encoded here at run time and a JPEG Lossless file shipped in
``resources/selftest``, both checked pixel for pixel against their source), TensorFlow and the
model bundle (one score), Grad-CAM (one heat map) and, through the ``ui`` hooks that
``gui.selftest`` passes in, the Qt window and its plugins. It prints one line of JSON (``"ok"``
true or false, versions, bundle hash and threshold, decoded syntaxes, score, timings) and the
process exits 0 only when every step passed.

This module never imports Qt: the GUI half lives in ``gui.selftest``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core import __version__
from core.errors import PneumoscopeError
from core.paths import atomic_open
from core.selftest.fixtures import (
    _DIGEST_PREFIX,  # noqa: F401  (tests write fixtures with it)
    FIXTURE_NAME,
    JPEG_2000_LOSSLESS,
    JPEG_LOSSLESS_SV1,
    SelfTestError,
    _check_dicom,
    _digest,
    _training_images,
    fixture_path,
    synthetic_chest,
    write_jpeg2000,
    write_jpeg_lossless,
)

__all__ = ["FIXTURE_NAME", "JPEG_2000_LOSSLESS", "JPEG_LOSSLESS_SV1", "fixture_path", "main", "run_self_test",
           "synthetic_chest", "write_jpeg2000", "write_jpeg_lossless"]

BUNDLE_ENV = "PNEUMOSCOPE_BUNDLE"
# Epoch seconds set by a launcher (benchmarks/bench_cold_start.py) so timings count from the click.
LAUNCHED_AT_ENV = "PNEUMOSCOPE_LAUNCHED_AT"


class SelfTestUI(Protocol):
    """The Qt half of the self-test (gui.selftest), kept behind an interface so core stays Qt-free."""

    def open_window(self) -> dict[str, Any]: ...
    def show_bundle(self, bundle: Any) -> dict[str, Any]: ...
    def close(self) -> None: ...


# --------------------------------------------------------------------------- clock


def _seconds_since_process_start() -> tuple[float | None, str]:
    """Seconds since this process started, and where that figure came from."""
    launched = os.environ.get(LAUNCHED_AT_ENV)
    if launched:
        try:
            return time.time() - float(launched), "launcher timestamp"
        except ValueError:
            pass
    try:
        # /proc/self/stat field 22 is the start time in clock ticks since boot; /proc/uptime
        # is seconds since boot to 10 ms, so the difference is the age of this process.
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK"), "process start (/proc)"
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return time.time() - psutil.Process().create_time(), "process start (psutil)"
    except Exception:
        return None, "self-test start (process start unknown)"


class _Clock:
    def __init__(self) -> None:
        age, self.source = _seconds_since_process_start()
        self.t0 = time.perf_counter() - (age or 0.0)

    def now(self) -> float:
        return round(time.perf_counter() - self.t0, 3)


# --------------------------------------------------------------------------- test images



def _train_check(workdir: Path) -> dict[str, Any]:
    """Train a 32 px model for one epoch through core.learning.train, as the Train screen does."""
    from core.learning.bundle import load_bundle
    from core.learning.train import TrainConfig, train

    data = _training_images(workdir / "data")
    config = TrainConfig(
        data_root=str(data), out=str(workdir / "trained"), model="pneumonet", epochs=1, batch_size=8,
        hparams={"image_size": 32, "width": 0.5}, augment=True, seed=1, min_val=4, patience=1,
    )
    t = time.perf_counter()
    trained = load_bundle(train(config))
    seconds = time.perf_counter() - t
    score = trained.score_pixels((synthetic_chest(128) // 16).astype(np.uint8))
    if not (np.isfinite(score) and 0.0 <= score <= 1.0):
        raise SelfTestError(f"the freshly trained model returned an invalid score ({score})")
    return {"seconds": round(seconds, 3), "threshold": trained.threshold, "epochs_run":
            (trained.card.get("training") or {}).get("epochs_run")}


def _tuning_available() -> bool:
    """Keras Tuner's Bayesian search (the Train screen's "tune" option) needs scipy and scikit-learn."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("scipy", "sklearn"))


# --------------------------------------------------------------------------- bundle


def resolve_bundle(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else $PNEUMOSCOPE_BUNDLE, else the shipped models/default; a clear error if none."""
    from core.learning.bundle import default_bundle_path
    from core.paths import default_bundle_dir

    chosen = path or os.environ.get(BUNDLE_ENV)
    if chosen:
        return Path(chosen)
    found = default_bundle_path()
    if found is None:
        raise SelfTestError(
            f"no default model in this build: {default_bundle_dir()} has no model.keras. Build the "
            f"app after `make default-model`, or test with --bundle PATH or {BUNDLE_ENV}=PATH"
        )
    return found


# --------------------------------------------------------------------------- the run


def _versions() -> dict[str, Any]:
    from core.sysinfo import sys_info

    info = sys_info()
    versions = dict(info.get("packages") or {})
    # Frozen builds may lack some package metadata; the imported modules know their versions.
    for label, module in (("tensorflow", "tensorflow"), ("keras", "keras"), ("numpy", "numpy"),
                          ("pydicom", "pydicom"), ("PySide6", "PySide6"), ("matplotlib", "matplotlib")):
        if not versions.get(label) and module in sys.modules:
            versions[label] = getattr(sys.modules[module], "__version__", None)
    return {"packages": versions, "dicom_decoders": info.get("dicom_decoders")}


def run_self_test(
    bundle_path: str | os.PathLike[str] | None = None,
    ui: SelfTestUI | None = None,
    log: Callable[[str], None] | None = None,
    train: bool = False,
) -> dict[str, Any]:
    """Run every step; returns the summary (``summary["ok"]`` says whether all passed).
    ``train`` adds a one-epoch training run on a tiny synthetic dataset (about 10 s more)."""
    clock = _Clock()
    say = log or (lambda _msg: None)
    summary: dict[str, Any] = {
        "ok": False,
        "pneumoscope": __version__,
        "frozen": bool(getattr(sys, "frozen", False)),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "timings_s": {},
        "clock": clock.source,
    }
    timings: dict[str, float] = summary["timings_s"]
    stage = "start"
    try:
        if ui is not None:
            stage = "window"
            say("building the main window offscreen")
            summary["gui"] = ui.open_window()
            timings["to_window"] = clock.now()

        stage = "bundle"
        path = resolve_bundle(bundle_path)
        from core.learning.bundle import load_bundle

        t = time.perf_counter()
        say(f"loading the model bundle {path}")
        bundle = load_bundle(path)
        # Scoring runs on LiteRT; TensorFlow is loaded only where the bundle has no LiteRT model.
        if bundle.runtime is None:
            say("no LiteRT model: loading TensorFlow")
            _ = bundle.model
        summary["runtime"] = "litert" if bundle.runtime is not None else "tensorflow"
        timings["load_bundle"] = round(time.perf_counter() - t, 6)
        summary["bundle"] = {
            "path": str(path), "name": bundle.name, "sha256": bundle.sha256,
            "threshold": bundle.threshold, "input_shape": list(bundle.input_shape),
        }

        stage = "dicom"
        say("decoding JPEG 2000 and JPEG Lossless DICOM")
        source = synthetic_chest()
        decoded = []
        with tempfile.TemporaryDirectory(prefix="pneumoscope-selftest-") as tmp:
            j2k = write_jpeg2000(Path(tmp) / "jpeg2000.dcm", source)
            decoded.append(_check_dicom(j2k, JPEG_2000_LOSSLESS, _digest(source)) | {"source": "encoded now"})
        fixture = fixture_path()
        if fixture.is_file():
            decoded.append(_check_dicom(fixture, JPEG_LOSSLESS_SV1, None) | {"source": "shipped"})
        else:
            raise SelfTestError(f"the JPEG Lossless test file {fixture} is missing from this build")
        pixels = decoded[0].pop("pixels")
        for item in decoded[1:]:
            item.pop("pixels")
        summary["decoded"] = decoded

        stage = "score"
        say("scoring one image")
        t = time.perf_counter()
        score = bundle.score_pixels(pixels)
        timings["first_score"] = round(time.perf_counter() - t, 6)
        timings["to_first_score"] = clock.now()
        if not (np.isfinite(score) and 0.0 <= score <= 1.0):
            raise SelfTestError(f"the model returned an invalid score ({score})")
        summary["score"] = round(float(score), 6)
        summary["label"] = "PNEUMONIA" if score >= bundle.threshold else "NORMAL"

        stage = "gradcam"
        say("computing a Grad-CAM heat map")
        from core.trust.explain import gradcam_and_score

        t = time.perf_counter()
        heat, cam_score = gradcam_and_score(bundle, pixels)
        timings["gradcam"] = round(time.perf_counter() - t, 6)
        if heat.shape != pixels.shape or not np.isfinite(heat).all() or heat.min() < 0 or heat.max() > 1:
            raise SelfTestError(f"the heat map is malformed (shape {heat.shape}, image {pixels.shape})")
        if abs(cam_score - score) > 1e-3:
            raise SelfTestError(f"Grad-CAM's score {cam_score:.4f} differs from the model's {score:.4f}")
        summary["heatmap_shape"] = list(heat.shape)

        stage = "results"
        say("building the DICOM results a PACS gets (TID 1500 SR, Parametric Map, Secondary Capture)")
        summary["results"] = _check_results(bundle, source)

        if ui is not None:
            stage = "screens"
            say("building every screen with the model loaded")
            t = time.perf_counter()
            summary["gui"] = (summary.get("gui") or {}) | ui.show_bundle(bundle)
            timings["all_screens"] = round(time.perf_counter() - t, 6)

        if train:
            stage = "train"
            say("training a tiny model for one epoch")
            with tempfile.TemporaryDirectory(prefix="pneumoscope-selftest-train-") as tmp:
                summary["train"] = _train_check(Path(tmp))

        stage = "versions"
        summary["tuning_available"] = _tuning_available()
        summary["tensorflow_loaded"] = "tensorflow" in sys.modules
        summary.update(_versions())
        summary["ok"] = True
    except Exception as exc:
        summary["stage"] = stage
        summary["error"] = str(exc) if isinstance(exc, PneumoscopeError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, PneumoscopeError):
            summary["traceback"] = traceback.format_exc(limit=8)
        with contextlib.suppress(Exception):
            summary.update(_versions())
    finally:
        if ui is not None:
            with contextlib.suppress(Exception):
                ui.close()
        timings["total"] = clock.now()
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pneumoscope --self-test", description=__doc__.splitlines()[0])
    parser.add_argument("--self-test", action="store_true", help="run the self-test (this)")
    parser.add_argument("--bundle", help=f"model bundle to test (default: ${BUNDLE_ENV}, then models/default)")
    parser.add_argument("--json", dest="json_path", help="also write the JSON summary to this file")
    parser.add_argument("--no-gui", action="store_true", help="skip the window check")
    parser.add_argument("--train", action="store_true", help="also train a tiny model for one epoch")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def emit(summary: dict[str, Any], json_path: str | None = None) -> None:
    """One line of JSON on stdout (windowed builds have none: use --json there) and, if asked, a file."""
    text = json.dumps(summary, sort_keys=True, default=str)
    if sys.stdout is not None:
        print(text, flush=True)
    if json_path:
        with atomic_open(json_path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def _check_results(bundle: Any, pixels: np.ndarray) -> list[str]:
    """Build every result object the DICOM node can send for one scored image, and read each
    back: the SC draws its text band with Pillow's FreeType, the PM and SR go through highdicom."""
    import pydicom

    from core.cases import score_case
    from core.node.results import build_results

    with tempfile.TemporaryDirectory(prefix="pneumoscope-selftest-") as tmp:
        source = write_jpeg2000(Path(tmp) / "source.dcm", pixels)
        case = score_case(bundle, source, want_heatmap=True, audit=False)
        if case.error or case.heatmap is None:
            raise SelfTestError(f"the test image could not be scored with a heat map ({case.error})")
        built = build_results(source, case, bundle.sha256, heat_map="both")
        kinds = []
        for i, ds in enumerate(built):
            out = Path(tmp) / f"result{i}.dcm"
            ds.save_as(out, enforce_file_format=True)
            back = pydicom.dcmread(out)
            kinds.append(str(back.SOPClassUID.name))
    if len(kinds) != 3:
        raise SelfTestError(f"expected an SC, a Parametric Map and an SR, got {kinds}")
    return kinds


def main(argv: list[str] | None = None, ui_factory: Callable[[], SelfTestUI] | None = None) -> int:
    """CLI wrapper: runs the self-test, prints the JSON, returns 0 when everything passed."""
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def log(msg: str) -> None:
        if not args.quiet and sys.stderr is not None:
            print(f"self-test: {msg}", file=sys.stderr, flush=True)

    ui = None
    if ui_factory is not None and not args.no_gui:
        ui = ui_factory()
    summary = run_self_test(args.bundle, ui=ui, log=log, train=args.train)
    emit(summary, args.json_path)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
