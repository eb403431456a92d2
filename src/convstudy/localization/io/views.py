"""Any model the study handles, seen as ONNX: the localization compares ONNX graphs.

``open_view(path)`` accepts

* an ONNX file (used as it is);
* a model folder of this project (``spec.json`` + artifact: ``model.torch``, ``model.keras``
  or ``model.onnx`` converted with the study's own converter of the registry;
  ``model.tflite`` or ``model.savedmodel`` as below; ``model.onnx2torch``, a module
  onnx2torch built, rebuilt and exported again with torch.onnx);
* a ``.keras`` archive (loaded in safe mode), a TensorFlow SavedModel folder, a ``.tflite``
  file (converted with tf2onnx);
* a PyTorch ``state_dict`` file of a study model (``.torch``, ``.pt``, ``.pth``; loaded with
  ``weights_only=True``) together with the model's name.

A converted view is trusted only after it reproduced the model's own outputs on the
inputs: :func:`verify` runs both and raises when they differ beyond ``VIEW_TOLERANCE``.
Frameworks are imported only for the formats that need them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from convstudy import registry
from convstudy.localization.comparison import runner
from convstudy.localization.comparison.difference import relative_difference
from convstudy.localization.graph.layout import align
from convstudy.localization.io.inputs import LocalizationError, input_names, load_model
from convstudy.records import describe_exception

#: A converted view must reproduce its model's outputs within this relative difference.
VIEW_TOLERANCE = 1e-4
#: Opset of the views the study's converters write.
VIEW_OPSET = 18
#: Input shape (without batch, framework-neutral H, W, C) of each image dataset.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
STATE_DICT_SUFFIXES = (".torch", ".pt", ".pth")

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass
class View:
    """A model as an ONNX graph.

    Attributes:
        model: the ONNX graph that the localization compares.
        kind: what the user gave ("onnx", "torch", "keras", "savedmodel", "tflite").
        path: the file or folder given.
        own: the model's own runtime (None for ONNX: the view *is* the model).
        how: how the view was made (converter), for the report.
        check: the verification of the view (filled by :func:`verify`).
    """

    model: onnx.ModelProto
    kind: str
    path: Path
    own: Predict | None = None
    how: str = "as given"
    check: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Plain values for the JSON document."""
        return {"path": str(self.path), "kind": self.kind, "view": self.how, **self.check}


def _fail(role: str, path: Path, why: str) -> LocalizationError:
    return LocalizationError(f"{role} model {path}: {why}")


def _convert_folder(folder: Path, role: str) -> View:
    """A model folder of this project: its format's converter to ONNX from the registry."""
    from convstudy import frameworks
    from convstudy.spec import ModelSpec

    try:
        spec = ModelSpec.load(folder)
        fmt = registry.fmt(spec.format)
    except Exception as exc:  # DataError, KeyError: one line either way
        raise _fail(role, folder, str(exc).strip("'\"")) from exc
    artifact = folder / fmt.artifact
    if not artifact.exists():
        raise _fail(role, folder, f"no {fmt.artifact}")
    if fmt.runtime == "onnxruntime":
        return View(load_model(artifact, role), "onnx", folder)
    if artifact.suffix == ".tflite":
        return _tflite(artifact, role)
    if artifact.is_dir() and (artifact / "saved_model.pb").exists():
        return _saved_model(artifact, role)
    if spec.format == "torch-fx":
        return _torch_fx(folder, artifact, spec, role)
    if spec.format not in registry.FRAMEWORKS:
        raise _fail(role, folder, f"format {spec.format!r} has no ONNX view")
    entry = registry.converter(spec.format, "onnx")
    module = registry.module(entry.module)
    settings: dict[str, Any] = {"opset": VIEW_OPSET}
    if spec.format == "torch":
        settings["exporter"] = "dynamo"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.onnx"
        try:
            module.convert(folder, spec, out, settings=settings)
            model = onnx.load(str(out))
        except Exception as exc:
            raise _fail(role, folder, f"{entry.name} failed: {describe_exception(exc)}") from exc
    predict = frameworks.adapter(spec.format).predictor(frameworks.load(folder, spec))
    return View(model, spec.format, folder, predict, f"{entry.name} (opset {VIEW_OPSET})")


