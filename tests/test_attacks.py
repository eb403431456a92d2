"""RQ3: the attacks, the selection, the replay comparison and the robustness indicator."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import http.server
import json
import socket
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import local_datasets, run_python
from helpers import model_folder, neutral_inputs

from convstudy import attacks, frameworks
from convstudy.attacks import boundary, counterfit, embedding, genetic
from convstudy.data.text import UNK_ID
from convstudy.errors import ConfigError
from convstudy.jobs import select
from convstudy.provenance import Provenance
from convstudy.records import PredictionRecord
from convstudy.report.robustness import indicator
from convstudy.spec import ModelSpec


def test_indicator_on_a_hand_computed_case() -> None:
    rows = [  # |S_c - S_o|: fgsm 0.0, 0.2, 0.4 -> P 0, 0.5, 1; boundary all 0.1 -> P 0
        ("lenet5", "torch", "onnx", "fgsm", 0.5, 0.5),
        ("lenet5", "torch", "onnx+onnx-fp16", "fgsm", 0.5, 0.3),
        ("lenet5", "keras", "onnx", "fgsm", 0.2, 0.6),
        ("lenet5", "torch", "onnx", "boundary", 1.0, 0.9),
        ("lenet5", "torch", "onnx+onnx-fp16", "boundary", 1.0, 0.9),
        ("lenet5", "keras", "onnx", "boundary", 1.0, 0.9),
        ("lenet5", "keras", "coreml-fp32", "boundary", None, None),  # not run: no R
    ]
    frame = pd.DataFrame(
        rows, columns=["model", "framework", "format", "attack", "success_original",
                       "success_converted"],
    ).assign(status=["ok"] * 6 + ["not_run"], seed=0)  # fmt: skip
    table = indicator(frame).set_index(["framework", "format"])
    assert table.loc[("torch", "onnx"), "R"] == 0.0
    assert table.loc[("torch", "onnx-fp16"), "R"] == pytest.approx(0.5)
    assert table.loc[("keras", "onnx"), "R"] == pytest.approx(1.0)
    assert ("keras", "coreml-fp32") not in table.index
    assert (table["P_boundary"] == 0).all()  # max == min: P is 0


def test_perturbation_norms_in_pixel_units() -> None:
    clean = np.zeros((2, 2, 2, 1), np.uint8)
    adversarial = np.zeros((2, 2, 2, 1), np.float32)
    adversarial[0, 0, 0, 0], adversarial[1] = 0.5, 0.1
    l2, linf = attacks.perturbation(clean, adversarial)
    np.testing.assert_allclose(l2, [0.5, 0.2], rtol=1e-6)
    np.testing.assert_allclose(linf, [0.5, 0.1], rtol=1e-6)


def _predictions(folder: Path, outputs: dict[str, np.ndarray], labels: np.ndarray) -> list[Path]:
    paths = []
    for target, out in outputs.items():
        record = PredictionRecord(
            model="lenet5", framework="torch", seed=0, target=target, runtime="x",
            runtime_version="0", n_eval=len(labels), batch_size=8,
            provenance=Provenance(config_hash="0", threads=1),
        )  # fmt: skip
        if target.startswith("coreml"):
            record.skip("CoreML runtime is macOS-only")
        record.dump(folder / f"{target}.json")
        np.savez(folder / f"{target}.npz", outputs=out, labels=labels)
        paths.append(folder / f"{target}.npz")
    return paths


def test_selection_needs_every_target_that_ran_to_be_right(tmp_path: Path) -> None:
    labels = np.array([0, 1, 0, 1, 0, 1])
    right = np.eye(2)[labels]
    onnx = right.copy()
    onnx[2] = [0.0, 1.0]  # the converted model gets input 2 wrong
    paths = _predictions(tmp_path, {"original": right, "onnx": onnx, "coreml-fp32": right[:0]},
                         labels)  # fmt: skip
    chosen = select.run(seed=3, n=10, floor=0.9, predictions=paths, out=tmp_path / "s.json")
    assert chosen["indices"] == [0, 1, 3, 4, 5]
    assert (
        chosen["selected_by"] == ["onnx", "original"] and "coreml-fp32" in chosen["not_selecting"]
    )
    again = select.run(seed=3, n=2, floor=0.9, predictions=paths, out=tmp_path / "t.json")
    assert again == select.run(seed=3, n=2, floor=0.9, predictions=paths, out=tmp_path / "u.json")
    assert len(again["indices"]) == 2 and set(again["indices"]) <= {0, 1, 3, 4, 5}
    assert json.loads((tmp_path / "t.json").read_text()) == again


def test_selection_keeps_reviews_of_10_to_100_words() -> None:
    labels = np.zeros(3, int)
    chosen = select.eligible({"original": np.eye(2)[labels]}, labels, np.array([9, 10, 101]))
    assert list(chosen) == [1]


def test_boundary_without_a_starting_point_fails_that_input(tmp_path: Path) -> None:
    # a pool the model labels as the inputs' own class offers no start: those inputs fail,
    # counted, and the job goes on
    folder = model_folder(tmp_path, "lenet5", "torch")
    spec = ModelSpec.load(folder)
    net = frameworks.load(folder, spec)
    x = neutral_inputs("lenet5", n=4)
    y = frameworks.adapter("torch").predictor(net)(spec.layout.prepare(x)).argmax(axis=1)
    pool = (neutral_inputs("lenet5", n=6, seed=1), np.full(6, y[0]))
    settings = {"steps": 5, "spherical_step": 0.01, "source_step": 0.01}
    result = boundary.attack(net, spec, x, y, settings=settings, seed=0, pool=pool)
    no_start = int((y == y[0]).sum())
    assert result.facts["no_starting_point"] == no_start
    assert not result.success[y == y[0]].any() and result.x.shape == x.shape


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_boundary_records_its_distances_at_checkpoints(tmp_path: Path, framework: str) -> None:
    # the trace follows foolbox's own loop: its last checkpoint is the attack's result
    # (checked inside the attack), every input's distance only shrinks, and the counts
    # within each bound are those of the final examples
    folder = model_folder(tmp_path, "lenet5", framework)
    spec = ModelSpec.load(folder)
    net = frameworks.load(folder, spec)
    predict = frameworks.adapter(framework).predictor(net)
    # plain grey images of every level: a model with untrained weights labels them
    # variously, so that each input has a pool image of another label to start from
    pool_x = np.broadcast_to(np.linspace(0, 255, 32).astype(np.uint8)[:, None, None, None],
                             (32, 28, 28, 1)).copy()  # fmt: skip
    pool = (pool_x, predict(spec.layout.prepare(pool_x)).argmax(axis=1))
    assert len(set(pool[1])) > 1
    x = neutral_inputs("lenet5", n=6)
    y = predict(spec.layout.prepare(x)).argmax(axis=1)
    settings = {"steps": 40, "spherical_step": 0.01, "source_step": 0.001,
                "checkpoints": [10, 20, 99], "epsilon_linf": 0.5, "epsilon_l2": 8.0}  # fmt: skip
    result = boundary.attack(net, spec, x, y, settings=settings, seed=0, pool=pool)
    trajectory = result.facts["trajectory"]
    assert trajectory["steps"] == [10, 20, 40]  # checkpoints below the steps, and the last
    assert np.all(np.diff(trajectory["median_l2"]) <= 0)
    started = np.array([bool(np.any(pool[1] != label)) for label in y])
    assert started.any()
    l2, linf = attacks.perturbation(x[started], result.x[started])
    assert trajectory["median_l2"][-1] == pytest.approx(np.median(l2), rel=1e-5)
    assert trajectory["median_linf"][-1] == pytest.approx(np.median(linf), rel=1e-5)
    assert trajectory["k_linf"][-1] == int((linf <= 0.5 + attacks.BOUND_SLACK).sum())
    assert trajectory["k_l2"][-1] == int((l2 <= 8.0 + attacks.BOUND_SLACK).sum())


def test_robustness_outcomes_pair_the_inputs_and_bound_them(tmp_path: Path) -> None:
    from convstudy.jobs import robustness

    clean = np.zeros((4, 2, 2, 1), np.uint8)
    adversarial = np.zeros((4, 2, 2, 1), np.float32)
    adversarial[:, 0, 0, 0] = [0.01, 0.2, 0.01, 0.2]  # L-infinity (and L2) of each input
    data = {"clean": clean, "x": adversarial}
    success_o = np.array([True, True, True, False])
    success_c = np.array([True, False, False, True])
    settings = {"steps": 10, "epsilon_linf": 0.05, "epsilon_l2": 1.0}
    outcomes = robustness.outcomes(data, success_o, success_c, settings)
    assert outcomes["any"] == {"bound": "none", "epsilon": None, "n": 4, "k_original": 3,
                               "k_converted": 2, "original_only": 2, "converted_only": 1}  # fmt: skip
    # within L-infinity 0.05: inputs 0 and 2 only
    assert {k: outcomes["linf"][k] for k in ("k_original", "k_converted", "original_only")} == {
        "k_original": 2, "k_converted": 1, "original_only": 1,
    }  # fmt: skip
    assert outcomes["l2"]["k_original"] == 3 and outcomes["l2"]["bound"] == "L2 ≤ 1"
    fgsm = robustness.outcomes(data, success_o, success_c, {"epsilon": 0.1})
    assert set(fgsm) == {"any"} and fgsm["any"]["bound"] == "L∞ ≤ 0.1"


def test_tables_show_intervals_tests_and_one_seed_as_such() -> None:
    from convstudy.report.robustness import table5_robustness_cnn, table_rq3_tests

    def row(seed: int, fmt: str, attack: str, k_o: int, k_c: int, o_only: int, c_only: int,
            status: str = "ok") -> dict[str, object]:  # fmt: skip
        counts = {"n": 100, "k_original": k_o, "k_converted": k_c, "original_only": o_only,
                  "converted_only": c_only}  # fmt: skip
        return {
            "model": "lenet5", "framework": "torch", "seed": seed, "attack": attack,
            "format": fmt, "n": 100, "degenerate": False, "status": status, "reason": None,
            "selected": True, "success_original": k_o / 100, "success_converted": k_c / 100,
            "disagreement_adversarial": 0.0, "disagreement_clean": 0.0,
            "abs_error_adversarial_prob": 1e-8, "abs_error_adversarial_logit": 1e-7,
            **{f"outcomes_any_{k}": v for k, v in counts.items()},
            "outcomes_any_bound": "none" if attack == "boundary" else "L∞ ≤ 0.1",
        }  # fmt: skip

    frame = pd.DataFrame([
        row(0, "onnx+onnx-fp16", "boundary", 100, 80, 20, 0),
        row(1, "onnx+onnx-fp16", "boundary", 100, 90, 10, 0),
        row(0, "onnx", "fgsm", 12, 12, 0, 0),
    ])  # fmt: skip
    table = table5_robustness_cnn(frame).set_index(["attack", "format"])
    boundary_row = table.loc[("boundary", "onnx-fp16")]
    assert boundary_row["success_original"] == "1 (by construction)"
    # per-seed rates 0.8 and 0.9: mean ± std, then the Wilson interval of 170 of 200
    assert boundary_row["success_converted"] == "0.850 ± 0.071 [0.794, 0.893]"
    assert boundary_row["discordant (o/c)"] == "30/0" and boundary_row["mcnemar_p"] == "< 0.001"
    assert boundary_row["disagreement_clean"] == "0 (by construction)"
    fgsm_row = table.loc[("fgsm", "onnx")]
    assert fgsm_row["success_original"] == "0.120 (n = 1) [0.070, 0.198]"
    assert "±" not in "".join(map(str, fgsm_row.values)) and fgsm_row["mcnemar_p"] == "1"
    pooled = table_rq3_tests(frame).set_index(["attack", "format"])
    assert pooled.loc[("boundary", "onnx-fp16"), "n"] == 200


def test_text_helpers_keep_unknown_words_apart() -> None:
    vocab = ["<pad>", "<unk>", "good", "film"]
    assert genetic.ids_to_text(np.array([0, 0, 2, UNK_ID, 3]), vocab) == "good oovword film"
    assert genetic.modification_rate("a good film", "a bad film") == pytest.approx(1 / 3)
    assert genetic.modification_rate("a good film", "a film") == 1.0
    assert "the" in genetic.read_stopwords(genetic.stopwords_file())


GENETIC_OFFLINE = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
import numpy as np
from pathlib import Path
from convstudy import frameworks, models
from convstudy.attacks import genetic
from convstudy.spec import ModelSpec
words = ["<pad>", "<unk>", "good", "great", "fine", "bad", "awful", "poor", "movie", "film",
         "the", "a", "was", "is", "very", "plot", "acting"]
layout = models.input_layout("gru", "torch")
arch = models.resolve_arch("gru", {"vocab_size": len(words), "embed_dim": 8, "hidden": 8})
spec = ModelSpec(model="gru", dataset="imdb", format="torch", input_shape=(8,), num_classes=2,
                 layout=layout, arch=arch, vocab=tuple(words))
fw = frameworks.adapter("torch")
fw.seed(0)
net = models.build("gru", "torch", input_shape=(8,), num_classes=2, arch=arch)
x = np.array([[0, 10, 8, 12, 14, 2, 1, 1], [11, 9, 13, 5, 15, 6, 1, 16]])
y = fw.predictor(net)(spec.layout.prepare(x)).argmax(axis=1)
settings = {"embedding": "glove-6b-50d", "pop_size": 6, "max_iters": 3,
            "max_modification": 0.25}
result = genetic.attack(net, spec, x, y, settings=settings, seed=0)
stop = set(genetic.read_stopwords(genetic.stopwords_file()))
for clean, adv in zip(x, result.x):
    for a, b in zip(clean, adv):
        if a != b:
            assert a > 1 and words[a] not in stop, (a, b)  # never <pad>, <unk> or a stop word
print("ok", result.facts["embedding"], result.facts["counter_fitted"], result.queries > 0)
"""


