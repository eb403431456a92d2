"""Datasets: source registry and downloads, format readers, IMDb tokenisation, preparation.

Typical use: ``prepare_dataset("mnist", local_dir=..., raw_dir="data/raw", out_npz=...,
out_json=..., val_size=5000, split_seed=0)`` then ``subset(load_prepared(out_npz), ...)``.
"""

from convstudy.data.prepare import (
    DATASETS,
    RESIZE_RULE,
    SPLIT_RULE,
    fetch_dataset,
    load_prepared,
    prepare_dataset,
    resize_images,
    split_indices,
    subset,
)
from convstudy.data.readers import (
    TextSplit,
    read_cifar_npz,
    read_cifar_tarball,
    read_idx,
    read_imdb_archive,
)
from convstudy.data.sources import (
    LOCAL_DIR_ENV,
    REGISTRY,
    DatasetSpec,
    ResolvedSource,
    SourceFile,
    SourceOption,
    fetch,
    locate,
    resolve_local_dir,
    verify,
)
from convstudy.data.text import build_vocabulary, encode, tokenize

__all__ = [
    "DATASETS",
    "LOCAL_DIR_ENV",
    "REGISTRY",
    "RESIZE_RULE",
    "SPLIT_RULE",
    "DatasetSpec",
    "ResolvedSource",
    "SourceFile",
    "SourceOption",
    "TextSplit",
    "build_vocabulary",
    "encode",
    "fetch",
    "fetch_dataset",
    "load_prepared",
    "locate",
    "prepare_dataset",
    "read_cifar_npz",
    "read_cifar_tarball",
    "read_idx",
    "read_imdb_archive",
    "resize_images",
    "resolve_local_dir",
    "split_indices",
    "subset",
    "tokenize",
    "verify",
]
