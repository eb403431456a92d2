"""How far apart two tensors of one value are: a relative, scale-free difference.

Every stage compares with the same rule: mean |s - t| over the larger of the two mean
magnitudes, against a relative tolerance.
"""

from __future__ import annotations

import math

import numpy as np

#: Default relative tolerance of the activation and parameter stages. Converters that
#: compute the same function agree to ~1e-6 relative (BatchNorm folding, NHWC kernels);
#: a real fault moves a layer by 1e-3 or more.
TOLERANCE = 1e-4
#: Smallest scale a relative difference is divided by.
TINY = 1e-12


def relative_difference(source: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(mean |s - t|, mean |s|, relative) with relative = mean |s - t| over the larger of
    the two mean magnitudes: scale-free, and at most 2."""
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    diff = float(np.mean(np.abs(s - t))) if s.size else 0.0
    scale_s = float(np.mean(np.abs(s))) if s.size else 0.0
    scale_t = float(np.mean(np.abs(t))) if t.size else 0.0
    if not (math.isfinite(diff) and math.isfinite(scale_s) and math.isfinite(scale_t)):
        return diff, scale_s, math.inf
    return diff, scale_s, diff / max(scale_s, scale_t, TINY)
