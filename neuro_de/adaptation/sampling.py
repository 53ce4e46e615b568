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
    shifted = torch.div(loc, scale) if low == 0 else torch.sub(loc, low).div_(scale)
    width = shifted.atan_().add_(_HALF_PI)  # pi/2 - theta_0
    u = torch.rand(loc.shape, generator=generator, device=loc.device, dtype=loc.dtype)
    F = torch.add(loc, u.mul_(width).tan_().reciprocal_(), alpha=scale)  # U = 0: +inf
    return F.clamp_(max=min(high, _FINITE_MAX))


def normal_regenerate(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""Like :func:`cauchy_regenerate` with a normal draw :math:`N(loc, scale^2)`
    (the seed paper's ``randn(M_r, V)`` for F and the sinusoidal frequency).

    The standard normal conditioned on :math:`Z > z_0 = (low - loc)/scale` is
    :math:`Z = \Phi^{-1}(1 - s)`, :math:`s` uniform in :math:`(0, 1 - \Phi(z_0)]`; with
    :math:`1 - \Phi(z_0) = \tfrac12 \mathrm{erfc}(z_0/\sqrt2)` and
    :math:`\Phi^{-1}(1 - s) = -\sqrt2\, \mathrm{erfinv}(2s - 1)`:
    :math:`F = loc - scale \sqrt2\, \mathrm{erfinv}(\mathrm{erfc}(z_0/\sqrt2)(1 - U) - 1)`,
    :math:`U \sim U[0, 1)`. A location so far below ``low`` that float64 cannot resolve
    the tail (more than ~8 standard deviations) gives ``low + 1e-8``, as a capped redraw
    loop would.
    """
    x = loc.to(torch.float64)
    c = 1.0 / (scale * _SQRT2)
    a = torch.mul(x, -c).add_(low * c).erfc_()  # 2 P(Z > z0)
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64)
    e = torch.addcmul(a - 1.0, a, u, value=-1.0).erfinv_()  # erfinv(a (1 - U) - 1)
    F = torch.add(x, e, alpha=-scale * _SQRT2)
    # the only non-finite result is +inf, from an unresolvable tail (a = 0)
    F.nan_to_num_(nan=low + 1e-8, posinf=low + 1e-8, neginf=low + 1e-8)
    return F.clamp_(min=low + 1e-8, max=high).to(loc.dtype)


def normal_clipped(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""CR draw of SaDE and SHADE: :math:`CR \sim N(loc, scale^2)` clipped to [low, high]."""
    return torch.normal(loc, scale, generator=generator).clamp_(low, high)
