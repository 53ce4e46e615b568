r"""Bound handling for trial vectors of bounded problems."""

from __future__ import annotations

import torch

__all__ = ["BOUND_HANDLERS", "repair_bounds"]

BOUND_HANDLERS = ("none", "clip", "midpoint")


@torch.no_grad()
def repair_bounds(
    trials: torch.Tensor,
    parents: torch.Tensor,
    lower: torch.Tensor | float | None,
    upper: torch.Tensor | float | None,
    *,
    method: str = "midpoint",
) -> torch.Tensor:
    r"""Bring trial coordinates back inside ``[lower, upper]``, in place.

    Methods:
        ``"none"``: leave trials as they are.
        ``"clip"``: :math:`u_j \leftarrow \min(\max(u_j, l_j), h_j)`.
        ``"midpoint"``: the repair of JADE/SHADE, halfway between the bound and the parent:
        :math:`u_j \leftarrow (l_j + x_j)/2` if :math:`u_j < l_j`, and
        :math:`(h_j + x_j)/2` if :math:`u_j > h_j` (Zhang & Sanderson 2009;
        Tanabe & Fukunaga 2013).

    Returns:
        ``trials``, repaired in place.
    """
    if method not in BOUND_HANDLERS:
        raise ValueError(f"`bounds_handling` must be one of {BOUND_HANDLERS}, got {method!r}.")
    if method == "none" or (lower is None and upper is None):
        return trials
    if method == "clip":
        return trials.clamp_(min=lower, max=upper)
    if lower is not None:
        lo = torch.as_tensor(lower, dtype=trials.dtype, device=trials.device)
        torch.where(trials < lo, (parents + lo) * 0.5, trials, out=trials)
    if upper is not None:
        hi = torch.as_tensor(upper, dtype=trials.dtype, device=trials.device)
        torch.where(trials > hi, (parents + hi) * 0.5, trials, out=trials)
    return trials
