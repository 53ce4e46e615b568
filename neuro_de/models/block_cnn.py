"""The plain block CNN of Prellberg & Kramer's Lamarckian (1+1)-EA, built from its genome.

M. Prellberg and O. Kramer, *Lamarckian Evolution of Convolutional Neural Networks*, PPSN
2018 (arXiv:1806.08099), §3 and Fig. 1: input -> B_1 -> ... -> B_L -> global average
pooling -> dense -> softmax, every block B_i a convolution with ``f_i`` filters, kernel
size ``k_i`` and stride ``s_i``, then batch normalisation, then a ReLU. The architecture
genome is ``arch = ((f_1, k_1, s_1), ..., (f_L, k_L, s_L))`` with at least one block.

:class:`BlockCNN` builds that network for 1-D signals (``dim=1``, e.g. MNIST-1D) or 2-D
images (``dim=2``) and returns logits (the softmax lives in the loss). The module names
are fixed, because the weight-inheritance rules of
:mod:`neuro_de.operators.inheritance` address tensors by name:

===========================  ===================================================
``blocks.{i}.conv``           ``Conv{dim}d(f_{i-1}, f_i, k_i, stride=s_i,
                              padding=k_i // 2, bias=True)`` (``f_{-1}`` = input
                              channels; indices from 0)
``blocks.{i}.bn``             ``BatchNorm{dim}d(f_i)`` (momentum 0.01, eps 1e-3)
``blocks.{i}.act``            ``ReLU`` (no tensors)
``head``                      ``Linear(f_L, num_classes)`` after global average
                              pooling
===========================  ===================================================

**Padding.** The paper does not state it; 'same' padding is implied (spec B.2). With
``padding = k // 2`` a convolution keeps the size exactly only for **odd** kernels, so
only odd kernels are allowed (the paper's ``K = {1, 3, 5}``); an even kernel is an error.
A side of length ``L`` then becomes ``(L - 1) // s + 1`` (= ``ceil(L / s)``, as Keras's
'same'), so only the strides shorten the input. :func:`check_input_size` rejects an input
on which a stride cannot act: every block of stride ``s`` must receive a side of at least
``s`` points (three stride-2 blocks need a side of at least 5: 5 -> 3 -> 2 -> 1).

**Initialisation** (spec B.9 #7). ``init="glorot"`` (the paper's "appropriate fashion,
e.g. Glorot", Keras-like): Glorot-uniform (``xavier_uniform_``) convolution kernels and
dense weight, zero biases, BatchNorm gamma 1, beta 0. ``init="torch"``: PyTorch's default
initialisation. BatchNorm defaults to Keras's momentum 0.99 (PyTorch ``momentum=0.01``)
and epsilon 1e-3 (an [unverified] reading of the paper's Keras set-up). Construction draws
only from torch's global RNG, in a fixed order, so ``torch.manual_seed(s)`` followed by
``BlockCNN(arch, ...)`` always gives the same weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["Arch", "BlockCNN", "check_input_size", "validate_arch"]

#: An architecture genome: ``((filters, kernel, stride), ...)``, at least one block.
Arch = tuple[tuple[int, int, int], ...]

_INITS = ("glorot", "torch")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive(**kwargs: Any) -> None:
    for name, value in kwargs.items():
        if not _is_int(value) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def validate_arch(arch: Any) -> Arch:
    """Checks an architecture genome and returns it as a tuple of int triples.

    Args:
        arch: A non-empty sequence of ``(filters, kernel, stride)`` triples of positive
            ints, every kernel odd.

    Returns:
        The architecture as ``tuple[tuple[int, int, int], ...]``.

    Raises:
        ValueError: For an empty architecture, a block that is not a triple, a non-positive
            or non-integer entry, or an even kernel (padding ``k // 2`` keeps the size only
            for odd kernels).
    """
    if isinstance(arch, str | bytes) or not isinstance(arch, Iterable):
        raise ValueError(
            f"An architecture must be a sequence of (filters, kernel, stride) triples, "
            f"got {arch!r}."
        )
    blocks = list(arch)
    if not blocks:
        raise ValueError("An architecture needs at least one block, got an empty one.")
    out = []
    for i, block in enumerate(blocks):
        if isinstance(block, str | bytes) or not isinstance(block, Iterable):
            raise ValueError(
                f"Block {i} of the architecture must be a (filters, kernel, stride) triple, "
                f"got {block!r}."
            )
        triple = tuple(block)
        if len(triple) != 3:
            raise ValueError(
                f"Block {i} of the architecture must be a (filters, kernel, stride) triple, "
                f"got {block!r}."
            )
        for name, value in zip(("filters", "kernel", "stride"), triple, strict=True):
            if not _is_int(value) or value < 1:
                raise ValueError(
                    f"Block {i} of the architecture has {name} {value!r}; filters, kernels "
                    "and strides must be positive integers."
                )
        if triple[1] % 2 == 0:
            raise ValueError(
                f"Block {i} of the architecture has the even kernel size {triple[1]}; the "
                "block CNN pads 'same' with k // 2, which keeps the size only for odd kernels."
            )
        out.append((int(triple[0]), int(triple[1]), int(triple[2])))
    return tuple(out)


def _min_side(arch: Arch) -> int:
    """The smallest side on which every block of stride ``s`` gets at least ``s`` points."""
    need = 1
    for _, _, s in reversed(arch):
        need = max(s, (need - 1) * s + 1)
    return need


def check_input_size(arch: Any, size: int | Sequence[int]) -> tuple[int, ...]:
    """Checks that the block net can take inputs of spatial ``size``; returns its output size.

    Each block maps a side of length ``L`` to ``(L - 1) // s + 1``. A block of stride
    ``s`` needs a side of at least ``s`` points to act on (otherwise its stride would
    do nothing); the error message gives the smallest side the architecture takes.

    Args:
        arch: The architecture genome.
        size: The input's spatial size: an int (1-D signals: the length) or a sequence
            with one int per spatial dimension (e.g. ``(H, W)``).

    Returns:
        The spatial size after the last block, one entry per dimension.

    Raises:
        ValueError: For a bad architecture, a non-positive size, or an input shape the
            block net cannot take (a side shorter than a block's stride).
    """
    arch = validate_arch(arch)
    sides = (size,) if _is_int(size) else tuple(size) if isinstance(size, Sequence) else None
    if not sides or not all(_is_int(v) and v >= 1 for v in sides):
        raise ValueError(
            f"`size` must be a positive int or a non-empty sequence of them, got {size!r}."
        )
    out = []
    for d, side in enumerate(sides):
        length = int(side)
        for i, (_, _, s) in enumerate(arch):
            if length < s:
                raise ValueError(
                    f"An input shape the block net cannot take: spatial size {tuple(sides)} "
                    f"(dimension {d} has {side} points) reaches block {i} (stride {s}) with "
                    f"only {length} point(s); the strides {[b[2] for b in arch]} need at "
                    f"least {_min_side(arch)} points per side."
                )
            length = (length - 1) // s + 1
        out.append(length)
    return tuple(out)


class ConvBlock(nn.Module):
    """One block B_i: ``conv -> bn -> act`` (convolution, BatchNorm, ReLU).

    Args:
        in_channels: Input channels ``f_{i-1}``.
        filters: Output channels ``f_i``.
        kernel: Odd kernel size ``k_i`` (padding ``k_i // 2``).
        stride: Stride ``s_i``.
        dim: 1 (signals) or 2 (images).
        bn_momentum: PyTorch BatchNorm momentum.
        bn_eps: BatchNorm epsilon.
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int,
        stride: int,
        *,
        dim: int,
        bn_momentum: float,
        bn_eps: float,
    ) -> None:
        super().__init__()
        conv_cls = nn.Conv1d if dim == 1 else nn.Conv2d
        bn_cls = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
        self.conv = conv_cls(
            in_channels, filters, kernel, stride=stride, padding=kernel // 2, bias=True
        )
        self.bn = bn_cls(filters, eps=bn_eps, momentum=bn_momentum)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv -> BatchNorm -> ReLU."""
        return self.act(self.bn(self.conv(x)))


class BlockCNN(nn.Module):
    """Prellberg & Kramer's plain CNN (PPSN 2018, Fig. 1) built from an architecture genome.

    ``blocks.{i}`` (conv -> BatchNorm -> ReLU, see :class:`ConvBlock`) for every
    ``(f_i, k_i, s_i)`` of ``arch``, then global average pooling over the spatial
    dimensions, then ``head = Linear(f_L, num_classes)`` giving logits. See the module
    docstring for the padding, the size rule and the initialisation.

    Args:
        arch: The genome ``((filters, kernel, stride), ...)``, at least one block, odd
            kernels.
        in_channels: Input channels.
        num_classes: Output width (logits).
        dim: 2 for ``(N, C, H, W)`` images (default), 1 for ``(N, C, L)`` signals.
        init: ``"glorot"`` (paper mode, Keras-like: ``xavier_uniform_`` kernels and head
            weight, zero biases, BN gamma 1 / beta 0) or ``"torch"`` (PyTorch defaults).
        bn_momentum: PyTorch BatchNorm momentum (0.01 = Keras's 0.99).
        bn_eps: BatchNorm epsilon (1e-3, Keras's default).

    Attributes:
        arch: The validated genome (a tuple of int triples).
        blocks: ``nn.ModuleList`` of :class:`ConvBlock`.
        head: The dense output layer.

    Raises:
        ValueError: For a bad architecture (see :func:`validate_arch`), non-positive
            channels or classes, ``dim`` other than 1 or 2, an unknown ``init``, or
            BatchNorm settings out of range.

    Example:
        >>> net = BlockCNN(((8, 3, 1), (16, 5, 2)), in_channels=1, num_classes=10, dim=1)
        >>> net(torch.zeros(2, 1, 40)).shape
        torch.Size([2, 10])
        >>> len(net.blocks)
        2
    """

    def __init__(
        self,
        arch: Any,
        *,
        in_channels: int,
        num_classes: int,
        dim: int = 2,
        init: str = "glorot",
        bn_momentum: float = 0.01,
        bn_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        arch = validate_arch(arch)
        _check_positive(in_channels=in_channels, num_classes=num_classes)
        if not _is_int(dim) or dim not in (1, 2):
            raise ValueError(f"`dim` must be 1 (signals) or 2 (images), got {dim!r}.")
        if init not in _INITS:
            raise ValueError(f"`init` must be one of {list(_INITS)}, got {init!r}.")
        if not isinstance(bn_momentum, int | float) or not 0.0 < bn_momentum <= 1.0:
            raise ValueError(f"`bn_momentum` must be in (0, 1], got {bn_momentum!r}.")
        if not isinstance(bn_eps, int | float) or not bn_eps > 0.0:
            raise ValueError(f"`bn_eps` must be > 0, got {bn_eps!r}.")
        self.arch: Arch = arch
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.dim = int(dim)
        self.init = init
        self.bn_momentum = float(bn_momentum)
        self.bn_eps = float(bn_eps)
        c_in = self.in_channels
        blocks = []
        for f, k, s in arch:
            blocks.append(
                ConvBlock(c_in, f, k, s, dim=self.dim, bn_momentum=self.bn_momentum,
                          bn_eps=self.bn_eps)
            )
            c_in = f
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c_in, self.num_classes)
        if init == "glorot":
            self._glorot()

    @torch.no_grad()
    def _glorot(self) -> None:
        for block in self.blocks:
            nn.init.xavier_uniform_(block.conv.weight)
            nn.init.zeros_(block.conv.bias)
            nn.init.ones_(block.bn.weight)
            nn.init.zeros_(block.bn.bias)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def output_size(self, size: int | Sequence[int]) -> tuple[int, ...]:
        """The spatial size after the last block for inputs of spatial ``size`` (see
        :func:`check_input_size`, which raises for sizes the net cannot take)."""
        return check_input_size(self.arch, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(N, C, L)`` (``dim=1``) or ``(N, C, H, W)`` (``dim=2``) inputs to
        ``(N, num_classes)`` logits."""
        if x.dim() != self.dim + 2 or x.shape[1] != self.in_channels:
            layout = "(N, C, L)" if self.dim == 1 else "(N, C, H, W)"
            raise ValueError(
                f"An input shape the block net cannot take: expected {layout} with "
                f"C = {self.in_channels}, got {tuple(x.shape)}."
            )
        check_input_size(self.arch, tuple(x.shape[2:]))
        for block in self.blocks:
            x = block(x)
        x = x.mean(dim=tuple(range(2, x.dim())))
        return self.head(x)

    def extra_repr(self) -> str:
        return f"arch={self.arch}, dim={self.dim}, init={self.init!r}"