def test_genetic_attack_runs_offline_and_leaves_unknown_and_stop_words() -> None:
    assert run_python(GENETIC_OFFLINE)[-1] == "ok glove-6b-50d False True"


CACHED_TOKENIZER = """
from convstudy.attacks import genetic
genetic.offline_environment(__import__("pathlib").Path(__import__("tempfile").mkdtemp()),
                            genetic.stopwords_file())
from textattack.shared import attacked_text
from textattack.shared.utils import words_from_text
texts = ["a film i'd watch again", "well-made, *not* dull!", "'quoted' -dash _under",
         "x@y.com says: no", "café 電影 film", "  spaced   out  ", ""]
with genetic.cached_tokenizer():
    cached = attacked_text.words_from_text
    assert cached is not words_from_text
    for text in texts * 2:  # the second round is answered from the cache
        assert cached(text) == words_from_text(text), text
        assert cached(text, ["film"]) == words_from_text(text, ["film"]), text
    words = cached(texts[0])
    words.append("changed")  # a caller's list is its own
    assert cached(texts[0]) == words_from_text(texts[0])
    text = attacked_text.AttackedText(texts[1]).replace_word_at_index(0, "badly")
assert attacked_text.words_from_text is words_from_text  # put back
assert text.words == attacked_text.AttackedText(texts[1]).replace_word_at_index(0, "badly").words
print("same")
"""