def _torch_fx(folder: Path, artifact: Path, spec: Any, role: str) -> View:
    """A module onnx2torch built (a ``torch-fx`` folder): rebuilt like its runtime does
    and exported again with torch.onnx (TorchScript exporter: fx modules of onnx2torch's
    converters trace, the dynamo exporter rejects some of them)."""
    import torch

    from convstudy.frameworks import adapter
    from convstudy.runtimes.onnx2torch import rebuild

    module = rebuild(artifact)
    example = torch.from_numpy(np.ascontiguousarray(spec.example(batch=2)))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.onnx"
        try:
            torch.onnx.export(
                module, (example,), str(out), dynamo=False, opset_version=VIEW_OPSET,
                input_names=["x"], output_names=["logits"],
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            )  # fmt: skip
            model = onnx.load(str(out))
        except Exception as exc:
            raise _fail(role, folder, f"torch.onnx failed: {describe_exception(exc)}") from exc
    predict = adapter("torch").predictor(module)
    return View(model, "torch-fx", folder, predict, f"torch.onnx TorchScript (opset {VIEW_OPSET})")


def _state_dict(path: Path, model_name: str | None, role: str) -> View:
    """A study PyTorch model from its ``state_dict`` file and its name."""
    from convstudy import models
    from convstudy.spec import ModelSpec

    if not model_name:
        raise _fail(role, path, "a state_dict needs the model's name (--model NAME)")
    try:
        entry = registry.model(model_name)
    except KeyError as exc:
        raise _fail(role, path, str(exc).strip("'\"")) from exc
    if entry.kind != "image":
        raise _fail(role, path, "text models need their model folder (spec.json has the vocab)")
    spec = ModelSpec(
        model=model_name,
        dataset=entry.dataset,
        format="torch",
        input_shape=IMAGE_SHAPES[entry.dataset],
        num_classes=registry.NUM_CLASSES[entry.dataset],
        layout=models.input_layout(model_name, "torch"),
        arch=models.resolve_arch(model_name, {}),
    )
    from convstudy import frameworks

    try:
        frameworks.adapter("torch").load(path, spec)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(role, path, f"not a {model_name} state_dict ({first.rstrip(':')})") from exc
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / registry.fmt("torch").artifact).symlink_to(path.resolve())
        spec.dump(folder)
        try:
            view = _convert_folder(folder, role)
        except LocalizationError as exc:
            raise _fail(role, path, str(exc).split(": ", 1)[-1]) from exc
        except Exception as exc:
            raise _fail(
                role, path, f"not a {model_name} state_dict ({type(exc).__name__})"
            ) from exc
    view.path = path
    return view


def _keras_archive(path: Path, role: str) -> View:
    import keras
    import tensorflow as tf
    import tf2onnx

    try:
        net = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise _fail(role, path, f"not a loadable .keras archive ({type(exc).__name__})") from exc
    spec = tf.TensorSpec(net.inputs[0].shape, net.inputs[0].dtype, name="x")
    function = tf.function(lambda x: {"logits": net(x, training=False)})
    model, _ = tf2onnx.convert.from_function(function, input_signature=(spec,), opset=VIEW_OPSET)
    predict = tf.function(lambda x: net(x, training=False), reduce_retracing=True)
    return View(
        model,
        "keras",
        path,
        lambda x: predict(tf.constant(x)).numpy(),
        f"tf2onnx.convert.from_function (opset {VIEW_OPSET})",
    )


