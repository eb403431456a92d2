"""The weights stored in a CoreML model, read from its files alone.

An ML program (``.mlpackage``) is a folder: ``Manifest.json`` names the root model file
(``Data/com.apple.CoreML/model.mlmodel``), a protobuf ``Model`` whose ``mlProgram`` holds
the program; its ``const`` operations carry the weights, small ones inline, large ones as a
``blobFileValue`` (a file of the package's ``weights`` folder and an offset in it). A
neuralnetwork model (``.mlmodel``) is one protobuf ``Model`` whose layers carry their
weights (``WeightParams``).

Nothing here writes: coremltools' ``load_spec`` and ``MLModel`` rewrite the package's
``Manifest.json`` in place, so a reader killed at that moment leaves a broken file under
its final name. Nothing here imports coremltools either (which imports torch and
TensorFlow): the protobuf classes come from :mod:`convstudy.coreml_proto`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.message import Message

from convstudy import coreml_proto

#: MIL ``DataType`` -> numpy dtype, for the floating-point types weights are stored in.
_MIL_FLOATS: dict[int, np.dtype[Any]] = {
    10: np.dtype(np.float16),
    11: np.dtype(np.float32),
    12: np.dtype(np.float64),
}

#: Blob storage (coremltools ``mlmodel/src/MILBlob/Blob/StorageFormat.hpp``): a 64-byte
#: file header, then per blob a 64-byte ``blob_metadata`` (uint32 sentinel, uint32 dtype,
#: uint64 size in bytes, uint64 data offset, five reserved uint64) and its data.
_BLOB_METADATA = np.dtype(
    [
        ("sentinel", "<u4"),
        ("dtype", "<u4"),
        ("size", "<u8"),
        ("offset", "<u8"),
        ("reserved", "<u8", 5),
    ]
)
_BLOB_SENTINEL = 0xDEADBEEF
#: ``BlobDataType`` (``MILBlob/Blob/BlobDataType.hpp``) of each floating-point dtype.
_BLOB_DTYPES: dict[np.dtype[Any], int] = {np.dtype(np.float16): 1, np.dtype(np.float32): 2}


def read_weights(artifact: str | Path) -> dict[str, np.ndarray]:
    """Every floating-point constant tensor of more than one element of a CoreML model,
    by name, in the dtype it is stored in (FP16 programs store FP16 weights).

    ML program: the ``const`` operations of every function's block, nested blocks (loop
    bodies) included, by operation name. Neuralnetwork: every ``WeightParams`` of every
    layer, nested networks (loop bodies, branches) included, as ``<layer>/<field>``.

    Raises:
        ValueError: the file is not a CoreML model this reads (naming the file and why).
    """
    path = Path(artifact)
    model_file = _root_model(path) if path.is_dir() else path
    model = coreml_proto.module("Model_pb2").Model()
    model.ParseFromString(model_file.read_bytes())
    kind = model.WhichOneof("Type")
    if kind == "mlProgram":
        if not path.is_dir():
            raise ValueError(
                f"{path}: an ML program outside its .mlpackage (its weights are not here)"
            )
        return _program_weights(model.mlProgram, _BlobFiles(model_file.parent))
    if kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        return dict(_network_weights(getattr(model, kind)))
    raise ValueError(f"{model_file}: a CoreML {kind!r} model, not an ML program or neural network")


def _root_model(package: Path) -> Path:
    """The root model file of an ``.mlpackage``, as its ``Manifest.json`` names it."""
    manifest_path = package / "Manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        item = manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]
        return package / "Data" / item["path"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{manifest_path}: not a readable package manifest ({error})") from None


# ---- ML program


def _program_weights(program: Any, blobs: _BlobFiles) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    for function in program.functions.values():
        for op in _operations(function.block_specializations[function.opset]):
            if op.type != "const":
                continue
            value = _mil_value(op.attributes["val"], blobs)
            if value is not None and value.size > 1:
                name = op.attributes["name"].immediateValue.tensor.strings.values
                weights[name[0] if name else op.outputs[0].name] = value
    return weights


def _operations(block: Any) -> Iterator[Any]:
    """The operations of ``block`` and of the blocks nested in them, in program order."""
    for op in block.operations:
        yield op
        for nested in op.blocks:
            yield from _operations(nested)


def _mil_value(value: Any, blobs: _BlobFiles) -> np.ndarray | None:
    """A floating-point tensor value (None for any other type)."""
    tensor_type = value.type.tensorType
    dtype = _MIL_FLOATS.get(tensor_type.dataType)
    if value.type.WhichOneof("type") != "tensorType" or dtype is None:
        return None
    shape = tuple(int(d.constant.size) for d in tensor_type.dimensions)
    if value.WhichOneof("value") == "blobFileValue":
        blob = value.blobFileValue
        return blobs.read(blob.fileName, blob.offset, dtype).reshape(shape)
    tensor = value.immediateValue.tensor
    kind = tensor.WhichOneof("value")
    if kind == "bytes":  # FP16 values inline, as their raw bytes
        return np.frombuffer(tensor.bytes.values, dtype).reshape(shape)
    if kind in ("floats", "doubles"):
        return np.asarray(getattr(tensor, kind).values, dtype).reshape(shape)
    return None


class _BlobFiles:
    """The blob storage files of a package's model, each read once."""

    def __init__(self, model_folder: Path) -> None:
        self.folder = model_folder
        self.files: dict[str, bytes] = {}

    def read(self, file_name: str, offset: int, dtype: np.dtype[Any]) -> np.ndarray:
        """The blob at ``offset`` of ``file_name`` (``@model_path/weights/weight.bin``)."""
        path = self.folder / file_name.removeprefix("@model_path/")
        data = self.files.get(file_name)
        if data is None:
            data = self.files[file_name] = path.read_bytes()
        if offset + _BLOB_METADATA.itemsize > len(data):
            raise ValueError(f"{path}: blob offset {offset} past the end of the file")
        meta = np.frombuffer(data, _BLOB_METADATA, count=1, offset=offset)[0]
        start, size = int(meta["offset"]), int(meta["size"])
        if int(meta["sentinel"]) != _BLOB_SENTINEL:
            raise ValueError(f"{path}: no blob metadata at offset {offset}")
        if int(meta["dtype"]) != _BLOB_DTYPES.get(dtype):
            raise ValueError(f"{path}: blob at {offset} is dtype {int(meta['dtype'])}, not {dtype}")
        if start + size > len(data) or size % dtype.itemsize:
            raise ValueError(f"{path}: blob at {offset} ({size} bytes at {start}) is truncated")
        return np.frombuffer(data, dtype, count=size // dtype.itemsize, offset=start)


# ---- neural network


def _network_weights(network: Any) -> Iterator[tuple[str, np.ndarray]]:
    for layer in network.layers:
        kind = layer.WhichOneof("layer")
        if kind is None:
            continue
        params = getattr(layer, kind)
        shapes = _LAYER_SHAPES.get(kind, lambda p, f: None)
        for field, weights in _weight_params(params):
            value = _nn_value(weights)
            if value is not None and value.size > 1:
                shape = shapes(params, field)
                if shape is not None and int(np.prod(shape)) == value.size:
                    value = value.reshape(shape)
                yield f"{layer.name}/{field}", value
        for nested in _nested_networks(params):
            yield from _network_weights(nested)


def _weight_params(message: Any) -> Iterator[tuple[str, Any]]:
    """(field name, ``WeightParams``) of a layer's parameters, those of a message field
    (the LSTM's ``weightParams``) included; a repeated field's entries are ``field.i``."""
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.name == "NeuralNetwork":
            continue
        entries = [value] if isinstance(value, Message) else list(value)
        for i, entry in enumerate(entries):
            name = f"{field.name}.{i}" if len(entries) > 1 else field.name
            if field.message_type.name == "WeightParams":
                yield name, entry
            else:
                for inner, weights in _weight_params(entry):
                    yield f"{name}.{inner}" if len(entries) > 1 else inner, weights


def _nested_networks(params: Any) -> Iterator[Any]:
    """The networks a layer holds (a loop's body and condition, a branch's two arms)."""
    for field, value in params.ListFields():
        if field.message_type is not None and field.message_type.name == "NeuralNetwork":
            yield value


def _nn_value(weights: Any) -> np.ndarray | None:
    if weights.floatValue:
        return np.asarray(weights.floatValue, np.float32)
    if weights.float16Value:
        return np.frombuffer(weights.float16Value, np.float16)
    return None  # quantized or raw bytes: not floating-point weights


_Shape = Callable[[Any, str], "tuple[int, ...] | None"]


def _conv_shape(p: Any, field: str) -> tuple[int, ...]:
    if field == "bias":
        return (p.outputChannels,)
    if p.isDeconvolution:
        return (p.kernelChannels, p.outputChannels // max(p.nGroups, 1), *p.kernelSize)
    return (p.outputChannels, p.kernelChannels, *p.kernelSize)


def _recurrent_shape(p: Any, field: str) -> tuple[int, ...]:
    hidden, inputs = p.outputVectorSize, p.inputVectorSize
    if field.lower().endswith("weightmatrix"):
        return (hidden, inputs)
    if field.lower().endswith("recursionmatrix"):
        return (hidden, hidden)
    return (hidden,)


#: The shape of each weight of a layer type (NeuralNetwork.proto); others stay flat.
_LAYER_SHAPES: dict[str, _Shape] = {
    "convolution": _conv_shape,
    "innerProduct": lambda p, f: (
        (p.outputChannels,) if f == "bias" else (p.outputChannels, p.inputChannels)
    ),
    "batchnorm": lambda p, f: (p.channels,),
    "embedding": lambda p, f: (
        (p.outputChannels,) if f == "bias" else (p.outputChannels, p.inputDim)
    ),
    "embeddingND": lambda p, f: (
        (p.embeddingSize,) if f == "bias" else (p.embeddingSize, p.vocabSize)
    ),
    "batchedMatmul": lambda p, f: (
        (p.weightMatrixSecondDimension,)
        if f == "bias"
        else (p.weightMatrixFirstDimension, p.weightMatrixSecondDimension)
    ),
    "loadConstant": lambda p, f: tuple(p.shape),
    "loadConstantND": lambda p, f: tuple(p.shape),
    "scale": lambda p, f: tuple(p.shapeBias if f == "bias" else p.shapeScale),
    "bias": lambda p, f: tuple(p.shape),
    "simpleRecurrent": _recurrent_shape,
    "gru": _recurrent_shape,
    "uniDirectionalLSTM": _recurrent_shape,
    "biDirectionalLSTM": _recurrent_shape,
}