def test_the_cached_word_splitter_returns_what_textattacks_does() -> None:
    assert run_python(CACHED_TOKENIZER)[-1] == "same"


@contextlib.contextmanager
def http_server(folder: Path) -> Iterator[str]:
    """A local HTTP server of ``folder``; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_vectors_fetched_by_url_only_with_their_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An embedding named by URL is downloaded once and used only when its sha256
    matches; served here from a local HTTP server."""
    import pooch

    served = tmp_path / "served"
    served.mkdir()
    vectors = served / "vectors.txt"
    vectors.write_text("good 1.0 0.0\ngreat 0.9 0.1\nbad -1.0 0.0\n")
    digest = hashlib.sha256(vectors.read_bytes()).hexdigest()
    monkeypatch.setattr(pooch, "os_cache", lambda name: tmp_path / "cache")
    with http_server(served) as base:
        url = f"{base}/vectors.txt"
        with pytest.raises(ConfigError, match="embedding_sha256: required"):
            embedding.fetch_vectors(url, None)
        with pytest.raises(ConfigError, match="vectors.txt"):
            embedding.fetch_vectors(url, "0" * 64)  # a different file: refused
        local = embedding.fetch_vectors(url, digest)
        settings = {"embedding": url, "embedding_sha256": digest, "counter_fitted": True}
        used = embedding.resolve(settings, None, tmp_path / "raw")
    assert Path(used.source).parent == tmp_path / "raw" / "embeddings"
    assert used.counter_fitted and used.checksum == f"sha256:{digest}"
    words, matrix = embedding.load_vectors(local, ["good", "bad", "unknown"])
    assert words == ["good", "bad"] and matrix.shape == (2, 2)
    assert embedding.fetch_vectors("glove-6b-50d", None) == "glove-6b-50d"  # not a URL


