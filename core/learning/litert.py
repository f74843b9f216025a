"""Turn a bundle's Keras model into a LiteRT model that scores, explains and feeds the OOD gate.

TensorFlow is needed here (conversion), never at scoring time: ``core.learning.runtime`` runs the
file this module writes with ``ai_edge_litert`` alone.

The converted graph takes one image ``(1, S, S, C)`` float32 (the
output of ``core.imaging.preprocess.to_model_input``), with three outputs:

- ``score``: the model's raw output for pneumonia (before the bundle's calibration), shape (1,);
- ``features``: the input of the final Dense layer, what ``core.trust.ood`` compares, (1, F);
- ``cam``: the Grad-CAM map at the target layer's resolution, ReLU'd but not normalised, (1, h, w).

Freezing the weights into constants drops the signature's names, so the runtime tells the outputs
apart by rank: 1 (score), 2 (features), 3 (cam).

The gradient of the score with respect to the target feature map is computed inside the graph
(``tf.GradientTape`` in the traced function), so the converted model needs no gradient support
from the runtime: LiteRT sees plain forward ops.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.paths import atomic_open
from core.trust.integrity import file_sha256

LITERT_FILE = "model.tflite"


def _explain_function(model: Any) -> Any:
    import keras
    import tensorflow as tf

    from core.trust.explain import find_target_layer
    from core.trust.ood import _final_dense

    layer = model.get_layer(find_target_layer(model))
    head = _final_dense(model)
    graph = keras.Model(model.inputs[0], [layer.output, head.input, model.outputs[0]])
    n_out = int(model.outputs[0].shape[-1]) if len(model.outputs[0].shape) > 1 else 1
    out_index = n_out - 1  # two-unit softmax heads: the pneumonia column is the last one
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])

    @tf.function(input_signature=[tf.TensorSpec((1, *shape), tf.float32, name="image")])
    def explain(image):  # type: ignore[no-untyped-def]
        with tf.GradientTape() as tape:
            maps, feats, out = graph(image, training=False)
            tape.watch(maps)
            score = tf.reshape(out, (1, -1))[:, out_index]
        grads = tape.gradient(score, maps)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(maps * weights, axis=-1))
        return {"score": score, "features": tf.reshape(feats, (1, -1)), "cam": cam}

    return explain


def convert_model(model: Any) -> bytes:
    """LiteRT flatbuffer for a Keras model (float32, no quantisation: scores must match Keras)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Keras 3 variables are not found by the converter's own freezing: fold them in first, so the
    # weights live in the flatbuffer as constants.
    frozen = convert_variables_to_constants_v2(_explain_function(model).get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.optimizations = []
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def write_litert(bundle_dir: str | os.PathLike[str], model: Any) -> tuple[Path, str]:
    """Write ``model.tflite`` into a bundle folder atomically; returns (path, sha256)."""
    folder = Path(bundle_dir)
    flat = convert_model(model)
    dest = folder / LITERT_FILE
    with atomic_open(dest, "wb", fsync=True) as fh:
        fh.write(flat)
    return dest, file_sha256(dest)
