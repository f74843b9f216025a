"""Train screen: look at a dataset (counts, class balance, samples), train or tune a model
on a worker with live curves, cancel it, and make a finished bundle the active model."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.plots import BarPlot, HistoryPlot
from gui.state import AppState
from gui.viewer import gray_qimage
from gui.widgets import MessageBanner, ThumbnailGrid, fit_table_height
from gui.workers import Worker, WorkerRunner, throttled, user_message

MODEL_CHOICES = (("pneumonet", "PneumoNet (small CNN, 1-channel)"), ("notebook", "Notebook CNN (150x150x3)"))
DEFAULT_SIZE = {"pneumonet": 128, "notebook": 150}
THUMBS_PER_CLASS = 6
THUMB = 96
PROGRESS_INTERVAL_S = 0.1  # 10 progress updates a second are enough for a bar and an ETA


def scan_with_samples(root: str, per_class: int = THUMBS_PER_CLASS) -> dict[str, Any]:
    """Dataset scan plus a few small thumbnails per class from the training split."""
    from core.imaging import load_image
    from core.imaging.preprocess import resize_uint8
    from core.learning.data import scan_dataset

    ds = scan_dataset(root)
    samples: dict[str, list[tuple[str, np.ndarray]]] = {}
    pool = ds.splits.get("train") or next(iter(ds.splits.values()), [])
    rng = np.random.default_rng(0)
    by_class: dict[str, list[Any]] = {}
    for s in pool:
        by_class.setdefault(s.class_name, []).append(s)
    for cls, items in by_class.items():
        picks = rng.choice(len(items), size=min(per_class, len(items)), replace=False)
        for i in sorted(int(k) for k in picks):
            try:
                pixels = load_image(items[i].path).pixels
            except Exception:
                continue
            samples.setdefault(cls, []).append((Path(items[i].path).name, resize_uint8(pixels, THUMB)))
    return {"dataset": ds, "counts": ds.counts(), "samples": samples}


def build_config(values: dict[str, Any]) -> Any:
    """A core.learning.train.TrainConfig from the form, passing only fields TrainConfig knows."""
    from core.learning.train import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in values.items() if k in known})


def run_training(values: dict[str, Any], tune: dict[str, Any] | None, progress=None, should_stop=None,
                 finetune: dict[str, Any] | None = None) -> Path:
    progress = throttled(progress, PROGRESS_INTERVAL_S)
    if finetune:
        from core.site.finetune import FinetuneConfig
        from core.site.finetune import finetune as run_finetune

        config = FinetuneConfig(site=values["data_root"], out=values["out"], epochs=values["epochs"],
                                batch_size=values["batch_size"], seed=values["seed"], augment=values["augment"],
                                **finetune)
        return Path(run_finetune(config, progress=progress, should_stop=should_stop))
    config = build_config(values)
    if tune:
        from core.learning.tune import tune as run_tune

        result = run_tune(config, tune["max_trials"], tune["objective"], progress=progress, should_stop=should_stop)
        return Path(result.best_bundle)
    from core.learning.train import train

    return Path(train(config, progress=progress, should_stop=should_stop))


def format_eta(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return ""
    seconds = round(float(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s left" if seconds >= 60 else f"{seconds} s left"


class TrainWidget(QWidget):
    trainingFinished = Signal(object)  # bundle path
    trainingFailed = Signal(str)
    trainingCancelled = Signal()
    scanned = Signal(object)
    activateRequested = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runner = WorkerRunner(1, self)
        self.scanner = WorkerRunner(1, self)
        self.worker: Worker | None = None
        self.dataset: Any = None
        self._last_epoch = 0
        self._t0 = 0.0
        self._build()
        self.refresh_models()
        state.bundleChanged.connect(lambda _b: self.refresh_models())

    # --- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        self.banner = MessageBanner("error")
        self.info = MessageBanner("info")
        outer.addWidget(self.banner)
        outer.addWidget(self.info)
        row = QHBoxLayout()
        row.addWidget(QLabel("Dataset folder"))
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("folder with train/ (and optionally val/, test/), each with NORMAL/ and PNEUMONIA/")
        row.addWidget(self.data_edit, 1)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        self.scan_btn = QPushButton("Scan")
        self.scan_btn.clicked.connect(lambda: self.scan(self.data_edit.text()))
        row.addWidget(self.scan_btn)
        outer.addLayout(row)

        split = QSplitter(Qt.Orientation.Horizontal)
        # left: dataset overview
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.counts_table = QTableWidget(0, 0)
        self.counts_table.setObjectName("countsTable")
        self.counts_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.counts_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        fit_table_height(self.counts_table)
        self.counts_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lv.addWidget(self.counts_table)
        self.split_note = QLabel("")
        self.split_note.setWordWrap(True)
        self.split_note.setObjectName("hint")
        lv.addWidget(self.split_note)
        self.bars = BarPlot()
        lv.addWidget(self.bars, 1)
        self.samples_box = ThumbnailGrid(THUMBS_PER_CLASS, THUMB)
        self.samples_box.setObjectName("sampleStrip")
        self.samples_grid = self.samples_box.grid
        scroll = QScrollArea()
        scroll.setObjectName("sampleScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.samples_box)
        scroll.setMinimumHeight(2 * THUMB // 2 + 80)
        self.samples_scroll = scroll
        lv.addWidget(scroll, 1)
        split.addWidget(left)

        # middle: settings and run
        mid = QWidget()
        mv = QVBoxLayout(mid)
        mv.setContentsMargins(0, 0, 0, 0)
        box = QGroupBox("Model and training settings")
        form = QFormLayout(box)
        self.model_combo = QComboBox()
        for key, label in MODEL_CHOICES:
            self.model_combo.addItem(label, key)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        form.addRow("Model", self.model_combo)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(15)
        form.addRow("Epochs (max)", self.epochs)
        self.batch = QSpinBox()
        self.batch.setRange(1, 1024)
        self.batch.setValue(32)
        form.addRow("Batch size", self.batch)
        self.size = QSpinBox()
        self.size.setRange(16, 512)
        self.size.setSingleStep(8)
        self.size.setValue(128)
        form.addRow("Image size (px)", self.size)
        self.loss = QComboBox()
        self.loss.addItem("Binary cross-entropy", "bce")
        self.loss.addItem("Focal loss", "focal")
        form.addRow("Loss", self.loss)
        self.class_weight = QCheckBox("Weight classes by frequency")
        self.class_weight.setChecked(True)
        form.addRow("", self.class_weight)
        self.augment = QCheckBox("Augmentation (rotation, zoom, shift)")
        self.augment.setChecked(True)
        form.addRow("", self.augment)
        self.hflip = QCheckBox("Horizontal flips (off: the heart is on the left)")
        form.addRow("", self.hflip)
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setValue(-1)
        self.seed.setSpecialValueText("random")
        form.addRow("Seed", self.seed)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("auto (model-date-time)")
        form.addRow("Bundle name", self.name_edit)
        mv.addWidget(box)
        tbox = QGroupBox("Tuning run (Keras Tuner; chooses on validation)")
        tbox.setCheckable(True)
        tbox.setChecked(False)
        from core.sysinfo import tuning_available

        if not tuning_available():
            tbox.setEnabled(False)
            tbox.setToolTip("Tuning needs scikit-learn and scipy: pip install 'pneumoscope[tuning]'")
        self.tune_box = tbox
        tform = QFormLayout(tbox)
        self.max_trials = QSpinBox()
        self.max_trials.setRange(1, 200)
        self.max_trials.setValue(5)
        tform.addRow("Max trials", self.max_trials)
        self.objective = QComboBox()
        for o in ("val_auc", "val_loss", "val_recall", "val_accuracy"):
            self.objective.addItem(o)
        tform.addRow("Objective", self.objective)
        mv.addWidget(tbox)
        fbox = QGroupBox("Fine-tune the model in use on this site data")
        fbox.setObjectName("finetuneBox")
        fbox.setCheckable(True)
        fbox.setChecked(False)
        fbox.setToolTip("Starts from the weights of the model in use; the site's cases are split by patient into "
                        "training, validation and held-out parts; the new model's card names its parent.")
        self.finetune_box = fbox
        fform = QFormLayout(fbox)
        self.ft_lr = QDoubleSpinBox()
        self.ft_lr.setDecimals(6)
        self.ft_lr.setRange(1e-6, 1e-2)
        self.ft_lr.setSingleStep(1e-5)
        self.ft_lr.setValue(1e-4)
        fform.addRow("Learning rate", self.ft_lr)
        self.ft_freeze = QSpinBox()
        self.ft_freeze.setRange(0, 20)
        fform.addRow("Frozen early conv layers", self.ft_freeze)
        self.ft_holdout = QDoubleSpinBox()
        self.ft_holdout.setRange(0.0, 0.6)
        self.ft_holdout.setSingleStep(0.05)
        self.ft_holdout.setValue(0.25)
        fform.addRow("Held out for parent vs child", self.ft_holdout)
        fbox.toggled.connect(lambda on: on and self.tune_box.setChecked(False))
        tbox.toggled.connect(lambda on: on and fbox.setChecked(False))
        mv.addWidget(fbox)
        buttons = QHBoxLayout()
        self.train_btn = QPushButton("Train")
        self.train_btn.setObjectName("trainButton")
        self.train_btn.clicked.connect(self.start_training)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setObjectName("cancelButton")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        buttons.addWidget(self.train_btn)
        buttons.addWidget(self.cancel_btn)
        mv.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        mv.addWidget(self.progress)
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        mv.addWidget(self.progress_label)
        mv.addStretch(1)
        split.addWidget(mid)

        # right: curves and models
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        self.history = HistoryPlot()
        rv.addWidget(self.history, 1)
        rv.addWidget(QLabel("<b>Models</b> (shipped default and yours)"))
        self.models = QListWidget()
        self.models.setObjectName("modelList")
        self.models.itemDoubleClicked.connect(lambda _i: self._activate())
        rv.addWidget(self.models, 1)
        mrow = QHBoxLayout()
        self.activate_btn = QPushButton("Make active")
        self.activate_btn.setObjectName("activateButton")
        self.activate_btn.clicked.connect(self._activate)
        mrow.addWidget(self.activate_btn)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_models)
        mrow.addWidget(refresh)
        mrow.addStretch(1)
        rv.addLayout(mrow)
        split.addWidget(right)
        split.setSizes([430, 330, 560])
        outer.addWidget(split, 1)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if folder:
            self.data_edit.setText(folder)
            self.scan(folder)

    def _on_model_changed(self) -> None:
        self.size.setValue(DEFAULT_SIZE.get(self.model_combo.currentData(), 128))

    # --- dataset ---------------------------------------------------------------------
    def scan(self, root: str) -> Worker | None:
        root = root.strip()
        if not root:
            self.banner.show_message("Choose a dataset folder first.")
            return None
        self.data_edit.setText(root)
        self.banner.hide()
        self._clear_dataset_view()
        if not self.is_running():
            self._clear_run_view()  # a new dataset: the last run's curves and messages are not about it
        self.split_note.setText("Scanning...")
        worker = Worker(scan_with_samples, root)
        worker.signals.finished.connect(self._on_scanned)
        worker.signals.failed.connect(self._on_scan_failed)
        self.scanner.start(worker)
        return worker

    def _on_scan_failed(self, exc: BaseException) -> None:
        self._clear_dataset_view()
        self.banner.show_message(f"Dataset not usable: {user_message(exc)}")

    def _clear_dataset_view(self) -> None:
        """No counts, bars or samples of a previous folder next to the one being scanned (or refused)."""
        self.dataset = None
        self.counts_table.setRowCount(0)
        self.counts_table.setColumnCount(0)
        fit_table_height(self.counts_table)
        self.split_note.setText("")
        self.bars.set_counts({})
        self.samples_box.clear()

    def _clear_run_view(self) -> None:
        """Forget the previous run: curves, progress, and its banners."""
        self.history.reset()
        self._last_epoch = 0
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress_label.setText("")
        self.info.hide()

    def _on_scanned(self, result: dict[str, Any]) -> None:
        self.dataset = result["dataset"]
        counts = result["counts"]
        splits = [s for s in ("train", "val", "test") if s in counts]
        classes = sorted({c for s in splits for c in counts[s]})
        self.counts_table.setRowCount(len(splits))
        self.counts_table.setColumnCount(len(classes) + 1)
        self.counts_table.setHorizontalHeaderLabels([*classes, "total"])
        self.counts_table.setVerticalHeaderLabels(splits)
        for i, s in enumerate(splits):
            for j, c in enumerate(classes):
                self.counts_table.setItem(i, j, QTableWidgetItem(str(counts[s].get(c, 0))))
            self.counts_table.setItem(i, len(classes), QTableWidgetItem(str(sum(counts[s].values()))))
        fit_table_height(self.counts_table)
        how = getattr(self.dataset, "val_source", "")
        note = ("Validation split made from train, grouped by patient "
                f"({getattr(self.dataset, 'val_fraction', 0):.0%}, seed {getattr(self.dataset, 'split_seed', '')})."
                if how == "made-from-train" else "Validation split taken from the val/ folder.")
        if "test" in counts:
            note += " The test split is scored once for the report and never used for choices."
        self.split_note.setText(note)
        self.bars.set_counts(counts)
        self.samples_box.set_groups([
            (cls, [(name, QPixmap.fromImage(gray_qimage(pixels))) for name, pixels in thumbs])
            for cls, thumbs in sorted(result["samples"].items())
        ])
        self.scanned.emit(result)

    # --- training --------------------------------------------------------------------
    def form_values(self) -> dict[str, Any]:
        from core import paths

        model = self.model_combo.currentData()
        name = self.name_edit.text().strip() or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
        return {
            "data_root": self.data_edit.text().strip(),
            "out": str(paths.user_models_dir() / name),
            "model": model,
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "hparams": {"image_size": self.size.value()},
            "loss": self.loss.currentData(),
            "class_weight": self.class_weight.isChecked(),
            "augment": self.augment.isChecked(),
            "hflip": self.hflip.isChecked(),
            "seed": None if self.seed.value() < 0 else self.seed.value(),
        }

    def is_running(self) -> bool:
        return self.worker is not None and not self.worker.is_done()

    def start_training(self) -> Worker | None:
        if self.is_running():
            return None
        values = self.form_values()
        if not values["data_root"]:
            self.banner.show_message("Choose a dataset folder first.")
            return None
        tune = finetune = None
        if self.tune_box.isChecked():
            tune = {"max_trials": self.max_trials.value(), "objective": self.objective.currentText()}
        if self.finetune_box.isChecked():
            if self.state.bundle is None:
                self.banner.show_message("Load the model to fine-tune first (File > Open model...).")
                return None
            finetune = {"init_from": str(self.state.bundle.path), "lr": self.ft_lr.value(),
                        "freeze": self.ft_freeze.value(), "holdout": self.ft_holdout.value()}
        self.banner.hide()
        self._clear_run_view()
        self._t0 = time.perf_counter()
        self.progress.setValue(0)
        self.progress.setFormat("starting...")
        self.progress_label.setText("Loading images...")
        self.train_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.worker = Worker(run_training, values, tune, finetune=finetune)
        self.worker.signals.progress.connect(self._on_progress)
        self.worker.signals.finished.connect(self._on_finished)
        self.worker.signals.failed.connect(self._on_failed)
        self.runner.start(self.worker)
        return self.worker

    def cancel(self) -> None:
        if self.is_running():
            self.worker.cancel()
            self.cancel_btn.setEnabled(False)
            self.progress_label.setText("Stopping after the current batch...")

    def _on_progress(self, p: Any) -> None:
        frac = getattr(p, "fraction", None)
        if frac is not None:
            self.progress.setValue(int(max(0.0, min(1.0, frac)) * 1000))
            self.progress.setFormat(f"{getattr(p, 'stage', '')} {frac:.0%}")
        epoch, epochs = getattr(p, "epoch", 0), getattr(p, "epochs", 0)
        parts = [getattr(p, "message", "") or getattr(p, "stage", "")]
        if epochs:
            parts.append(f"epoch {epoch}/{epochs}")
        eta = format_eta(getattr(p, "eta_s", None))
        if eta:
            parts.append(eta)
        self.progress_label.setText(" · ".join(x for x in parts if x))
        if getattr(p, "stage", "") == "trial":
            # Each tuning trial is a fresh model: its curves start again from epoch 1.
            self.history.reset()
            self._last_epoch = 0
        logs = getattr(p, "logs", None) or {}
        if epoch and epoch != self._last_epoch and any(k.startswith("val_") for k in logs):
            self._last_epoch = epoch
            self.history.add_epoch(logs)

    def _done(self) -> None:
        self.train_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)

    def _on_finished(self, path: Path) -> None:
        self._done()
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        took = time.perf_counter() - self._t0
        self.progress_label.setText(f"Finished in {took:.0f} s: {path}")
        try:
            # The saved model's own curves: for a tuning run the best trial's, not the last one's.
            card = json.loads((Path(path) / "card.json").read_text(encoding="utf-8"))
            history = (card.get("training") or {}).get("history")
            if history:
                self.history.set_history(history)
        except (OSError, ValueError, TypeError):
            pass
        self.info.show_message(f"New model saved to {path}. Select it below and press Make active to use it.")
        self.refresh_models(select=str(path))
        self.trainingFinished.emit(path)

    def _on_failed(self, exc: BaseException) -> None:
        self._done()
        from core.learning.data import Cancelled as DataCancelled

        cancelled = isinstance(exc, DataCancelled) or type(exc).__name__ == "Cancelled"
        if cancelled:
            self.progress.setFormat("cancelled")
            self.progress_label.setText("Training cancelled; nothing was saved.")
            self.trainingCancelled.emit()
        else:
            self.progress.setFormat("failed")
            self.progress_label.setText("")
            self.banner.show_message(f"Training stopped: {user_message(exc)}")
            self.trainingFailed.emit(str(exc))

    # --- models ----------------------------------------------------------------------
    def refresh_models(self, select: str | None = None) -> None:
        from core.learning.registry import list_bundles

        active = str(Path(self.state.bundle.path)) if self.state.bundle is not None else None
        current = select or (self.models.currentItem().data(Qt.ItemDataRole.UserRole) if self.models.currentItem() else None)
        self.models.clear()
        try:
            bundles = list_bundles()
        except OSError:
            bundles = []
        bundle = self.state.bundle
        if bundle is not None and all(Path(b["path"]) != Path(bundle.path) for b in bundles):
            auc = ((bundle.card.get("metrics") or {}).get("val") or {}).get("auc")
            bundles.insert(0, {"path": str(bundle.path), "name": bundle.name, "created": bundle.card.get("created", ""),
                               "model": (bundle.card.get("model") or {}).get("name", ""),
                               "threshold": bundle.threshold, "shipped": False,
                               "val_auc": auc[0] if isinstance(auc, (list, tuple)) else auc,
                               "label": f"{bundle.name} · {str(bundle.card.get('created', ''))[:10]}"})
        for b in bundles:
            auc = f"val AUC {b['val_auc']:.3f}" if isinstance(b["val_auc"], (int, float)) else "val AUC ?"
            tags = ["ACTIVE"] if active is not None and Path(b["path"]) == Path(active) else []
            text = f"{b['label']}  ·  {b['model']}  ·  {auc}  {' '.join(f'[{t}]' for t in tags)}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, b["path"])
            item.setToolTip(f"{b['path']}\ncreated {b['created']}")
            self.models.addItem(item)
            if current is not None and Path(b["path"]) == Path(current):
                self.models.setCurrentItem(item)
        if self.models.count() == 0:
            self.models.addItem(QListWidgetItem("No models yet: train one above."))

    def _activate(self) -> None:
        item = self.models.currentItem()
        path = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if path:
            self.activateRequested.emit(path)

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self.runner.wait(120000)
        self.scanner.wait(30000)
