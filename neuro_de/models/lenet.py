"""LeNet-1 and LeNet-5 (LeCun et al., 1998), sized for any square image.

Both networks follow the layer plan of the paper with the simplifications that every
modern re-implementation makes, and which the parameter counts below assume:

* the subsampling layers are plain 2x2 average pooling (the paper's S-layers also have a
  trainable coefficient and bias per map);
* C3 of LeNet-5 connects to all six S2 maps (the paper uses a sparse connection table);
* the output layer is a linear layer, trained with cross-entropy (the paper uses
  Euclidean RBF units);
* the activation is ``tanh`` by default (the paper uses the scaled ``1.7159 tanh(2a/3)``);
  ``activation="relu"`` is offered.

Parameter counts for a 1x28x28 input and 10 classes: LeNet-1 has exactly 3,246 and
LeNet-5 has 61,706. Table S1 of the seed paper prints 62,006 for LeNet-5; no standard
variant has that count, and no layers are added here to reach it.

References:
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to
    document recognition. Proc. IEEE 86(11):2278-2324, 1998.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LeNet1", "LeNet5", "make_activation"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


def make_activation(name: str) -> nn.Module:
    """Returns a fresh activation module by name (``"tanh"`` or ``"relu"``).

    Raises:
        ValueError: If ``name`` is not a known activation.
    """
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"`activation` must be one of {sorted(_ACTIVATIONS)}, got {name!r}."
        ) from None


def _feature_size(
    image_size: int, stages: list[tuple[int, int]], *, model: str, hint: str = ""
) -> int:
    """Side length after a sequence of (conv kernel, conv padding) + 2x2 pooling stages."""
    size = image_size
    for kernel, padding in stages:
        size = (size + 2 * padding - kernel + 1) // 2
        if size < 1:
            raise ValueError(
                f"{model}: `image_size={image_size}` is too small for its convolutions and "
                f"poolings (the feature map vanishes); use images of at least "
                f"{_min_size(stages)} pixels{hint}."
            )
    return size


def _min_size(stages: list[tuple[int, int]]) -> int:
    size = 1
    for kernel, padding in reversed(stages):
        size = 2 * size + kernel - 1 - 2 * padding
    return max(size, 1)


def _check_positive(**kwargs: int) -> None:
    for name, value in kwargs.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


class LeNet1(nn.Module):
    """LeNet-1: conv5 (4 maps), pool, conv5 (12 maps), pool, linear.

    For a 1x28x28 input: 1x28x28 -> 4x24x24 -> 4x12x12 -> 12x8x8 -> 12x4x4 -> 192 -> 10,
    exactly 3,246 parameters. Other sizes and channel counts work; the flattened feature
    size is computed from ``image_size`` (e.g. 300 for a 3x32x32 CIFAR image).

    Args:
        in_channels: Input image channels.
        num_classes: Output width (logits).
        image_size: Side length of the square input image.
        activation: ``"tanh"`` (default, as in LeCun et al. 1998) or ``"relu"``.

    References:
        LeCun et al., Gradient-based learning applied to document recognition, 1998
        (Sec. III.C, LeNet-1 among the compared classifiers).
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        side = _feature_size(image_size, [(5, 0), (5, 0)], model="LeNet1")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 4, kernel_size=5),
            make_activation(activation),
            nn.AvgPool2d(2),
            nn.Conv2d(4, 12, kernel_size=5),
            make_activation(activation),
            nn.AvgPool2d(2),
        )
        self.classifier = nn.Linear(12 * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps a ``(N, C, H, W)`` batch to ``(N, num_classes)`` logits."""
        return self.classifier(torch.flatten(self.features(x), 1))


class LeNet5(nn.Module):
    """LeNet-5: conv5 (6 maps), pool, conv5 (16 maps), pool, 120-84-classes.

    The first convolution is padded by ``padding=2`` pixels so that a 28x28 MNIST digit
    is seen as the 32x32 input of the original paper: 1x28x28 -> 6x28x28 -> 6x14x14 ->
    16x10x10 -> 16x5x5 -> 400 -> 120 -> 84 -> 10, which is 61,706 parameters (the
    standard LeNet-5; Table S1 of the seed paper prints 62,006). Other sizes and channel
    counts work; the flattened size is computed (e.g. 576 for 3x32x32 with ``padding=2``,
    400 with ``padding=0``, the usual CIFAR-10 LeNet-5).

    Args:
        in_channels: Input image channels.
        num_classes: Output width (logits).
        image_size: Side length of the square input image.
        activation: ``"tanh"`` (default, as in LeCun et al. 1998) or ``"relu"``.
        padding: Zero padding of the first convolution (default 2).

    References:
        LeCun et al., Gradient-based learning applied to document recognition, 1998,
        Sec. II.B and Fig. 2.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        image_size: int = 28,
        activation: str = "tanh",
        padding: int = 2,
    ) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        if not isinstance(padding, int) or padding < 0:
            raise ValueError(f"`padding` must be a non-negative integer, got {padding!r}.")
        side = _feature_size(
            image_size, [(5, padding), (5, 0)], model="LeNet5", hint=" or a larger `padding`"
        )
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding),
            make_activation(activation),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            make_activation(activation),
            nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * side * side, 120),
            make_activation(activation),
            nn.Linear(120, 84),
            make_activation(activation),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps a ``(N, C, H, W)`` batch to ``(N, num_classes)`` logits."""
        return self.classifier(torch.flatten(self.features(x), 1))
