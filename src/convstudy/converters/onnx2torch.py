"""ONNX to a PyTorch module with onnx2torch.

The model folder keeps the ONNX graph the module is rebuilt from and the module's tensors
as a ``state_dict`` (read back with ``weights_only``): nothing pickled, so a converted model
loads as safely as a trained one (:mod:`convstudy.formats.torch_fx`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convstudy import registry
from convstudy.converters import Converted
from convstudy.formats.torch_fx import GRAPH_FILE, WEIGHTS_FILE
from convstudy.spec import ModelSpec


def convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping[str, Any]) -> Converted:
    """Rebuild the ONNX model of folder ``source`` as a torch module; write it to ``out``."""
    import onnx
    import torch

    from convstudy.formats.onnx2torch_ops import build_module

    graph = onnx.load(str(source / registry.fmt(spec.format).artifact))
    module = build_module(graph)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(graph, str(out / GRAPH_FILE))
    torch.save(module.state_dict(), out / WEIGHTS_FILE)
    facts = {
        "converter": "onnx2torch.convert",
        "modules": len(list(module.modules())),
    }
    return Converted(spec.converted("torch-fx"), facts)
