"""Model bundles: a folder with ``model.keras``, ``card.json`` and ``scores.npz``.

Safety rules: models load with Keras ``safe_mode=True`` and ``compile=False``; a model whose
config holds a Lambda layer (arbitrary code) is refused before Keras even sees it; the card
stores the sha256 of ``model.keras`` and a mismatch is refused. Writes are atomic: a bundle is
built in a temporary sibling folder and swapped into place, so a crash leaves either the old or
the new bundle, never a half-written one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.imaging.preprocess import batch_to_model_input, to_model_input
from core.paths import atomic_open
from core.trust.integrity import (
    CARD_FILE,
    MODEL_FILE,
    BundleError,
    check_model_file,
    file_sha256,
    fsync_dir,
    fsync_tree,
    recover_swap,
    remove_leftovers,
    swap_in,
)

__all__ = ["CARD_FILE", "MODEL_FILE", "SCORES_FILE", "BundleError", "ModelBundle", "file_sha256"]

FORMAT_VERSION = 1
SCORES_FILE = "scores.npz"
SPLITS = ("val", "test")
_BATCH = 32


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass
class ModelBundle:
    path: Path
    card: dict[str, Any]
    safe_mode: bool = True
    _model: Any = field(default=None, repr=False)
    _scores: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _runtime: Any = field(default=None, repr=False)
    _runtime_checked: bool = field(default=False, repr=False)

    @property
    def threshold(self) -> float:
        value = (self.card.get("threshold") or {}).get("value")
        return 0.5 if value is None else float(value)

    @property
    def sha256(self) -> str:
        return str(self.card.get("model_sha256") or file_sha256(self.path / MODEL_FILE))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        shape = self.card["model"]["input_shape"]
        return (int(shape[0]), int(shape[1]), int(shape[2]))

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.path.name)

    @property
    def model(self):
        if self._model is None:
            import keras

            import core.learning.models  # noqa: F401  (registers PerImageStandardize for deserialisation)

            try:
                self._model = keras.saving.load_model(
                    self.path / MODEL_FILE, compile=False, safe_mode=self.safe_mode
                )
            except Exception as exc:
                raise BundleError(f"the model in {self.path} could not be loaded: {exc}") from exc
        return self._model

    @property
    def runtime(self) -> Any:
        """The LiteRT runtime (``core.learning.runtime.LiteRuntime``) or ``None``: then the Keras
        model scores. A bundle without a LiteRT file gets one on first use when TensorFlow is
        installed (the card records its hash); the file is then used from the next call on."""
        if not self._runtime_checked:
            self._runtime_checked = True
            if os.environ.get("PNEUMOSCOPE_RUNTIME") == "keras":  # benchmarks, and an escape hatch
                return None
            from core.learning.runtime import LITERT_FILE, litert_available, open_runtime

            if litert_available():
                if not (self.path / LITERT_FILE).is_file() or not self.card.get("litert"):
                    self._convert_in_place()
                if (self.card.get("litert") or {}).get("sha256") and (self.path / LITERT_FILE).is_file():
                    self._runtime = open_runtime(self.path)
            else:
                import logging

                logging.getLogger(__name__).warning(
                    "LiteRT (ai-edge-litert) is not available here: TensorFlow scores %s", self.path)
        return self._runtime

    def _convert_in_place(self) -> None:
        import importlib.util
        import logging

        log = logging.getLogger(__name__)
        if importlib.util.find_spec("tensorflow") is None:
            log.warning("%s has no LiteRT file and TensorFlow is not installed to make one", self.path)
            return
        try:
            from core.learning.litert import write_litert

            _, digest = write_litert(self.path, self.model)
            self.card = update_card(self.path, {"litert": {"file": "model.tflite", "sha256": digest}})
            log.info("converted %s to LiteRT", self.path)
        except Exception as exc:  # a read-only bundle or a graph LiteRT cannot take: TensorFlow scores
            log.warning("could not write a LiteRT file into %s: %s", self.path, exc)

    def _load_scores(self) -> dict[str, np.ndarray]:
        if self._scores is None:
            file = self.path / SCORES_FILE
            if not file.exists():
                self._scores = {}
            else:
                try:
                    with np.load(file, allow_pickle=False) as data:
                        self._scores = {k: data[k] for k in data.files}
                except (OSError, ValueError) as exc:
                    raise BundleError(f"the saved scores in {file} cannot be read: {exc}") from exc
        return self._scores

    def has_scores(self, split: str) -> bool:
        data = self._load_scores()
        return f"{split}_y_true" in data and f"{split}_y_score" in data

    def scores(self, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        if not self.has_scores(split):
            raise BundleError(f"this model has no saved {split} scores")
        data = self._load_scores()
        files = [str(f) for f in data.get(f"{split}_files", np.array([], dtype=str))]
        return data[f"{split}_y_true"].astype(int), data[f"{split}_y_score"].astype(np.float32), files

    def preprocess(self, pixels_uint8: np.ndarray) -> np.ndarray:
        size, _, channels = self.input_shape
        return to_model_input(pixels_uint8, size, channels)

    def calibrate(self, raw_scores: Any) -> np.ndarray:
        raw = np.asarray(raw_scores, dtype=np.float64)
        spec = self.card.get("calibration")
        if not spec:
            return raw.astype(np.float32)
        try:
            from core.evaluation.calibration import apply_calibration
        except ImportError as exc:
            raise BundleError("this model has a calibration but the calibration module is missing") from exc
        return np.asarray(apply_calibration(raw, spec), dtype=np.float32)

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        """Model outputs for a float32 batch already preprocessed (N, S, S, C)."""
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        if self.runtime is not None:
            return self.runtime.raw_scores(x)
        return predict_scores(self.model, x)

    def score_pixels(self, pixels_uint8: np.ndarray) -> float:
        return float(self.score_batch([pixels_uint8])[0])

    def score_batch(self, pixels_list: Sequence[np.ndarray]) -> np.ndarray:
        return self.scores_and_features(pixels_list, want_features=False)[0]

    def scores_and_features(
        self, pixels_list: Sequence[np.ndarray], want_features: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated scores and the OOD gate's features, from one model pass per image where
        LiteRT runs (its graph gives both); ``None`` features when not wanted."""
        if len(pixels_list) == 0:
            return np.zeros(0, dtype=np.float32), (np.zeros((0, 0)) if want_features else None)
        return self.scores_and_features_of_input(np.stack([self.preprocess(p) for p in pixels_list]), want_features)

    def scores_and_features_of_input(
        self, x: np.ndarray, want_features: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`scores_and_features` for a float batch already preprocessed ``(N, S, S, C)``."""
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32), (np.zeros((0, 0)) if want_features else None)
        if self.runtime is not None:
            outs = [self.runtime.run(xi) for xi in x]
            raw = np.array([o[0] for o in outs], dtype=np.float32)
            feats = np.stack([o[1] for o in outs]) if want_features else None
        else:
            raw = predict_scores(self.model, x)
            if want_features:
                from core.trust.ood import extract_features

                feats = extract_features(self.model, x)
            else:
                feats = None
        return self.calibrate(raw), feats

    def score_paths(
        self,
        paths: Sequence[str | os.PathLike],
        progress: Callable[[Any], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        errors: dict[str, str] | None = None,
    ) -> np.ndarray:
        """Scores for image files, in order; NaN where a file cannot be read.

        Pass a dict as ``errors`` to receive ``{path: reason}`` for those files.
        """
        from core.learning.data import Cancelled, Progress, load_arrays

        size, _, channels = self.input_shape
        paths = [str(p) for p in paths]
        out = np.full(len(paths), np.nan, dtype=np.float32)
        chunk = 4 * _BATCH
        for start in range(0, len(paths), chunk):
            if should_stop is not None and should_stop():
                raise Cancelled("prediction cancelled")
            part = paths[start:start + chunk]
            x, _, ok_paths, skipped = load_arrays(part, size)
            if errors is not None:
                errors.update(dict(skipped))
            if len(x):
                index = {p: i for i, p in enumerate(part)}
                scores = self.calibrate(self.raw_scores(batch_to_model_input(x, channels)))
                for p, s in zip(ok_paths, scores, strict=True):
                    out[start + index[p]] = s
            if progress is not None:
                done = min(start + chunk, len(paths))
                progress(Progress("predicting", batch=done, batches=len(paths), fraction=done / len(paths),
                                  message=f"scored {done}/{len(paths)} images"))
        return out


_PREDICT_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _predict_fn(model):
    """One traced inference function per model: eager Keras calls pay a per-layer Python cost
    that, for a small CNN, is larger than the arithmetic (single-image latency roughly halves)."""
    fn = _PREDICT_FNS.get(model)
    if fn is None:
        import tensorflow as tf

        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        ref = weakref.ref(model)  # a strong reference here would keep the model alive forever
        fn = tf.function(lambda x: ref()(x, training=False), input_signature=[spec])
        _PREDICT_FNS[model] = fn
    return fn


def predict_scores(model, x: np.ndarray, batch_size: int = _BATCH) -> np.ndarray:
    """Sigmoid outputs as float32 (N,), batch by batch through one traced function."""
    fn = _predict_fn(model)
    outs = []
    for start in range(0, len(x), batch_size):
        batch = np.asarray(x[start:start + batch_size], dtype=np.float32)
        outs.append(np.asarray(fn(batch)).reshape(-1))
    return np.concatenate(outs).astype(np.float32) if outs else np.zeros(0, dtype=np.float32)



def load_bundle(path: str | os.PathLike, safe_mode: bool = True) -> ModelBundle:
    """Open a bundle folder, checking files, the model hash and for Lambda layers."""
    path = Path(path)
    recover_swap(path)
    if not path.is_dir():
        raise BundleError(f"no model bundle at {path} (expected a folder with {MODEL_FILE} and {CARD_FILE})")
    for name in (MODEL_FILE, CARD_FILE):
        if not (path / name).is_file():
            raise BundleError(f"the model bundle {path} is incomplete: {name} is missing")
    try:
        card = json.loads((path / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"the model card {path / CARD_FILE} cannot be read: {exc}") from exc
    if not isinstance(card, dict) or "model" not in card:
        raise BundleError(f"{path / CARD_FILE} is not a Pneumoscope model card")
    expected = card.get("model_sha256")
    actual = file_sha256(path / MODEL_FILE)
    if not expected or expected != actual:
        raise BundleError("the model file does not match its card: it was changed or corrupted")
    check_model_file(path / MODEL_FILE)
    litert = card.get("litert")
    if isinstance(litert, dict) and litert.get("sha256"):
        lite_file = path / str(litert.get("file") or "model.tflite")
        if not lite_file.is_file() or file_sha256(lite_file) != litert["sha256"]:
            raise BundleError("the model's LiteRT file does not match its card: it was changed or corrupted")
    return ModelBundle(path=path, card=card, safe_mode=safe_mode)



def save_bundle(dest: str | os.PathLike, model, card: dict[str, Any], scores: dict[str, np.ndarray]) -> Path:
    """Write model + card + scores atomically into ``dest`` (replacing any bundle there)."""
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover_swap(dest)
    remove_leftovers(dest)
    tmp = dest.parent / f".{dest.name}.new-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        model.save(tmp / MODEL_FILE)
        check_model_file(tmp / MODEL_FILE)
        card = dict(card)
        card.setdefault("format_version", FORMAT_VERSION)
        card.setdefault("name", dest.name)
        card.setdefault("created", _now())
        card["model_sha256"] = file_sha256(tmp / MODEL_FILE)
        card.pop("litert", None)
        try:
            from core.learning.litert import write_litert

            _, digest = write_litert(tmp, model)
            card["litert"] = {"file": "model.tflite", "sha256": digest}
        except Exception as exc:  # the Keras model still scores; log why
            import logging

            logging.getLogger(__name__).warning("no LiteRT file for %s: %s", dest, exc)
        (tmp / CARD_FILE).write_text(json.dumps(_jsonable(card), indent=2), encoding="utf-8")
        np.savez(tmp / SCORES_FILE, **{k: np.asarray(v) for k, v in scores.items()})
        (tmp / ".complete").write_text("ok")
        fsync_tree(tmp)
        swap_in(tmp, dest)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BundleError(f"could not save the model to {dest}: {exc.strerror or exc}") from exc
        raise
    return dest


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def update_card(bundle_path: str | os.PathLike, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge top-level ``changes`` into card.json atomically; returns the new card."""
    path = Path(bundle_path)
    card_file = path / CARD_FILE
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"the model card {card_file} cannot be read: {exc}") from exc
    protected = {"model_sha256"} & set(changes)
    if protected:
        raise BundleError("the model hash in a card cannot be changed")
    card.update(changes)
    try:
        with atomic_open(card_file, "w", fsync=True, encoding="utf-8") as fh:
            json.dump(_jsonable(card), fh, indent=2)
        fsync_dir(path)
    except OSError as exc:
        raise BundleError(
            f"cannot save changes to the model in {path}: the folder is read-only or not writable "
            "(copy the model to your own folder first)"
        ) from exc
    return card


