"""PyTorch and Keras to CoreML (coremltools), as an ML program of FP32 or FP16 precision.

coremltools has defaulted ML programs to FP16 compute precision since version 7; here
the precision is always explicit, a grid value of the format (``coreml-fp32``/``-fp16``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: The largest batch the converted model accepts (the batch dimension is flexible).
MAX_BATCH = 4096


def convert(
    model: Any, path: Path, *, framework: str, example: np.ndarray, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Convert ``model`` to an ``.mlpackage`` at ``path``."""
    import coremltools as ct

    precision = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}[settings["precision"]]
    dtype = np.int32 if example.dtype.kind in "iu" else np.float32
    shape = ct.Shape((ct.RangeDim(1, MAX_BATCH, default=1), *example.shape[1:]))
    inputs = [ct.TensorType(name="x", shape=shape, dtype=dtype)]
    if framework == "torch":
        import torch

        with torch.no_grad():
            source = torch.jit.trace(model, torch.from_numpy(example))
        converter = "coremltools.convert (torch.jit.trace)"
    else:
        import tensorflow as tf

        # A Keras 3 model is not accepted directly; its inference concrete function is.
        spec = tf.TensorSpec((None, *example.shape[1:]), tf.as_dtype(example.dtype), name="x")
        source = [tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)]
        converter = "coremltools.convert (tf concrete function)"
    mlmodel = ct.convert(
        source,
        inputs=inputs,
        convert_to="mlprogram",
        compute_precision=precision,
        minimum_deployment_target=getattr(ct.target, settings["minimum_deployment_target"]),
    )
    mlmodel.save(str(path))
    return {"converter": converter, "precision": settings["precision"], "opset": None}
