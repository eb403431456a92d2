"""Facts read back from a written ONNX file."""

from __future__ import annotations

from pathlib import Path


def opset_written(path: Path) -> int:
    """The default-domain opset an ONNX file declares."""
    import onnx

    written = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in written.opset_import if o.domain in ("", "ai.onnx"))
