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
import hashlib
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

BUNDLE_ENV = "PNEUMOSCOPE_BUNDLE"
# Epoch seconds set by a launcher (benchmarks/bench_cold_start.py) so timings count from the click.
LAUNCHED_AT_ENV = "PNEUMOSCOPE_LAUNCHED_AT"
FIXTURE_NAME = "jpeg_lossless_sv1.dcm"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
# Where the raw-pixel digest of the shipped fixture is kept, so its check does not depend on
# recomputing the synthetic image bit for bit on another platform's floating-point library.
_DIGEST_PREFIX = "pneumoscope-selftest sha256="


class SelfTestError(PneumoscopeError):
    """A self-test step failed; the message names the step and what is missing."""


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


def synthetic_chest(size: int = 256) -> np.ndarray:
    """A deterministic chest-like 12-bit image (uint16): bright body, two dark lungs, rib-like
    stripes and a fine texture, so that compression has real work to do. No randomness."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    img = 2600.0 + 300.0 * np.cos(3.0 * (xx - 0.5))
    for cx in (0.32, 0.68):
        img -= 1500.0 * np.exp(-(((xx - cx) / 0.14) ** 2 + ((yy - 0.5) / 0.28) ** 2))
    img += 120.0 * np.sin(40.0 * yy + 3.0 * np.sin(6.0 * xx))
    img += 6.0 * np.sin(97.0 * xx) * np.cos(89.0 * yy)
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def _dataset(pixels: np.ndarray) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image, for presentation
    # Fixed UIDs under the "2.25" (UUID-derived) root: the file is synthetic and the same every time.
    meta.MediaStorageSOPInstanceUID = "2.25.118206341795447357466337307711102359021"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "2.25.118206341795447357466337307711102359022"
    ds.SeriesInstanceUID = "2.25.118206341795447357466337307711102359023"
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientName = "Synthetic^Selftest"
    ds.PatientID = "SELFTEST"
    ds.Rows, ds.Columns = (int(s) for s in pixels.shape)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds.ImageComments = _DIGEST_PREFIX + _digest(pixels)
    return ds


def _digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype="<u2").tobytes()).hexdigest()


def write_jpeg2000(path: str | os.PathLike[str], pixels: np.ndarray | None = None) -> Path:
    """Encode ``pixels`` (default: :func:`synthetic_chest`) as a JPEG 2000 Lossless DICOM with
    pydicom's pylibjpeg-openjpeg encoder."""
    from pydicom.uid import JPEG2000Lossless

    pixels = synthetic_chest() if pixels is None else pixels
    ds = _dataset(pixels)
    ds.compress(JPEG2000Lossless, pixels, encoding_plugin="pylibjpeg")
    out = Path(path)
    ds.save_as(out, enforce_file_format=True)
    return out


def write_jpeg_lossless(path: str | os.PathLike[str], pixels: np.ndarray | None = None) -> Path:
    """Encode ``pixels`` as a JPEG Lossless SV1 DICOM with GDCM (pydicom 3 has no encoder for
    this syntax). Used to make ``resources/selftest/jpeg_lossless_sv1.dcm``."""
    import gdcm

    pixels = synthetic_chest() if pixels is None else pixels
    out = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / "native.dcm"
        _dataset(pixels).save_as(native, enforce_file_format=True)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(native))
        if not reader.Read():
            raise SelfTestError("GDCM could not read the uncompressed test image")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise SelfTestError("GDCM could not encode JPEG Lossless")
        writer = gdcm.ImageWriter()
        partial = out.with_name(out.name + ".tmp")
        writer.SetFileName(str(partial))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise SelfTestError(f"GDCM could not write {partial}")
        os.replace(partial, out)
    return out


def fixture_path() -> Path:
    from core.paths import resources_dir

    return resources_dir() / "selftest" / FIXTURE_NAME


