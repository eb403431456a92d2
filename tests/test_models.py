"""Both framework definitions of every model compute the same function."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convstudy import models

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

SRC = Path(__file__).resolve().parents[1] / "src"
VOCAB, SEQ_LEN = 1000, 20
IMAGE_SHAPES = {
    "lenet5": (28, 28, 1),
    "resnet18": (32, 32, 3),
    "vgg16": (32, 32, 3),
    "mobilenetv2": (32, 32, 3),
    "resnet101": (32, 32, 3),
    "inceptionv3": (75, 75, 3),
}
#: Trainable parameters with 10 image classes, 2 text classes, vocab 1000, 128/128 RNN.
KNOWN_PARAMETERS = {
    "lenet5": 61_706,
    "resnet18": 11_173_962,
    "vgg16": 14_728_266,
    "lstm": 259_842,
    "gru": 227_330,
    "mobilenetv2": 2_236_682,
    "resnet101": 42_573_322,
    "inceptionv3": 21_788_842,
}
#: Louloudakis et al.'s ImageNet architectures.
IMAGENET = ("mobilenetv2", "resnet101", "inceptionv3")


@pytest.fixture(scope="module", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)
    import tensorflow as tf

    try:  # only possible before TensorFlow's runtime has started
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def _kwargs(name: str) -> dict[str, Any]:
    if models.is_recurrent(name):
        return {"input_shape": (SEQ_LEN,), "num_classes": 2, "arch": {"vocab_size": VOCAB}}
    return {"input_shape": IMAGE_SHAPES[name], "num_classes": 10}


def _batch(name: str, n: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if models.is_recurrent(name):
        return rng.integers(0, VOCAB, size=(n, SEQ_LEN), dtype=np.int32)
    return rng.integers(0, 256, size=(n, *IMAGE_SHAPES[name]), dtype=np.uint8)


def _torch_out(model: Any, x: np.ndarray, name: str) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(models.to_framework_input(x, name, "torch"))).numpy()


def _keras_out(model: Any, x: np.ndarray, name: str) -> np.ndarray:
    out = model(models.to_framework_input(x, name, "keras"), training=False)
    return np.asarray(keras.ops.convert_to_numpy(out))


def _perturb(model: Any) -> None:
    """Non-trivial BN statistics and a non-zero LSTM b_hh, so a wrong mapping shows."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.2, generator=gen)
                module.running_var.uniform_(0.5, 1.5, generator=gen)
                if module.weight.requires_grad:  # else the unit scale of Keras's scale=False
                    module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.normal_(0.0, 0.2, generator=gen)
            if isinstance(module, torch.nn.LSTM):
                module.bias_hh_l0.normal_(0.0, 0.2, generator=gen)


@pytest.fixture(scope="module", params=models.MODELS)
def pair(request: pytest.FixtureRequest) -> tuple[str, Any, Any]:
    name = request.param
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    kwargs = _kwargs(name)
    return name, models.build(name, "torch", **kwargs), models.build(name, "keras", **kwargs)


def test_parameter_counts_match(pair: tuple[str, Any, Any]) -> None:
    name, torch_model, keras_model = pair
    n_torch = models.count_parameters(torch_model, "torch")
    assert n_torch == models.count_parameters(keras_model, "keras")
    assert n_torch == KNOWN_PARAMETERS[name]


def test_output_shapes_match(pair: tuple[str, Any, Any]) -> None:
    name, torch_model, keras_model = pair
    x = _batch(name)
    classes = _kwargs(name)["num_classes"]
    assert _torch_out(torch_model, x, name).shape == (2, classes)
    assert _keras_out(keras_model, x, name).shape == (2, classes)


def test_torch_to_keras_gives_identical_outputs(pair: tuple[str, Any, Any]) -> None:
    name, torch_model, keras_model = pair
    _perturb(torch_model)
    x = _batch(name, seed=2)
    torch_out = _torch_out(torch_model, x, name)
    assert not np.allclose(_keras_out(keras_model, x, name), torch_out, atol=1e-4)
    models.torch_to_keras(torch_model, keras_model, name)
    np.testing.assert_allclose(_keras_out(keras_model, x, name), torch_out, rtol=1e-4, atol=1e-4)
    # Every weight arrived, including BN running statistics.
    t_w = models.source_weights(torch_model, "torch")
    k_w = models.source_weights(keras_model, "keras")
    folded = 4 * 128 if name == "lstm" else 0  # torch's b_hh is folded into Keras' one bias
    unit_scales = sum(  # InceptionV3: the frozen unit scales of Keras's scale=False BN
        m.weight.numel()
        for m in torch_model.modules()
        if isinstance(m, torch.nn.BatchNorm2d) and not m.weight.requires_grad
    )
    assert sum(w.size for w in t_w.values()) == sum(w.size for w in k_w.values()) + (
        folded + unit_scales
    )
    assert all(w.dtype == np.float32 for w in (*t_w.values(), *k_w.values()))


