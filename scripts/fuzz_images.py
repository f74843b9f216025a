"""Fuzz core.imaging.load_image with mutated DICOM/PNG/JPEG files.

Every input must either load (2-D uint8 pixels) or raise ImageLoadError. Anything else
(another exception type, a wrong pixel array, a hang past --timeout seconds) is counted as
"other", saved under --keep for reproduction, and makes the script exit with status 1.

    .venv/bin/python scripts/fuzz_images.py --n 10000
"""

from __future__ import annotations

import argparse
import collections
import io
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.imaging import ImageLoadError, load_image  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "dicom"
DICOM_SEEDS = [
    "chest/rsna_00436515-870c-4b36-a041-de91049b9ab4.dcm",  # JPEG baseline, 1024x1024
    "edge/fod_CR-MONO1-10-chest",  # ACR-NEMA, no preamble, no meta
    "edge/pdd_emri_small_RLE.dcm",  # RLE multi-frame
    "edge/pyd_MR_small_bigendian.dcm",  # big endian
    "edge/fod_GH227.dcm",  # deflated
    "edge/pdd_JLSL_16_15_1_1F.dcm",  # JPEG-LS signed
    "edge/pdd_vlut_04.dcm",  # VOI LUT sequence
    "edge/pdd_mlut_18.dcm",  # modality LUT sequence
]
BUNDLED_SEEDS = ["MR_small_jp2klossless.dcm", "SC_rgb_rle.dcm", "examples_palette.dcm",
                 "MR_small_jpeg_ls_lossless.dcm", "JPGExtended.dcm"]


class Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise Hang("load_image did not return in time")


def generated_seeds() -> dict[str, tuple[str, bytes]]:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:96, 0:128]
    grey = ((x + 2 * y) % 256).astype(np.uint8)
    noisy = np.clip(grey.astype(int) + rng.integers(-20, 20, grey.shape), 0, 255).astype(np.uint8)
    seeds = {}
    for name, image, fmt, suffix, kwargs in [
        ("png_grey", Image.fromarray(grey), "PNG", ".png", {}),
        ("png_16bit", Image.fromarray(grey.astype(np.uint16) * 200), "PNG", ".png", {}),
        ("png_rgba", Image.fromarray(np.dstack([noisy, grey, noisy, grey]), "RGBA"), "PNG", ".png", {}),
        ("jpeg_grey", Image.fromarray(noisy), "JPEG", ".jpg", {"quality": 90}),
        ("jpeg_rgb", Image.fromarray(np.dstack([noisy, grey, noisy])), "JPEG", ".jpg", {}),
        ("tiff_grey", Image.fromarray(grey), "TIFF", ".tif", {}),
        ("bmp_grey", Image.fromarray(grey), "BMP", ".bmp", {}),
    ]:
        buf = io.BytesIO()
        image.save(buf, format=fmt, **kwargs)
        seeds[name] = (suffix, buf.getvalue())
    return seeds


def all_seeds() -> dict[str, tuple[str, bytes]]:
    seeds = generated_seeds()
    for rel in DICOM_SEEDS:
        path = SHARED / rel
        if path.exists():
            seeds[path.name] = (path.suffix or "", path.read_bytes())
    try:
        from pydicom.data import get_testdata_file

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in BUNDLED_SEEDS:
                found = get_testdata_file(name)
                if found:
                    seeds[name] = (".dcm", Path(found).read_bytes())
    except ImportError:
        pass
    return seeds


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to four random edits, half of them aimed at the first 2 KB where the headers live."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        if not buf:
            buf = bytearray(rng.bytes(int(rng.integers(1, 64))))
        span = len(buf) if rng.random() < 0.5 else min(len(buf), 2048)
        pos = int(rng.integers(0, span))
        op = int(rng.integers(0, 6))
        if op == 0:  # flip bits
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # truncate
            del buf[pos:]
        elif op == 2:  # insert random bytes
            buf[pos:pos] = rng.bytes(int(rng.integers(1, 32)))
        elif op == 3:  # delete a chunk
            del buf[pos : pos + int(rng.integers(1, 64))]
        elif op == 4:  # boundary values, e.g. lengths and sizes
            value = bytes([int(rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01]))]) * int(rng.integers(1, 5))
            buf[pos : pos + len(value)] = value
        else:  # copy a chunk from elsewhere (duplicated tags, markers)
            src = int(rng.integers(0, len(buf)))
            chunk = bytes(buf[src : src + int(rng.integers(1, 64))])
            buf[pos:pos] = chunk
    return bytes(buf)


