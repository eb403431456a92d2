"""Rules ``attack`` and ``attack_direct``: one attack on one model of a cell, on the cell's
selection (RQ3; :func:`convstudy.attacks.runner.attack_cell`).

Writes the adversarial set (framework-neutral inputs, see :mod:`convstudy.attacks`) and a
record: success rate, median L2 and L-infinity perturbation ([0, 1] pixel units; words
changed for text), model queries and wall time per input. Rule ``attack`` also replays the
set through the attacked model (:func:`convstudy.jobs.replay.run`, as rule ``replay`` does
for each converted model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convstudy.attacks.runner import attack_cell
from convstudy.jobs import replay
from convstudy.records import AttackRecord


def run(
    *, replay_out: str | Path | None = None, batch_size: int = 0, **arguments: Any
) -> AttackRecord:
    """Attack as :func:`~convstudy.attacks.runner.attack_cell` says, with its arguments;
    with ``replay_out``, then replay the adversarial set through the attacked model in
    batches of ``batch_size``.

    The replay is here and not a job of its own because this process has the model's
    framework imported already: a replay job of the original started an interpreter and
    imported the framework again, 4.3 s per Keras cell and 1.9 s per PyTorch cell of the
    default study, for a prediction of a few hundred inputs.
    """
    record = attack_cell(**arguments)
    if replay_out is not None:
        replay.run(
            source=arguments["trained"], adversarial=arguments["adversarial_out"],
            threads=arguments["threads"], batch_size=batch_size, outputs_out=replay_out,
        )  # fmt: skip
    return record
