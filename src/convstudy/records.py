"""Typed result records: one dataclass per kind of row, written and read by the same code.

Every job writes one record (a JSON file); ``gather`` reads the records of one kind and
writes one table, a row per record (or per epoch, per tensor, ...: :meth:`Record.rows`).
Every record carries its cell (model, framework, seed), one status of :data:`STATUSES`
with a reason, and its :class:`Provenance`.

Statuses: ``ok``; ``error`` (a finding: the converter, attack or runtime raised; the reason
is ``"<ExceptionType>: <first line of its message>"``); ``not_run`` (the cell could not run
here or was not reached, e.g. the CoreML runtime off macOS or an upstream hop that failed;
the reason says which).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from convstudy.errors import DataError
from convstudy.provenance import Provenance

Status = Literal["ok", "error", "not_run"]
STATUSES: tuple[Status, ...] = ("ok", "error", "not_run")

#: How much of an exception's message a record keeps.
REASON_CHARS = 500


def describe_exception(error: BaseException) -> str:
    """``"<ExceptionType>: <first line of the message>"``, as an ``error`` record's reason."""
    lines = str(error).strip().splitlines()
    message = lines[0][:REASON_CHARS] if lines else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@dataclass(kw_only=True)
class Record:
    """A job's result: one cell, one status, its provenance."""

    #: The gathered table this kind of record goes to.
    TABLE: ClassVar[str] = ""
    #: The record's file name inside a model folder (records that live in one).
    FILE: ClassVar[str] = ""

    model: str
    framework: str
    seed: int
    provenance: Provenance
    status: Status = "ok"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")

    def fail(self, error: BaseException) -> None:
        """Mark the record as an ``error`` finding raised by ``error``."""
        self.status, self.reason = "error", describe_exception(error)

    def skip(self, reason: str) -> None:
        """Mark the record ``not_run`` for ``reason``."""
        self.status, self.reason = "not_run", reason

    def dump(self, path: str | Path) -> Path:
        """Write the record as JSON (to a temporary name, then renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        payload = {"record": type(self).__name__, **dataclasses.asdict(self)}
        part.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(part, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a record written by :meth:`dump` (of this class), from its file or from the
        model folder that holds it."""
        path = Path(path)
        if cls.FILE and path.is_dir():
            path = path / cls.FILE
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: not a readable record ({error})") from error
        kind = payload.pop("record", None)
        if kind != cls.__name__:
            raise DataError(f"{path}: a {kind} record, expected {cls.__name__}")
        payload["provenance"] = Provenance(**payload["provenance"])
        return cls(**payload)

    def flat(self) -> dict[str, Any]:
        """The record as one flat row: nested values become prefixed columns."""
        return flatten(dataclasses.asdict(self))

    def rows(self) -> list[dict[str, Any]]:
        """The record's rows in its table (one, unless a kind says otherwise)."""
        return [self.flat()]


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings become prefixed columns (``provenance.versions.torch`` ->
    ``version_torch``, ``settings.opset`` -> ``settings_opset``); lists are joined by ``;``."""
    row: dict[str, Any] = {}
    for key, value in values.items():
        if key == "provenance" and not prefix:
            row.update(flatten({k: v for k, v in value.items() if k != "versions"}))
            row.update({f"version_{name}": version for name, version in value["versions"].items()})
        elif isinstance(value, Mapping):
            row.update(flatten(value, f"{prefix}{key}_"))
        elif isinstance(value, (list, tuple)):
            row[f"{prefix}{key}"] = ";".join(map(str, value))
        else:
            row[f"{prefix}{key}"] = value
    return row


@dataclass(kw_only=True)
class TrainingRecord(Record):
    """One trained model: its dataset, size, training time and per-epoch history."""

    TABLE: ClassVar[str] = "training"
    FILE: ClassVar[str] = "train.json"

    #: Whose initial weights it started from: "own" (its framework's initialisers), "torch" or
    #: "keras" (that framework's model of the same seed, copied across), or "imported".
    init: str = "own"
    #: Where it trained: "cpu" or "cuda:N" (the config's ``device``, resolved).
    device: str = "cpu"
    #: For ``init == "imported"``: the checkpoint's path and sha256 (config ``imported_models``).
    imported_from: str = ""
    imported_sha256: str = ""
    dataset: str
    dataset_sha256: str
    dataset_exact: bool
    input_shape: list[int]
    num_classes: int
    parameters: int
    epochs: int
    seconds_per_epoch: float
    final_val_acc: float
    wall_seconds: float
    hyper: dict[str, Any]
    #: One entry per epoch: epoch, train_loss, train_acc, val_loss, val_acc, seconds.
    history: list[dict[str, float]]

    def rows(self) -> list[dict[str, Any]]:
        """One row per epoch, with the cell's columns."""
        base = flatten(
            {k: v for k, v in dataclasses.asdict(self).items() if k not in ("history", "hyper")}
        )
        return [{**epoch, **base} for epoch in self.history]