def check_one(path: Path, timeout: float) -> str:
    """'loaded', 'refused' or 'other: <why>'."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        xray = load_image(path)
    except ImageLoadError as exc:
        message = str(exc)
        if not message.startswith(f"{path.name}: ") or "Traceback" in message:
            return f"other: badly formed message {message!r}"
        return "refused"
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "other: " + "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    pixels = xray.pixels
    if pixels.ndim != 2 or pixels.dtype != np.uint8 or pixels.size == 0:
        return f"other: bad pixels {pixels.shape} {pixels.dtype}"
    return "loaded"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of mutated inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before an input counts as a hang")
    parser.add_argument("--keep", type=Path, default=None, help="folder to save inputs that failed")
    parser.add_argument(
        "--without", action="append", default=[], metavar="DIST",
        help="act as if this decoder plugin were not installed (e.g. pylibjpeg-libjpeg, as in a "
        "build without the GPL extra); may be repeated",
    )
    args = parser.parse_args(argv)
    if args.without:
        import core.imaging.dicom as imaging

        real = imaging._plugin_installed
        imaging._plugin_installed = lambda plugin: plugin.dist not in args.without and real(plugin)

    signal.signal(signal.SIGALRM, _on_alarm)
    rng = np.random.default_rng(args.seed)
    seeds = all_seeds()
    names = sorted(seeds)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    failures: list[tuple[str, str]] = []
    slowest = (0.0, "")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pneumoscope-fuzz-") as tmp:
        for i in range(args.n):
            if i % 10 == 9:  # pure random bytes now and then, under every kind of name
                seed_name, data = "random-bytes", rng.bytes(int(rng.integers(0, 4096)))
                suffix = str(rng.choice([".dcm", ".png", ".jpg", "", ".tif"]))
            else:
                seed_name = names[int(rng.integers(0, len(names)))]
                suffix, original = seeds[seed_name]
                data = mutate(original, rng)
            path = Path(tmp) / f"case{i}{suffix}"
            path.write_bytes(data)
            if args.keep:
                # Survives a hard crash (a C decoder calling abort()) for reproduction.
                args.keep.mkdir(parents=True, exist_ok=True)
                (args.keep / "in-progress.txt").write_text(f"case{i}{suffix} from {seed_name}\n")
                (args.keep / f"in-progress{suffix}").write_bytes(data)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = check_one(path, args.timeout)
            elapsed = time.perf_counter() - t0
            if elapsed > slowest[0]:
                slowest = (elapsed, f"{seed_name} case{i}")
            key = outcome if not outcome.startswith("other") else "other"
            counts[seed_name][key] += 1
            if key == "other":
                failures.append((f"case{i}{suffix} from {seed_name}", outcome))
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    (args.keep / path.name).write_bytes(data)
            path.unlink()
            if args.keep:
                (args.keep / f"in-progress{suffix}").unlink()
            if (i + 1) % 1000 == 0:
                print(f"... {i + 1} inputs, {sum(c['other'] for c in counts.values())} other", flush=True)
    total = collections.Counter()
    print(f"{'seed':45s} {'loaded':>7s} {'refused':>8s} {'other':>6s}")
    for name in sorted(counts):
        c = counts[name]
        total.update(c)
        print(f"{name[:45]:45s} {c['loaded']:7d} {c['refused']:8d} {c['other']:6d}")
    print(f"{'TOTAL':45s} {total['loaded']:7d} {total['refused']:8d} {total['other']:6d}")
    print(f"{args.n} inputs in {time.perf_counter() - started:.0f} s; slowest {slowest[0]:.2f} s ({slowest[1]})")
    for where, why in failures[:20]:
        print(f"OTHER {where}: {why}")
    return 1 if total["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