def _saved_model(path: Path, role: str) -> View:
    import tensorflow as tf
    import tf2onnx

    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except Exception as exc:
        raise _fail(role, path, f"not a SavedModel with a serving signature ({exc})") from exc
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise _fail(role, path, f"serving signature has {len(specs)} inputs; one is supported")
    ((name, spec),) = specs.items()
    out_names = sorted(signature.structured_outputs)

    def call(x: Any) -> Any:
        return signature(**{name: x})[out_names[0]]

    function = tf.function(lambda x: {"logits": call(x)})
    model, _ = tf2onnx.convert.from_function(
        function,
        input_signature=(tf.TensorSpec(spec.shape, spec.dtype, name="x"),),
        opset=VIEW_OPSET,
    )
    return View(
        model,
        "savedmodel",
        path,
        lambda x: call(tf.constant(x)).numpy(),
        f"tf2onnx.convert.from_function on serving_default (opset {VIEW_OPSET})",
    )


def _tflite(path: Path, role: str) -> View:
    import tf2onnx
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
    except Exception as exc:
        raise _fail(role, path, f"not a runnable .tflite model ({type(exc).__name__})") from exc
    try:
        model, _ = tf2onnx.convert.from_tflite(str(path), opset=VIEW_OPSET)
    except Exception as exc:
        raise _fail(role, path, f"tf2onnx.convert.from_tflite failed: {exc}") from exc
    detail_in = interpreter.get_input_details()[0]
    detail_out = interpreter.get_output_details()[0]

    def predict(x: np.ndarray) -> np.ndarray:
        if tuple(detail_in["shape"]) != x.shape:
            interpreter.resize_tensor_input(detail_in["index"], x.shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(detail_in["index"], x.astype(detail_in["dtype"]))
        interpreter.invoke()
        return np.array(interpreter.get_tensor(detail_out["index"]))

    return View(model, "tflite", path, predict, f"tf2onnx.convert.from_tflite (opset {VIEW_OPSET})")


def open_view(path: str | Path, role: str, *, model_name: str | None = None) -> View:
    """The ONNX view of the model at ``path`` (see the module docstring for what is accepted).

    Raises:
        LocalizationError: a missing, unreadable or unsupported model, or a failed conversion.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(role, path, "no such file or folder")
    if path.is_dir():
        if (path / "spec.json").exists():
            return _convert_folder(path, role)
        if (path / "saved_model.pb").exists():
            return _saved_model(path, role)
        raise _fail(role, path, "a folder that is neither a model folder nor a SavedModel")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return View(load_model(path, role), "onnx", path)
    if suffix == ".keras":
        return _keras_archive(path, role)
    if suffix == ".tflite":
        return _tflite(path, role)
    if suffix in STATE_DICT_SUFFIXES:
        return _state_dict(path, model_name, role)
    raise _fail(
        role,
        path,
        "unknown kind (expected .onnx, .keras, .tflite, a state_dict, a "
        "SavedModel or model folder)",
    )


def verify(view: View, role: str, inputs: np.ndarray) -> None:
    """Check that a converted view reproduces the model's own outputs on ``inputs``.

    Raises:
        LocalizationError: the view's outputs differ beyond :data:`VIEW_TOLERANCE`.
    """
    if view.own is None:
        return
    own = np.asarray(view.own(inputs))
    name = input_names(view.model)[0]
    mine = runner.run(view.model, {name: inputs})[0]
    aligned = align(own, mine)
    if aligned is None:
        raise _fail(role, view.path, f"ONNX view output {mine.shape} vs the model's {own.shape}")
    rel = relative_difference(own, aligned)[2]
    view.check = {"view_relative_difference": rel, "view_verified_on": int(inputs.shape[0])}
    if not rel <= VIEW_TOLERANCE:
        raise _fail(
            role,
            view.path,
            f"its ONNX view ({view.how}) does not reproduce its outputs (relative difference "
            f"{rel:.3g} > {VIEW_TOLERANCE:g}); not trusted",
        )