@dataclass(kw_only=True)
class ConversionRecord(Record):
    """One hop: the model of ``route``'s parent (or the trained model) converted to the
    route's last format."""

    TABLE: ClassVar[str] = "conversions"
    FILE: ClassVar[str] = "conversion.json"

    route: str
    source_format: str
    format: str
    converter: str = ""
    converter_versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    size_bytes: int | None = None
    #: What the converter reports (exporter, opset written, unrolling, precision, ...).
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class PredictionRecord(Record):
    """One model (the original, or a route's converted model) run on the evaluation set."""

    TABLE: ClassVar[str] = "predictions"

    target: str
    runtime: str
    runtime_version: str
    n_eval: int
    batch_size: int
    inputs_sha256: str = ""
    #: Where it ran: "cpu" or "cuda:N" (the frameworks follow the config's ``device``).
    device: str = "cpu"
    size_bytes: int | None = None
    weights_bytes: int | None = None
    accuracy: float | None = None
    nonfinite_samples: int | None = None
    load_seconds: list[float] = field(default_factory=list)
    load_median: float | None = None
    load_iqr: float | None = None
    thread_counts: dict[str, int] = field(default_factory=dict)
    runtime_settings: dict[str, Any] = field(default_factory=dict)
    inference_seconds: list[float] = field(default_factory=list)
    inference_median: float | None = None
    inference_iqr: float | None = None
    inference_min: float | None = None
    inference_max: float | None = None
    #: Job processes of the run paused while this one timed (None: timed beside them).
    paused_jobs: int | None = None


@dataclass(kw_only=True)
class ComparisonRecord(Record):
    """The outputs of a route's converted model against the original's."""

    TABLE: ClassVar[str] = "comparisons"

    format: str
    n_eval: int
    inputs_sha256: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, Any]:
        """Metrics as plain columns (``abs_error``, ``disagreement``, ...)."""
        row = flatten({k: v for k, v in dataclasses.asdict(self).items() if k != "metrics"})
        return {**row, **self.metrics}


@dataclass(kw_only=True)
class WeightsRecord(Record):
    """The weights read back from a converted model, matched against the source's."""

    TABLE: ClassVar[str] = "coreml_weights"

    format: str
    #: One entry per source tensor (:func:`convstudy.coreml_weights.compare`): tensor,
    #: shape, const, rewrite, mean_abs_diff, max_abs_diff, match, status (matched,
    #: explained or unexplained), note.
    tensors: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per source tensor, with the cell's columns."""
        base = flatten({k: v for k, v in dataclasses.asdict(self).items() if k != "tensors"})
        return [{**base, **tensor} for tensor in self.tensors]


