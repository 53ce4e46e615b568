r"""SHADE's success-history memory and external archive (Tanabe & Fukunaga 2013)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
        # the write positions pos_k, on the host: the update reads its sums there anyway
        self._position = [0] * int(num_strategies)
        # which of the per-strategy sums [sum w, sum w v_p, sum w v_p^2] form each
        # parameter's numerator and denominator (Lehmer: w v^2 / w v; mean: w v / w)
        p = len(self.names)
        self._ratio_cols = tuple(
            (1 + p + i, 1 + i) if kind == "lehmer" else (1 + i, 0)
            for i, kind in enumerate(self.means)
        )
        self._table_cache: tuple | None = None  # see _table

    def __getitem__(self, name: str) -> torch.Tensor:
        """The ``(num_strategies, H)`` memory of parameter ``name`` (a view)."""
        return self.values[self.names.index(name)]

    def sample_slots(self, n: int, *, generator=None) -> torch.Tensor:
        r"""Random memory slots :math:`r_i \sim U\{0, H-1\}`, one per individual."""
        return torch.randint(0, self.size, (n,), generator=generator, device=self.values.device)

    def locations(self, name: str, strategy_ids: torch.Tensor | None, slots: torch.Tensor):
        """The cells :math:`M_{k_i, r_i}` of parameter ``name`` for each individual."""
        return self.cells(strategy_ids, slots)[self.names.index(name)]

    def cells(self, strategy_ids: torch.Tensor | None, slots: torch.Tensor) -> torch.Tensor:
        """``(P, n)``: the cells :math:`M_{k_i, r_i}` of every parameter, one gather.
        ``strategy_ids=None`` means row 0 for everyone (a memory of one strategy)."""
        flat = self.values.view(self.values.shape[0], -1)  # (P, K * H)
        index = slots if strategy_ids is None else torch.add(slots, strategy_ids, alpha=self.size)
        return flat.index_select(1, index)

    def update(
        self,
        strategy_ids: torch.Tensor | None,
        values: Mapping[str, torch.Tensor] | Sequence[torch.Tensor] | torch.Tensor,
        improvements: torch.Tensor,
    ) -> tuple[bool, ...]:
        r"""Record one generation's successes.

        The entries may be the successes alone or a whole generation: an entry of weight 0
        (a failure) or NaN (a non-finite trial) counts for nothing, so the caller need not
        select the successful rows first.

        The weighted sums of every strategy come from one product: with the ``(1 + 2P, s)``
        float64 table :math:`C = [1; v_1..v_P; v_1^2..v_P^2]`, the sums
        :math:`[\sum w, \sum w v_p, \sum w v_p^2]` are :math:`C w` for one strategy, and
        the ``index_add`` of the columns of :math:`C \odot w` by strategy otherwise. They are
        read to the host in one transfer, and the means and positions follow from them
        there (a handful of floats: cheaper than as many small tensor operations).

        Args:
            strategy_ids: ``(s,)`` strategy of each entry (may be None for a memory of one
                strategy).
            values: ``{name: (s,) values}`` for every parameter of the memory, a sequence of
                ``(s,)`` tensors, or a ``(P, s)`` tensor, with the parameters in the
                memory's order.
            improvements: ``(s,)`` weights: :math:`|f(u_i) - f(x_i)| > 0` for a success, 0
                (or NaN) for anything else. An infinite one (a trial beating a NaN/inf
                parent) is capped at 1e300, so it dominates its strategy's means as the
                limit of the weighted mean would.

        Returns:
            For each strategy (row), whether it was updated (a positive total weight).
        """
        k = self.values.shape[1]
        if isinstance(values, Mapping):
            values = [values[n] for n in self.names]
        elif isinstance(values, torch.Tensor):
            values = values.unbind(0)
        w = improvements if improvements.dtype == torch.float64 else improvements.to(torch.float64)
        w = torch.nan_to_num(w, nan=0.0, posinf=1e300)
        table, value_rows, block, squares = self._table(w.shape[0])
        for row, v in zip(value_rows, values, strict=True):
            row.copy_(v)
        torch.mul(block, block, out=squares)
        # the (1 + 2P) sums of each strategy, read to the host at once (one sync): the
        # means, the no-success test and the positions are a few Python floats from there
        if k == 1:
            sums = [torch.mv(table, w).tolist()]
        else:
            per_strategy = torch.zeros((table.shape[0], k), dtype=torch.float64, device=w.device)
            sums = per_strategy.index_add_(1, strategy_ids, torch.mul(table, w)).T.tolist()
        updated = tuple(row[0] > 0 for row in sums)  # False for no success (and for NaN)
        for strategy, row in enumerate(sums):
            if not updated[strategy]:
                continue  # no success: the row keeps its values and its position
            pos = self._position[strategy]
            for param, (num, den) in enumerate(self._ratio_cols):
                # den > 0 but for a Lehmer mean of values that are all 0 (0 / 0: 0)
                mean = row[num] / row[den] if row[den] != 0 else 0.0
                self.values[param, strategy, pos] = mean if mean == mean else 0.0
            self._position[strategy] = (pos + 1) % self.size
        return updated

    @property
    def position(self) -> torch.Tensor:
        """The ``(num_strategies,)`` write positions :math:`pos_k` (a new int64 tensor)."""
        return torch.tensor(self._position, dtype=torch.int64, device=self.values.device)

    def _table(self, s: int) -> tuple:
        """The ``(1 + 2P, s)`` float64 table of :meth:`update` (row 0 all ones) and views of
        it: each value row, the block of value rows, the block of square rows. Kept for the
        last ``s`` (a DE population passes the same ``s`` every generation)."""
        if self._table_cache is None or self._table_cache[0].shape[1] != s:
            p = len(self.names)
            with torch.inference_mode(False):  # an ordinary tensor, usable in and out of it
                table = torch.ones((1 + 2 * p, s), dtype=torch.float64, device=self.values.device)
            block = table[1 : 1 + p]
            self._table_cache = (table, tuple(block.unbind(0)), block, table[1 + p :])
        return self._table_cache

    def state_dict(self) -> dict:
        return {"values": self.values.clone(), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.values.copy_(state["values"])
        position = [int(v) for v in torch.as_tensor(state["position"]).reshape(-1).tolist()]
        if len(position) != len(self._position):
            raise ValueError(
                f"Memory state has {len(position)} positions, expected {len(self._position)}."
            )
        self._position = position


class Archive:
    r"""External archive of parents beaten by their trials (JADE/SHADE).

    Beaten parents are appended; when the archive would exceed its capacity, random members
    (old or new) are deleted until it fits, as in JADE and SHADE.

    Args:
        capacity: Maximum number of members (SHADE: the population size).
        dim: Length of a member vector.
        storage: Optional ``(capacity, dim)`` tensor to hold the members (for example a view
            of rows following the population in one block); allocated when not given.
    """

    def __init__(
        self,
        capacity: int,
        dim: int,
        *,
        device=None,
        dtype=torch.float32,
        storage: torch.Tensor | None = None,
    ):
        if capacity < 0:
            raise ValueError(f"Archive capacity must be >= 0, got {capacity}.")
        self.capacity = int(capacity)
        if storage is None:
            storage = torch.empty((self.capacity, dim), device=device, dtype=dtype)
        elif tuple(storage.shape) != (self.capacity, dim):
            raise ValueError(
                f"Archive `storage` must have shape ({self.capacity}, {dim}), got "
                f"{tuple(storage.shape)}."
            )
        # may be a view into a larger tensor (the DE engine keeps population ++ archive in
        # one block, so population-or-archive indices need a single gather)
        self.data = storage
        self.count = 0
        self._positions = torch.arange(self.capacity, device=self.data.device)

    @property
    def members(self) -> torch.Tensor:
        """The ``(count, d)`` current members (a view)."""
        return self.data[: self.count]

    def add(
        self, rows: torch.Tensor, *, generator=None, index: torch.Tensor | None = None
    ) -> None:
        """Insert the beaten parents ``rows`` (``(k, d)``), or ``rows[index]`` when ``index``
        is given (only the members that stay are then gathered).

        When the archive overflows, the members and the newcomers together keep a uniformly
        random subset of ``capacity`` of them: a random ``k``-subset of the ``count + k`` is
        deleted, the newcomers that survive fill the slots of the deleted members (and any
        free slots), and nothing else moves.
        """
        k = rows.shape[0] if index is None else index.shape[0]
        if k == 0 or self.capacity == 0:
            return
        old = self.count
        if old + k <= self.capacity:
            new = rows if index is None else rows.index_select(0, index)
            self.data[old : old + k] = new
            self.count += k
            return
        excess = old + k - self.capacity
        # members 0..old-1 then newcomers old..old+k-1 get the labels of a random
        # permutation; those labelled below `excess` (a uniformly random `excess`-subset)
        # are deleted
        labels = torch.randperm(old + k, generator=generator, device=self.data.device)
        # slots to fill: deleted members, then the free tail (if the archive was not full)
        slots = torch.nonzero(labels[:old] < excess, as_tuple=True)[0]
        if old < self.capacity:
            slots = torch.cat([slots, self._positions[old:]])
        # newcomers that stay: as many as the slots
        survivors = torch.nonzero(labels[old:] >= excess, as_tuple=True)[0]
        if index is not None:
            survivors = index.index_select(0, survivors)
        self.data.index_copy_(0, slots, rows.index_select(0, survivors))
        self.count = self.capacity

    def state_dict(self) -> dict:
        return {"data": self.members.clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.data[: self.count] = state["data"]
