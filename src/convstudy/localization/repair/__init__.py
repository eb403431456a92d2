"""Repairing a target model towards its source, guided by a localization.

- :mod:`.rounds`: :func:`~.rounds.repair`, analyse-and-edit rounds measured before and after;
- :mod:`.rewrites`: graph repair (hyperparameters, post-ops, layers only in the target);
- :mod:`.parameters`: parameter copy through the inverse of the canonical transforms;
- :mod:`.edits`, :mod:`.surgery`: the graph edits they are made of;
- :mod:`.result`: what a repair did and achieved.
"""
