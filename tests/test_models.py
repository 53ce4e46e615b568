"""Tests of neuro_de.models: LeNets, MLP, RNN, torchvision factories, registry."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from neuro_de import models
from neuro_de.models import (
    MLP,
    LeNet1,
    LeNet5,
    RNNClassifier,
    available_models,
    build_model,
    mobilenet,
    register_model,
    resnet,
)
from neuro_de.models import registry as registry_module


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- LeNets


def test_lenet1_has_exactly_3246_parameters():
    assert n_params(LeNet1()) == 3246
    assert n_params(LeNet1(in_channels=1, num_classes=10, image_size=28)) == 3246


def test_lenet5_is_the_standard_61706_parameter_network():
    model = LeNet5()
    assert n_params(model) == 61706
    # Layer plan of the standard LeNet-5: 6 and 16 maps, 400-120-84-10.
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [6, 16]
    assert convs[0].padding == (2, 2)
    assert [(l.in_features, l.out_features) for l in linears] == [(400, 120), (120, 84), (84, 10)]


@pytest.mark.parametrize("cls", [LeNet1, LeNet5])
@pytest.mark.parametrize(("channels", "size", "classes"), [(1, 28, 10), (3, 32, 10), (3, 32, 100)])
def test_lenet_output_shapes(cls, channels, size, classes):
    model = cls(in_channels=channels, image_size=size, num_classes=classes)
    out = model(torch.randn(4, channels, size, size))
    assert out.shape == (4, classes)


def test_lenet_flatten_size_is_computed_for_cifar():
    assert LeNet1(in_channels=3, image_size=32).classifier.in_features == 12 * 5 * 5
    assert LeNet5(in_channels=3, image_size=32).classifier[0].in_features == 16 * 6 * 6
    assert LeNet5(in_channels=3, image_size=32, padding=0).classifier[0].in_features == 400


def test_lenet_relu_activation_and_bad_activation():
    model = LeNet5(activation="relu")
    assert any(isinstance(m, nn.ReLU) for m in model.modules())
    assert not any(isinstance(m, nn.Tanh) for m in model.modules())
    assert any(isinstance(m, nn.Tanh) for m in LeNet1().modules())
    with pytest.raises(ValueError, match="`activation` must be one of"):
        LeNet1(activation="sigmoid")


def test_lenet_rejects_images_too_small_and_bad_sizes():
    with pytest.raises(ValueError, match="image_size=15.*at least 16"):
        LeNet1(image_size=15)
    LeNet1(image_size=16)(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="in_channels"):
        LeNet5(in_channels=0)
    with pytest.raises(ValueError, match="num_classes"):
        LeNet1(num_classes=-1)


def test_lenet_options_are_keyword_only():
    with pytest.raises(TypeError):
        LeNet1(1, 10, 28)


# --------------------------------------------------------------------------- MLP / RNN


def test_mlp_flattens_images_and_accepts_a_shape():
    model = MLP((1, 28, 28), hidden=(32, 16), num_classes=10)
    assert model.in_features == 784
    assert MLP(input_shape=(3, 32, 32), hidden=(4,)).in_features == 3072
    with pytest.raises(ValueError, match="not both"):
        MLP(784, input_shape=(1, 28, 28))
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    cifar = MLP(3 * 32 * 32, hidden=(64,), num_classes=100)
    assert cifar(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    linear = MLP(784, hidden=(), num_classes=10)
    assert n_params(linear) == 784 * 10 + 10


def test_mlp_default_size_and_errors():
    assert n_params(MLP()) == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    with pytest.raises(ValueError, match="hidden\\[1\\]"):
        MLP(784, hidden=(10, 0))
    with pytest.raises(ValueError, match="in_features"):
        MLP((1, 0, 28))
    with pytest.raises(ValueError, match="dropout"):
        MLP(784, dropout=1.0)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_rnn_reads_images_row_by_row(cell):
    model = RNNClassifier(cell=cell, hidden_size=16, num_layers=2)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    rgb = RNNClassifier(in_channels=3, image_size=32, num_classes=100, cell=cell, hidden_size=8)
    assert rgb.input_size == 96
    assert rgb(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert isinstance(model.rnn, {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell])


def test_rnn_row_order_matters_and_sequences_pass_through():
    torch.manual_seed(0)
    model = RNNClassifier(hidden_size=8, cell="gru").eval()
    x = torch.randn(2, 1, 28, 28)
    seq = x[:, 0]  # (N, T=28 rows, F=28)
    assert torch.allclose(model(x), model(seq))
    assert not torch.allclose(model(x), model(x.flip(2)))


def test_rnn_errors():
    with pytest.raises(ValueError, match="`cell` must be one of"):
        RNNClassifier(cell="transformer")
    with pytest.raises(ValueError, match="hidden_size"):
        RNNClassifier(hidden_size=0)
    with pytest.raises(ValueError, match="expects"):
        RNNClassifier()(torch.randn(28, 28))


# --------------------------------------------------------------------------- torchvision


def test_resnet18_without_weights_has_the_requested_head():
    model = resnet(18, num_classes=10).eval()
    assert isinstance(model, torchvision.models.ResNet)
    assert model.fc.out_features == 10
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_resnet_grey_stem():
    model = resnet(18, num_classes=10, in_channels=1)
    assert model.conv1.in_channels == 1
    assert model.conv1.out_channels == 64 and model.conv1.stride == (2, 2)


def test_mobilenets_without_weights():
    model = mobilenet("v3_small", num_classes=10).eval()
    assert model.classifier[-1].out_features == 10
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    v2 = mobilenet("v2", num_classes=7, in_channels=1)
    assert v2.classifier[-1].out_features == 7
    assert v2.features[0][0].in_channels == 1


def test_pretrained_weights_are_passed_through_and_head_replaced(monkeypatch):
    """Weights reach torchvision's builder unchanged; no download (state dict is faked)."""
    reference = torchvision.models.resnet18().state_dict()
    seen = []

    def fake_get_state_dict(self, *args, **kwargs):
        seen.append(self)
        return reference

    weights_enum = torchvision.models.ResNet18_Weights
    monkeypatch.setattr(weights_enum, "get_state_dict", fake_get_state_dict)
    model = resnet(18, weights=weights_enum.IMAGENET1K_V1, num_classes=10, in_channels=1)
    assert seen == [weights_enum.IMAGENET1K_V1]
    assert torch.equal(model.layer1[0].conv1.weight, reference["layer1.0.conv1.weight"])
    assert model.fc.out_features == 10 and model.fc.in_features == 512
    # Grey stem from the RGB kernel: a grey image replicated on 3 channels responds alike.
    expected = reference["conv1.weight"].sum(dim=1, keepdim=True)
    assert torch.allclose(model.conv1.weight, expected, atol=1e-6)

    same_head = resnet(18, weights="DEFAULT")  # names are resolved by torchvision
    assert same_head.fc.out_features == 1000
    assert torch.equal(same_head.fc.weight, reference["fc.weight"])


