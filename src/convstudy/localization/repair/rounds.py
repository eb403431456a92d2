"""Repairing a target model from its source, guided by a localization, in rounds.

Graph repairs come first (they change what the parameters mean; :mod:`.rewrites`), and
blamed layers that exist only in the target are bypassed; then parameter repairs
(:mod:`.parameters`). Each round is re-analysed; the result reports the top-1
disagreement and the output error before and after, and a repair that does not reduce
them is reported as failed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from convstudy.localization.comparison.activations import allowed
from convstudy.localization.comparison.difference import relative_difference
from convstudy.localization.comparison.hyperparameters import hyperparameter_rows
from convstudy.localization.comparison.parameters import parameter_rows
from convstudy.localization.comparison.result import Localization
from convstudy.localization.comparison.runner import run
from convstudy.localization.graph.layers import Layer
from convstudy.localization.graph.layout import align
from convstudy.localization.graph.matching import Analysis, analyse
from convstudy.localization.io.inputs import InputsLike, ModelLike, feeds_for, load_model
from convstudy.localization.repair import surgery
from convstudy.localization.repair.edits import bypass
from convstudy.localization.repair.parameters import repair_parameters
from convstudy.localization.repair.result import RepairAction, RepairResult
from convstudy.localization.repair.rewrites import bypassable, repair_hyperparameters

#: Share of labels that may still differ for a repair to count as complete.
DISAGREEMENT_GOAL = 0.001
#: Without fewer changed labels, a repair must bring the error down to this share of it.
ERROR_GAIN = 0.5


def _divergent_pairs(
    analysis: Analysis, tolerance: float
) -> tuple[list[tuple[Layer, Layer, list[str]]], list[tuple[Layer, Layer]]]:
    hyper, params = [], []
    for position, pair in enumerate(analysis.pairs):
        a, b = analysis.layers(pair)
        if a is None or b is None:
            continue
        names = (a.name, b.name)
        h = [r.name for r in hyperparameter_rows(position, a, b, names) if r.divergent]
        if h:
            hyper.append((a, b, h))
        if any(r.divergent for r in parameter_rows(position, a, b, names, tolerance)):
            params.append((a, b))
    return hyper, params


def _at_first_activation(
    model: onnx.ModelProto, analysis: Analysis, target_node: str | None
) -> list[RepairAction]:
    """When nothing else was found to repair (a change every parameter metric misses):
    the source's parameters copied into the layer where the activations first diverge, or,
    when that layer has none (a pool), into the nearest layer before it whose parameters
    differ at all."""
    partner = {
        pair.target: analysis.source.layers[pair.source]
        for pair in analysis.pairs
        if pair.source is not None and pair.target is not None
    }
    layers = analysis.target.layers
    start = next((k for k, layer in enumerate(layers) if layer.name == target_node), None)
    queue, seen = ([] if start is None else [start]), set()
    while queue:
        k = queue.pop(0)
        if k in seen:
            continue
        seen.add(k)
        a, b = partner.get(k), layers[k]
        if a is not None and a.params and _differ(a, b):
            return repair_parameters(model, analysis.target, a, b)
        queue.extend(b.preds)
    return []


def _differ(a: Layer, b: Layer) -> bool:
    return any(
        key not in b.params
        or a.params[key].shape != b.params[key].shape
        or not np.array_equal(a.params[key], b.params[key])
        for key in a.params
    )


def _measure(
    source: onnx.ModelProto,
    target: onnx.ModelProto,
    source_feeds: Mapping[str, np.ndarray],
    target_feeds: Mapping[str, np.ndarray],
) -> tuple[float, float]:
    """(top-1 disagreement, relative output error) of ``target`` against ``source``."""
    s = run(source, source_feeds)[0]
    t = run(target, target_feeds)[0]
    aligned = align(s, t)
    if aligned is None:
        return 1.0, float("inf")
    rel = relative_difference(s, aligned)[2]
    labels = s.reshape(s.shape[0], -1).argmax(axis=1)
    labels_t = aligned.reshape(aligned.shape[0], -1).argmax(axis=1)
    return float(np.mean(labels != labels_t)), rel


def repair(
    source: ModelLike,
    target: ModelLike,
    localization: Localization,
    *,
    source_inputs: InputsLike,
    target_inputs: InputsLike,
    max_rounds: int = 4,
) -> tuple[onnx.ModelProto, RepairResult]:
    """Repair ``target`` towards ``source`` and measure the effect.

    Args:
        source, target: the models given to :func:`~convstudy.localization.localize`.
        localization: its result; a layer it blamed that exists only in the target is
            bypassed, and nothing is changed when it found no divergence.
        source_inputs, target_inputs: evaluation samples (each model's layout) on which the
            disagreement and output error are measured before and after.
        max_rounds: analyse-and-repair rounds at most.

    Returns:
        The repaired model (a new ``ModelProto``; ``target`` is not modified) and what the
        repair did and achieved.
    """
    src_model = load_model(source, "source")
    original = load_model(target, "target")
    src_feeds = feeds_for(src_model, source_inputs, "source")
    tgt_feeds = feeds_for(original, target_inputs, "target")
    n = next(iter(src_feeds.values())).shape[0]
    dis_before, err_before = _measure(src_model, original, src_feeds, tgt_feeds)
    model = surgery.copy_model(original)
    actions: list[RepairAction] = []
    tolerance = localization.parameter_tolerance
    remaining: list[str] = []
    if localization.first_divergent is not None:
        first = localization.first_divergent
        for round_ in range(max_rounds):
            analysis = analyse(src_model, model)
            hyper, params = _divergent_pairs(analysis, tolerance)
            done: list[RepairAction] = []
            if round_ == 0 and first.stage == "structure" and first.source_node is None:
                layer = analysis.target.layer_of_node(first.target_node or "")
                if layer is not None and bypassable(analysis.target, layer):
                    for index in layer.nodes:
                        if index == layer.core or any(index in op.nodes for op in layer.post_ops):
                            bypass(analysis.target, index)
                    done.append(RepairAction(layer.name, "bypass_node", "layer only in the target"))
            for a, b, names in hyper:
                done += repair_hyperparameters(model, analysis.target, analysis.source, a, b, names)
            if not done:
                for a, b in params:
                    done += repair_parameters(model, analysis.target, a, b)
            if not done and round_ == 0 and first.stage == "activations":
                done += _at_first_activation(model, analysis, first.target_node)
            if not done:
                remaining = [a.name for a, _, _ in hyper] + [a.name for a, _ in params]
                break
            actions += done
            surgery.remove_unused_initializers(model)
        else:
            analysis = analyse(src_model, model)
            hyper, params = _divergent_pairs(analysis, tolerance)
            remaining = [a.name for a, _, _ in hyper] + [a.name for a, _ in params]
    try:
        onnx.checker.check_model(model)
        dis_after, err_after = _measure(src_model, model, src_feeds, tgt_feeds)
        reason = ""
    except Exception as exc:  # noqa: BLE001 - a broken repair is a result, reported as failed
        dis_after, err_after = 1.0, float("inf")
        reason = f"repaired model does not run: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    improved = (
        err_after < err_before
        and dis_after <= dis_before
        and (dis_after < dis_before or err_after <= ERROR_GAIN * err_before)
    )
    if dis_before > 0:
        improved = improved and dis_after < dis_before
    quantized = bool(localization.run.get("quantization"))
    if quantized:
        # labels a quantized model changes by its own error stay changed: the goal is the
        # error quantization explains (what the localization measured), not zero
        within = err_after <= allowed(localization.tolerance, localization.outputs.expected)
        improved = err_after < err_before and dis_after <= dis_before and within
    if localization.first_divergent is None:
        reason = reason or "nothing to repair: the localization found no divergence"
        improved = False
    elif not actions:
        reason = reason or "no repair applies to the divergence found"
    elif not improved and not reason:
        reason = (
            f"disagreement {dis_before:.4f} -> {dis_after:.4f}, "
            f"error {err_before:.3g} -> {err_after:.3g}: not reduced"
        )
    complete = improved and not remaining and (quantized or dis_after <= DISAGREEMENT_GOAL)
    return model, RepairResult(
        actions=actions,
        n_inputs=n,
        disagreement_before=dis_before,
        disagreement_after=dis_after,
        error_before=err_before,
        error_after=err_after,
        success=improved,
        complete=complete,
        remaining=remaining,
        reason=reason,
    )
