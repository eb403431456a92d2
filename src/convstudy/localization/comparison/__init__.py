"""Comparing two models: running them, the localization stages, the result records.

- :mod:`.runner`: intermediate tensors from onnxruntime, in segments;
- :mod:`.difference`: the relative difference every stage uses, and its tolerance;
- :mod:`.hops`, :mod:`.parameters`, :mod:`.hyperparameters`, :mod:`.activations`:
  stages (a) to (d);
- :mod:`.divergence`: the first divergence; :mod:`.localize`: stages (b)-(d) on a pair;
- :mod:`.result`: the records :func:`~convstudy.localization.localize` returns.
"""