def test_git_blob_id_is_what_git_prints(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 1000)
    git = subprocess.run(
        ["git", "hash-object", str(path)], check=True, capture_output=True, text=True
    )
    assert embedding.git_blob_id(path) == git.stdout.strip()


def _publisher(tmp_path: Path) -> tuple[Path, embedding.PublishedFile]:
    """A stand-in publisher repository serving a zipped vectors file as the counter-fitted
    one is laid out (``<repository>/<commit>/word_vectors/<file>``)."""
    served = tmp_path / "served"
    real = embedding.COUNTER_FITTED_FILE
    zipped = served / real.repository / real.commit / real.path
    zipped.parent.mkdir(parents=True)
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("counter-fitted-vectors.txt", "good 1 0 0\ngreat 0.9 0.1 0\nbad -1 0 0\n")
    return served, dataclasses.replace(real, blob=embedding.git_blob_id(zipped))


def test_counter_fitted_vectors_are_downloaded_checked_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, published = _publisher(tmp_path)
    raw = tmp_path / "raw"
    settings = {"embedding": "counter-fitted", "embedding_fallback": "glove-6b-50d"}
    with http_server(served) as base:
        monkeypatch.setattr(
            embedding,
            "COUNTER_FITTED_FILE",
            dataclasses.replace(published, blob="0" * 40, host=base),
        )
        with pytest.raises(ConfigError, match="git blob id .* expected 0000"):
            embedding.resolve(settings, None, raw)  # another file: refused, no fallback
        assert not any(raw.rglob("*.zip")) and not any(raw.rglob(".*"))  # nothing left
        monkeypatch.setattr(
            embedding, "COUNTER_FITTED_FILE", dataclasses.replace(published, host=base)
        )
        used = embedding.resolve(settings, None, raw)
    kept = raw / "counter-fitting" / published.name
    assert used == embedding.Embedding(
        "counter-fitted", str(kept), True, f"git-blob-sha1:{published.blob}", "counter-fitted"
    )
    # the server is gone: the kept copy is used, checked again
    assert embedding.resolve(settings, None, raw) == used
    words, matrix = embedding.load_vectors(used.source, ["good", "bad", "film"])
    assert words == ["good", "bad"] and matrix.shape == (2, 3)
    # a local data folder's copy comes first, and is checked too
    local = tmp_path / "local" / "counter-fitting"
    local.mkdir(parents=True)
    (local / published.name).write_bytes(b"not the file")
    with pytest.raises(ConfigError, match=f"{local / published.name}: git blob id"):
        embedding.resolve(settings, tmp_path / "local", raw)


