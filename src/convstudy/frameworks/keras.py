"""The Keras 3 adapter (TensorFlow backend): models are saved as ``.keras`` archives and
loaded with ``safe_mode`` (no deserialised Python code)."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import models, registry
from convstudy.errors import ConfigError
from convstudy.frameworks import EpochFn, EvalFn, Predict, progress
from convstudy.spec import ModelSpec

NAME = "keras"
logger = logging.getLogger(__name__)


def use_device(requested: str) -> str:
    """See :meth:`convstudy.frameworks.Adapter.use_device`: TensorFlow sees only the chosen
    GPU (or none); op determinism (:func:`seed`) covers GPU kernels too.

    Raises:
        ConfigError: a CUDA device is asked for and TensorFlow sees none (or not that one).
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if requested == "auto":
        requested = "cuda" if gpus else "cpu"
    index = 0 if requested == "cpu" else int(requested.partition(":")[2] or 0)
    if requested != "cpu" and index >= len(gpus):
        raise ConfigError(
            f"device: {requested!r}, but TensorFlow sees {len(gpus)} GPU(s)"
            " (the default install is tensorflow-cpu)"
        )
    try:
        tf.config.set_visible_devices([] if requested == "cpu" else [gpus[index]], "GPU")
    except RuntimeError:  # TensorFlow already started in this process: keep its devices
        logger.warning("TensorFlow already started: device %s not applied", requested)
    return "cpu" if requested == "cpu" else f"cuda:{index}"


def seed(seed: int) -> None:
    """Seed Python, numpy and TensorFlow; ask TensorFlow for deterministic kernels."""
    import keras
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def limit_threads(n: int) -> None:
    """``n`` intra-op threads, one inter-op thread (possible only before TF starts)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started in this process: keep its setting
        pass


def thread_counts() -> dict[str, int]:
    """TensorFlow's configured intra- and inter-op thread counts (0: its default)."""
    import tensorflow as tf

    return {
        "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def save(model: Any, path: Path) -> None:
    """Save a ``.keras`` archive (with the optimizer state, as Keras does by default)."""
    model.save(path)


def load(path: Path, spec: ModelSpec, *, unroll: bool = False) -> Any:
    """Load a ``.keras`` archive in safe mode.

    Args:
        unroll: rebuild recurrent layers unrolled and copy the weights in (Keras 3
            LSTM/GRU convert to CoreML only when unrolled; the same function).
    """
    import keras

    model = keras.models.load_model(path, compile=False, safe_mode=True)
    # a brought model (not the study's) has no builder to unroll with: loaded as it is
    if unroll and spec.model in registry.MODELS and models.is_recurrent(spec.model):
        unrolled = models.build(
            spec.model,
            NAME,
            input_shape=spec.input_shape,
            num_classes=spec.num_classes,
            arch=spec.arch,
            unroll=True,
        )
        unrolled.set_weights(model.get_weights())
        return unrolled
    return model


def predictor(model: Any) -> Predict:
    """A traced inference function: ``model.predict`` adds per-call overhead that would be
    measured as inference time but is not the model's."""
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def predict(x: np.ndarray) -> np.ndarray:
        return function(tf.constant(x)).numpy()

    return predict


def weights(model: Any) -> dict[str, np.ndarray]:
    """Variable paths (``layer1_0_bn1/moving_mean``, ``lstm/lstm_cell/kernel``)."""
    out: dict[str, np.ndarray] = {}
    for var in model.weights:
        if var.path in out:
            raise ValueError(f"duplicate Keras weight path {var.path!r}")
        out[var.path] = np.array(var.numpy(), dtype=np.float32)
    return out


def set_weights(model: Any, weights: Mapping[str, np.ndarray]) -> None:
    """Assign ``weights`` (by variable path) to the model's variables."""
    for var in model.weights:
        if var.path in weights:
            var.assign(np.asarray(weights[var.path], dtype=np.float32))


def count_parameters(model: Any) -> int:
    """Trainable weights."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


#: Training batches per call of Keras' traced train step (``compile(steps_per_execution=)``).
STEPS_PER_EXECUTION = 8


def trainer(model: Any, hyper: Mapping[str, Any]) -> tuple[EpochFn, EvalFn]:
    """The same optimizer and loss as the torch adapter, through ``fit`` one epoch at a time."""
    import keras

    # Keras applies weight decay decoupled from the gradient (torch adds it to the
    # gradient); the two agree only without momentum. The default configs use 0.
    decay = hyper["weight_decay"] or None
    if hyper["optimizer"] == "sgd":
        opt = keras.optimizers.SGD(
            learning_rate=hyper["lr"], momentum=hyper["momentum"], weight_decay=decay
        )
    else:
        # Keras' epsilon enters before the bias correction of the second moment, torch's
        # after; both use 1e-7. ``adam_epsilon`` "framework" and "keras" are both this rule.
        if hyper.get("adam_epsilon", "framework") not in ("framework", "keras"):
            raise ValueError(f"adam_epsilon {hyper['adam_epsilon']!r}: Keras places it its own way")
        opt = keras.optimizers.Adam(learning_rate=hyper["lr"], epsilon=1e-7, weight_decay=decay)
    model.compile(
        optimizer=opt,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        # Several batches per call of the traced step: the same updates in the same order
        # (bit-identical weights), fewer hand-offs between Python and TensorFlow's threads.
        # A recurrent model's epoch took 5.3 s instead of 2.9 s at one step per call beside a
        # busy loop on the other core (beside a PyTorch training job, 5.3 s either way).
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    batch_size = hyper["batch_size"]

    def epoch(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        n_batches = -(-len(x) // batch_size)
        callback = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda b, logs=None: progress(b + 1, n_batches, logger.info)
        )
        history = model.fit(
            x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[callback]
        )
        return float(history.history["loss"][-1]), float(history.history["accuracy"][-1])

    def evaluate(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        loss, acc = model.evaluate(x, y, batch_size=512, verbose=0)
        return float(loss), float(acc)

    return epoch, evaluate


def foolbox_model(model: Any, bounds: tuple[float, float]) -> Any:
    """``fb.TensorFlowModel`` over one traced inference function for every batch size
    (foolbox calls it with varying batches); the device is named, since the default probes
    the deprecated ``tf.test.is_gpu_available``."""
    import foolbox as fb
    import tensorflow as tf

    shape = tuple(model.inputs[0].shape[1:])
    function = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, *shape), model.inputs[0].dtype)],
    )
    return fb.TensorFlowModel(function, bounds=bounds, device="/CPU:0")


def tensor(array: np.ndarray) -> Any:
    """A TensorFlow tensor of the array."""
    import tensorflow as tf

    return tf.convert_to_tensor(array)
