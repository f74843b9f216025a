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
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.state import AppState
from gui.widgets.common import add_banners
from gui.widgets.dataset_overview import DatasetOverview, scan_with_samples
from gui.widgets.model_list import ModelList
from gui.widgets.plots import HistoryPlot
from gui.widgets.task import BackgroundTask
from gui.widgets.train_form import FIELDS, TrainForm
from gui.workers.runner import Worker, throttled

PROGRESS_INTERVAL_S = 0.1  # 10 progress updates a second are enough for a bar and an ETA


def build_config(values: dict[str, Any]) -> Any:
    """A core.learning.train.TrainConfig from the form, passing only fields TrainConfig knows."""
    from core.learning.train import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in values.items() if k in known})


def run_training(values: dict[str, Any], tune: dict[str, Any] | None, progress=None, should_stop=None,
                 finetune: dict[str, Any] | None = None) -> Path:
    from core.learning.runtime import require_tensorflow

    require_tensorflow(progress)  # the label reads "Loading TensorFlow..." while it imports
    progress = throttled(progress, PROGRESS_INTERVAL_S)
    if finetune:
        from core.site.finetune import FinetuneConfig
        from core.site.finetune import finetune as run_finetune

        config = FinetuneConfig(site=values["data_root"], out=values["out"], epochs=values["epochs"],
                                batch_size=values["batch_size"], seed=values["seed"], augment=values["augment"],
                                dataset_card=values.get("dataset_card"), **finetune)
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
        self.dataset: Any = None
        self._last_epoch = 0
        self._t0 = 0.0
        self._build()
        self.training = BackgroundTask(self, button=self.train_btn, cancel=self.cancel_btn, banner=self.banner,
                                       failure="Training stopped", hide_when_idle=False)
        self.training.progressed.connect(self._on_progress)
        self.training.finished.connect(self._on_finished)
        self.training.failed.connect(self._on_failed)
        self.training.cancelRequested.connect(lambda: self.progress_label.setText("Stopping after the current batch..."))
        self.scanning = BackgroundTask(self, banner=self.banner, failure="Dataset not usable")
        self.scanning.finished.connect(self._on_scanned)
        self.scanning.failed.connect(lambda _exc: self._clear_dataset_view())
        self.runner, self.scanner = self.training.runner, self.scanning.runner
        self.refresh_models()
        state.bundleChanged.connect(lambda _b: self.refresh_models())

    # --- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        self.banner, self.info = add_banners(outer, "error", "info")
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
        self.overview = DatasetOverview()
        for name in ("counts_table", "split_note", "bars", "samples_box", "samples_grid", "samples_scroll"):
            setattr(self, name, getattr(self.overview, name))
        split.addWidget(self.overview)

        # middle: settings and run
        mid = QWidget()
        mv = QVBoxLayout(mid)
        mv.setContentsMargins(0, 0, 0, 0)
        self.form = TrainForm()
        for name in FIELDS:
            setattr(self, name, getattr(self.form, name))
        mv.addWidget(self.form)
        buttons = QHBoxLayout()
        self.train_btn = QPushButton("Train")
        self.train_btn.setObjectName("trainButton")
        self.train_btn.clicked.connect(self.start_training)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setObjectName("cancelButton")
        self.cancel_btn.setEnabled(False)
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
        self.model_list = ModelList()
        self.models = self.model_list.models
        self.activate_btn = self.model_list.activate_btn
        self.model_list.activateRequested.connect(self.activateRequested.emit)
        self.model_list.refreshRequested.connect(self.refresh_models)
        rv.addWidget(self.model_list, 1)
        split.addWidget(right)
        split.setSizes([430, 330, 560])
        outer.addWidget(split, 1)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if folder:
            self.data_edit.setText(folder)
            self.scan(folder)

    # --- dataset ---------------------------------------------------------------------
    def scan(self, root: str) -> Worker | None:
        root = root.strip()
        if not root:
            self.banner.show_message("Choose a dataset folder first.")
            return None
        self.data_edit.setText(root)
        self._clear_dataset_view()
        if not self.is_running():
            self._clear_run_view()  # a new dataset: the last run's curves and messages are not about it
        self.split_note.setText("Scanning...")
        return self.scanning.start(scan_with_samples, root)

    def _clear_dataset_view(self) -> None:
        """No counts, bars or samples of a previous folder next to the one being scanned (or refused)."""
        self.dataset = None
        self.overview.clear()

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
        self.overview.show_result(result)
        self.scanned.emit(result)

    # --- training --------------------------------------------------------------------
    def form_values(self) -> dict[str, Any]:
        return self.form.values(self.data_edit.text().strip())

    @property
    def worker(self) -> Worker | None:
        return self.training.worker

    def is_running(self) -> bool:
        return self.training.busy()

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
        self._clear_run_view()
        self._t0 = time.perf_counter()
        self.progress.setValue(0)
        self.progress.setFormat("starting...")
        self.progress_label.setText("Loading images...")
        return self.training.start(run_training, values, tune, finetune=finetune)

    def cancel(self) -> None:
        self.training.cancel()

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

    def _on_finished(self, path: Path) -> None:
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
        from core.learning.data import Cancelled as DataCancelled

        if self.training.cancelled or isinstance(exc, DataCancelled) or type(exc).__name__ == "Cancelled":
            self.progress.setFormat("cancelled")
            self.progress_label.setText("Training cancelled; nothing was saved.")
            self.trainingCancelled.emit()
        else:
            self.progress.setFormat("failed")
            self.progress_label.setText("")  # the banner says why (BackgroundTask)
            self.trainingFailed.emit(str(exc))

    # --- models ----------------------------------------------------------------------
    def refresh_models(self, select: str | None = None) -> None:
        self.model_list.refresh(self.state.bundle, select)

    def _activate(self) -> None:
        self.model_list.activate()

    def shutdown(self) -> None:
        self.training.shutdown(120000)
        self.scanning.runner.wait(30000)