def _serve_from(
    monkeypatch: pytest.MonkeyPatch, host: str, inputs: dict[str, embedding.PublishedFile]
) -> None:
    """The publisher's counter-fitting inputs ``inputs`` fetched from ``host``."""
    served = {name: dataclasses.replace(p, host=host) for name, p in inputs.items()}
    monkeypatch.setattr(counterfit, "INPUTS", served)


def test_an_unreachable_embedding_falls_back_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, published = _publisher(tmp_path)
    with socket.socket() as sock:  # a port with no server
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(
        embedding,
        "COUNTER_FITTED_FILE",
        dataclasses.replace(published, host=f"http://127.0.0.1:{port}"),
    )
    _serve_from(monkeypatch, f"http://127.0.0.1:{port}", counterfit.INPUTS)
    settings = {"embedding": "counter-fitted", "embedding_fallback": "glove-6b-50d"}
    used = embedding.resolve(settings, None, tmp_path / "raw")
    assert (used.name, used.source, used.counter_fitted) == ("glove-6b-50d", "glove-6b-50d", False)
    assert used.requested == "counter-fitted" and f"127.0.0.1:{port}" in str(used.fallback_reason)
    # neither the published vectors nor the constraints to counter-fit GloVe with
    assert "experiment_parameters.cfg" in str(used.fallback_reason)
    facts = used.facts()
    assert facts["embedding"] == "glove-6b-50d" and facts["embedding_requested"] == "counter-fitted"
    with pytest.raises(ConfigError, match="no embedding_fallback"):
        embedding.resolve({**settings, "embedding_fallback": None}, None, tmp_path / "raw")
    out = tmp_path / "embedding.json"
    used.dump(out)
    assert embedding.Embedding.load(out) == used