def adopt_threshold(
    bundle: ModelBundle | str | os.PathLike, value: float, reason: str, user: str, method: str = "manual"
) -> ModelBundle:
    """Record a new operating threshold in the card (who, when, why), keeping the history."""
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise BundleError(f"a threshold must be between 0 and 1, not {value}")
    mb = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
    old = dict(mb.card.get("threshold") or {})
    history = list(old.pop("history", []) or [])
    if old:
        history.append(old)
    new = {"value": value, "method": method, "reason": reason, "chosen_on": old.get("chosen_on", "val")
           if method != "manual" else "manual", "adopted_by": user, "adopted_at": _now(), "history": history}
    card = update_card(mb.path, {"threshold": new})
    return ModelBundle(path=mb.path, card=card, safe_mode=mb.safe_mode, _model=mb._model, _scores=mb._scores)


def default_bundle_path() -> Path | None:
    from core.paths import default_bundle_dir

    path = default_bundle_dir()
    return path if (path / MODEL_FILE).is_file() else None


def active_bundle_path() -> Path | None:
    """The model in use: the one last opened in the app (saved in settings) if it is still there,
    else the shipped models/default."""
    from core.settings import read_settings

    chosen = read_settings().get("active_model")
    if chosen and (Path(chosen) / MODEL_FILE).is_file() and (Path(chosen) / CARD_FILE).is_file():
        return Path(chosen)
    return default_bundle_path()


