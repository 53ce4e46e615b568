r"""Truncated random draws shared by the adaptation rules.

SHADE (Tanabe & Fukunaga 2013) draws :math:`F \sim \mathrm{Cauchy}(M_F, 0.1)` and
*regenerates* it while :math:`F \le 0`; LSHADE-EpSin and the seed paper do the same with a
normal draw. Regenerating until the draw exceeds the bound is sampling from the distribution
truncated to :math:`(low, \infty)`, and that is how it is done here: by the inverse CDF of
the truncated distribution, one uniform per individual, no redraw loop and no host sync.
The result has exactly the distribution of the redraw loop (up to floating-point rounding
of the inverse CDF, done in float64).
"""

from __future__ import annotations

import math

import torch

__all__ = ["cauchy_regenerate", "normal_regenerate", "normal_clipped"]

_HALF_PI = 0.5 * math.pi
_SQRT2 = math.sqrt(2.0)
_FINITE_MAX = 1e30  # cap of an unbounded draw (U = 0 exactly gives an infinite F)


def _uniform_open_low(x: torch.Tensor, generator) -> torch.Tensor:
    """U(0, 1] in float64, shaped like ``x``."""
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64)
    return torch.rsub(u, 1.0)


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
    x = loc.to(torch.float64)
    width = torch.sub(x, low).div_(scale).atan_().add_(_HALF_PI)  # pi/2 - theta_0
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64)
    F = torch.add(x, u.mul_(width).tan_().reciprocal_(), alpha=scale)  # U = 0: +inf
    return F.clamp_(max=min(high, _FINITE_MAX)).to(loc.dtype)


def normal_regenerate(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""Like :func:`cauchy_regenerate` with a normal draw :math:`N(loc, scale^2)`
    (the seed paper's ``randn(M_r, V)`` for F and the sinusoidal frequency).

    Sampled as :math:`F = loc + scale\, \Phi^{-1}(1 - s)` with :math:`s` uniform in
    :math:`(0, 1 - \Phi(z_0)]`, :math:`z_0 = (low - loc)/scale`: the standard normal
    conditioned on :math:`Z > z_0`. A location more than ~8 standard deviations below
    ``low`` (where float64 cannot resolve the tail) gives ``low + 1e-8``, as a redraw loop
    with a cap would.
    """
    x = loc.to(torch.float64)
    z0 = torch.rsub(x, low).div_(scale)
    tail = torch.special.erfc(z0.div_(_SQRT2)).mul_(0.5)  # P(Z > z0)
    s = tail.mul_(_uniform_open_low(x, generator))
    z = torch.special.erfinv(s.mul_(2.0).sub_(1.0)).mul_(-_SQRT2)
    F = z.mul_(scale).add_(x)
    F = torch.where((F > low) & torch.isfinite(F), F, low + 1e-8)
    return F.clamp_(max=high).to(loc.dtype)


def normal_clipped(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""CR draw of SaDE and SHADE: :math:`CR \sim N(loc, scale^2)` clipped to [low, high]."""
    return torch.normal(loc, scale, generator=generator).clamp_(low, high)
