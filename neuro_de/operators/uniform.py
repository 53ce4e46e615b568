"""Uniform random 16-bit integers from raw 64-bit words."""

from __future__ import annotations

import torch

__all__ = ["random_int16"]


def random_int16(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    words: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Independent uniform 16-bit integers in :math:`[-2^{15}, 2^{15})`, ``int16``.

    Four per random 64-bit word (all 64 bits: ``random_(-2**63, None)``, the full range;
    a plain ``random_()`` leaves the sign bit 0), so a CPU generator, whose cost is per
    output word, makes them ~4x cheaper than ``torch.rand`` makes floats. Binomial crossover
    compares them with :math:`CR` thresholds, and PSO turns them into its :math:`r_1, r_2`
    as :math:`\tfrac12 + 2^{-16} h`.

    ``words``: an int64 buffer of at least ``ceil(numel / 4)`` entries to draw into (the
    result is then a view of it), so that a caller drawing block after block reuses one
    allocation; the draws are the same either way.
    """
    count = 1
    for s in shape:
        count *= int(s)
    needed = (count + 3) // 4
    if words is None:
        words = torch.empty((needed,), dtype=torch.int64, device=device)
    else:
        words = words[:needed]
    words.random_(-(2**63), None, generator=generator)
    draws = words.view(torch.int16)
    return (draws if count % 4 == 0 else draws[:count]).view(shape)

