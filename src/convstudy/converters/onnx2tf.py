"""ONNX to a TF SavedModel with onnx2tf.

onnx2tf turns NCHW image inputs into NHWC (the spec of the result says so), writes into its
working folder, and offline it tries to download a calibration array for 3-channel image
inputs with a static batch of at most 20: it runs here in a temporary folder that holds a
placeholder of that array, on a copy of the ONNX file, with onnxsim off (onnxsim rewrites
its input in place and breaks the LSTM path).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import registry
from convstudy.converters import Converted
from convstudy.formats import savedmodel
from convstudy.spec import ModelSpec

#: The file onnx2tf would download for image inputs (only its presence matters here: the
#: study never quantises).
CALIBRATION_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Convert the ONNX model of folder ``source`` into the SavedModel folder ``out``."""
    import onnx2tf

    artifact = (source / registry.fmt(spec.format).artifact).resolve()
    out = out.resolve()
    recurrent = spec.layout.scale is None
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as work:
        onnx_copy = Path(work) / "model.onnx"
        shutil.copy(artifact, onnx_copy)
        np.save(Path(work) / CALIBRATION_FILE, np.zeros((20, 8, 8, 3), np.float32))
        os.chdir(work)
        try:
            onnx2tf.convert(
                input_onnx_file_path=str(onnx_copy),
                output_folder_path=str(Path(work) / "saved_model"),
                output_signaturedefs=True,
                not_use_onnxsim=True,
                enable_rnn_unroll=recurrent and bool(settings.get("unroll_rnn", True)),
                non_verbose=True,
            )
        except SystemExit as stop:  # onnx2tf exits on some unsupported graphs
            raise RuntimeError(f"onnx2tf exited with status {stop.code}") from None
        finally:
            os.chdir(cwd)
        shutil.copytree(
            Path(work) / "saved_model",
            out,
            ignore=shutil.ignore_patterns("*.tflite"),  # its own TFLite files: not this format
        )
    found = savedmodel.signature(out)
    facts = {
        "converter": "onnx2tf.convert (output_signaturedefs, no onnxsim)",
        "rnn_unroll": recurrent and bool(settings.get("unroll_rnn", True)),
        "input": found.name,
    }
    observed = spec.observed("savedmodel", shape=found.shape, dtype=found.dtype, name=found.name)
    return Converted(observed, facts)
