"""Save a PNG of every screen, offscreen, with a model and a case loaded.

    python scripts/screenshots.py [OUT_DIR] [--bundle PATH] [--case FILE] [--data DIR]

Without --bundle it uses models/default, else trains a tiny bundle on a synthetic dataset
(about half a minute). Without --case it uses the first RSNA DICOM in ../shared/data/dicom.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _wait(signal, timeout_s: float = 120.0) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()


def _settle(ms: int = 300) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _tiny_bundle(work: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(REPO / "tests" / "gui"))
    from conftest import make_dataset

    from core.learning.train import TrainConfig, train

    data = make_dataset(work / "data")
    out = train(TrainConfig(data_root=str(data), out=str(work / "tiny-demo"), model="pneumonet", epochs=3,
                            batch_size=16, hparams={"image_size": 32, "width": 0.5}, augment=False, seed=1,
                            min_val=4, patience=3))
    return Path(out), data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="screenshots")
    ap.add_argument("--bundle")
    ap.add_argument("--case")
    ap.add_argument("--data", help="dataset folder for the Train screen")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pneumoscope-shots-"))
    os.environ.setdefault("PNEUMOSCOPE_HOME", str(work / "home"))

    from core.learning.bundle import default_bundle_path

    data = Path(args.data) if args.data else None
    bundle_path = Path(args.bundle) if args.bundle else default_bundle_path()
    if bundle_path is None:
        bundle_path, synthetic = _tiny_bundle(work)
        data = data or synthetic
    if data is None:
        sys.path.insert(0, str(REPO / "tests" / "gui"))
        from conftest import make_dataset

        data = make_dataset(work / "data")
    case = Path(args.case) if args.case else next(iter(sorted((REPO.parent / "shared/data/dicom/chest").glob("rsna_*.dcm"))), None)

    from core.learning.registry import load_and_warm
    from gui.window import create_window

    window = create_window(load_default=False)
    window.resize(1440, 900)
    window.show()
    window.grab().save(str(out / "00_start_no_model.png"))
    window.state.set_bundle(load_and_warm(bundle_path))
    window.build_all_screens()
    review = window.review
    if case is not None:
        review.open_paths([str(case.parent)])
        review.case_list.setCurrentRow(review.paths.index(str(case)))
        _wait(review.heatmapShown)
    _settle()
    window.grab().save(str(out / "01_review.png"))
    bad = REPO.parent / "shared/data/dicom/edge/fod_test_SR.dcm"
    if bad.exists():
        review.open_paths([str(bad)])
        _wait(review.loadFailed)
        _settle()
        window.grab().save(str(out / "02_review_bad_file.png"))

    window.tabs.setCurrentWidget(window.threshold)
    window.threshold.youden_btn.click()
    _settle(500)
    window.grab().save(str(out / "03_threshold.png"))

    window.tabs.setCurrentWidget(window.train)
    window.train.scan(str(data))
    _wait(window.train.scanned)
    card = window.state.bundle.card
    window.train.history.set_history((card.get("training") or {}).get("history") or {})
    _settle(500)
    window.grab().save(str(out / "04_train.png"))

    window.tabs.setCurrentWidget(window.evaluate)
    window.evaluate.run_evaluation()
    _wait(window.evaluate.evaluated)
    _settle(500)
    window.grab().save(str(out / "05_evaluate.png"))

    from gui.dialogs.about import AboutDialog

    dialog = AboutDialog(window.state.bundle, window)
    dialog.show()
    _settle()
    dialog.grab().save(str(out / "06_about.png"))
    dialog.close()
    window.shutdown()
    print(f"screenshots in {out.resolve()} ({time.strftime('%H:%M:%S')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