@dataclass(kw_only=True)
class AttackRecord(Record):
    """One attack on one original model (RQ3): the selection it ran on and what it did."""

    TABLE: ClassVar[str] = "attacks"

    attack: str
    #: the model attacked: "original", or a route's converted model attacked directly
    target: str = "original"
    n: int
    #: the targets whose predictions chose the inputs (all correct on every one of them),
    #: and those that could not take part (not run here), with why
    selected_by: list[str] = field(default_factory=list)
    not_selecting: dict[str, str] = field(default_factory=dict)
    original_accuracy: float | None = None
    degenerate: bool = False
    success_rate: float | None = None
    median_l2: float | None = None
    median_linf: float | None = None
    queries_per_input: float | None = None
    seconds: float | None = None
    seconds_per_input: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class RobustnessRecord(Record):
    """An attack's adversarial set replayed on a converted model against the original."""

    TABLE: ClassVar[str] = "robustness"

    attack: str
    format: str
    n: int
    degenerate: bool = False
    #: whether the converted model took part in choosing the attacked inputs (then every
    #: one is classified correctly by it, and its clean disagreement is 0 by construction)
    selected: bool | None = None
    #: attack success rate on the original (S_o) and on the converted model (S_c)
    success_original: float | None = None
    success_converted: float | None = None
    #: per-input outcomes behind S_o and S_c, as counts (:class:`convstudy.stats.Paired`:
    #: n, k_original, k_converted, original_only, converted_only) with the bound within
    #: which a success counts (``bound``, ``epsilon``): ``any`` as the attack ran (S_o,
    #: S_c); for attacks with perturbation bounds also ``linf`` and ``l2``
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    disagreement_adversarial: float | None = None
    disagreement_clean: float | None = None
    abs_error_adversarial_logit: float | None = None
    abs_error_adversarial_prob: float | None = None
    nonfinite_samples: int | None = None


# ---- conversion matrix (Part 2)


@dataclass(kw_only=True)
class MatrixRecord(Record):
    """One path of the conversion matrix: every hop's conversion and, for the model after
    each hop, its outputs against the source model's. The path's status is its first hop
    that did not succeed (its reason); ``first_changed_hop`` is the first hop after which
    top-1 labels differ from the source's (0 when none does)."""

    TABLE: ClassVar[str] = "matrix"

    path: str
    target: str
    n_eval: int | None = None
    first_changed_hop: int = 0
    #: One entry per hop: hop (1-based), route, source_format, format, converter,
    #: status, reason, seconds, size_bytes, then the comparison metrics of its model.
    hops: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per hop, with the path's columns; ``final`` marks the path's last hop."""
        base = flatten({k: v for k, v in dataclasses.asdict(self).items() if k != "hops"})
        last = len(self.hops)
        return [
            {**base, **{f"hop_{k}": v for k, v in hop.items()}, "final": hop["hop"] == last}
            for hop in self.hops
        ]


#: Every kind of record, by the table it is gathered into.
@dataclass(kw_only=True)
class LocalizationRecord(Record):
    """Fault localisation and repair of a target route's model against a source route's
    (rule ``localize``): the first divergent layer and the repair's effect."""

    TABLE: ClassVar[str] = "localizations"
    FILE: ClassVar[str] = "localization_record.json"

    source_route: str
    target_route: str
    n_inputs: int = 0
    disagreement_scanned: float | None = None
    hops: list[str] = field(default_factory=list)
    hop_relative: list[float] = field(default_factory=list)
    first_hop: str = ""
    stage: str = ""
    source_node: str = ""
    target_node: str = ""
    op_type: str = ""
    metric: str = ""
    value: float | None = None
    repair_success: bool | None = None
    repair_complete: bool | None = None
    repair_actions: int = 0
    disagreement_before: float | None = None
    disagreement_after: float | None = None
    error_before: float | None = None
    error_after: float | None = None
    seconds: float | None = None


RECORD_TYPES: dict[str, type[Record]] = {
    kind.TABLE: kind
    for kind in (
        TrainingRecord,
        ConversionRecord,
        PredictionRecord,
        ComparisonRecord,
        WeightsRecord,
        AttackRecord,
        RobustnessRecord,
        MatrixRecord,
        LocalizationRecord,
    )
}


def record_type(table: str) -> type[Record]:
    """The record class gathered into ``table``."""
    try:
        return RECORD_TYPES[table]
    except KeyError:
        raise KeyError(f"no record kind for table {table!r}; known: {', '.join(RECORD_TYPES)}")
