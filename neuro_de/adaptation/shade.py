r"""SHADE's success-history memory and external archive (Tanabe & Fukunaga 2013)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["SuccessHistoryMemory", "Archive", "weighted_mean"]

MEANS = ("lehmer", "arithmetic")


def weighted_mean(
    values: torch.Tensor,
    weights: torch.Tensor,
    groups: torch.Tensor,
    num_groups: int,
    *,
    kind: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-group weighted means, loop-free (``scatter_add`` over group ids).

    Lehmer: :math:`\sum w v^2 / \sum w v`; arithmetic: :math:`\sum w v / \sum w`, with
    :math:`w_k = \Delta f_k / \sum \Delta f` (the normalisation cancels in both ratios).

    Returns:
        ``(means, has_data)``: ``(num_groups,)`` means (0 where undefined) and a bool mask of
        the groups that had at least one value.
    """
    if kind not in MEANS:
        raise ValueError(f"Mean kind must be one of {MEANS}, got {kind!r}.")
    dt = torch.float64
    v, w = values.to(dt), weights.to(dt)
    zeros = torch.zeros(num_groups, dtype=dt, device=values.device)
    count = zeros.scatter_add(0, groups, torch.ones_like(w))
    wv = zeros.scatter_add(0, groups, w * v)
    if kind == "lehmer":
        num = zeros.scatter_add(0, groups, w * v * v)
        den = wv
    else:
        num = wv
        den = zeros.scatter_add(0, groups, w)
    safe = torch.where(den > 0, den, torch.ones_like(den))
    means = torch.where(den > 0, num / safe, torch.zeros_like(num))
    return means.to(values.dtype), count > 0