def _perturb_keras(model: Any) -> None:
    """Non-trivial BN statistics and biases (Keras initialises them to constants), so that
    a wrong mapping of the BN tensors or of the GRU's gate blocks shows."""
    rng = np.random.default_rng(1)
    for var in model.weights:
        name = var.path.rsplit("/", 1)[-1]
        if name in ("moving_variance", "gamma"):
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype(np.float32))
        elif name in ("moving_mean", "beta", "bias"):
            var.assign(rng.normal(0.0, 0.2, var.shape).astype(np.float32))


@pytest.mark.parametrize("name", models.MODELS)
def test_keras_to_torch_gives_identical_outputs(name: str) -> None:
    kwargs = _kwargs(name) | ({"arch": {"width": 16}} if name in ("resnet18", "vgg16") else {})
    keras.utils.set_random_seed(5)
    keras_model = models.build(name, "keras", **kwargs)
    _perturb_keras(keras_model)
    torch.manual_seed(6)
    torch_model = models.build(name, "torch", **kwargs)
    x = _batch(name, seed=4)
    keras_out = _keras_out(keras_model, x, name)
    assert not np.allclose(_torch_out(torch_model, x, name), keras_out, atol=1e-4)
    models.keras_to_torch(keras_model, torch_model, name)
    np.testing.assert_allclose(_torch_out(torch_model, x, name), keras_out, rtol=1e-4, atol=1e-4)
    # every Keras weight arrived: copied back, the torch model gives the same weights
    back = models.build(name, "keras", **kwargs)
    models.torch_to_keras(torch_model, back, name)
    original = models.source_weights(keras_model, "keras")
    returned = models.source_weights(back, "keras")
    assert original.keys() == returned.keys()
    for key, value in original.items():
        np.testing.assert_array_equal(returned[key], value, err_msg=key)


def test_keras_to_torch_rejects_a_different_architecture() -> None:
    keras_model = models.build("gru", "keras", input_shape=(SEQ_LEN,), num_classes=2,
                               arch={"vocab_size": VOCAB, "hidden": 8})  # fmt: skip
    torch_model = models.build("gru", "torch", **_kwargs("gru"))
    with pytest.raises(ValueError, match="gru.weight_ih_l0: torch expects shape"):
        models.keras_to_torch(keras_model, torch_model, "gru")


def test_source_weights_include_batchnorm_statistics() -> None:
    kwargs = _kwargs("resnet18")
    t_w = models.source_weights(models.build("resnet18", "torch", **kwargs), "torch")
    k_w = models.source_weights(models.build("resnet18", "keras", **kwargs), "keras")
    assert "layer2.0.shortcut_bn.running_var" in t_w and "bn1.num_batches_tracked" not in t_w
    assert "layer2_0_shortcut_bn/moving_variance" in k_w
    assert t_w["conv1.weight"].shape == (64, 3, 3, 3) and k_w["conv1/kernel"].shape == (3, 3, 3, 64)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_keras_unrolled_rnn_matches_rolled(name: str) -> None:
    kwargs = _kwargs(name)
    rolled = models.build(name, "keras", **kwargs)
    unrolled = models.build(name, "keras", unroll=True, **kwargs)
    unrolled.set_weights(rolled.get_weights())
    x = _batch(name, n=3)
    np.testing.assert_allclose(
        _keras_out(unrolled, x, name), _keras_out(rolled, x, name), rtol=1e-5, atol=1e-5
    )


def test_lstm_hidden_bias_is_frozen_zero() -> None:
    model = models.build("lstm", "torch", **_kwargs("lstm"))
    assert not model.lstm.bias_hh_l0.requires_grad
    assert float(model.lstm.bias_hh_l0.abs().sum()) == 0.0


@pytest.mark.parametrize("name", ["resnet18", "lstm", "mobilenetv2"])
def test_lazily_defined_torch_classes_pickle(name: str) -> None:
    model = models.build(name, "torch", **_kwargs(name))
    clone = pickle.loads(pickle.dumps(model))
    x = _batch(name)
    np.testing.assert_array_equal(_torch_out(clone, x, name), _torch_out(model, x, name))