def remember_active_bundle(path: str | os.PathLike | None) -> None:
    """Make ``path`` the model used from now on (app start-up, ``pneumoscope-cli ... default``);
    None or the shipped model's folder go back to the shipped model."""
    from core.settings import write_settings

    shipped = default_bundle_path()
    if path is not None and shipped is not None and Path(path).resolve() == shipped.resolve():
        path = None
    write_settings(active_model=str(Path(path).resolve()) if path is not None else None)


def open_bundle(path: str | os.PathLike | None, safe_mode: bool = True) -> ModelBundle:
    """Load the bundle at ``path``. ``None`` or ``"default"`` means the active model (the one last
    chosen in the app, else the shipped one); ``"shipped"`` means the shipped models/default."""
    if path is None or str(path) in ("default", "shipped"):
        found = default_bundle_path() if str(path) == "shipped" else active_bundle_path()
        if found is None:
            raise BundleError("no default model is installed; pass the folder of a model bundle")
        path = found
    return load_bundle(path, safe_mode=safe_mode)


def library_versions() -> dict[str, str]:
    import platform

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("tensorflow", "keras", "PIL", "keras_tuner"):
        with contextlib.suppress(ImportError):
            versions[mod] = str(__import__(mod).__version__)
    with contextlib.suppress(ImportError):
        from core import __version__

        versions["pneumoscope"] = __version__
    return versions
