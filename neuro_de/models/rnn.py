"""A recurrent classifier that reads an image row by row (seed paper, supplement S2)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RNNClassifier"]

_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RNNClassifier(nn.Module):
    """Sequence classifier over image rows: an RNN/GRU/LSTM, then a linear head.

    An image ``(N, C, H, W)`` is read as a sequence of ``H`` steps, step ``t`` being row
    ``t`` of every channel (``C * W`` features). The logits are a linear map of the last
    layer's output at the last step. A ``(N, T, F)`` tensor is used as a sequence as is.
    The seed paper (supplement S2) evolves an "RNN" on MNIST-like data without giving its
    sizes; the defaults (one LSTM layer of 128 units) are this toolkit's choice.

    Args:
        in_channels: Image channels ``C``.
        image_size: Image width ``W`` (rows have ``C * W`` features; any height works).
        num_classes: Output width (logits).
        cell: ``"rnn"`` (Elman, tanh), ``"gru"`` or ``"lstm"``.
        hidden_size: Units per recurrent layer.
        num_layers: Stacked recurrent layers.
        dropout: Dropout between stacked layers (PyTorch semantics; needs num_layers > 1).

    References:
        Hochreiter, Schmidhuber. Long short-term memory. Neural Computation 9(8), 1997.
        Chung, Gulcehre, Cho, Bengio. Empirical evaluation of gated recurrent neural
        networks on sequence modeling. arXiv:1412.3555, 2014.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"`cell` must be one of {sorted(_CELLS)}, got {cell!r}.")
        for name, value in [
            ("in_channels", in_channels),
            ("image_size", image_size),
            ("num_classes", num_classes),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ]:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        self.cell = cell
        self.input_size = in_channels * image_size
        self.num_classes = num_classes
        self.rnn = _CELLS[cell](
            input_size=self.input_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(N, C, H, W)`` images (or ``(N, T, F)`` sequences) to logits."""
        if x.dim() == 4:
            n, c, h, w = x.shape
            x = x.permute(0, 2, 1, 3).reshape(n, h, c * w)
        elif x.dim() != 3:
            raise ValueError(
                f"RNNClassifier expects (N, C, H, W) images or (N, T, F) sequences, "
                f"got a tensor of shape {tuple(x.shape)}."
            )
        out, _ = self.rnn(x)
        return self.head(out[:, -1])
