"""Louloudakis et al.'s ImageNet architectures: the PyTorch twins compute the Keras
applications' function on real CIFAR-10 images, with weights copied either way; the
explicit paddings matter; torchvision's definitions have torchvision's parameter counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from convstudy import models
from convstudy.data import resize_images

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

#: Small inputs keep the tests fast; InceptionV3 takes 75x75 at least.
SHAPES = {"mobilenetv2": (32, 32, 3), "resnet101": (32, 32, 3), "inceptionv3": (75, 75, 3)}
IMAGENET = tuple(SHAPES)
#: The published totals of weights (trainable + BN moving statistics) of the Keras
#: applications with 1000 classes (``model.count_params()``).
KERAS_PUBLISHED_WEIGHTS = {
    "mobilenetv2": 3_538_984,
    "resnet101": 44_707_176,
    "inceptionv3": 23_851_784,
}
#: torchvision's published parameter counts (1000 classes); InceptionV3's without its
#: auxiliary classifier (27,161,264 - 3,326,696: conv0 128x768 + BN, conv1 768x128x5x5 + BN,
#: fc 768x1000 + 1000), which acts in training only and is left out.
TORCHVISION_PARAMETERS = {
    "mobilenetv2": 3_504_872,
    "resnet101": 44_549_160,
    "inceptionv3": 27_161_264 - 3_326_696,
}
TOLERANCE = 1e-4


@pytest.fixture(scope="module", autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cifar10(data_dir: Any) -> np.ndarray:
    """Eight real CIFAR-10 test images (uint8, 32x32)."""
    with np.load(data_dir / "cifar10" / "cifar10_test.npz") as npz:
        return np.asarray(npz["x"][:8])


def _images(cifar10: np.ndarray, name: str) -> np.ndarray:
    return resize_images(cifar10, SHAPES[name][0])


def _torch_out(model: Any, x: np.ndarray, name: str) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(models.to_framework_input(x, name, "torch"))).numpy()


def _keras_out(model: Any, x: np.ndarray, name: str) -> np.ndarray:
    out = model(models.to_framework_input(x, name, "keras"), training=False)
    return np.asarray(keras.ops.convert_to_numpy(out))


#: BN scale range and a floor added to the measured variances, per model: deep float32
#: networks with statistics measured on eight images amplify rounding (ResNet-101's logits
#: move by 1.7e-3 between float32 and float64 with scales in [0.5, 1.5]); these keep the
#: rounding under a third of the tolerance while the logits still differ between images.
CONDITIONING = {
    "mobilenetv2": ((0.5, 1.5), 0.01),
    "resnet101": ((0.1, 0.3), 0.0),
    "inceptionv3": ((0.5, 1.5), 0.01),
}


def _calibrated_torch(name: str, x: np.ndarray, seed: int = 1) -> Any:
    """A torch twin with BN affine terms drawn away from the identity and BN statistics
    measured on ``x`` (as after training), so its logits depend on the image and a wrong
    mapping, epsilon or padding shows."""
    torch.manual_seed(seed)
    model = _build(name, "torch")
    gen = torch.Generator().manual_seed(seed)
    (low, high), floor = CONDITIONING[name]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in norms:
            if bn.weight.requires_grad:  # else the unit scale of Keras's scale=False
                bn.weight.uniform_(low, high, generator=gen)
            bn.bias.normal_(0.0, 0.2, generator=gen)
            bn.reset_running_stats()
            bn.momentum = None  # a cumulative average: the statistics of x itself
        model.train()
        model(torch.from_numpy(models.to_framework_input(x, name, "torch")))
        for bn in norms:
            bn.momentum = 0.01
            bn.running_var.add_(floor)
    return model.eval()


def _rounding(model: Any, x: np.ndarray, name: str) -> float:
    """How far float32 logits are from float64 ones (the model is left in float32)."""
    inputs = torch.from_numpy(models.to_framework_input(x, name, "torch"))
    with torch.no_grad():
        single = model(inputs).numpy()
        double = model.double()(inputs.double()).numpy()
    model.float()
    return _max_diff(single, double)


def _vary_keras_affine(model: Any, seed: int = 2) -> None:
    """Every Keras BN's scale and offset moved a little, so the weights copied back to
    torch are not those that came from it."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for var in layer.weights:
                if var.path.endswith(("gamma", "beta")):
                    value = np.asarray(var.numpy())
                    var.assign(value + rng.normal(0.0, 0.05, value.shape).astype(np.float32))


