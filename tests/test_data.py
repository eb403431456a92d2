"""Tests of convstudy.data: readers on small files in the real formats, corrupt inputs,
tokenisation, preparation and splits, downloads over loopback HTTP, and the real local copy."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import logging
import os
import pickle
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from convstudy.data import (
    REGISTRY,
    build_vocabulary,
    encode,
    fetch,
    fetch_dataset,
    load_prepared,
    locate,
    prepare_dataset,
    read_cifar_npz,
    read_cifar_tarball,
    read_idx,
    read_imdb_archive,
    resize_images,
    resolve_local_dir,
    subset,
    tokenize,
    verify,
)
from convstudy.data.sources import DatasetSpec, SourceFile, SourceOption
from convstudy.errors import ConfigError, DataError
from convstudy.provenance import read_json, sha256_file


# ---------------------------------------------------------------- writers of the real formats
def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    """A gzip IDX file of unsigned bytes (magic 0x0803 for 3-d, 0x0801 for 1-d)."""
    magic = magic if magic is not None else 0x0800 + array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def write_mnist(root: Path, n_train: int = 40, n_test: int = 10, seed: int = 0) -> dict[str, str]:
    """Fake MNIST under root/mnist; returns relpath -> sha256 overrides."""
    rng = np.random.default_rng(seed)
    files = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10,
    }
    return {f"mnist/{n}": sha256_file(write_idx(root / "mnist" / n, a)) for n, a in files.items()}


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cifar_batch(n: int, offset: int) -> tuple[np.ndarray, list[int]]:
    """(N, 3072) rows where pixel (c, h, w) of image i = (i + offset + 7c + 3h + w) % 256."""
    c, h, w = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    rows = np.stack([(i + offset + 7 * c + 3 * h + w) % 256 for i in range(n)])
    return rows.reshape(n, 3072).astype(np.uint8), [(i + offset) % 10 for i in range(n)]


def write_cifar_tarball(path: Path, per_batch: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for k, name in enumerate(names):
            data, labels = cifar_batch(per_batch, k * per_batch)
            blob = {
                b"batch_label": name.encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [b"x.png"] * per_batch,
            }
            add_bytes(tar, f"cifar-10-batches-py/{name}", pickle.dumps(blob, protocol=2))
        add_bytes(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({}, protocol=2))
    return path


def write_cifar_npz(root: Path, n_train: int = 30, n_test: int = 8) -> dict[str, str]:
    rng = np.random.default_rng(1)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        path = root / "cifar10" / f"cifar10_{split}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            y=(np.arange(n) % 10).astype(np.uint8),
        )
        out[f"cifar10/{path.name}"] = sha256_file(path)
    return out


IMDB_REVIEWS = {
    "aclImdb/train/pos/0_9.txt": "A great film.<br />Loved it",
    "aclImdb/train/pos/1_8.txt": "great great acting",
    "aclImdb/train/neg/0_2.txt": "Bad. Really bad film",
    "aclImdb/train/neg/10_1.txt": "awful",
    "aclImdb/train/neg/2_3.txt": "not great",
    "aclImdb/test/pos/0_10.txt": "Great!",
    "aclImdb/test/neg/0_1.txt": "boring film, unseenword",
}


def write_imdb(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        # Deliberately not in sorted order, plus members the reader must ignore.
        add_bytes(tar, "aclImdb/train/unsup/0_0.txt", b"unlabelled review")
        add_bytes(tar, "aclImdb/imdb.vocab", b"the\nand\n")
        add_bytes(tar, "aclImdb/train/urls_pos.txt", b"http://x\n")
        for name in sorted(IMDB_REVIEWS, reverse=True):
            add_bytes(tar, name, IMDB_REVIEWS[name].encode())
    return path


# ---------------------------------------------------------------- readers
def test_read_idx_images_and_labels(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    x = read_idx(write_idx(tmp_path / "i.gz", images), 2051)
    y = read_idx(write_idx(tmp_path / "l.gz", np.array([7, 3])), 2049)
    assert x.dtype == np.uint8 and x.shape == (2, 28, 28) and x[1, 2, 3] == images[1, 2, 3]
    assert y.tolist() == [7, 3]


def test_read_cifar_tarball_chw_to_hwc(tmp_path: Path) -> None:
    data = read_cifar_tarball(write_cifar_tarball(tmp_path / "c.tar.gz", per_batch=3))
    assert data["x_train"].shape == (15, 32, 32, 3) and data["x_test"].shape == (3, 32, 32, 3)
    assert data["x_train"].dtype == np.uint8
    # image i of the concatenation: pixel (h, w, c) = (i + 7c + 3h + w) % 256
    i, h, w, c = 7, 5, 11, 2
    assert data["x_train"][i, h, w, c] == (i + 7 * c + 3 * h + w) % 256
    assert data["y_train"].tolist() == [k % 10 for k in range(15)]
    assert data["x_test"][0, 0, 0].tolist() == [15, 22, 29]  # test batch offset 15
    assert data["y_test"].tolist() == [5, 6, 7]


def test_read_cifar_tarball_refuses_foreign_pickle(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            add_bytes(tar, f"cifar-10-batches-py/{name}", pickle.dumps(os.getcwd, protocol=2))
    with pytest.raises(DataError, match="refusing global"):
        read_cifar_tarball(path)


def test_read_cifar_npz(tmp_path: Path) -> None:
    write_cifar_npz(tmp_path)
    data = read_cifar_npz(
        tmp_path / "cifar10/cifar10_train.npz", tmp_path / "cifar10/cifar10_test.npz"
    )
    assert data["x_train"].shape == (30, 32, 32, 3) and data["y_test"].tolist() == list(range(8))


def test_read_imdb_archive_order_and_filtering(tmp_path: Path) -> None:
    splits = read_imdb_archive(write_imdb(tmp_path / "a.tar.gz"))
    train = splits["train"]
    # sorted by member path: neg/0_2, neg/10_1, neg/2_3, pos/0_9, pos/1_8
    assert train.texts == [
        "Bad. Really bad film",
        "awful",
        "not great",
        "A great film.<br />Loved it",
        "great great acting",
    ]
    assert train.labels.tolist() == [0, 0, 0, 1, 1] and train.labels.dtype == np.int64
    assert splits["test"].labels.tolist() == [0, 1]
    assert "unlabelled review" not in train.texts


# ---------------------------------------------------------------- corrupt inputs
def test_truncated_gzip(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "t.gz", np.zeros((5, 28, 28)))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)


def test_idx_wrong_magic_and_size(tmp_path: Path) -> None:
    bad = write_idx(tmp_path / "m.gz", np.zeros((2, 28, 28)), magic=2052)
    with pytest.raises(DataError, match=f"{bad}: IDX magic 2052"):
        read_idx(bad)
    labels_as_images = write_idx(tmp_path / "l.gz", np.zeros(3))
    with pytest.raises(DataError, match=str(labels_as_images)):
        read_idx(labels_as_images, expected_magic=2051)
    short = tmp_path / "s.gz"
    short.write_bytes(
        gzip.compress((2049).to_bytes(4, "big") + (10).to_bytes(4, "big") + b"\0" * 9)
    )
    with pytest.raises(DataError, match=f"{short}: IDX dimensions"):
        read_idx(short)


@pytest.mark.parametrize("reader", [read_cifar_tarball, read_imdb_archive])
def test_corrupt_tar(tmp_path: Path, reader) -> None:
    path = tmp_path / "bad.tar.gz"
    good = write_imdb(tmp_path / "good.tar.gz").read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=str(path)):
        reader(path)


def test_corrupt_npz(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=str(bad)):
        read_cifar_npz(bad, bad)


def test_verify_wrong_sha(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    with pytest.raises(DataError, match=f"{path}: sha256 {sha256_file(path)}, expected 00ff"):
        verify(path, "00ff", "a test file")
    assert verify(path, sha256_file(path)) == sha256_file(path)


# ---------------------------------------------------------------- text
def test_tokenize() -> None:
    assert tokenize("Don't STOP<br />it's 10/10!!") == ["don't", "stop", "it's", "10", "10"]
    assert tokenize("a<br /><br />b -- 'quoted'") == ["a", "b", "quoted"]


def test_vocabulary_frequency_then_alphabetical() -> None:
    vocab = build_vocabulary([["b", "a", "c", "c"], ["b", "a", "d"]], vocab_size=5)
    assert vocab == ["<pad>", "<unk>", "a", "b", "c"]  # a, b, c tie at 2; d (1) cut
    assert build_vocabulary([["z"]], vocab_size=10) == ["<pad>", "<unk>", "z"]


def test_encode_pre_padding_truncation_unknown() -> None:
    vocab = ["<pad>", "<unk>", "a", "b", "c"]
    x = encode([["a", "b"], ["a", "b", "c", "x", "c"], []], vocab, seq_len=3)
    assert x.dtype == np.int32
    assert x.tolist() == [[0, 2, 3], [4, 1, 4], [0, 0, 0]]


# ---------------------------------------------------------------- preparation
def prepare(
    tmp_path: Path,
    name: str,
    local: Path,
    overrides: dict[str, str],
    seed: int,
    tag: str,
    val_size: int = 10,
    **kw,
) -> tuple[dict[str, np.ndarray], dict]:
    npz, js = tmp_path / f"{tag}.npz", tmp_path / f"{tag}.json"
    prepare_dataset(
        name,
        local_dir=local,
        raw_dir=tmp_path / "raw",
        out_npz=npz,
        out_json=js,
        val_size=val_size,
        split_seed=seed,
        expected_sha256=overrides,
        **kw,
    )
    return load_prepared(npz), read_json(js)


def test_prepare_mnist_split(tmp_path: Path) -> None:
    local = tmp_path / "local"
    overrides = write_mnist(local, n_train=40, n_test=10)
    a, meta = prepare(tmp_path, "mnist", local, overrides, seed=1, tag="a")
    b, _ = prepare(tmp_path, "mnist", local, overrides, seed=1, tag="b")
    c, _ = prepare(tmp_path, "mnist", local, overrides, seed=2, tag="c")
    assert a["x_train"].shape == (30, 28, 28, 1) and a["x_val"].shape == (10, 28, 28, 1)
    assert a["x_test"].shape == (10, 28, 28, 1) and a["y_train"].dtype == np.int64
    for key in a:
        assert np.array_equal(a[key], b[key])
    assert sha256_file(tmp_path / "a.npz") == sha256_file(tmp_path / "b.npz") == meta["npz_sha256"]
    assert not np.array_equal(a["y_val"], c["y_val"])
    # disjoint and complete: the fake labels are index % 10 and images are distinct
    official = read_idx(local / "mnist/train-images-idx3-ubyte.gz")[..., np.newaxis]

    def rows(x: np.ndarray) -> set[bytes]:
        return {img.tobytes() for img in x}

    assert rows(a["x_train"]).isdisjoint(rows(a["x_val"]))
    assert rows(a["x_train"]) | rows(a["x_val"]) == rows(official)
    perm = np.random.default_rng(1).permutation(40)
    assert np.array_equal(a["x_val"], official[perm[30:]])
    assert meta["exact"] is True and meta["split"]["n_val"] == 10 and meta["split_seed"] == 1


def test_prepare_is_strict_about_checksums(tmp_path: Path) -> None:
    local = tmp_path / "local"
    write_mnist(local)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: sha256 .* expected 440fcabf"):
        prepare(tmp_path, "mnist", local, {}, seed=0, tag="x")


def test_prepare_cifar_lossy_and_tarball(tmp_path: Path) -> None:
    local = tmp_path / "local"
    overrides = write_cifar_npz(local)
    data, meta = prepare(tmp_path, "cifar10", local, overrides, seed=0, tag="lossy", val_size=5)
    assert meta["exact"] is False and "LOSSY" in meta["notes"][0]
    assert meta["sources"][0]["exactness"] == "lossy" and data["x_val"].shape == (5, 32, 32, 3)
    # The exact tarball takes precedence once present.
    tarball = write_cifar_tarball(local / "cifar10/cifar-10-python.tar.gz", per_batch=4)
    overrides["cifar10/cifar-10-python.tar.gz"] = sha256_file(tarball)
    data, meta = prepare(tmp_path, "cifar10", local, overrides, seed=0, tag="exact", val_size=5)
    assert meta["exact"] is True and meta["sources"][0]["relpath"].endswith("python.tar.gz")
    assert (len(data["y_train"]), len(data["y_val"]), len(data["y_test"])) == (15, 5, 4)


def test_prepare_cifar_resized(tmp_path: Path) -> None:
    """``image_size`` enlarges every split once, at preparation; the provenance says how."""
    local = tmp_path / "local"
    overrides = write_cifar_npz(local)
    plain, _ = prepare(tmp_path, "cifar10", local, overrides, seed=0, tag="plain", val_size=5)
    data, meta = prepare(
        tmp_path, "cifar10", local, overrides, seed=0, tag="big", val_size=5, image_size=75
    )
    for split in ("train", "val", "test"):
        assert data[f"x_{split}"].shape[1:] == (75, 75, 3)
        assert data[f"x_{split}"].dtype == np.uint8
        np.testing.assert_array_equal(data[f"y_{split}"], plain[f"y_{split}"])
        np.testing.assert_array_equal(data[f"x_{split}"], resize_images(plain[f"x_{split}"], 75))
    assert meta["resize"]["image_size"] == 75 and "bilinear" in meta["resize"]["rule"]
    assert meta["arrays"]["x_train"]["shape"][1:] == [75, 75, 3]
    with pytest.raises(ConfigError, match="enlarging only"):
        prepare(tmp_path, "cifar10", local, overrides, seed=0, tag="x", val_size=5, image_size=16)


def test_resize_images_is_bilinear_with_half_pixel_centres() -> None:
    x = np.zeros((1, 2, 2, 1), np.uint8)
    x[0, :, 1] = 200  # left column 0, right column 200
    out = resize_images(x, 4)[0, 0, :, 0]
    # input columns sit at 0.5 and 1.5 in output units of 2: 0, 50, 150, 200
    assert out.tolist() == [0, 50, 150, 200]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert resize_images(images, 32) is images
    tf = pytest.importorskip("tensorflow")
    reference = tf.image.resize(images.astype(np.float32), (75, 75), method="bilinear").numpy()
    assert np.abs(resize_images(images, 75).astype(np.float32) - reference).max() <= 0.5 + 1e-3


def test_prepare_imdb(tmp_path: Path) -> None:
    local = tmp_path / "local"
    path = write_imdb(local / "imdb/aclImdb_repacked.tar.gz")
    overrides = {"imdb/aclImdb_repacked.tar.gz": sha256_file(path)}
    data, meta = prepare(
        tmp_path, "imdb", local, overrides, seed=0, tag="i", val_size=1, vocab_size=6, seq_len=4
    )
    assert data["x_train"].shape == (4, 4) and data["x_train"].dtype == np.int32
    assert data["x_test"].shape == (2, 4) and data["y_test"].tolist() == [0, 1]
    assert data["vocab"][:2].tolist() == ["<pad>", "<unk>"] and len(data["vocab"]) == 6
    assert meta["sources"][0]["exactness"] == "repacked" and meta["tokenizer"]["seq_len"] == 4
    # the full review lengths survive the cut to seq_len (RQ3 selects 10-100-word reviews)
    assert data["words_test"].tolist() == [3, 1]
    short, _ = prepare(
        tmp_path, "imdb", local, overrides, seed=0, tag="k", val_size=1, vocab_size=6, seq_len=2
    )
    assert short["words_test"].tolist() == [3, 1]
    assert np.count_nonzero(short["x_test"], axis=1).tolist() == [2, 1]
    assert subset(short, None, None, 1)["words_test"].tolist() == [3]
    with pytest.raises(ConfigError):
        prepare(tmp_path, "imdb", local, overrides, seed=0, tag="j")


def test_locate_missing_names_path_and_alternatives(tmp_path: Path) -> None:
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10/cifar10_train.npz", x=np.zeros(1))
    with pytest.raises(DataError) as err:
        locate("cifar10", tmp_path, tmp_path / "raw")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'cifar10/cifar10_test.npz'}: missing")
    assert "cifar-10-python.tar.gz (exact)" in message and "(lossy)" in message
    with pytest.raises(DataError, match="fetch_dataset"):
        locate("mnist", None, tmp_path / "raw")


def test_subset_and_errors(tmp_path: Path) -> None:
    arrays = {
        k: np.arange(10) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    }
    arrays["vocab"] = np.array(["<pad>"])
    out = subset(arrays, 3, None, 0)
    assert out["x_train"].tolist() == [0, 1, 2] and len(out["y_val"]) == 10
    assert len(out["x_test"]) == 0 and out["vocab"] is arrays["vocab"]
    with pytest.raises(ConfigError, match="n_val: 11"):
        subset(arrays, None, 11, None)
    with pytest.raises(DataError, match="bad.npz"):
        (tmp_path / "bad.npz").write_bytes(b"junk")
        load_prepared(tmp_path / "bad.npz")
    # an evaluating job loads the test split and the keys of no split only
    arrays["words_test"] = np.arange(10)
    np.savez(tmp_path / "p.npz", **arrays)
    assert set(load_prepared(tmp_path / "p.npz", ("test",))) == {
        "x_test",
        "y_test",
        "words_test",
        "vocab",
    }
    assert set(load_prepared(tmp_path / "p.npz")) == set(arrays)
    del arrays["y_test"]
    np.savez(tmp_path / "q.npz", **arrays)
    with pytest.raises(DataError, match="q.npz: lacks y_test"):
        load_prepared(tmp_path / "q.npz", ("test",))


def test_resolve_local_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVSTUDY_DATA_DIR", str(tmp_path))
    assert resolve_local_dir(None) == tmp_path
    assert resolve_local_dir("/elsewhere") == Path("/elsewhere")
    monkeypatch.delenv("CONVSTUDY_DATA_DIR")
    assert resolve_local_dir("") is None


# ---------------------------------------------------------------- downloads (loopback HTTP)
@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its base URL."""
    root = tmp_path / "server"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_fetch_over_http(
    served: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, base = served
    (root / "src.bin").write_bytes(os.urandom(3 << 20))
    digest = sha256_file(root / "src.bin")
    dest = tmp_path / "dl" / "dest.bin"
    with caplog.at_level(logging.INFO):
        fetch(f"{base}/src.bin", dest, digest)
    assert dest.read_bytes() == (root / "src.bin").read_bytes()
    assert any("%" in r.getMessage() for r in caplog.records)  # progress in the job log
    bad = tmp_path / "dl" / "bad.bin"
    with pytest.raises(DataError, match=rf"bad.bin: sha256 {digest}, expected 1234"):
        fetch(f"{base}/src.bin", bad, "1234")
    assert sorted(p.name for p in bad.parent.iterdir()) == ["dest.bin"]  # nothing half-written
    with pytest.raises(DataError, match="download failed"):
        fetch(f"{base}/nope", bad, "1234")


def test_fetch_dataset_then_locate(
    served: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = served
    overrides = write_mnist(root)
    option = REGISTRY["mnist"].publisher
    files = tuple(
        SourceFile(
            f.relpath,
            f.role,
            overrides[f.relpath],
            "exact",
            0,
            f.description,
            (f"{base}/gone/{f.relpath}", f"{base}/{f.relpath}"),
        )
        for f in option.files
    )
    monkeypatch.setitem(
        REGISTRY,
        "mnist",
        DatasetSpec("mnist", "fake", (SourceOption("published", "mnist-idx", files),)),
    )
    raw = tmp_path / "raw"
    paths = fetch_dataset("mnist", raw)  # the first URL fails, the mirror works
    assert [p.name for p in paths] == [Path(f.relpath).name for f in files]
    found = locate("mnist", None, raw)
    assert found[0].origin == files[0].urls[0] and found[0].path == raw / files[0].relpath


# ---------------------------------------------------------------- the real local copy
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_real_local_copy_verifies(name: str, data_dir: Path) -> None:
    local = data_dir
    for src in locate(name, local, "unused"):
        verify(src.path, src.entry.sha256, src.entry.description)


def test_real_mnist_end_to_end(tmp_path: Path, data_dir: Path) -> None:
    local = data_dir
    npz, js = tmp_path / "mnist.npz", tmp_path / "mnist.json"
    prepare_dataset(
        "mnist",
        local_dir=local,
        raw_dir=tmp_path / "raw",
        out_npz=npz,
        out_json=js,
        val_size=5000,
        split_seed=0,
    )
    data, meta = load_prepared(npz), read_json(js)
    assert [len(data[f"y_{s}"]) for s in ("train", "val", "test")] == [55000, 5000, 10000]
    assert data["x_train"].shape[1:] == (28, 28, 1) and data["x_train"].dtype == np.uint8
    assert data["y_test"][:5].tolist() == [7, 2, 1, 0, 4]  # the canonical first test labels
    assert meta["exact"] is True and meta["npz_sha256"] == sha256_file(npz)
    assert {s["sha256"] for s in meta["sources"]} == {
        f.sha256 for f in REGISTRY["mnist"].publisher.files
    }
