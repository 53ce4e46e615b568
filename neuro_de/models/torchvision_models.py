"""Factories for torchvision's ResNet and MobileNet, with a head and stem for any data.

``weights=`` is handed to torchvision unchanged (``None``, a weights enum such as
``torchvision.models.ResNet18_Weights.IMAGENET1K_V1``, or its name such as ``"DEFAULT"``).
torchvision loads named weights from its cache (``$TORCH_HOME/hub/checkpoints``) and
downloads them only when they are not there; nothing in this module downloads at import
time, and ``weights=None`` (the default) never touches the network.

With pretrained weights, the network is built with its original 1000-class head and the
weights are loaded; then

* when ``num_classes`` differs from the weights' number of classes, the last linear layer
  is replaced by a freshly initialised one of the right width (the usual fine-tuning
  set-up; it draws from the global torch RNG, so seed it for reproducibility);
* when ``in_channels`` differs from 3, the first convolution is replaced by one with
  ``in_channels`` inputs whose kernel is the pretrained kernel averaged over the RGB
  channels and scaled by ``3 / in_channels``, so a grey image replicated over the
  channels gives the same first-layer response.

Without weights, torchvision builds the head with ``num_classes`` directly and only the
stem is replaced when ``in_channels != 3``.

References:
    He, Zhang, Ren, Sun. Deep residual learning for image recognition. CVPR 2016.
    Sandler, Howard, Zhu, Zhmoginov, Chen. MobileNetV2: Inverted residuals and linear
    bottlenecks. CVPR 2018.
    Howard et al. Searching for MobileNetV3. ICCV 2019.
"""

from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import nn

__all__ = ["RESNET_DEPTHS", "MOBILENET_VERSIONS", "resnet", "mobilenet"]

RESNET_DEPTHS: tuple[int, ...] = (18, 34, 50, 101)
MOBILENET_VERSIONS: tuple[str, ...] = ("v2", "v3_small", "v3_large")


def _check_sizes(num_classes: int, in_channels: int) -> None:
    for name, value in [("num_classes", num_classes), ("in_channels", in_channels)]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _adapted_conv(conv: nn.Conv2d, in_channels: int, *, pretrained: bool) -> nn.Conv2d:
    """A copy of ``conv`` taking ``in_channels`` inputs (RGB-averaged kernel if pretrained)."""
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    if pretrained:
        with torch.no_grad():
            mean = conv.weight.mean(dim=1, keepdim=True)
            new.weight.copy_(mean.expand(-1, in_channels, -1, -1) * (3.0 / in_channels))
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
    return new


def _new_linear(old: nn.Linear, num_classes: int) -> nn.Linear:
    return nn.Linear(old.in_features, num_classes, bias=old.bias is not None)


def resnet(
    depth: int,
    *,
    num_classes: int = 1000,
    weights: Any = None,
    in_channels: int = 3,
    progress: bool = True,
    **kwargs: Any,
) -> torchvision.models.ResNet:
    """Builds torchvision's ResNet-``depth``.

    Args:
        depth: 18, 34, 50 or 101.
        num_classes: Output width; with weights, a new head replaces the 1000-class one
            when this differs.
        weights: Passed unchanged to ``torchvision.models.resnet{depth}``.
        in_channels: Input channels; the stem convolution is replaced when not 3.
        progress: Passed to torchvision (download progress bar, if it downloads).
        **kwargs: Passed to the torchvision builder (e.g. ``zero_init_residual``).

    Returns:
        The network (``fc`` is its last layer).

    Raises:
        ValueError: On an unsupported depth or non-positive sizes.
    """
    if depth not in RESNET_DEPTHS:
        raise ValueError(f"`depth` must be one of {list(RESNET_DEPTHS)}, got {depth!r}.")
    _check_sizes(num_classes, in_channels)
    builder = getattr(torchvision.models, f"resnet{depth}")
    if weights is None:
        model = builder(weights=None, progress=progress, num_classes=num_classes, **kwargs)
    else:
        model = builder(weights=weights, progress=progress, **kwargs)
        if model.fc.out_features != num_classes:
            model.fc = _new_linear(model.fc, num_classes)
    if in_channels != 3:
        model.conv1 = _adapted_conv(model.conv1, in_channels, pretrained=weights is not None)
    return model


def mobilenet(
    version: str = "v2",
    *,
    num_classes: int = 1000,
    weights: Any = None,
    in_channels: int = 3,
    progress: bool = True,
    **kwargs: Any,
) -> nn.Module:
    """Builds torchvision's MobileNetV2, MobileNetV3-Small or MobileNetV3-Large.

    Args:
        version: ``"v2"``, ``"v3_small"`` or ``"v3_large"``.
        num_classes: Output width; with weights, a new last linear layer replaces the
            1000-class one when this differs.
        weights: Passed unchanged to ``torchvision.models.mobilenet_{version}``.
        in_channels: Input channels; the stem convolution is replaced when not 3.
        progress: Passed to torchvision (download progress bar, if it downloads).
        **kwargs: Passed to the torchvision builder (e.g. ``width_mult``, ``dropout``).

    Returns:
        The network (``classifier[-1]`` is its last layer).

    Raises:
        ValueError: On an unknown version or non-positive sizes.
    """
    if version not in MOBILENET_VERSIONS:
        raise ValueError(f"`version` must be one of {list(MOBILENET_VERSIONS)}, got {version!r}.")
    _check_sizes(num_classes, in_channels)
    builder = getattr(torchvision.models, f"mobilenet_{version}")
    if weights is None:
        model = builder(weights=None, progress=progress, num_classes=num_classes, **kwargs)
    else:
        model = builder(weights=weights, progress=progress, **kwargs)
        if model.classifier[-1].out_features != num_classes:
            model.classifier[-1] = _new_linear(model.classifier[-1], num_classes)
    if in_channels != 3:
        stem = model.features[0][0]
        model.features[0][0] = _adapted_conv(stem, in_channels, pretrained=weights is not None)
    return model