def _build(name: str, framework: str, **arch: Any) -> Any:
    return models.build(name, framework, input_shape=SHAPES[name], num_classes=10, arch=arch)


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


@pytest.mark.parametrize("name", IMAGENET)
def test_twins_agree_on_cifar10_after_transfer_both_ways(name: str, cifar10: np.ndarray) -> None:
    keras.utils.set_random_seed(0)
    x = _images(cifar10, name)
    source = _calibrated_torch(name, x)
    torch_out = _torch_out(source, x, name)
    assert torch_out.std(axis=0).mean() > 0.05  # logits that differ between the images
    assert _rounding(source, x, name) < TOLERANCE / 3

    keras_model = _build(name, "keras")
    assert _max_diff(_keras_out(keras_model, x, name), torch_out) > 100 * TOLERANCE
    models.torch_to_keras(source, keras_model, name)
    assert _max_diff(_keras_out(keras_model, x, name), torch_out) <= TOLERANCE

    _vary_keras_affine(keras_model)
    keras_out = _keras_out(keras_model, x, name)
    assert _max_diff(keras_out, torch_out) > 100 * TOLERANCE
    target = _build(name, "torch")
    models.keras_to_torch(keras_model, target, name)
    assert _max_diff(_torch_out(target, x, name), keras_out) <= TOLERANCE


def _pad_symmetrically(model: Any) -> None:
    model.Conv1_pad.padding = (1, 1, 1, 1)  # PyTorch's padding=1


def _count_padding_zeros(model: Any) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.AvgPool2d):
            module.count_include_pad = True  # torchvision's InceptionV3


@pytest.mark.parametrize(
    ("name", "change"),
    [("mobilenetv2", _pad_symmetrically), ("inceptionv3", _count_padding_zeros)],
)
def test_the_explicit_keras_padding_is_what_makes_the_twins_agree(
    name: str, change: Any, cifar10: np.ndarray
) -> None:
    """PyTorch's symmetric padding before MobileNetV2's stride-2 stem (Keras pads an even
    image after only), or average pools that count padding zeros (InceptionV3), compute
    another function with the same weights: where conversions can break."""
    x = _images(cifar10, name)
    torch_model = _calibrated_torch(name, x)
    keras_model = _build(name, "keras")
    models.torch_to_keras(torch_model, keras_model, name)
    keras_out = _keras_out(keras_model, x, name)
    assert _max_diff(_torch_out(torch_model, x, name), keras_out) <= TOLERANCE
    change(torch_model)
    assert _max_diff(_torch_out(torch_model, x, name), keras_out) > 1e-2


def test_keras_pads_stride_two_convolutions_after_an_even_image() -> None:
    from convstudy.models.applications import same_padding

    assert same_padding(32, 3, 2) == (0, 1)  # PyTorch's padding=1 gives (1, 1)
    assert same_padding(75, 3, 2) == (1, 1)
    assert same_padding(32, 3, 1) == (1, 1)
    model = _build("mobilenetv2", "torch")
    assert model.Conv1_pad.padding == (0, 1, 0, 1)  # left, right, top, bottom
    assert model.block_1.pad.padding == (0, 1, 0, 1)
    odd = models.build("mobilenetv2", "torch", input_shape=(33, 33, 3), num_classes=10)
    assert odd.Conv1_pad.padding == (1, 1, 1, 1)


def test_resnet101_strides_sit_on_the_first_1x1_convolution() -> None:
    """Keras's ResNet is the Caffe one (stride on the 1x1); torchvision's moves it to the 3x3."""
    keras_model = _build("resnet101", "keras")
    torch_model = _build("resnet101", "torch")
    tv_model = _build("resnet101", "torch", torchvision=1)
    assert keras_model.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert keras_model.get_layer("conv3_block1_2_conv").strides == (1, 1)
    block = torch_model.conv3.block1
    assert getattr(block, "1_conv").stride == (2, 2) and getattr(block, "2_conv").stride == (1, 1)
    assert getattr(block, "1_conv").bias is not None
    block = tv_model.conv3.block1
    assert getattr(block, "1_conv").stride == (1, 1) and getattr(block, "2_conv").stride == (2, 2)
    assert getattr(block, "1_conv").bias is None
    assert keras_model.get_layer("conv1_bn").epsilon == pytest.approx(1.001e-5)


