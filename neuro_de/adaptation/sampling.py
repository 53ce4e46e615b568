r"""The random draws of the adaptation rules, as tensor functions on any device.

SHADE (Tanabe & Fukunaga 2013) draws :math:`F \sim \mathrm{Cauchy}(M_F, 0.1)` and
*regenerates* it while :math:`F \le 0`; LSHADE-EpSin and the seed paper do the same with a
normal draw. Regenerating until the draw exceeds the bound is sampling from the distribution
truncated to :math:`(low, \infty)`, and that is how it is done here: by the inverse CDF of
the truncated distribution, one uniform per individual, no redraw loop. The result has
exactly the distribution of the redraw loop (up to the floating-point rounding of the
inverse CDF, done in float64).

Every function draws from ``generator`` (the problem's, so that a seed reproduces a run and
a saved generator state resumes it) on the device of its ``loc``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["cauchy_regenerate", "normal_clipped", "normal_regenerate", "uniform"]

_HALF_PI = 0.5 * math.pi
_SQRT2 = math.sqrt(2.0)
_TINY = 1e-8  # how far above ``low`` a regenerated draw is kept at least


def uniform(shape, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Float64 uniforms in ``[0, 1)`` of ``shape`` from ``generator`` on ``device``."""
    if isinstance(shape, int):
        shape = (shape,)
    return torch.rand(tuple(shape), generator=generator, device=device, dtype=torch.float64)


def _loc(loc) -> torch.Tensor:
    return torch.as_tensor(loc, dtype=torch.float64)


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

    Returns:
        A float64 tensor of ``loc``'s shape and device.
    """
    m = _loc(loc)
    u = uniform(m.shape, generator=generator, device=m.device)
    width = torch.atan((m - low) / scale) + _HALF_PI
    f = m + scale / torch.tan(u * width)  # u = 0 gives +inf, capped below
    return f.clamp_(min=low + _TINY, max=high)


def normal_regenerate(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""Like :func:`cauchy_regenerate` with a normal draw :math:`N(loc, scale^2)`
    (the seed paper's ``randn(M_r, V)`` for F and the sinusoidal frequency).

    The standard normal conditioned on :math:`Z > z_0 = (low - loc)/scale` is
    :math:`Z = -\Phi^{-1}((1 - U)\, Q(z_0))` with the upper tail
    :math:`Q(z) = \tfrac12 \mathrm{erfc}(z/\sqrt2)`, :math:`U \sim U[0, 1)`. A location so
    far below ``low`` that float64 cannot resolve the tail gives ``low + 1e-8``, as a
    capped redraw loop would; every result is at least ``low + 1e-8``.
    """
    m = _loc(loc)
    u = uniform(m.shape, generator=generator, device=m.device)
    tail = 0.5 * torch.special.erfc((low - m) / (scale * _SQRT2))
    f = m - scale * torch.special.ndtri((1.0 - u) * tail)
    f = torch.nan_to_num(f, nan=low + _TINY, posinf=low + _TINY, neginf=low + _TINY)
    return f.clamp_(min=low + _TINY, max=high)


def normal_clipped(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""The CR draw of SaDE, JADE and SHADE: :math:`CR \sim N(loc, scale^2)` clipped to
    ``[low, high]`` (``high=math.inf`` leaves it open)."""
    m = _loc(loc)
    z = torch.randn(m.shape, generator=generator, device=m.device, dtype=torch.float64)
    return (m + scale * z).clamp_(min=low, max=high)
