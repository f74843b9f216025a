"""Train screen's settings form: model and training settings, the tuning run and the site fine-tune boxes."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.trust.population import BUILTIN_CARDS

MODEL_CHOICES = (("pneumonet", "PneumoNet (small CNN, 1-channel)"), ("notebook", "Notebook CNN (150x150x3)"))
DEFAULT_SIZE = {"pneumonet": 128, "notebook": 150}
# The form's fields, as the Train screen exposes them.
FIELDS = ("model_combo", "epochs", "batch", "size", "loss", "class_weight", "augment", "hflip", "seed", "name_edit",
          "card_combo",
          "tune_box", "max_trials", "objective", "finetune_box", "ft_lr", "ft_freeze", "ft_holdout")


class TrainForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
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
        self.card_combo = QComboBox()
        self.card_combo.setObjectName("datasetCard")
        self.card_combo.addItem("Stated by the data folder (dataset.json), else not stated", None)
        for key, card in BUILTIN_CARDS.items():
            self.card_combo.addItem(f"{card['name']} (built-in card '{key}')", key)
        self.card_combo.setToolTip("Whom the model is for (ages, views), written in its card and checked in Review")
        form.addRow("Patients it is for", self.card_combo)
        v.addWidget(box)
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
        v.addWidget(tbox)
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
        v.addWidget(fbox)

    def _on_model_changed(self) -> None:
        self.size.setValue(DEFAULT_SIZE.get(self.model_combo.currentData(), 128))

    def values(self, data_root: str) -> dict[str, Any]:
        from core import paths

        model = self.model_combo.currentData()
        name = self.name_edit.text().strip() or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
        return {
            "data_root": data_root,
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
            "dataset_card": self.card_combo.currentData(),
        }
