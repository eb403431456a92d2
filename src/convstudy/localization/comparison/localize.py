"""Where do two ONNX models that should compute the same function diverge?

Both graphs are read as layers and matched (:mod:`~convstudy.localization.graph`); then
stages (b) parameters, (c) hyperparameters and (d) activations compare every matched
pair, and :mod:`~convstudy.localization.comparison.divergence` names the first divergence.
Stage (a), the conversion hops, compares whole models (:mod:`.hops`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from convstudy.localization.comparison.activations import Probe, activation_rows, allowed
from convstudy.localization.comparison.difference import TOLERANCE, relative_difference
from convstudy.localization.comparison.divergence import first_divergence
from convstudy.localization.comparison.hyperparameters import hyperparameter_rows
from convstudy.localization.comparison.parameters import parameter_rows
from convstudy.localization.comparison.quantization import expected_errors
from convstudy.localization.comparison.result import (
    HyperparameterRow,
    LayerMatch,
    Localization,
    OutputComparison,
    ParameterRow,
)
from convstudy.localization.graph.layout import align
from convstudy.localization.graph.matching import Analysis, analyse
from convstudy.localization.io.inputs import (
    InputsLike,
    LocalizationError,
    ModelLike,
    batch_size,
    feeds_for,
    load_model,
)


def _matches(analysis: Analysis) -> list[LayerMatch]:
    rows = []
    for position, pair in enumerate(analysis.pairs):
        a, b = analysis.layers(pair)
        rows.append(
            LayerMatch(
                position=position,
                kind=(a or b).kind,  # type: ignore[union-attr]
                source_node=None if a is None else a.name,
                target_node=None if b is None else b.name,
                source_nodes=[] if a is None else analysis.source.node_names(a),
                target_nodes=[] if b is None else analysis.target.node_names(b),
                source_tensor=None if a is None else a.output,
                target_tensor=None if b is None else b.output,
            )
        )
    return rows


def _outputs(
    analysis: Analysis,
    values: dict[str, tuple[np.ndarray, np.ndarray]],
    n: int,
    tolerance: float,
    expected: dict[str, float],
) -> OutputComparison:
    first = analysis.source.view.outputs[0]
    s, t = values[first]
    aligned = align(s, t)
    if aligned is None:
        return OutputComparison(n, 1.0, float("inf"), float("inf"), True)
    diff, _, rel = relative_difference(s, aligned)
    labels_s = s.reshape(s.shape[0], -1).argmax(axis=1)
    labels_t = aligned.reshape(aligned.shape[0], -1).argmax(axis=1)
    disagreement = float(np.mean(labels_s != labels_t))
    divergent = not rel <= allowed(tolerance, expected.get(first, 0.0))
    for name, (s_i, t_i) in values.items():
        if name == first:
            continue
        other = align(s_i, t_i)
        rel_i = 1.0 if other is None else relative_difference(s_i, other)[2]
        divergent = divergent or not rel_i <= allowed(tolerance, expected.get(name, 0.0))
    return OutputComparison(n, disagreement, diff, rel, divergent, expected.get(first, 0.0))


def _expected(
    analysis: Analysis,
    pairs: list[tuple[str, str]],
    feeds: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]],
    mode: str,
    per_segment: int,
) -> list[float]:
    """Per (source, target) tensor pair, the sum of the error each side's quantization is
    expected to add there (0 for float models; :mod:`.quantization`)."""
    totals = [0.0] * len(pairs)
    for side, graph, feed in ((0, analysis.source, feeds[0]), (1, analysis.target, feeds[1])):
        if not graph.quantization:
            continue
        names = [pair[side] for pair in pairs]
        errors = expected_errors(graph.view.model, names, feed, mode=mode, per_segment=per_segment)
        totals = [total + errors.get(name, 0.0) for total, name in zip(totals, names, strict=True)]
    return totals


def localize(
    source: ModelLike,
    target: ModelLike,
    source_inputs: InputsLike,
    target_inputs: InputsLike,
    *,
    tolerance: float = TOLERANCE,
    parameter_tolerance: float | None = None,
    mode: str = "segments",
    per_segment: int = 6,
) -> Localization:
    """Find where ``target`` first diverges from ``source``.

    Args:
        source, target: ONNX models (``onnx.ModelProto`` or paths), possibly from different
            converters.
        source_inputs, target_inputs: the same samples in each model's own input layout
            and dtype (an array, a sequence in input order, or a name -> array mapping).
            Pass samples on which the outputs disagree.
        tolerance: a layer's output diverges when mean |s - t| exceeds ``tolerance`` times
            its own output scale (the larger of mean |s| and mean |t|).
        parameter_tolerance: the same rule for parameter tensors (default: ``tolerance``).
        mode: "segments" (bounded memory) or "all" (every probed tensor of one run at once).
        per_segment: probed tensors per segment in "segments" mode.

    Raises:
        LocalizationError: (a ``ConvstudyError``) for a file that is not an ONNX model,
            inputs that do not fit a model, or batches of different sizes.
    """
    if not tolerance > 0:
        raise LocalizationError(f"tolerance must be positive, got {tolerance}")
    p_tol = tolerance if parameter_tolerance is None else parameter_tolerance
    src_model = load_model(source, "source")
    tgt_model = load_model(target, "target")
    src_feeds = feeds_for(src_model, source_inputs, "source")
    tgt_feeds = feeds_for(tgt_model, target_inputs, "target")
    n_src, n_tgt = batch_size(src_feeds, "source"), batch_size(tgt_feeds, "target")
    if n_src != n_tgt:
        raise LocalizationError(f"inputs: source batch has {n_src} samples, target {n_tgt}")
    if len(src_model.graph.output) != len(tgt_model.graph.output):
        raise LocalizationError(
            f"models have {len(src_model.graph.output)} and {len(tgt_model.graph.output)} outputs"
        )
    started = time.perf_counter()
    analysis = analyse(src_model, tgt_model)
    params: list[ParameterRow] = []
    hypers: list[HyperparameterRow] = []
    matched = []
    for position, pair in enumerate(analysis.pairs):
        a, b = analysis.layers(pair)
        if a is None or b is None:
            continue
        names = (a.name, b.name)
        params += parameter_rows(position, a, b, names, p_tol)
        hypers += hyperparameter_rows(position, a, b, names)
        matched.append((position, a, b))
    extra = list(zip(analysis.source.view.outputs, analysis.target.view.outputs, strict=True))
    tensors = [(a.output, b.output) for _, a, b in matched] + extra
    expected = _expected(analysis, tensors, (src_feeds, tgt_feeds), mode, per_segment)
    probes = [
        Probe(position, a.name, b.name, a.kind, a.output, b.output, a.perm, b.perm, e)
        for (position, a, b), e in zip(matched, expected, strict=False)
    ]
    acts, out_values, facts = activation_rows(
        analysis.source,
        analysis.target,
        probes,
        src_feeds,
        tgt_feeds,
        tolerance,
        mode=mode,
        per_segment=per_segment,
        extra=extra,
    )
    out_expected = {s: e for (s, _), e in zip(extra, expected[len(matched) :], strict=True)}
    outputs = _outputs(analysis, out_values, n_src, tolerance, out_expected)
    quantized = {
        role: graph.quantization
        for role, graph in (("source", analysis.source), ("target", analysis.target))
        if graph.quantization
    }
    if quantized:
        facts["quantization"] = quantized
    first = first_divergence(analysis, params, hypers, acts, outputs, p_tol)
    facts["seconds"] = round(time.perf_counter() - started, 3)
    facts["source_layers"] = len(analysis.source.layers)
    facts["target_layers"] = len(analysis.target.layers)
    return Localization(
        first_divergent=first,
        tolerance=tolerance,
        parameter_tolerance=p_tol,
        matches=_matches(analysis),
        parameters=params,
        hyperparameters=hypers,
        activations=acts,
        outputs=outputs,
        run=facts,
    )
