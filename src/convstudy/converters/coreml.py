"""PyTorch and Keras to CoreML (coremltools): an ML program of FP32 or FP16 precision, or
a neuralnetwork model (FP32).

coremltools has defaulted ML programs to FP16 compute precision since version 7; here
the precision is always explicit, fixed by the target format (``coreml-fp32``/``-fp16``).
The target format's ``convert_to`` (``mlprogram`` unless it says ``neuralnetwork``:
``coreml-nn``) picks the model type; a neuralnetwork model takes no compute precision (its
weights are FP32) and is one ``.mlmodel`` file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import coreml_weights, frameworks, models
from convstudy.converters import Converted
from convstudy.formats.coreml import import_coremltools
from convstudy.spec import ModelSpec

#: The largest batch the converted model accepts (the batch dimension is flexible).
MAX_BATCH = 4096
INPUT_NAME = "x"


def _traced_torch(model: Any, example: np.ndarray) -> tuple[Any, str]:
    import torch

    with torch.no_grad():
        return torch.jit.trace(
            model, torch.from_numpy(example)
        ), "coremltools.convert (torch.jit.trace)"


def _keras_function(model: Any, example: np.ndarray) -> tuple[Any, str]:
    import tensorflow as tf

    # A Keras 3 model is not accepted directly; its inference concrete function is.
    spec = tf.TensorSpec((None, *example.shape[1:]), tf.as_dtype(example.dtype), name=INPUT_NAME)
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return [function], "coremltools.convert (tf concrete function)"


#: How coremltools is handed a model of each source format.
_SOURCES: dict[str, Callable[[Any, np.ndarray], tuple[Any, str]]] = {
    "torch": _traced_torch,
    "keras": _keras_function,
}
#: Source formats whose recurrent layers must be unrolled: Keras 3 LSTM/GRU fail in
#: coremltools' While-loop conversion (IndexError) otherwise; same function, same weights.
_UNROLLED = ("keras",)


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Convert the model of ``source`` to an ``.mlpackage`` (a neuralnetwork model: an
    ``.mlmodel``) at ``out``."""
    ct = import_coremltools(keep=spec.format)
    unroll = spec.format in _UNROLLED and models.is_recurrent(spec.model)
    model = frameworks.load(source, spec, unroll=unroll)
    example = spec.example()
    program, how = _SOURCES[spec.format](model, example)
    convert_to = settings.get("convert_to", "mlprogram")
    precisions = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}
    target = settings["minimum_deployment_target"]
    dtype = np.int32 if example.dtype.kind in "iu" else np.float32
    shape = ct.Shape((ct.RangeDim(1, MAX_BATCH, default=1), *example.shape[1:]))
    mlmodel = ct.convert(
        program,
        inputs=[ct.TensorType(name=INPUT_NAME, shape=shape, dtype=dtype)],
        convert_to=convert_to,
        # coremltools refuses a compute precision for a neuralnetwork model (FP32 weights).
        compute_precision=precisions[settings["precision"]] if convert_to == "mlprogram" else None,
        minimum_deployment_target=getattr(ct.target, target) if target else None,
    )
    mlmodel.save(str(out))
    # what the read-back compares the CoreML constants with (numpy only there)
    coreml_weights.save_source(out.parent, frameworks.adapter(spec.format).weights(model))
    facts = {
        "converter": how,
        "convert_to": convert_to,
        "precision": settings["precision"],
        "rnn_unrolled": unroll,
    }
    return Converted(spec.converted(settings["target"], name=INPUT_NAME), facts)
