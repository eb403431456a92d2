"""Rules ``attack`` and ``attack_direct``: one attack on one model of a cell, on the cell's
selection (RQ3; :func:`convstudy.attacks.runner.attack_cell`).

Writes the adversarial set (framework-neutral inputs, see :mod:`convstudy.attacks`) and a
record: success rate, median L2 and L-infinity perturbation ([0, 1] pixel units; words
changed for text), model queries and wall time per input.
"""

from __future__ import annotations

from typing import Any

from convstudy.attacks.runner import attack_cell
from convstudy.records import AttackRecord


def run(**arguments: Any) -> AttackRecord:
    """Attack as :func:`~convstudy.attacks.runner.attack_cell` says, with its arguments."""
    return attack_cell(**arguments)
