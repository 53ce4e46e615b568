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
    lo = None if lower is None else torch.as_tensor(lower, dtype=trials.dtype, device=trials.device)
    hi = None if upper is None else torch.as_tensor(upper, dtype=trials.dtype, device=trials.device)
    if trials.device.type == "cpu" and trials.ndim == 2 and parents.shape == trials.shape:
        # touch only the violating coordinates: few, usually
        if trials.numel() == 0:
            return trials
        scalar = (lo is None or lo.ndim == 0) and (hi is None or hi.ndim == 0)
        if scalar:
            low, high = trials.amin(dim=1), trials.amax(dim=1)
        if lo is not None:
            cand = ~(low >= lo) if scalar else ~((trials - lo).amin(1) >= 0)
            if _midpoint_rows(trials, parents, lo, cand, lower=True) and scalar and hi is not None:
                high = trials.amax(dim=1)  # the repaired values are checked against hi too
        if hi is not None:
            cand = ~(high <= hi) if scalar else ~((hi - trials).amin(1) >= 0)
            _midpoint_rows(trials, parents, hi, cand, lower=False)
        return trials
    if lo is not None:
        torch.where(trials < lo, (parents + lo) * 0.5, trials, out=trials)
    if hi is not None:
        torch.where(trials > hi, (parents + hi) * 0.5, trials, out=trials)
    return trials


def _midpoint_rows(trials, parents, bound, cand, *, lower: bool) -> bool:
    """The midpoint repair on the candidate rows ``cand`` (a bool per row: its minimum, resp.
    maximum, is beyond the bound or NaN); returns whether anything was repaired.

    Only the candidate rows are compared element-wise (``u < l``, resp. ``u > h``, exactly as
    the dense form) and only the violating coordinates are rewritten, with the same two
    operations ``(x + bound) * 0.5``, so the result is bit-identical to the dense repair. A
    NaN minimum or maximum makes its row a candidate, so a NaN cannot hide a violation.
    """
    rows = cand.nonzero().squeeze(1)
    if rows.numel() == 0:
        return False
    block = trials.index_select(0, rows)
    b = bound.expand_as(trials) if bound.ndim else bound
    b_block = b.index_select(0, rows) if bound.ndim else b
    bad = block < b_block if lower else block > b_block
    sub_rows, cols = bad.nonzero(as_tuple=True)
    if sub_rows.numel() == 0:
        return False
    r = rows[sub_rows]
    edge = b[r, cols] if bound.ndim else b
    trials[r, cols] = (parents[r, cols] + edge) * 0.5
    return True
