"""Converters: one module per converter, each performing the hops the registry lists for it.

Interface of a converter module::

    convert(source: Path, spec: ModelSpec, out: Path, *, settings: Mapping) -> Converted

``source`` is the model folder of the hop's source (a trained model, or the previous hop's
output), ``spec`` its :class:`~convstudy.spec.ModelSpec`, ``out`` the artifact to write
(the target format's artifact name inside the hop's folder), ``settings`` the converter's
config section merged with the target format's options (``target`` names the format).
The result says what the converted model takes as input (its spec) and what the converter
reports (exporter, opset, ...). An exception is a finding: :mod:`convstudy.conversion`
records it and the grid goes on; :class:`NotAvailable` (the converter is not installed
here, e.g. an opt-in environment) makes the hop ``not_run`` with the reason instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from convstudy.spec import ModelSpec


@dataclass(frozen=True)
class Converted:
    """What a converter made: the spec of the converted model and facts about the hop."""

    spec: ModelSpec
    facts: dict[str, Any] = field(default_factory=dict)


class NotAvailable(Exception):
    """The converter is not installed on this host; the hop is recorded as not run."""
