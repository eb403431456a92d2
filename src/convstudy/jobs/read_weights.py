"""Rule ``read_weights``: read the weights back from a CoreML conversion and match them
against the trained model's, tensor by tensor (no CoreML runtime is needed for that).

The converted model is read from its files alone (:mod:`convstudy.coreml_read`): nothing
is written to it and coremltools is not imported; the trained model's weights are those the
conversion wrote beside it (:data:`convstudy.coreml_weights.SOURCE_FILE`), or, for a
conversion made without them, the trained model loaded in its own framework."""

from __future__ import annotations

import logging
from pathlib import Path

from convstudy import coreml_weights, frameworks, registry
from convstudy.conversion import upstream_failure
from convstudy.provenance import Provenance
from convstudy.records import WeightsRecord
from convstudy.spec import ModelSpec
from convstudy.threads import limit_threads

logger = logging.getLogger(__name__)


def run(
    *,
    model: str,
    framework: str,
    seed: int,
    route: str,
    trained: str | Path,
    converted: str | Path,
    threads: int,
    out: str | Path,
) -> WeightsRecord:
    """Match every weight of the trained model against the converted model's constants."""
    trained, converted = Path(trained), Path(converted)
    record = WeightsRecord(
        model=model,
        framework=framework,
        seed=seed,
        format=route,
        provenance=Provenance.of_job(threads=threads, params={"route": route}),
    )
    failed = upstream_failure(converted)
    if failed:
        record.skip(f"not converted: {failed}")
    else:
        source = coreml_weights.load_source(converted)
        if source is None:  # converted before the conversion wrote the source's weights
            limit_threads(threads, framework)
            source = frameworks.adapter(framework).weights(frameworks.load(trained))
        spec = ModelSpec.load(converted)
        artifact = converted / registry.fmt(spec.format).artifact
        # Folding a BatchNorm divides by sqrt(var + epsilon): the model's own epsilon.
        epsilon = getattr(registry.module(registry.model(model).module), "BN_EPSILON", 1e-5)
        record.tensors = coreml_weights.compare(
            source, coreml_weights.read_weights(artifact), bn_epsilon=epsilon
        )
        logger.info(
            "CoreML weights read back from %s: %s of %d source tensors",
            artifact,
            coreml_weights.counts(record.tensors),
            len(record.tensors),
        )
    record.dump(out)
    return record
