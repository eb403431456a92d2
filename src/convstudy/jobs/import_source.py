"""Rule ``import_source``: a model the user brings (config ``matrix.sources``) as the source
of conversion-matrix paths, like the study's trained models.

The file (an ONNX model, a ``.keras`` archive, a TensorFlow SavedModel folder or a
``.tflite`` model) is untrusted: it is opened the safe way (``onnx.checker``, Keras
``safe_mode``, a SavedModel's serving signature, the LiteRT interpreter), copied into a model
folder with a ``spec.json`` read from its input and output signature, and given evaluation
inputs: the user's ``.npy`` of framework-neutral inputs, or seeded random ones (uint8 images
(N, H, W, C) for a 4-D float input, token ids below ``vocab`` for a 2-D integer input). The
inputs have no labels (``y_test`` is all -1: accuracy is not defined, every comparison is
against the source model's own outputs).

A file the study cannot take (not loadable, an input it does not support, inputs that are
not finite or a batch over :data:`~convstudy.batch.MAX_BATCH_BYTES`) is a finding, not a
failure of the workflow: the model folder then holds only a conversion record with status
``error`` and the reason, so that every later job of that source is ``not_run`` with it
(:func:`~convstudy.conversion.upstream_failure`) and the report has its rows.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convstudy import formats, registry
from convstudy.atomic import atomic_output
from convstudy.batch import oversized
from convstudy.errors import ConfigError
from convstudy.provenance import Provenance
from convstudy.records import ConversionRecord
from convstudy.spec import InputLayout, ModelSpec

logger = logging.getLogger(__name__)

#: Dataset name of a brought model's spec and rows.
DATASET = "user"
#: Token ids of random text inputs stay below this when the config names no vocabulary size.
DEFAULT_VOCAB = 100


def layout_of(
    shape: list[int | None], dtype: str, name: str
) -> tuple[InputLayout, tuple[int, ...]]:
    """The input layout and framework-neutral input shape of a model input.

    Raises:
        ConfigError: neither a 4-D float image input nor a 2-D integer token input.
    """
    dims = [d for d in shape[1:]]
    if len(shape) == 4 and np.issubdtype(np.dtype(dtype), np.floating) and all(dims):
        a, b, c = (int(d) for d in dims)  # type: ignore[arg-type]
        if a in (1, 3) and c not in (1, 3):
            return InputLayout("NCHW", "float32", 255.0, name), (b, c, a)
        return InputLayout("NHWC", "float32", 255.0, name), (a, b, c)
    if len(shape) == 2 and np.issubdtype(np.dtype(dtype), np.integer) and dims[0]:
        return InputLayout("NL", dtype, None, name), (int(dims[0]),)  # type: ignore[arg-type]
    raise ConfigError(
        f"matrix.sources: input {name!r} {dtype} {shape}: only 4-D float images (NCHW or "
        "NHWC, static size) and 2-D integer token ids (static length) are supported"
    )


def _inputs(
    settings: Mapping[str, Any], layout: InputLayout, input_shape: tuple[int, ...], seed: int
) -> np.ndarray:
    given = settings.get("inputs")
    if given:
        try:
            header = np.load(given, mmap_mode="r", allow_pickle=False)
            refused = oversized(header.shape, header.dtype)
            if refused:
                raise ConfigError(f"matrix.sources: {given}: {refused}")
            x = np.array(header)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"matrix.sources: {given}: not a readable .npy ({exc})") from exc
        if np.issubdtype(x.dtype, np.inexact) and not np.isfinite(x).all():
            raise ConfigError(f"matrix.sources: {given}: values that are NaN or infinite")
        try:
            layout.prepare(x)
        except ValueError as exc:
            raise ConfigError(f"matrix.sources: {given}: {exc}") from exc
        if tuple(x.shape[1:]) != input_shape:
            raise ConfigError(
                f"matrix.sources: {given}: shape {x.shape}, model takes {input_shape}"
            )
        return x
    rng = np.random.default_rng(seed)
    n = int(settings.get("n", 64))
    # the float32 batch the model's runtime is fed, not only the uint8 one written here
    refused = oversized((n, *input_shape), np.dtype(np.float32 if layout.scale else np.int64))
    if refused:
        raise ConfigError(f"matrix.sources: input {layout.name!r}: {refused}")
    if layout.scale is None:
        high = int(settings.get("vocab") or DEFAULT_VOCAB)
        return rng.integers(1, high, size=(n, *input_shape), dtype=np.int64)
    return rng.integers(0, 256, size=(n, *input_shape), dtype=np.uint8)


def run(
    *,
    name: str,
    settings: Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    inputs_out: str | Path,
) -> ModelSpec | None:
    """Import the source ``settings["path"]`` as model folder ``out_dir`` and write its
    evaluation inputs to ``inputs_out`` (a prepared-dataset npz).

    Returns:
        The model's spec, or None when the file was refused (the folder then holds the
        refusal record, the inputs file an empty batch).
    """
    path = Path(settings["path"])
    try:
        fmt, spec, x = _imported(name, path, settings, seed)
    except ConfigError as refusal:
        logger.warning("%s: refused: %s", name, refusal)
        _refuse(name, path, settings, str(refusal), out_dir, inputs_out)
        return None
    _write_inputs(x, inputs_out)
    with atomic_output(out_dir, directory=True) as folder:
        artifact = folder / registry.fmt(fmt).artifact
        if path.is_dir():
            shutil.copytree(path, artifact)
        else:
            shutil.copyfile(path, artifact)
        spec.dump(folder)
    logger.info(
        "%s: %s model, input %s %s, %d outputs, %d inputs",
        name,
        fmt,
        spec.layout,
        spec.input_shape,
        spec.num_classes,
        len(x),
    )
    return spec


def _imported(
    name: str, path: Path, settings: Mapping[str, Any], seed: int
) -> tuple[str, ModelSpec, np.ndarray]:
    """(format, spec, evaluation inputs) of the brought file.

    Raises:
        ConfigError: a missing or unsupported file, an unsupported input, bad inputs.
    """
    if not path.exists():
        raise ConfigError(f"matrix.sources: {path}: no such file or folder")
    fmt = formats.detect(path)
    try:
        found = formats.module(fmt).signature(path)
    except ConfigError:
        raise
    except Exception as exc:  # any loader's refusal of an untrusted file: a finding
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"matrix.sources: {path}: not a loadable {fmt} model ({why})") from exc
    layout, input_shape = layout_of(list(found.shape), found.dtype, found.name)
    spec = ModelSpec(
        model=name,
        dataset=DATASET,
        format=fmt,
        input_shape=input_shape,
        num_classes=found.classes or 0,
        layout=layout,
    )
    return fmt, spec, _inputs(settings, layout, input_shape, seed)


def _write_inputs(x: np.ndarray, inputs_out: str | Path) -> None:
    empty_x = np.zeros((0, *x.shape[1:]), dtype=x.dtype)
    empty_y = np.zeros((0,), dtype=np.int64)
    with atomic_output(inputs_out) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            x_train=empty_x, y_train=empty_y, x_val=empty_x, y_val=empty_y,
            x_test=x, y_test=np.full(len(x), -1, dtype=np.int64),
        )  # fmt: skip


def _refuse(
    name: str,
    path: Path,
    settings: Mapping[str, Any],
    reason: str,
    out_dir: str | Path,
    inputs_out: str | Path,
) -> None:
    """The refusal record in place of the model folder, and an empty batch of inputs."""
    try:
        fmt = formats.detect(path)
    except ConfigError:
        fmt = "unknown"
    record = ConversionRecord(
        model=name,
        framework=fmt,
        seed=0,
        route=registry.ORIGINAL,
        source_format=fmt,
        format=fmt,
        settings=dict(settings),
        provenance=Provenance.of_job(threads=1, params=dict(settings)),
    )
    record.status, record.reason = "error", reason.removeprefix("matrix.sources: ")
    _write_inputs(np.zeros((0,), dtype=np.uint8), inputs_out)
    with atomic_output(out_dir, directory=True) as folder:
        record.dump(folder / ConversionRecord.FILE)
