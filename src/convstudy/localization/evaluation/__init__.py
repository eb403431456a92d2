"""Evaluating the localization: planted faults and equivalent rewrites, and a benchmark.

- :mod:`.exports`: faithful converted models of the study to plant into;
- :mod:`.planting`, :mod:`.faults`, :mod:`.controls`: planting faults and controls;
- :mod:`.injection`: the fault-injection evaluation
  (``python -m convstudy.localization.evaluation.injection``);
- :mod:`.benchmark`: time and memory beside Polygraphy
  (``python -m convstudy.localization.evaluation.benchmark``).
"""
