"""The published ImageNet weights of Louloudakis et al.'s architectures, fetched, checked and
loaded into the study's models (config: ``weights: imagenet`` in a model's training section).

The weights are Keras applications' (the files ``keras.applications.<Model>(weights=
"imagenet")`` downloads). The study's Keras model *is* that application behind a
``preprocess`` layer (:mod:`.applications`), so the file loads into it layer by layer; the
PyTorch twin, which computes the same function, gets them through the study's weight
transfer (:func:`convstudy.models.keras_to_torch`). Both frameworks thus start from the same
published function, as the trained models of the grid do. (torchvision's published files
are a different training run of a different definition, ``torchvision=1``: two sources
would differ before any conversion.)

Integrity: each file is checked against the digest its publisher gives (Keras lists md5
digests for ResNet-101 and InceptionV3, through ``keras.utils.get_file``; it lists none for
MobileNetV2), and its sha256 is recorded in the model's ``train.json`` and in every row of
the grid's models table, so two runs can be compared. The files are HDF5 weights (no
pickle, no code): Keras reads arrays only.

Offline (this machine, CI): put the published file in a folder named by
``$CONVSTUDY_WEIGHTS_DIR`` (checked the same way), or keep the default ``weights: keras``
(a seeded training run on CIFAR-10 here, in Keras, carried across to PyTorch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from convstudy.errors import DataError

if TYPE_CHECKING:
    import keras

#: Config values of a training section's ``weights``: trained here per framework; the
#: PyTorch model carried across from the Keras model trained here; the published weights.
TRAINED, KERAS, IMAGENET = "trained", "keras", "imagenet"
#: The training record's ``init`` of a model with published weights, and of a PyTorch model
#: carried across from the Keras model of its seed.
INIT, KERAS_INIT = "published", "keras-trained"
#: The models with published weights.
MODELS = ("mobilenetv2", "resnet101", "inceptionv3")
#: Classes of ImageNet (ILSVRC-2012), the published classifiers' outputs.
IMAGENET_CLASSES = 1000
#: A folder holding published weight files under their published names (offline use).
WEIGHTS_DIR_ENV = "CONVSTUDY_WEIGHTS_DIR"
_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
#: MobileNetV2's published resolutions (Keras picks the file by the input size; 224 else).
MOBILENETV2_ROWS = (96, 128, 160, 192, 224)


@dataclass(frozen=True)
class PublishedWeights:
    """One published file: its name, where it is published, its publisher's md5 (None
    where the publisher gives none), and the first convolution whose input channels are
    reversed on loading (Keras's "caffe" preprocessing feeds BGR; the study feeds RGB)."""

    file: str
    url: str
    md5: str | None
    bgr_conv: str | None = None


def weights_for(model: str, image_size: int) -> PublishedWeights:
    """The published Keras applications file of ``model`` at input size ``image_size``.

    Raises:
        ValueError: ``model`` has no published ImageNet weights in the study.
    """
    if model == "resnet101":
        file = "resnet101_weights_tf_dim_ordering_tf_kernels.h5"
        return PublishedWeights(
            file, f"{_BASE}resnet/{file}", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "conv1_conv"
        )
    if model == "inceptionv3":
        file = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
        return PublishedWeights(
            file, f"{_BASE}inception_v3/{file}", "9a0d58056eeedaa3f26cb7ebd46da564"
        )
    if model == "mobilenetv2":
        rows = image_size if image_size in MOBILENETV2_ROWS else 224
        file = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}.h5"
        return PublishedWeights(file, f"{_BASE}mobilenet_v2/{file}", None)
    raise ValueError(
        f"{model} has no published ImageNet weights in the study "
        "(weights: imagenet is for mobilenetv2, resnet101, inceptionv3)"
    )


def fetch(weights: PublishedWeights, cache_dir: str | Path) -> Path:
    """The local path of ``weights``: from ``$CONVSTUDY_WEIGHTS_DIR`` when it holds the
    file, else downloaded into ``cache_dir`` (once); checked against the publisher's md5.

    Raises:
        DataError: the file cannot be had, or its digest is not the publisher's (one line
            naming the file and what to do).
    """
    from keras.src.utils.file_utils import validate_file
    from keras.utils import get_file

    local = os.environ.get(WEIGHTS_DIR_ENV)
    if local:
        path = Path(local).expanduser() / weights.file
        if not path.is_file():
            raise DataError(
                f"{path}: not found (${WEIGHTS_DIR_ENV} names the folder of {weights.file})"
            )
        if weights.md5 and not validate_file(str(path), weights.md5, algorithm="md5"):
            raise DataError(
                f"{path}: md5 differs from the published {weights.md5}: not the published file"
            )
        return path
    try:
        return Path(
            get_file(
                weights.file,
                weights.url,
                file_hash=weights.md5,
                hash_algorithm="md5",
                cache_dir=str(Path(cache_dir).resolve()),
                cache_subdir=".",
            )
        )
    except Exception as error:  # offline, refused, or a digest mismatch (keras deletes it)
        raise DataError(
            f"{weights.url}: cannot fetch the published weights ({type(error).__name__}: "
            f"{error}); put {weights.file} in ${WEIGHTS_DIR_ENV}, "
            "or use weights: keras (train here)"
        ) from error


def load_keras(net: keras.Model, weights: PublishedWeights, path: Path) -> None:
    """Load the published file ``path`` into the study's Keras model ``net`` (the
    application behind its ``preprocess`` layer), turning a BGR first convolution to RGB.

    Raises:
        DataError: the file is not weights of this architecture.
    """
    import numpy as np
    from keras.src.legacy.saving import legacy_h5_format

    try:
        import h5py

        with h5py.File(path, "r") as handle:  # layers in order: Keras's own reading
            group = handle["model_weights"] if "layer_names" not in handle.attrs else handle
            legacy_h5_format.load_weights_from_hdf5_group(group, net)
    except Exception as error:
        raise DataError(f"{path}: not {weights.file} of this architecture: {error}") from error
    if weights.bgr_conv:
        layer = net.get_layer(weights.bgr_conv)
        kernel, *rest = layer.get_weights()
        layer.set_weights([np.ascontiguousarray(kernel[:, :, ::-1, :]), *rest])


def describe(weights: PublishedWeights, digest: str) -> str:
    """The ``imported_from`` text of a model with published weights."""
    return f"published ImageNet weights, Keras applications: {weights.file} (sha256 {digest[:12]})"