def test_import_does_not_load_frameworks() -> None:
    code = (
        "import sys, convstudy.models; "
        "loaded = [m for m in ('torch', 'tensorflow') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("name", models.MODELS)
@pytest.mark.parametrize("framework", models.FRAMEWORKS)
def test_to_framework_input_layouts(name: str, framework: str) -> None:
    x = _batch(name, n=3)
    out = models.to_framework_input(x, name, framework)
    layout = models.input_layout(name, framework)
    assert out.dtype == np.dtype(layout.dtype)
    if models.is_recurrent(name):
        assert layout.axes == "NL" and out.shape == x.shape
        np.testing.assert_array_equal(out, x)
        return
    assert out.shape == layout.batch_shape(IMAGE_SHAPES[name], 3)
    assert 0.0 <= out.min() and out.max() <= 1.0
    nhwc = out.transpose(0, 2, 3, 1) if framework == "torch" else out
    assert layout.axes == ("NCHW" if framework == "torch" else "NHWC")
    np.testing.assert_allclose(nhwc * 255.0, x.astype(np.float32), atol=1e-4)


def test_to_framework_input_rejects_wrong_dtype() -> None:
    with pytest.raises(ValueError, match="uint8"):
        models.to_framework_input(np.zeros((1, 28, 28, 1), np.int32), "lenet5", "torch")
    with pytest.raises(ValueError, match="uint8"):
        models.to_framework_input(np.zeros((1, 28, 28), np.uint8), "lenet5", "torch")
    # Float images are taken as already in [0, 1] (adversarial examples): not rescaled.
    x = np.full((1, 28, 28, 1), 0.5, np.float32)
    np.testing.assert_array_equal(models.to_framework_input(x, "lenet5", "torch"), 0.5)
    with pytest.raises(ValueError, match="token ids"):
        models.to_framework_input(np.zeros((1, 5), np.float32), "lstm", "keras")


@pytest.mark.parametrize(
    ("name", "arch", "match"),
    [
        ("lenet5", {"hidden": 4}, "'hidden'"),
        ("gru", {"vocab_size": 10, "layers": 2}, "'layers'"),
        ("lstm", {}, "'vocab_size' is required"),
        ("resnet18", {"width": 0}, "positive integer"),
        ("vgg16", {"depth": 11}, "'depth'"),
    ],
)
def test_bad_arch_raises_value_error(name: str, arch: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        shape = _kwargs(name)["input_shape"]
        models.build(name, "torch", input_shape=shape, num_classes=2, arch=arch)


def test_unknown_name_and_framework_raise() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        models.build("alexnet", "torch", input_shape=(32, 32, 3), num_classes=10)
    with pytest.raises(ValueError, match="unknown framework"):
        models.build("lenet5", "jax", input_shape=(28, 28, 1), num_classes=10)


def test_torch_to_keras_rejects_a_different_architecture() -> None:
    torch_model = models.build("lenet5", "torch", input_shape=(28, 28, 1), num_classes=10)
    keras_model = models.build("lenet5", "keras", input_shape=(28, 28, 1), num_classes=3)
    with pytest.raises(ValueError, match="fc3"):
        models.torch_to_keras(torch_model, keras_model, "lenet5")


@pytest.mark.parametrize("name", ["resnet18", "vgg16"])
def test_narrow_width_keeps_the_architecture(name: str) -> None:
    """``arch.width`` scales every layer's channels and nothing else: both frameworks
    still compute the same function (weights copied), with about (16/64)^2 the weights."""
    kwargs = {"input_shape": (32, 32, 3), "num_classes": 10, "arch": {"width": 16}}
    torch_model = models.build(name, "torch", **kwargs)
    keras_model = models.build(name, "keras", **kwargs)
    n = models.count_parameters(torch_model, "torch")
    assert n == models.count_parameters(keras_model, "keras")
    assert KNOWN_PARAMETERS[name] / 24 < n < KNOWN_PARAMETERS[name] / 12
    names = [m for m, _ in torch_model.named_modules() if m]
    full = models.build(name, "torch", input_shape=(32, 32, 3), num_classes=10)
    assert names == [m for m, _ in full.named_modules() if m]  # the same layers
    _perturb(torch_model)
    models.torch_to_keras(torch_model, keras_model, name)
    x = _batch(name, seed=3)
    np.testing.assert_allclose(
        _keras_out(keras_model, x, name), _torch_out(torch_model, x, name), rtol=1e-4, atol=1e-4
    )


KERAS_STEPS = """
import sys
import numpy as np
from convstudy import models, training
from convstudy.frameworks import keras as fw
fw.limit_threads(1)
fw.seed(0)
rng = np.random.default_rng(0)
x = rng.integers(0, 50, size=(100, 12), dtype=np.int32)  # 7 batches of 16: a partial call
y = rng.integers(0, 2, size=100).astype(np.int64)
hyper = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0, "momentum": 0,
         "batch_size": 16, "epochs": 2}
fw.STEPS_PER_EXECUTION = int(sys.argv[1])
net = models.build("gru", "keras", input_shape=(12,), num_classes=2,
                   arch={"vocab_size": 50, "embed_dim": 8, "hidden": 8})
net.set_weights([np.full(w.shape, 0.05, np.float32) * (i + 1)
                 for i, w in enumerate(net.get_weights())])
initial = np.concatenate([w.ravel() for w in net.get_weights()])
training.fit(fw, net, hyper, seed=0, train=(x, y), val=(x[:20], y[:20]))
np.savez(sys.argv[2], initial=initial,
         trained=np.concatenate([w.ravel() for w in net.get_weights()]))
"""


def test_keras_trains_the_same_weights_with_several_steps_per_call(tmp_path: Path) -> None:
    # compile(steps_per_execution=N) runs N batches per call of the traced step: the
    # updates must be those of one batch per call, to the bit
    runs = []
    for steps in (1, 3):
        out = tmp_path / f"steps{steps}.npz"
        done = subprocess.run(
            [sys.executable, "-c", KERAS_STEPS, str(steps), str(out)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(np.load(out))
    assert runs[0]["trained"].tobytes() == runs[1]["trained"].tobytes()
    assert not np.array_equal(runs[0]["trained"], runs[0]["initial"])  # it trained
