"""Self-test fixtures: a synthetic chest image, DICOM files encoded from it (JPEG 2000 at run time,
JPEG Lossless shipped in resources/selftest) and their pixel-for-pixel checks, tiny training data."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PneumoscopeError
from core.paths import atomic_path, resources_dir

FIXTURE_NAME = "jpeg_lossless_sv1.dcm"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
# Where the raw-pixel digest of the shipped fixture is kept, so its check does not depend on
# recomputing the synthetic image bit for bit on another platform's floating-point library.
_DIGEST_PREFIX = "pneumoscope-selftest sha256="


class SelfTestError(PneumoscopeError):
    """A self-test step failed; the message names the step and what is missing."""


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
        with atomic_path(out) as partial:
            writer.SetFileName(str(partial))
            writer.SetFile(reader.GetFile())
            writer.SetImage(change.GetOutput())
            if not writer.Write():
                raise SelfTestError(f"GDCM could not write {partial}")
    return out


def fixture_path() -> Path:

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