def test_inceptionv3_keras_names_are_the_torch_paths_and_stable() -> None:
    first = _build("inceptionv3", "keras")
    second = _build("inceptionv3", "keras")  # Keras's own names would now be conv2d_94, ...
    names = [layer.name for layer in first.layers]
    assert names == [layer.name for layer in second.layers]
    weighted = {layer.name for layer in first.layers if layer.weights}
    torch_model = _build("inceptionv3", "torch")
    paths = {
        path.replace(".", "_")
        for path, module in torch_model.named_modules()
        if next(module.parameters(recurse=False), None) is not None
    }
    assert weighted == paths
    assert "Mixed_6b_branch7x7_2_conv" in weighted and "Mixed_7c_branch3x3dbl_cat" in names
    conv = first.get_layer("Mixed_6b_branch7x7_2_conv")
    assert conv.kernel_size == (1, 7) and not conv.use_bias
    assert not first.get_layer("Mixed_6b_branch7x7_2_bn").scale


@pytest.mark.parametrize("name", IMAGENET)
def test_definitions_have_the_published_numbers_of_weights(name: str) -> None:
    """With 1000 classes: the Keras-definition twin holds as many weights as Keras's
    application (``count_params``), torchvision's definition as many parameters as
    torchvision publishes."""
    shape = {"mobilenetv2": (224, 224, 3), "resnet101": (224, 224, 3)}.get(name, (299, 299, 3))
    twin = models.build(name, "torch", input_shape=shape, num_classes=1000)
    weights = sum(
        t.numel()
        for key, t in twin.state_dict().items()
        if t.is_floating_point() and not _is_unit_scale(twin, key)
    )
    assert weights == KERAS_PUBLISHED_WEIGHTS[name]
    tv = models.build(name, "torch", input_shape=shape, num_classes=1000, arch={"torchvision": 1})
    assert models.count_parameters(tv, "torch") == TORCHVISION_PARAMETERS[name]


def _is_unit_scale(model: Any, key: str) -> bool:
    module, _, tensor = key.rpartition(".")
    return tensor == "weight" and not model.get_submodule(module).weight.requires_grad


def test_torchvision_definition_is_pytorch_only() -> None:
    with pytest.raises(ValueError, match="PyTorch only"):
        _build("mobilenetv2", "keras", torchvision=1)
    with pytest.raises(ValueError, match="0 or 1"):
        _build("mobilenetv2", "torch", torchvision=2)


def test_inceptionv3_needs_75_pixels() -> None:
    with pytest.raises(ValueError, match="at least 75x75"):
        models.build("inceptionv3", "torch", input_shape=(32, 32, 3), num_classes=10)


def test_bn_momentum_is_an_optional_arch_key_of_both_frameworks() -> None:
    assert models.resolve_arch("resnet101", {}) == {"torchvision": 0}
    assert models.resolve_arch("resnet101", {"bn_momentum": 0.9})["bn_momentum"] == 0.9
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        models.resolve_arch("mobilenetv2", {"bn_momentum": 1.5})
    with pytest.raises(ValueError, match="'bn_momentum'"):
        models.resolve_arch("resnet18", {"bn_momentum": 0.9})
    own = _build("mobilenetv2", "torch")
    assert own.bn_Conv1.momentum == pytest.approx(0.001) and own.bn_Conv1.eps == 1e-3
    torch_model = _build("mobilenetv2", "torch", bn_momentum=0.9)
    assert all(
        m.momentum == pytest.approx(0.1)
        for m in torch_model.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    )
    keras_model = _build("mobilenetv2", "keras", bn_momentum=0.9)
    momenta = {
        layer.momentum
        for layer in keras_model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {0.9}
