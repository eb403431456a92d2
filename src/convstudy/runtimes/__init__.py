"""Runtimes: one module per way of running a model, each with the same interface.

``load(path, **context) -> predict`` loads a model (the time it takes is the load time)
and returns a function from one input batch to the last layer's outputs (logits).
``load`` may raise :class:`NotRunnable` when the runtime does not exist on this host:
the cell is then reported as not run, with the reason, never dropped or faked.
"""

from __future__ import annotations


class NotRunnable(Exception):
    """This runtime cannot run here (e.g. the CoreML runtime on Linux)."""


#: The module that runs each prediction target.
RUNTIME_MODULE = {
    "original": "convstudy.runtimes.original",
    "onnx": "convstudy.runtimes.onnx_runtime",
    "coreml-fp32": "convstudy.runtimes.coreml_runtime",
    "coreml-fp16": "convstudy.runtimes.coreml_runtime",
}