class SuccessHistoryMemory:
    r"""Circular memories of size :math:`H` for one or more parameters, one row per strategy.

    Each generation, for every strategy :math:`k` that produced at least one success, the
    weighted mean of its successful values of each parameter is written at position
    :math:`pos_k`, which then advances: :math:`pos_k \leftarrow (pos_k + 1) \bmod H`.
    Strategies without success leave their rows untouched (SHADE's "no update" rule). The
    parameters of one memory (SHADE: F and CR) share the slot draw and the position, as in
    SHADE, and are updated in a single vectorised pass.

    Args:
        num_strategies: Number of rows (1 for plain SHADE).
        size: Memory size :math:`H`.
        params: ``{name: (initial value, mean kind)}``, mean kind ``"lehmer"`` (SHADE's rule
            for F) or ``"arithmetic"`` (SHADE 2013's rule for CR). Default: one parameter
            ``"F"`` starting at 0.5 with the Lehmer mean.
        device: Device of the memory.
    """

    def __init__(
        self,
        num_strategies: int,
        size: int,
        *,
        params: Mapping[str, tuple[float, str]] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        if size < 1:
            raise ValueError(f"Memory size `H` must be >= 1, got {size}.")
        params = dict(params or {"F": (0.5, "lehmer")})
        for name, (_, kind) in params.items():
            if kind not in MEANS:
                raise ValueError(f"Mean of {name!r} must be one of {MEANS}, got {kind!r}.")
        self.size = int(size)
        self.names = tuple(params)
        self.means = tuple(kind for _, kind in params.values())
        init = torch.tensor([float(v) for v, _ in params.values()], dtype=dtype)
        self.values = init.to(device).reshape(-1, 1, 1).repeat(1, num_strategies, size)
        self.position = torch.zeros(num_strategies, dtype=torch.int64, device=device)
        self._lehmer = torch.tensor(
            [k == "lehmer" for k in self.means], dtype=torch.bool, device=device
        )
        # columns of the per-strategy sums [count, sum w, sum w v_p, sum w v_p^2] that form
        # each parameter's numerator and denominator (Lehmer: w v^2 / w v; mean: w v / w)
        p = len(self.names)
        lehmer = [k == "lehmer" for k in self.means]
        self._num_cols = torch.tensor(
            [2 + p + i if leh else 2 + i for i, leh in enumerate(lehmer)], device=device
        )
        self._den_cols = torch.tensor(
            [2 + i if leh else 1 for i, leh in enumerate(lehmer)], device=device
        )
        self._rows = torch.arange(num_strategies, device=device)

    def __getitem__(self, name: str) -> torch.Tensor:
        """The ``(num_strategies, H)`` memory of parameter ``name`` (a view)."""
        return self.values[self.names.index(name)]

    def sample_slots(self, n: int, *, generator=None) -> torch.Tensor:
        r"""Random memory slots :math:`r_i \sim U\{0, H-1\}`, one per individual."""
        return torch.randint(0, self.size, (n,), generator=generator, device=self.values.device)

    def locations(self, name: str, strategy_ids: torch.Tensor, slots: torch.Tensor):
        """The cells :math:`M_{k_i, r_i}` of parameter ``name`` for each individual."""
        return self[name][strategy_ids, slots]

    def locations_of(self, names, strategy_ids: torch.Tensor, slots: torch.Tensor):
        """:meth:`locations` of several parameters with one gather (a tuple of tensors)."""
        flat = self.values.view(self.values.shape[0], -1)  # (P, K * H)
        cells = flat.index_select(1, strategy_ids * self.size + slots)
        return tuple(cells[self.names.index(name)] for name in names)

    def update(
        self,
        strategy_ids: torch.Tensor,
        values: Mapping[str, torch.Tensor],
        improvements: torch.Tensor,
    ) -> torch.Tensor:
        """Record one generation's successes.

        Args:
            strategy_ids: ``(s,)`` strategy of each success.
            values: ``{name: (s,) successful values}`` for every parameter of the memory.
            improvements: ``(s,)`` :math:`|f(u_i) - f(x_i)| > 0`, the weights.

        Returns:
            The ``(num_strategies,)`` bool mask of rows that were updated.
        """
        k = self.values.shape[1]
        v = torch.stack([values[n] for n in self.names], dim=1).to(torch.float64)  # (s, P)
        w = improvements.to(torch.float64).unsqueeze(1)
        # columns: count, sum w, sum w v_p, sum w v_p^2  -> one index_add for everything
        wv = w * v
        cols = torch.cat([torch.ones_like(w), w, wv, wv * v], dim=1)
        sums = torch.zeros((k, cols.shape[1]), dtype=torch.float64, device=v.device)
        sums.index_add_(0, strategy_ids, cols)
        num = sums.index_select(1, self._num_cols)  # (K, P)
        den = sums.index_select(1, self._den_cols)
        positive = den > 0
        means = torch.where(positive, num / torch.where(positive, den, 1.0), 0.0)
        has = sums[:, 0] > 0
        # the cells (k, position_k) of every parameter, through a flat (P, K*H) view
        flat = self.values.view(self.values.shape[0], -1)
        cells = self._rows * self.size + self.position
        current = flat.index_select(1, cells)  # (P, K)
        flat.index_copy_(1, cells, torch.where(has, means.T.to(self.values.dtype), current))
        self.position = torch.where(has, (self.position + 1) % self.size, self.position)
        return has

    def state_dict(self) -> dict:
        return {"values": self.values.clone(), "position": self.position.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.values.copy_(state["values"])
        self.position.copy_(state["position"])


class Archive:
    r"""External archive of parents beaten by their trials (JADE/SHADE).

    Beaten parents are appended; when the archive would exceed its capacity, random members
    (old or new) are deleted until it fits, as in JADE and SHADE.
    """

    def __init__(self, capacity: int, dim: int, *, device=None, dtype=torch.float32):
        if capacity < 0:
            raise ValueError(f"Archive capacity must be >= 0, got {capacity}.")
        self.capacity = int(capacity)
        self.data = torch.empty((self.capacity, dim), device=device, dtype=dtype)
        self.count = 0
        self._positions = torch.arange(self.capacity, device=self.data.device)

    @property
    def members(self) -> torch.Tensor:
        """The ``(count, d)`` current members (a view)."""
        return self.data[: self.count]

    def add(self, rows: torch.Tensor, *, generator=None) -> None:
        """Insert the ``(k, d)`` beaten parents ``rows``."""
        k = rows.shape[0]
        if k == 0 or self.capacity == 0:
            return
        if self.count + k <= self.capacity:
            self.data[self.count : self.count + k] = rows
            self.count += k
            return
        old = self.count
        keep = torch.randperm(old + k, generator=generator, device=self.data.device)
        keep = keep[: self.capacity]
        keep, _ = torch.sort(keep)
        # The archive becomes (members ++ rows)[keep]. As keep is sorted and keep[j] >= j,
        # the members kept in place form a prefix; the other kept members move forward (read
        # before written) and the kept new rows follow: no (count + k, d) temporary.
        positions = self._positions
        from_old = keep < old
        n_old, stay = torch.stack(
            [from_old.sum(), (from_old & (keep == positions)).sum()]
        ).tolist()
        if stay < n_old:
            self.data[stay:n_old] = self.data.index_select(0, keep[stay:n_old])
        if n_old < self.capacity:
            self.data[n_old:] = rows.index_select(0, keep[n_old:] - old)
        self.count = self.capacity

    def state_dict(self) -> dict:
        return {"data": self.members.clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.data[: self.count] = state["data"]