def test_a_local_data_folder_means_no_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a local data folder the run reads only what is there: a reachable publisher is
    not asked, so an online and an offline machine run the same recipe."""
    served, published = _publisher(tmp_path)
    settings = {"embedding": "counter-fitted", "embedding_fallback": "glove-6b-50d"}
    (tmp_path / "local").mkdir()
    with http_server(served) as base:
        monkeypatch.setattr(
            embedding, "COUNTER_FITTED_FILE", dataclasses.replace(published, host=base)
        )
        used = embedding.resolve(settings, tmp_path / "local", tmp_path / "raw")
    assert used.name == "glove-6b-50d" and "nothing is downloaded" in str(used.fallback_reason)
    assert not (tmp_path / "raw").exists()


def _constraints_publisher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, embedding.PublishedFile]]:
    """The publisher's counter-fitting inputs laid out as its repository (served by a
    local HTTP server) and as a local data folder (``tmp_path/local``): the real files of
    the local dataset copy, except a vocabulary of SimLex-999's words only, so that
    counter-fitting takes a second (1,028 words instead of 71,815)."""
    data = local_datasets()
    if data is None:
        pytest.skip("no local dataset copy (set CONVSTUDY_DATA_DIR)")
    simlex = (data / "counter-fitting" / "constraints" / "SimLex-999.txt").read_text()
    words = sorted({w for line in simlex.splitlines()[1:] for w in line.split()[:2]})
    served = tmp_path / "served"
    inputs = dict(counterfit.INPUTS)
    for relative, published in counterfit.INPUTS.items():
        body = (data / "counter-fitting" / relative).read_bytes()
        if relative == "constraints/vocabulary.txt":
            body = "".join(f"{w}\n" for w in words).encode()
        for path in (
            served / published.repository / published.commit / published.path,
            tmp_path / "local" / "counter-fitting" / relative,
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        inputs[relative] = dataclasses.replace(published, blob=embedding.git_blob_id(path))
    monkeypatch.setattr(counterfit, "INPUTS", inputs)
    return served, inputs


def test_without_the_published_vectors_glove_is_counter_fitted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The publisher serves no counter-fitted vectors: its constraints are downloaded,
    checked by blob id, GloVe-50d is counter-fitted with them, once, and rows say so."""
    served, inputs = _constraints_publisher(tmp_path, monkeypatch)
    _, published = _publisher(tmp_path / "elsewhere")  # a zip the server does not have
    settings = {"embedding": "counter-fitted", "embedding_fallback": "glove-6b-50d"}
    raw = tmp_path / "raw"
    with http_server(served) as base:
        monkeypatch.setattr(
            embedding, "COUNTER_FITTED_FILE", dataclasses.replace(published, host=base)
        )
        _serve_from(monkeypatch, base, inputs)
        used = embedding.resolve(settings, None, raw)
    assert (used.name, used.counter_fitted, used.requested) == (
        "glove-6b-50d counter-fitted with the published constraints", True, "counter-fitted",
    )  # fmt: skip
    assert "counter-fitted-vectors.txt.zip" in str(used.fallback_reason)  # why not published
    assert "SimLex-999 rho" in str(used.derivation) and "1028 words" in str(used.derivation)
    for relative in inputs:
        assert (raw / "counter-fitting" / relative).is_file()  # the downloads, kept
    record = json.loads(Path(used.source).with_suffix(".json").read_text())
    assert Path(used.source).parent == raw / "counter-fitting"
    assert used.checksum == f"sha256:{record['sha256']}" and all(record["checks"].values())
    assert record["hyperparameters"]["rho"] == 0.2 and record["epochs"] == 20
    facts = used.facts()
    assert facts["embedding"] == used.name and facts["counter_fitted"] is True
    assert facts["embedding_derivation"] == used.derivation
    # the server is gone: the kept inputs are checked again, the result is not made again
    monkeypatch.setattr(counterfit, "counter_fit", pytest.fail)
    again = embedding.resolve(settings, None, raw)
    assert dataclasses.replace(again, fallback_reason=None) == dataclasses.replace(
        used, fallback_reason=None
    )
    assert "counter-fitted-vectors.txt.zip" in str(again.fallback_reason)  # now: no server
    words, matrix = embedding.load_vectors(used.source, ["new", "old", "unknown"])
    assert words == ["new", "old"] and matrix.shape == (2, 50)
    _, glove = embedding.load_vectors("glove-6b-50d", words)
    cosine = [m[0] @ m[1] / np.linalg.norm(m[0]) / np.linalg.norm(m[1]) for m in (matrix, glove)]
    assert cosine[0] < cosine[1] - 0.3  # antonyms (WordNet): pushed apart
    out = tmp_path / "embedding.json"
    used.dump(out)
    assert embedding.Embedding.load(out) == used


