"""Truncated random draws shared by the adaptation rules."""

from __future__ import annotations

import torch

__all__ = ["cauchy_regenerate", "normal_regenerate", "normal_clipped"]

_MAX_REDRAWS = 1000


def _draw(kind: str, loc: torch.Tensor, scale: float, generator) -> torch.Tensor:
    out = torch.empty_like(loc)
    if kind == "cauchy":
        out.cauchy_(generator=generator)
    else:
        out.normal_(generator=generator)
    return out.mul_(scale).add_(loc)


def _regenerate(
    kind: str, loc: torch.Tensor, scale: float, low: float, high: float, generator
) -> torch.Tensor:
    values = _draw(kind, loc, scale, generator)
    for _ in range(_MAX_REDRAWS):
        bad = values <= low
        if not bool(bad.any()):
            break
        values = torch.where(bad, _draw(kind, loc, scale, generator), values)
    else:  # pathological location far below `low`: fall back to the bound's neighbourhood
        values = torch.where(values <= low, torch.full_like(values, low + 1e-8), values)
    return values.clamp_(max=high)


def cauchy_regenerate(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""SHADE's F draw: :math:`F \sim \mathrm{Cauchy}(loc, scale)`, redrawn while
    :math:`F \le low`, then truncated to :math:`high` (Tanabe & Fukunaga 2013, with
    ``low = 0, high = 1``). The redraw loops over the whole tensor, never over individuals.
    """
    return _regenerate("cauchy", loc, scale, low, high, generator)


def normal_regenerate(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""Like :func:`cauchy_regenerate` with a normal draw :math:`N(loc, scale^2)`
    (the seed paper's ``randn(M_r, V)`` for F and the sinusoidal frequency)."""
    return _regenerate("normal", loc, scale, low, high, generator)


def normal_clipped(
    loc: torch.Tensor, scale: float, *, low: float = 0.0, high: float = 1.0, generator=None
) -> torch.Tensor:
    r"""CR draw of SaDE and SHADE: :math:`CR \sim N(loc, scale^2)` clipped to [low, high]."""
    return _draw("normal", loc, scale, generator).clamp_(low, high)