def test_factory_argument_errors():
    with pytest.raises(ValueError, match="`depth` must be one of \\[18, 34, 50, 101\\]"):
        resnet(20)
    with pytest.raises(ValueError, match="`version` must be one of"):
        mobilenet("v1")
    with pytest.raises(ValueError, match="num_classes"):
        resnet(18, num_classes=0)


# --------------------------------------------------------------------------- registry


def test_registry_names():
    assert available_models() == [
        "lenet1",
        "lenet5",
        "mlp",
        "rnn",
        "conv1d",
        "conv1d_pilot",
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "mobilenet_v2",
        "mobilenet_v3_small",
        "mobilenet_v3_large",
    ]


@pytest.mark.parametrize("name", ["lenet1", "lenet5", "mlp", "rnn"])
def test_build_small_models_for_cifar_shapes(name):
    model = build_model(name, in_channels=3, num_classes=100, image_size=32)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_build_model_defaults_and_kwargs():
    assert n_params(build_model("lenet1")) == 3246
    assert n_params(build_model("LeNet5", in_channels=1, num_classes=10, image_size=28)) == 61706
    assert isinstance(build_model("lenet5", activation="relu").features[1], nn.ReLU)
    assert build_model("rnn", cell="gru", hidden_size=8).cell == "gru"
    assert build_model("mlp", hidden=(8,), image_size=8).in_features == 64
    model = build_model("resnet18", in_channels=1, num_classes=10, image_size=28)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 10


def test_build_model_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'lenet7'.*lenet1, lenet5, mlp, rnn"):
        build_model("lenet7")


def test_register_model(monkeypatch):
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))

    def tiny(*, in_channels, num_classes, image_size, **kwargs):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size**2, num_classes))

    register_model("tiny", tiny)
    model = build_model("tiny", in_channels=1, num_classes=3, image_size=4)
    assert model(torch.randn(2, 1, 4, 4)).shape == (2, 3)
    with pytest.raises(ValueError, match="already registered"):
        register_model("tiny", tiny)
    register_model("tiny", tiny, overwrite=True)


def test_package_exports():
    for name in models.__all__:
        assert hasattr(models, name)
