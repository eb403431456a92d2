"""How large one batch of a model's input may be.

A model file declares its input's shape; a hostile or broken one declares a dimension of
10^9, and a request for 10^12 samples is as easy to type. Every batch of inputs this
package builds (random inputs, a user's ``.npy``) is checked against :data:`MAX_BATCH_BYTES`
before memory is allocated, and refused in one line that names the largest dimension.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The largest input batch built or read, in bytes (1 GiB): far above the study's batches
#: (32 CIFAR-10 images are 393 KB), far below a machine's memory, and the localization
#: holds several tensors of that order per layer besides.
MAX_BATCH_BYTES = 1 << 30


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return f"{count} B"


def oversized(shape: Sequence[int], dtype: np.dtype | str) -> str | None:
    """Why a batch of ``shape`` (batch axis first) and ``dtype`` is refused, or None when
    it is within :data:`MAX_BATCH_BYTES`."""
    dims = [int(d) for d in shape]
    count = int(np.prod(dims, dtype=object)) * np.dtype(dtype).itemsize
    if count <= MAX_BATCH_BYTES:
        return None
    axis = max(range(len(dims)), key=lambda k: dims[k])
    what = "batch size" if axis == 0 else f"dimension {axis}"
    return (
        f"a batch of shape {tuple(dims)} {np.dtype(dtype)} takes {_size(count)} ({what} is "
        f"{dims[axis]}), over the cap of {_size(MAX_BATCH_BYTES)} (MAX_BATCH_BYTES)"
    )
