"""Bringing your own trained models (config ``imported_models``): a checkpoint of the
study's architecture becomes the cell's model folder, recorded as imported; one of another
architecture stops with a line naming the file; the config is checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import snakemake
from helpers import model_folder, prepared_file

from convstudy import registry
from convstudy.config import imported_models
from convstudy.errors import ConfigError, DataError
from convstudy.frameworks import adapter, load
from convstudy.jobs import import_model
from convstudy.provenance import sha256_file
from convstudy.records import TrainingRecord

HYPER = {"subset": {"train": None, "val": None, "test": None}, "arch": {}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared-dataset file shaped like MNIST's, and its provenance."""
    return prepared_file(tmp_path_factory.mktemp("data"), "mnist", (28, 28, 1), exact=True)


@pytest.mark.parametrize("framework", sorted(registry.FRAMEWORKS))
def test_a_checkpoint_becomes_the_cells_model(
    tmp_path: Path, prepared: Path, framework: str
) -> None:
    elsewhere = model_folder(tmp_path / "elsewhere", "lenet5", framework, seed=3)
    checkpoint = elsewhere / registry.fmt(framework).artifact
    cell = tmp_path / "results" / "models" / "lenet5" / framework / "seed0"
    record = import_model.run(
        model="lenet5", framework=framework, seed=0, checkpoint=checkpoint,
        data_path=prepared, hyper=HYPER, threads=1, out_dir=cell,
    )  # fmt: skip
    assert record.init == "imported" and record.epochs == 0 and record.device == "cpu"
    assert record.imported_sha256 == sha256_file(checkpoint)
    assert TrainingRecord.load(cell / TrainingRecord.FILE) == record
    fw = adapter(framework)
    theirs, ours = fw.weights(load(elsewhere)), fw.weights(load(cell))
    assert theirs.keys() == ours.keys()
    assert all(np.array_equal(theirs[name], ours[name]) for name in theirs)
    assert 0.0 <= record.final_val_acc <= 1.0 and record.rows()[0]["init"] == "imported"


@pytest.mark.parametrize("framework", sorted(registry.FRAMEWORKS))
def test_another_architecture_is_refused(tmp_path: Path, prepared: Path, framework: str) -> None:
    other = model_folder(tmp_path / "other", "vgg16", framework)
    checkpoint = other / registry.fmt(framework).artifact
    with pytest.raises(DataError, match=f"{checkpoint}: not a {framework} checkpoint of lenet5"):
        import_model.run(
            model="lenet5", framework=framework, seed=0, checkpoint=checkpoint,
            data_path=prepared, hyper=HYPER, threads=1, out_dir=tmp_path / "cell",
        )  # fmt: skip
    assert not (tmp_path / "cell").exists()


def test_config_names_only_cells_of_the_study(tmp_path: Path) -> None:
    base = {"models": ["lenet5"], "frameworks": ["torch", "keras"]}
    checkpoint = tmp_path / "a.torch"
    entry = {"model": "lenet5", "framework": "torch", "seed": 1, "path": str(checkpoint)}
    with pytest.raises(ConfigError, match=rf"'imported_models.0.path': {checkpoint}: no such file"):
        imported_models({**base, "imported_models": [entry]})
    checkpoint.write_bytes(b"")
    assert imported_models({**base, "imported_models": [entry]}) == {
        "lenet5/torch/seed1": str(checkpoint)
    }
    with pytest.raises(ConfigError, match=r"imported_models.0.model': 'gru' is not in 'models'"):
        imported_models({**base, "imported_models": [{**entry, "model": "gru"}]})
    with pytest.raises(ConfigError, match="imported_models.1': lenet5/torch/seed1 is given twice"):
        imported_models({**base, "imported_models": [entry, entry]})


def test_workflow_imports_instead_of_training(tmp_path: Path, data_dir: Path) -> None:
    checkpoint = model_folder(tmp_path / "elsewhere", "lenet5", "torch") / "model.torch"
    config = tmp_path / "imported.yaml"
    entry = {"model": "lenet5", "framework": "torch", "seed": 0, "path": str(checkpoint)}
    config.write_text(json.dumps({"imported_models": [entry]}))
    targets = ["results/models/lenet5/torch/seed0", "results/models/lenet5/torch/seed1"]
    done = snakemake(tmp_path / "run", "-n", "--cores", "1", *targets, configfiles=[config])
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = done.stdout.split("rule train:")[1:]
    assert len(jobs) == 2
    imported = [job for job in jobs if "seed0" in job.split("output:")[1].splitlines()[0]]
    assert len(imported) == 1 and str(checkpoint) in imported[0].split("output:")[0]
    assert all(str(checkpoint) not in job for job in jobs if job is not imported[0])
