r"""Sinusoidal scale factor of LSHADE-EpSin (Awad, Ali, Suganthan & Reynolds 2016)."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["sinusoidal_decreasing", "sinusoidal_increasing"]


def sinusoidal_decreasing(g: int, horizon: int, *, freq: float = 0.5) -> float:
    r"""Non-adaptive sinusoidal decreasing adjustment:

    .. math:: F = \tfrac12 \left( \sin(2\pi \nu g + \pi) \frac{G - g}{G} + 1 \right)

    Note: with the published :math:`\nu = 0.5` and an integer generation counter :math:`g`,
    :math:`\sin(\pi g + \pi) = 0`, so this configuration gives :math:`F = 1/2` at every
    generation. We implement the formula as published.
    """
    return 0.5 * (math.sin(2.0 * math.pi * freq * g + math.pi) * (horizon - g) / horizon + 1.0)


def sinusoidal_increasing(g: int, horizon: int, freqs):
    r"""Adaptive sinusoidal increasing adjustment, per individual frequency :math:`\nu_i`
    (a tensor, or a NumPy array as the DE engine holds them):

    .. math:: F_i = \tfrac12 \left( \sin(2\pi \nu_i g) \frac{g}{G} + 1 \right)
    """
    sin = torch.sin if isinstance(freqs, torch.Tensor) else np.sin
    return 0.5 * (sin(2.0 * math.pi * freqs * g) * (g / horizon) + 1.0)
