"""tf.distribute strategies for training: one host (MirroredStrategy) or several
(MultiWorkerMirroredStrategy, configured by the standard ``TF_CONFIG`` variable).

No home-made cluster code: TF_CONFIG looks like
``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}``
and the same command runs on every host. Worker 0 (or the "chief" task) is the chief: it alone
writes the bundle.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from core.errors import PneumoscopeError

STRATEGIES = ("mirrored", "multiworker")


class DistributeError(PneumoscopeError):
    """The requested distribution strategy cannot be set up (message says why)."""


def tf_config() -> dict[str, Any]:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise DistributeError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    return value if isinstance(value, dict) else {}


def is_chief() -> bool:
    """True unless TF_CONFIG names this process as a non-chief task."""
    task = tf_config().get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0) or 0)
    if kind is None or kind == "chief":
        return True
    cluster = tf_config().get("cluster") or {}
    return kind == "worker" and index == 0 and "chief" not in cluster


def get_strategy(name: str | None):
    """None (default single-device training) or a tf.distribute strategy.

    Create it before any other TensorFlow work in the process: collective ops for several
    workers must be configured at start-up.
    """
    if not name:
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not tf_config().get("cluster"):
            raise DistributeError(
                "multi-worker training needs the TF_CONFIG variable describing the cluster, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        _patch_keras_multiworker_logs()
        return strategy
    raise DistributeError(f"unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}")


def scope(strategy):
    """``strategy.scope()`` or a no-op context when there is no strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def shard_by_data(dataset, strategy):
    """In-memory datasets have no files to shard: split by element across workers instead."""
    if strategy is None:
        return dataset
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def patch_symbolic_build(model, strategy, sample_batch) -> None:
    """Work around a Keras 3 bug with MultiWorkerMirroredStrategy.

    ``model.fit`` first builds the model from one distributed batch that it averages with
    ``strategy.reduce("MEAN", batch)``; on a multi-worker strategy that reduce fails on the
    nested (x, y) structure ("Attempt to convert a value (PerReplica...)"). Building from one
    ordinary local batch instead gives the same variables (only shapes matter).
    """
    if strategy is None:
        return
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def _build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=sample_batch)

    model._maybe_symbolic_build = _build


def _patch_keras_multiworker_logs() -> None:
    """Work around Keras 3 + MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388).

    Keras averages each step's logs with ``strategy.reduce("MEAN", v, axis=0)``; the logs are
    scalars, so every multi-worker ``fit`` fails with "Invalid reduction dimension 0 for input
    with 0 dimensions". Averaging them across replicas with ``axis=None`` is what is meant.
    Only multi-worker runs are affected; the patch is applied once, when such a strategy is made.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_pneumoscope_patched", False):
        return
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._pneumoscope_patched = True
