r"""Truncated random draws shared by the adaptation rules.

SHADE (Tanabe & Fukunaga 2013) draws :math:`F \sim \mathrm{Cauchy}(M_F, 0.1)` and
*regenerates* it while :math:`F \le 0`; LSHADE-EpSin and the seed paper do the same with a
normal draw. Regenerating until the draw exceeds the bound is sampling from the distribution
truncated to :math:`(low, \infty)`, and that is how it is done here: by the inverse CDF of
the truncated distribution, one uniform per individual, no redraw loop. The result has
exactly the distribution of the redraw loop (up to floating-point rounding of the inverse
CDF, done in float64).

These functions take and return tensors (on any device); the arithmetic is the compiled
host kernels of :mod:`neuro_de.host.kernels`, which the DE engine calls directly.
"""

from __future__ import annotations

import numpy as np
import torch

from ..host import as_host, uniforms
from ..host.kernels import draw_normal_clipped, draw_truncated

__all__ = ["cauchy_regenerate", "normal_regenerate", "normal_clipped"]


def _draw(kernel, loc: torch.Tensor, *args, generator) -> torch.Tensor:
    flat = as_host(loc, np.float64).reshape(-1)
    out = np.empty(flat.shape[0], np.float64)
    kernel(flat, *args, uniforms(flat.shape[0], generator, device=loc.device), out)
    return torch.from_numpy(out).reshape(loc.shape).to(device=loc.device, dtype=loc.dtype)


def cauchy_regenerate(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""SHADE's F draw: :math:`F \sim \mathrm{Cauchy}(loc, scale)`, redrawn while
    :math:`F \le low`, then truncated to :math:`high` (Tanabe & Fukunaga 2013, with
    ``low = 0, high = 1``).

    The Cauchy angle :math:`\varphi = \arctan((F - loc)/scale)` conditioned on
    :math:`F > low` is uniform in :math:`(\theta_0, \pi/2)`,
    :math:`\theta_0 = \arctan((low - loc)/scale)`; with :math:`w = \pi/2 - \theta_0` and
    :math:`U \sim U[0, 1)`, :math:`\varphi = \pi/2 - wU` and
    :math:`F = loc + scale \tan\varphi = loc + scale / \tan(wU)`.
    """
    return _draw(draw_truncated, loc, float(scale), float(low), float(high), True,
                 generator=generator)


def normal_regenerate(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""Like :func:`cauchy_regenerate` with a normal draw :math:`N(loc, scale^2)`
    (the seed paper's ``randn(M_r, V)`` for F and the sinusoidal frequency).

    The standard normal conditioned on :math:`Z > z_0 = (low - loc)/scale` is
    :math:`Z = Q^{-1}((1 - U)\, Q(z_0))` with the upper tail
    :math:`Q(z) = \tfrac12 \mathrm{erfc}(z/\sqrt2)` and :math:`Q^{-1}(q) = -\Phi^{-1}(q)`,
    :math:`U \sim U[0, 1)`. A location so far below ``low`` that float64 cannot resolve
    the tail gives ``low + 1e-8``, as a capped redraw loop would; every result is at least
    ``low + 1e-8``.
    """
    return _draw(draw_truncated, loc, float(scale), float(low), float(high), False,
                 generator=generator)


def normal_clipped(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""CR draw of SaDE and SHADE: :math:`CR \sim N(loc, scale^2)` clipped to [low, high]."""
    return _draw(draw_normal_clipped, loc, float(scale), float(low), float(high),
                 generator=generator)