def _check_dicom(path: Path, expected_syntax: str, expected_digest: str | None) -> dict[str, Any]:
    """Decode through the app's own loader, then check the raw pixels are exactly the source's."""
    import pydicom

    from core.imaging import load_image

    t0 = time.perf_counter()
    xray = load_image(path)
    seconds = time.perf_counter() - t0
    syntax = xray.meta.get("transfer_syntax")
    if syntax != expected_syntax:
        raise SelfTestError(f"{path.name}: expected transfer syntax {expected_syntax}, file has {syntax}")
    ds = pydicom.dcmread(path)
    if expected_digest is None:
        comment = str(ds.get("ImageComments", ""))
        if not comment.startswith(_DIGEST_PREFIX):
            raise SelfTestError(f"{path.name} carries no pixel digest: it is not a Pneumoscope self-test file")
        expected_digest = comment[len(_DIGEST_PREFIX):]
    raw = ds.pixel_array
    if _digest(raw) != expected_digest:
        raise SelfTestError(f"{path.name}: decoded pixels differ from the encoded ones (lossless decode failed)")
    return {
        "syntax": syntax,
        "syntax_name": xray.meta.get("transfer_syntax_name"),
        "shape": list(xray.pixels.shape),
        "lossless_match": True,
        "decode_s": round(seconds, 3),
        "pixels": xray.pixels,
    }


def _training_images(root: Path, per_class: int = 12, size: int = 128) -> Path:
    """A tiny two-class PNG folder dataset: a bright patch in one lung marks PNEUMONIA."""
    from PIL import Image

    base = synthetic_chest(size).astype(np.float64)
    base = (base - base.min()) / (base.max() - base.min()) * 200.0
    yy, xx = np.mgrid[0:size, 0:size] / size
    for split, n in (("train", per_class), ("test", 4)):
        for cls, sick in (("NORMAL", False), ("PNEUMONIA", True)):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = base + 8.0 * np.sin(i + 13.0 * xx)
                if sick:
                    cx, cy = (0.3, 0.7)[i % 2], 0.4 + 0.02 * i
                    img += 90.0 * np.exp(-(((xx - cx) / 0.09) ** 2 + ((yy - cy) / 0.09) ** 2))
                name = f"{cls.lower()}_{split}_{i:03d}.png"
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / name)
    return root


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
        t = time.perf_counter()
        say("loading TensorFlow")
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        timings["import_tensorflow"] = round(time.perf_counter() - t, 3)
        from core.learning.bundle import load_bundle

        t = time.perf_counter()
        say(f"loading the model bundle {path}")
        bundle = load_bundle(path)
        _ = bundle.model
        timings["load_bundle"] = round(time.perf_counter() - t, 3)
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
        timings["first_score"] = round(time.perf_counter() - t, 3)
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
        timings["gradcam"] = round(time.perf_counter() - t, 3)
        if heat.shape != pixels.shape or not np.isfinite(heat).all() or heat.min() < 0 or heat.max() > 1:
            raise SelfTestError(f"the heat map is malformed (shape {heat.shape}, image {pixels.shape})")
        if abs(cam_score - score) > 1e-3:
            raise SelfTestError(f"Grad-CAM's score {cam_score:.4f} differs from the model's {score:.4f}")
        summary["heatmap_shape"] = list(heat.shape)

        if ui is not None:
            stage = "screens"
            say("building every screen with the model loaded")
            t = time.perf_counter()
            summary["gui"] = (summary.get("gui") or {}) | ui.show_bundle(bundle)
            timings["all_screens"] = round(time.perf_counter() - t, 3)

        if train:
            stage = "train"
            say("training a tiny model for one epoch")
            with tempfile.TemporaryDirectory(prefix="pneumoscope-selftest-train-") as tmp:
                summary["train"] = _train_check(Path(tmp))

        stage = "versions"
        summary["tuning_available"] = _tuning_available()
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
        target = Path(json_path)
        partial = target.with_name(target.name + ".tmp")
        partial.write_text(text + "\n", encoding="utf-8")
        os.replace(partial, target)


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
