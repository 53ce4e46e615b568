r"""Bound handling for trial vectors of bounded problems."""

from __future__ import annotations

import torch

from .grad import without_grad

__all__ = ["BOUND_HANDLERS", "repair_bounds"]

BOUND_HANDLERS = ("none", "clip", "midpoint")


@without_grad
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
    if trials.device.type == "cpu" and trials.is_contiguous() and parents.shape == trials.shape:
        return _midpoint_sparse(trials, parents, lower, upper)
    lo = None if lower is None else torch.as_tensor(lower, dtype=trials.dtype, device=trials.device)
    hi = None if upper is None else torch.as_tensor(upper, dtype=trials.dtype, device=trials.device)
    if lo is not None:
        torch.where(trials < lo, (parents + lo) * 0.5, trials, out=trials)
    if hi is not None:
        torch.where(trials > hi, (parents + hi) * 0.5, trials, out=trials)
    return trials


def _midpoint_sparse(trials, parents, lower, upper) -> torch.Tensor:
    """The midpoint repair on the rows that violate a bound (usually a handful).

    Candidate rows come from per-row minima and maxima (cheap reductions; element-wise
    comparisons into bool tensors cost several times more on CPU), and only those rows get
    the dense rule ``u <- (x + c) / 2`` where ``c = clamp(u) != u``, ``c`` being the
    violated bound: the same two operations as the dense form, so for parents inside the
    bounds the result is bit-identical to it. A NaN coordinate stays NaN either way.
    """
    if isinstance(lower, torch.Tensor):
        lower = lower.to(device=trials.device, dtype=trials.dtype)
    if isinstance(upper, torch.Tensor):
        upper = upper.to(device=trials.device, dtype=trials.dtype)
    # a row is a candidate unless its minimum and maximum are certainly inside: a NaN
    # extreme (a NaN coordinate) makes it one too, so a NaN cannot hide a violation
    inside = None
    if lower is not None:
        if isinstance(lower, torch.Tensor):
            inside = (trials - lower).amin(dim=1) >= 0
        else:
            inside = trials.amin(dim=1) >= lower
    if upper is not None:
        if isinstance(upper, torch.Tensor):
            below = (trials - upper).amax(dim=1) <= 0
        else:
            below = trials.amax(dim=1) <= upper
        inside = below if inside is None else inside.logical_and_(below)
    cand = inside.logical_not_()
    rows = cand.nonzero().squeeze(1)
    if rows.numel() == 0:
        return trials
    block = trials.index_select(0, rows)
    lo = lower.expand_as(trials).index_select(0, rows) if isinstance(lower, torch.Tensor) else lower
    hi = upper.expand_as(trials).index_select(0, rows) if isinstance(upper, torch.Tensor) else upper
    edge = torch.clamp(block, lo, hi)
    repaired = parents.index_select(0, rows).add_(edge).mul_(0.5)
    if lower is None or upper is None:  # an infinite coordinate may be admissible
        trials.index_copy_(0, rows, torch.where(edge != block, repaired, block))
        return trials
    # Both bounds: ``edge`` is finite (or NaN), so the violated coordinates can be a float
    # 0/1 weight of lerp (a bool mask and torch.where cost several times more on CPU); lerp
    # is exact at weights 0 and 1, so each coordinate is bit-identical to ``edge`` (the
    # trial, when inside) or to ``repaired``. NaN stays NaN; +-inf is repaired.
    violated = torch.ne(edge, block, out=torch.empty_like(block))
    trials.index_copy_(0, rows, torch.lerp(edge, repaired, violated))
    return trials
