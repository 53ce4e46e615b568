"""Copying whole rows between ``(N, d)`` tensors without a population-sized temporary."""

from __future__ import annotations

import torch

__all__ = ["copy_rows"]

# Elements per column chunk: the gathered rows of one chunk are the only temporary.
_CHUNK_ELEMENTS = 1 << 20


def copy_rows(
    target: torch.Tensor, target_rows: torch.Tensor, source: torch.Tensor,
    source_rows: torch.Tensor,
) -> torch.Tensor:
    """``target[target_rows[k]] = source[source_rows[k]]`` for every ``k``, in column chunks
    of a 2-D tensor, so that copying ``k`` rows of a 50M-column genome makes no ``(k, d)``
    temporary (``index_select`` then ``index_copy_`` per chunk). The target rows must be
    distinct. Returns ``target``."""
    k = target_rows.numel()
    if k == 0:
        return target
    if target.ndim != 2 or target.shape[1] * k <= _CHUNK_ELEMENTS:
        return target.index_copy_(0, target_rows, source.index_select(0, source_rows))
    step = max(1, _CHUNK_ELEMENTS // k)
    for start in range(0, target.shape[1], step):
        cols = slice(start, start + step)
        target[:, cols].index_copy_(0, target_rows, source[:, cols].index_select(0, source_rows))
    return target
