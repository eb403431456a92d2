"""One localization of a model pair, as ``convstudy localize``, ``convstudy repair`` and the
workflow's ``localize`` job run it.

Each model is opened as an ONNX view (:mod:`~convstudy.localization.io.views`) and the
view verified against the model on the samples; the samples to localize on may then be
chosen from both models' outputs; stage (a) finds the first divergent hop when the
chain's intermediate models are given; stages (b)-(d) localize
(:func:`~convstudy.localization.localize`); and, if asked, the target is repaired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from convstudy.localization.comparison.difference import TOLERANCE
from convstudy.localization.comparison.hops import HopDivergence, first_divergent_hop
from convstudy.localization.comparison.localize import localize
from convstudy.localization.comparison.result import Localization
from convstudy.localization.comparison.runner import run
from convstudy.localization.graph.layout import align
from convstudy.localization.io.inputs import adapt, check_finite
from convstudy.localization.io.views import View, open_view, verify
from convstudy.localization.repair.result import RepairResult
from convstudy.localization.repair.rounds import repair as repair_target

#: A model: anything :func:`~convstudy.localization.io.views.open_view` opens, or its view.
ModelRef = str | Path | View
#: Samples in a model's own input layout, or a function of the model's view making them
#: (random inputs need the view's input shape; a model folder knows its own layout).
Samples = np.ndarray | Callable[[View], np.ndarray]
#: Chooses the samples to localize on: their indices, from the source's outputs on every
#: sample and the target's, aligned to the source's layout.
Selector = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Hop:
    """An intermediate model of the conversion chain from the source to the target.

    Attributes:
        name: the hop's name in messages (e.g. its route).
        model: the model.
        inputs: the source's samples (all of them, before any selection), in this
            model's input layout.
    """

    name: str
    model: ModelRef
    inputs: Samples


@dataclass
class PipelineResult:
    """What :func:`localize_models` found.

    Attributes:
        source, target: the two models' verified views.
        source_inputs, target_inputs: the samples localized on, in each model's layout.
        localization: stages (b)-(d).
        hops: stage (a), when intermediate models were given.
        repaired, repair: the repaired target and what the repair did, when asked.
    """

    source: View
    target: View
    source_inputs: np.ndarray
    target_inputs: np.ndarray
    localization: Localization
    hops: HopDivergence | None = None
    repaired: onnx.ModelProto | None = None
    repair: RepairResult | None = None


def localize_models(
    source: ModelRef,
    target: ModelRef,
    source_inputs: Samples,
    target_inputs: Samples | None = None,
    *,
    model_name: str | None = None,
    select: Selector | None = None,
    hops: Sequence[Hop] = (),
    on_hops: Callable[[HopDivergence], None] | None = None,
    tolerance: float = TOLERANCE,
    parameter_tolerance: float | None = None,
    mode: str = "segments",
    repair: bool = False,
) -> PipelineResult:
    """Open and verify both models, localize where ``target`` diverges from ``source``
    and, if asked, repair it.

    Args:
        source, target: the reference model and the converted one.
        source_inputs: the samples, in the source's input layout.
        target_inputs: the same samples in the target's layout (default: the source's,
            moved to the target's layout).
        model_name: the study model of a ``state_dict`` file.
        select: chooses the samples to localize on (default: all of them).
        hops: the intermediate models between source and target, in chain order.
        on_hops: called with stage (a)'s result before the later stages run, so that a
            caller recording findings keeps it should a later stage fail.
        tolerance: relative tolerance of the activations, the outputs and the hops.
        parameter_tolerance: relative tolerance of the parameters (default: ``tolerance``).
        mode: how activations are computed ("segments" or "all").
        repair: also repair the target.

    Raises:
        LocalizationError: a model, view or input that cannot be used (one line).
        ValueError: ``select`` is given and the outputs of the two models do not align.
    """
    source_view = _open(source, "source", model_name)
    target_view = _open(target, "target", model_name)
    x_given = _samples(source_inputs, source_view)
    check_finite(x_given, "source inputs")
    x_source = adapt(x_given, source_view.model, "source")
    if target_inputs is not None:
        x_given = _samples(target_inputs, target_view)
        check_finite(x_given, "target inputs")
    x_target = adapt(x_given, target_view.model, "target")
    verify(source_view, "source", x_source)
    verify(target_view, "target", x_target)
    chosen: np.ndarray | slice = slice(None)
    found: HopDivergence | None = None
    if select is not None or hops:
        out_source, out_target = _output(source_view, x_source), _output(target_view, x_target)
        if select is not None:
            aligned = align(out_source, out_target)
            if aligned is None:
                raise ValueError(f"outputs {out_source.shape} and {out_target.shape} do not align")
            chosen = select(out_source, aligned)
            x_source, x_target = x_source[chosen], x_target[chosen]
        if hops:
            chain = [out_source[chosen]]
            for hop in hops:
                view = _open(hop.model, f"hop {hop.name}", model_name)
                x_hop = adapt(_samples(hop.inputs, view)[chosen], view.model, hop.name)
                chain.append(_output(view, x_hop))
            chain.append(out_target[chosen])
            found = first_divergent_hop(chain, tolerance=tolerance)
            if on_hops is not None:
                on_hops(found)
    loc = localize(
        source_view.model,
        target_view.model,
        x_source,
        x_target,
        tolerance=tolerance,
        parameter_tolerance=parameter_tolerance,
        mode=mode,
    )
    result = PipelineResult(source_view, target_view, x_source, x_target, loc, found)
    if repair:
        result.repaired, result.repair = repair_target(
            source_view.model,
            target_view.model,
            loc,
            source_inputs=x_source,
            target_inputs=x_target,
        )
    return result


def _open(model: ModelRef, role: str, model_name: str | None) -> View:
    return model if isinstance(model, View) else open_view(model, role, model_name=model_name)


def _samples(samples: Samples, view: View) -> np.ndarray:
    return samples(view) if callable(samples) else samples


def _output(view: View, x: np.ndarray) -> np.ndarray:
    """The first output of ``view``'s model on ``x``."""
    return run(view.model, {view.model.graph.input[0].name: x})[0]
