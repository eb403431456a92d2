"""Model size on disk, two ways.

* :func:`size_bytes` — the model as saved: a file's size, the total of a folder (an
  ``.mlpackage``), and for ONNX the external data files it references too.
* :func:`weights_bytes` — only the stored weights, the same thing for every format: the
  tensor data of a torch ``state_dict`` archive, the model variables of a ``.keras``
  archive (its optimizer state left out), the initializers and constant tensors of an ONNX
  graph, the weight blob of an ML program, the layers' weights of a CoreML neuralnetwork
  model. It explains what the file sizes mix together (a ``.keras`` archive keeps the
  optimizer's moment estimates beside the weights).

Only the file formats' own readers are used (zip, HDF5, ONNX and CoreML protobuf); no
framework is imported.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def size_bytes(path: str | Path) -> int:
    """Bytes on disk of a file (with an ONNX file's external data), or of every file
    below a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    external = _onnx_external_files(path) if path.suffix == ".onnx" else set()
    return path.stat().st_size + sum(f.stat().st_size for f in external)


def weights_bytes(path: str | Path) -> int | None:
    """Bytes of the stored weights of a model file, or None for a kind this module does
    not know."""
    path = Path(path)
    reader = _WEIGHT_READERS.get(path.suffix)
    return reader(path) if reader else None


def _torch_weights(path: Path) -> int:
    """A ``torch.save`` zip archive: its tensor storages are the ``data/`` entries."""
    with zipfile.ZipFile(path) as archive:
        return sum(
            info.file_size
            for info in archive.infolist()
            if "/data/" in info.filename and not info.filename.endswith(".pkl")
        )


def _keras_weights(path: Path) -> int:
    """A ``.keras`` archive: the datasets of ``model.weights.h5`` outside its optimizer
    group."""
    import h5py

    total = 0

    def visit(name: str, item: object) -> None:
        nonlocal total
        if isinstance(item, h5py.Dataset) and not name.startswith("optimizer"):
            total += int(item.size * item.dtype.itemsize)

    with zipfile.ZipFile(path) as archive:
        blob = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(blob, "r") as weights:
        weights.visititems(visit)
    return total


def _onnx_tensors(path: Path) -> list[object]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            tensors += [a.t for a in node.attribute if a.name == "value"]
    return tensors


def _onnx_external_files(path: Path) -> set[Path]:
    files = set()
    for tensor in _onnx_tensors(path):
        for entry in getattr(tensor, "external_data", []):
            if entry.key == "location":
                files.add(path.parent / entry.value)
    return files


def _onnx_weights(path: Path) -> int:
    """Initializers and Constant tensors, raw or in external data."""
    import numpy as np
    from onnx import helper

    total = 0
    for tensor in _onnx_tensors(path):
        n = int(np.prod(tensor.dims)) if tensor.dims else 1  # type: ignore[attr-defined]
        dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type)  # type: ignore[attr-defined]
        total += n * np.dtype(dtype).itemsize
    return total


def _mlpackage_weights(path: Path) -> int:
    """An ML program's weight files (``Data/com.apple.CoreML/weights/``)."""
    folder = path / "Data" / "com.apple.CoreML" / "weights"
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _mlmodel_weights(path: Path) -> int:
    """A CoreML neuralnetwork model's layer weights (``WeightParams``)."""
    from convstudy import coreml_read

    return sum(value.nbytes for value in coreml_read.read_weights(path).values())


_WEIGHT_READERS = {
    ".torch": _torch_weights,
    ".keras": _keras_weights,
    ".onnx": _onnx_weights,
    ".mlpackage": _mlpackage_weights,
    ".mlmodel": _mlmodel_weights,
}
