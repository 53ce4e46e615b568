"""Models by name: ``build_model("lenet5", in_channels=1, num_classes=10, image_size=28)``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from .conv1d import Conv1DNet, conv1d_pilot
from .lenet import LeNet1, LeNet5
from .mlp import MLP
from .rnn import RNNClassifier
from .torchvision_models import mobilenet, resnet

__all__ = ["ModelFactory", "available_models", "build_model", "register_model"]

#: A factory receives ``in_channels``, ``num_classes``, ``image_size`` (each ``None`` when the
#: caller did not give it: the factory then uses its own default) and the extra keywords.
ModelFactory = Callable[..., nn.Module]


def _given(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def _lenet(cls: type[nn.Module], *, in_channels, num_classes, image_size, **kwargs) -> nn.Module:
    return cls(
        **_given(in_channels=in_channels, num_classes=num_classes, image_size=image_size),
        **kwargs,
    )


def _mlp(*, in_channels, num_classes, image_size, **kwargs) -> nn.Module:
    c = 1 if in_channels is None else in_channels
    s = 28 if image_size is None else image_size
    kwargs.setdefault("in_features", (c, s, s))
    return MLP(**_given(num_classes=num_classes), **kwargs)


def _rnn(*, in_channels, num_classes, image_size, **kwargs) -> nn.Module:
    return RNNClassifier(
        **_given(in_channels=in_channels, num_classes=num_classes, image_size=image_size),
        **kwargs,
    )


def _torchvision(
    fn: Callable[..., nn.Module], arch: int | str, *, in_channels, num_classes, image_size, **kwargs
) -> nn.Module:
    # ResNet and MobileNet end in global average pooling: any image size >= 32 works.
    del image_size
    return fn(arch, **_given(in_channels=in_channels, num_classes=num_classes), **kwargs)


def _conv1d(
    fn: Callable[..., nn.Module], *, in_channels, num_classes, image_size, **kwargs
) -> nn.Module:
    # 1-D signals: a given image_size is the signal length (``length=`` works too).
    if image_size is not None:
        kwargs.setdefault("length", image_size)
    return fn(**_given(in_channels=in_channels, num_classes=num_classes), **kwargs)


_REGISTRY: dict[str, ModelFactory] = {
    "lenet1": partial(_lenet, LeNet1),
    "lenet5": partial(_lenet, LeNet5),
    "mlp": _mlp,
    "rnn": _rnn,
    "conv1d": partial(_conv1d, Conv1DNet),
    "conv1d_pilot": partial(_conv1d, conv1d_pilot),
    **{f"resnet{d}": partial(_torchvision, resnet, d) for d in (18, 34, 50, 101)},
    **{
        f"mobilenet_{v}": partial(_torchvision, mobilenet, v)
        for v in ("v2", "v3_small", "v3_large")
    },
}


def available_models() -> list[str]:
    """Names accepted by :func:`build_model`, in registration order."""
    return list(_REGISTRY)


def register_model(name: str, factory: ModelFactory, *, overwrite: bool = False) -> None:
    """Adds a model factory under ``name`` (see :data:`ModelFactory` for its arguments).

    Raises:
        ValueError: If ``name`` is taken and ``overwrite`` is false.
    """
    key = name.lower()
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"model {name!r} is already registered; pass overwrite=True.")
    _REGISTRY[key] = factory


def build_model(
    name: str,
    *,
    in_channels: int | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Builds a registered model for data of the given shape.

    Args:
        name: One of :func:`available_models` (case-insensitive): ``lenet1``, ``lenet5``,
            ``mlp``, ``rnn``, ``conv1d``, ``conv1d_pilot`` (1-D signals such as
            MNIST-1D), ``resnet18/34/50/101``, ``mobilenet_v2``,
            ``mobilenet_v3_small``, ``mobilenet_v3_large``.
        in_channels: Input channels (default: the model's own, 1 for the LeNets, MLP and
            RNN, 3 for the torchvision models).
        num_classes: Output width (default: 10, or 1000 for the torchvision models).
        image_size: Side of the square input image (default 28; ignored by the
            torchvision models, which pool globally); the signal length for ``conv1d``.
        **kwargs: Passed to the model, e.g. ``activation="relu"`` (LeNets),
            ``hidden=(256,)`` (MLP), ``cell="gru"`` (RNN), ``weights=...`` (torchvision).

    Tip:
        ``build_model(name, **dataset_info("mnist").model_kwargs())`` sizes a model for
        a data set (see :mod:`neuro_de.data`).

    Raises:
        ValueError: For an unknown name (the message lists the valid ones).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; valid names are: {', '.join(available_models())}."
        )
    return _REGISTRY[key](
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs
    )