def test_a_local_data_folder_counter_fits_its_constraints_and_checks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a local data folder, its constraints are used (nothing is downloaded, though
    the publisher is reachable); one that is not the publisher's file is refused."""
    _, inputs = _constraints_publisher(tmp_path, monkeypatch)
    served_zip, published = _publisher(tmp_path / "publisher")
    settings = {"embedding": "counter-fitted", "embedding_fallback": "glove-6b-50d"}
    local, raw = tmp_path / "local", tmp_path / "raw"
    with http_server(served_zip) as base:
        monkeypatch.setattr(
            embedding, "COUNTER_FITTED_FILE", dataclasses.replace(published, host=base)
        )
        _serve_from(monkeypatch, base, inputs)
        used = embedding.resolve(settings, local, raw)
        assert used.name == counterfit.NAME and used.counter_fitted
        assert "nothing is downloaded" in str(used.fallback_reason)
        made = Path(used.source)
        assert {p.name for p in raw.rglob("*")} == {  # the result, no download
            "counter-fitting", made.name, made.with_suffix(".json").name,
        }  # fmt: skip
        antonyms = local / "counter-fitting" / "constraints" / "ppdb_antonyms.txt"
        antonyms.write_text(antonyms.read_text() + "good bad\n")
        with pytest.raises(ConfigError) as refused:
            embedding.resolve(settings, local, raw)
        assert f"{antonyms}: git blob id" in str(refused.value)
        assert f"expected {inputs['constraints/ppdb_antonyms.txt'].blob}" in str(refused.value)
        assert "\n" not in str(refused.value)
        antonyms.unlink()  # a missing one: the fallback, saying why
        used = embedding.resolve(settings, local, raw)
    assert used.name == "glove-6b-50d" and not used.counter_fitted
    assert "counter-fitting/constraints/ppdb_antonyms.txt is not in" in str(used.fallback_reason)


