r"""Bound handling for trial vectors of bounded problems."""

from __future__ import annotations

import torch

from .grad import without_grad

# Columns per chunk of the two-sided midpoint repair (its temporaries stay below this size).
_CHUNK_ELEMENTS = 1 << 24

__all__ = ["BOUND_HANDLERS", "clamp_bounds", "inside_bounds", "repair_bounds"]

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

    The ``method``:

    * ``"none"``: leave trials as they are.
    * ``"clip"``: :math:`u_j \leftarrow \min(\max(u_j, l_j), h_j)`.
    * ``"midpoint"``: the repair of JADE/SHADE, halfway between the bound and the parent:
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
    if lower is None or upper is None:  # one-sided: an infinite coordinate may be admissible
        for bound, outside in ((lower, torch.lt), (upper, torch.gt)):
            if bound is not None:
                b = torch.as_tensor(bound, dtype=trials.dtype, device=trials.device)
                torch.where(outside(trials, b), (parents + b) * 0.5, trials, out=trials)
        return trials
    lower, upper = clamp_bounds(lower, upper, dtype=trials.dtype, device=trials.device)
    if trials.device.type == "cpu" and inside_bounds(trials, lower, upper):
        return trials  # nothing to repair (one reduction instead of five passes)
    return _midpoint_two_sided(trials, parents, lower, upper)


def clamp_bounds(lower, upper, *, dtype, device):
    """Two bounds in a form ``torch.clamp`` takes: numbers as they are, else every given
    bound a tensor of ``dtype`` on ``device`` (clamp does not mix a number and a tensor);
    ``None`` stays ``None``."""
    if isinstance(lower, torch.Tensor) or isinstance(upper, torch.Tensor):
        return tuple(
            None if b is None else torch.as_tensor(b, dtype=dtype, device=device)
            for b in (lower, upper)
        )
    return lower, upper


def inside_bounds(x: torch.Tensor, lower, upper) -> bool:
    """Whether every coordinate of ``x`` is inside ``[lower, upper]`` (either may be None)
    and none is NaN, by reductions only (no bool masks): a NaN makes a minimum or maximum
    NaN and the answer False. Number bounds: one ``aminmax`` and two scalar reads; tensor
    bounds: a minimum of ``x - lower`` and of ``upper - x``, per column chunk of a large
    ``x`` (so a genome of millions of columns makes no full-size temporary)."""
    if x.numel() == 0:
        return True
    if not isinstance(lower, torch.Tensor) and not isinstance(upper, torch.Tensor):
        low, high = (float(v) for v in torch.aminmax(x))
        if lower is not None and not low >= lower:  # NaN compares False
            return False
        return upper is None or high <= upper
    if x.ndim == 0 or x.numel() <= _CHUNK_ELEMENTS:
        blocks = [(x, slice(None))]
    else:
        d = x.shape[-1]
        step = max(1, _CHUNK_ELEMENTS // max(x.numel() // d, 1))
        blocks = [
            (x[..., start : start + step], slice(start, start + step))
            for start in range(0, d, step)
        ]
    for part, cols in blocks:
        if lower is not None and not bool((part - _columns(lower, cols)).amin() >= 0):
            return False
        if upper is not None and not bool((_columns(upper, cols) - part).amin() >= 0):
            return False
    return True


def _midpoint_two_sided(trials, parents, lower, upper) -> torch.Tensor:
    """The midpoint repair with both bounds: ``edge = clamp(u)`` is the violated bound where
    ``u`` is outside and ``u`` itself inside, so ``u <- lerp(edge, (x + edge) / 2, w)`` with
    the float weight ``w = [edge != u]``. That is five element-wise passes and no bool
    tensor (a bool mask and ``torch.where`` cost several times more on CPU); lerp is exact
    at weights 0 and 1, so every coordinate is bit-identical to the trial or to
    ``(x + edge) / 2``. NaN stays NaN; +-inf is repaired. Column chunks keep the two
    temporaries small whatever ``d`` is.
    """
    n, d = trials.shape
    parents = parents.expand_as(trials)  # a broadcastable parent (e.g. one row) is allowed
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, d, step):
        cols = slice(start, min(d, start + step))
        u = trials[:, cols]
        edge = torch.clamp(u, _columns(lower, cols), _columns(upper, cols))
        weight = torch.ne(edge, u, out=torch.empty_like(edge))
        torch.add(parents[:, cols], edge, out=u).mul_(0.5)  # u now holds (x + edge) / 2
        torch.lerp(edge, u, weight, out=u)
    return trials


def _columns(bound, cols: slice):
    """A bound for a block of columns: a number or 0-d tensor as it is, a (d,) one sliced."""
    if isinstance(bound, torch.Tensor) and bound.ndim:
        return bound[..., cols]
    return bound
