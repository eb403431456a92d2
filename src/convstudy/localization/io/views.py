"""Any model the study handles, seen as ONNX: the localization compares ONNX graphs.

``open_view(path)`` accepts a model folder of this project (``spec.json`` + its format's
artifact), any file or folder a format module detects (:func:`convstudy.formats.detect`:
an ONNX file, a ``.keras`` archive, a SavedModel folder, a ``.tflite`` file, ...), and a
PyTorch ``state_dict`` of a study model together with the model's name. Each format's
module makes its view (:mod:`convstudy.formats`); this module knows no format.

A converted view is trusted only after it reproduced the model's own outputs on the
inputs: :func:`verify` runs both and raises when they differ beyond ``VIEW_TOLERANCE``, or,
for a quantized model, beyond what its activation quantization explains
(:func:`~convstudy.localization.comparison.quantization.view_tolerance`).
Frameworks are imported only for the formats that need them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from convstudy import formats, registry
from convstudy.errors import ConfigError
from convstudy.localization.comparison import runner
from convstudy.localization.comparison.difference import relative_difference
from convstudy.localization.comparison.quantization import view_tolerance
from convstudy.localization.graph import quantization
from convstudy.localization.graph.layout import align
from convstudy.localization.graph.onnx_graph import GraphView
from convstudy.localization.io.inputs import LocalizationError, input_names, load_model
from convstudy.records import describe_exception

#: A converted view must reproduce its model's outputs within this relative difference.
VIEW_TOLERANCE = 1e-4
#: Input shape (without batch, framework-neutral H, W, C) of each image dataset.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"mnist": (28, 28, 1), "cifar10": (32, 32, 3)}

Predict = formats.Predict


@dataclass
class View:
    """A model as an ONNX graph.

    Attributes:
        model: the ONNX graph that the localization compares.
        kind: the model's format ("onnx", "torch", "keras", "savedmodel", "tflite", ...).
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


def _reason(exc: Exception) -> str:
    """One line: a format module's own refusal (a ValueError) as it says it, any other
    exception of a converter or runtime with its type."""
    if isinstance(exc, ValueError) and str(exc).strip():
        return str(exc).strip().splitlines()[0]
    text = describe_exception(exc)
    return text[1:-1] if text[:1] == text[-1:] and text[:1] in "'\"" else text


def _view(fmt: str, artifact: Path, spec: Any, role: str, shown: Path) -> View:
    """The view its format's module makes of ``artifact``, checked to be a usable graph."""
    try:
        made = formats.module(fmt).onnx_view(artifact, spec)
    except Exception as exc:  # any failure of a format's converter or runtime: one line
        raise _fail(role, shown, _reason(exc)) from exc
    # a view that is the model itself gets the ONNX checks of a given file
    model = load_model(artifact, role) if made.own is None else made.model
    _runnable(model, role, shown)
    return View(model, fmt, shown, made.own, made.how)


#: Op domains onnxruntime's CPU provider implements.
KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})


def _onnxruntime_reason(exc: Exception) -> str:
    """onnxruntime's message without its status prefix and C++ source location."""
    import re

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    return re.sub(r"^\S+\.(cc|h):\d+ (\S+\(.*?\) )?", "", text)


def _runnable(model: onnx.ModelProto, role: str, shown: Path) -> None:
    """Refuse a graph onnxruntime cannot load, naming a custom op when there is one."""
    try:
        runner.session(model)
    except Exception as exc:  # onnxruntime raises its own exception types
        custom = [n for n in model.graph.node if n.domain not in KNOWN_DOMAINS]
        reason = _onnxruntime_reason(exc)
        if custom:
            node = custom[0]
            raise _fail(
                role,
                shown,
                f"op {node.op_type!r} of domain {node.domain!r} is not one onnxruntime runs "
                f"(onnxruntime: {reason})",
            ) from exc
        raise _fail(role, shown, f"onnxruntime cannot load it ({reason})") from exc


def _model_folder(folder: Path, role: str) -> View:
    """A model folder of this project: its format's view of its artifact."""
    from convstudy.spec import ModelSpec

    try:
        spec = ModelSpec.load(folder)
        artifact = folder / registry.fmt(spec.format).artifact
    except Exception as exc:  # DataError, KeyError: one line either way
        raise _fail(role, folder, str(exc).strip("'\"")) from exc
    if not artifact.exists():
        raise _fail(role, folder, f"no {artifact.name}")
    return _view(spec.format, artifact, spec, role, folder)


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
            view = _model_folder(folder, role)
        except LocalizationError as exc:
            raise _fail(role, path, str(exc).split(": ", 1)[-1]) from exc
    view.path = path
    return view


def open_view(path: str | Path, role: str, *, model_name: str | None = None) -> View:
    """The ONNX view of the model at ``path`` (see the module docstring for what is accepted).

    Raises:
        LocalizationError: a missing, unreadable or unsupported model, or a failed conversion.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(role, path, "no such file or folder")
    if path.is_dir() and (path / "spec.json").exists():
        return _model_folder(path, role)
    try:
        fmt = formats.detect(path, key=role)
    except ConfigError as exc:
        why = str(exc).rsplit(": ", 1)[-1]
        raise _fail(role, path, f"unknown kind ({why}, or a model folder)") from exc
    if fmt == "torch":
        return _state_dict(path, model_name, role)
    return _view(fmt, path, None, role, path)


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
    tolerance = VIEW_TOLERANCE
    described = quantization.describe(GraphView(view.model))
    if described:
        tolerance = view_tolerance(view.model, {name: inputs}, VIEW_TOLERANCE)
    view.check = {
        "view_relative_difference": rel,
        "view_tolerance": tolerance,
        "view_verified_on": int(inputs.shape[0]),
        **({"quantization": described} if described else {}),
    }
    if not rel <= tolerance:
        raise _fail(
            role,
            view.path,
            f"its ONNX view ({view.how}) does not reproduce its outputs (relative difference "
            f"{rel:.3g} > {tolerance:.3g}); not trusted",
        )