@pytest.mark.slow
def test_counter_fitting_glove_with_the_published_constraints_improves_it(
    tmp_path: Path,
) -> None:
    """The real files, the full vocabulary (about a minute on two cores): SimLex-999
    Spearman's rho rises over GloVe-50d's, antonyms move apart, synonyms together."""
    data = local_datasets()
    if data is None or not (data / "counter-fitting").is_dir():
        pytest.skip("no local copy of the counter-fitting constraints (CONVSTUDY_DATA_DIR)")
    settings = {"embedding": "counter-fitted", "embedding_fallback": None}
    used = embedding.resolve(settings, data, tmp_path / "raw")
    record = json.loads(Path(used.source).with_suffix(".json").read_text())
    before, after = record["before"], record["after"]
    assert record["words"] == 71815 and before["simlex_pairs"] == after["simlex_pairs"] == 974
    assert after["simlex_rho"] > before["simlex_rho"] + 0.05
    assert after["antonym_mean_cosine"] < before["antonym_mean_cosine"] - 0.2
    assert after["synonym_mean_cosine"] > before["synonym_mean_cosine"] + 0.2
    words, matrix = embedding.load_vectors(used.source, ["love", "hate"])
    assert words == ["love", "hate"] and float(matrix[0] @ matrix[1]) < 0.1  # GloVe: 0.65


def test_attack_cost_names_each_text_attacks_embedding() -> None:
    from convstudy.report.robustness import table_attack_cost

    base = {"seed": 0, "status": "ok", "reason": None, "n": 8, "success_rate": 0.5}
    attacks = pd.DataFrame(
        [
            {**base, "model": "gru", "framework": "torch", "attack": "genetic",
             "facts_embedding": "glove-6b-50d", "facts_counter_fitted": False},
            {**base, "model": "lstm", "framework": "torch", "attack": "genetic",
             "facts_embedding": "counter-fitted", "facts_counter_fitted": True},
            {**base, "model": "lstm", "framework": "keras", "attack": "genetic",
             "facts_embedding": counterfit.NAME, "facts_counter_fitted": True},
            {**base, "model": "lenet5", "framework": "torch", "attack": "fgsm",
             "facts_embedding": None, "facts_counter_fitted": None},
        ]
    )  # fmt: skip
    table = table_attack_cost(attacks).set_index("model")
    assert table.loc["gru", "embedding"] == "glove-6b-50d (not counter-fitted)"
    lstm = table.loc["lstm"].set_index("framework")["embedding"]
    assert lstm["torch"] == "counter-fitted (counter-fitted)"
    assert (
        lstm["keras"]
        == "glove-6b-50d counter-fitted with the published constraints (counter-fitted)"
    )
    assert table.loc["lenet5", "embedding"] == ""
