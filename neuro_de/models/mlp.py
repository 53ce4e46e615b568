"""A multilayer perceptron classifier that flattens its input (seed paper, supplement S2)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .lenet import make_activation

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected classifier: flatten, then ``hidden`` layers, then a linear output.

    The seed paper's supplement S2 evolves an MLP on MNIST-like data without giving its
    sizes; the default ``hidden=(128, 64)`` is this toolkit's choice
    (784-128-64-10: 109,386 parameters).

    Args:
        in_features: Either the number of input features, or the shape of one input
            sample (e.g. ``(1, 28, 28)``), whose product is used.
        input_shape: Keyword alternative to ``in_features`` for a sample shape; give one
            or the other.
        hidden: Widths of the hidden layers, in order (empty: a linear classifier).
        num_classes: Output width (logits).
        activation: ``"relu"`` (default) or ``"tanh"``.
        dropout: Dropout probability after every hidden activation (0 disables it).

    Raises:
        ValueError: On non-positive sizes, a dropout outside [0, 1), or both
            ``in_features`` and ``input_shape``.

    References:
        Rumelhart, Hinton, Williams. Learning representations by back-propagating
        errors. Nature 323, 533-536, 1986.
    """

    def __init__(
        self,
        in_features: int | Sequence[int] | None = None,
        *,
        input_shape: Sequence[int] | None = None,
        hidden: Sequence[int] = (128, 64),
        num_classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_features is not None and input_shape is not None:
            raise ValueError("give `in_features` or `input_shape`, not both.")
        if in_features is None:
            in_features = 784 if input_shape is None else input_shape
        if isinstance(in_features, int):
            n_in = in_features
        else:
            shape = tuple(in_features)
            if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
                raise ValueError(
                    f"`in_features` must be a positive int or a shape of positive ints, "
                    f"got {in_features!r}."
                )
            n_in = math.prod(shape)
        widths = [n_in, *hidden]
        for name, value in [("in_features", n_in), ("num_classes", num_classes)] + [
            (f"hidden[{i}]", h) for i, h in enumerate(hidden)
        ]:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.in_features = n_in
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(w_in, w_out), make_activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps a batch ``(N, ...)`` with ``in_features`` values per sample to logits."""
        return self.net(torch.flatten(x, 1))
