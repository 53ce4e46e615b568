r"""SHADE's success-history memory and external archive (Tanabe & Fukunaga 2013)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..host import as_host, host_dtype, host_rows_view, host_view, to_device, uniforms
from ..host.kernels import archive_plan, copy_rows, memory_cells, memory_update

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
    SHADE, and are updated in a single pass.

    The memory lives on the host (a NumPy array; :attr:`values` is a CPU tensor sharing
    it) and its draw and update are compiled kernels (:mod:`neuro_de.host.kernels`).

    Args:
        num_strategies: Number of rows (1 for plain SHADE).
        size: Memory size :math:`H`.
        params: ``{name: (initial value, mean kind)}``, mean kind ``"lehmer"`` (SHADE's rule
            for F) or ``"arithmetic"`` (SHADE 2013's rule for CR). Default: one parameter
            ``"F"`` starting at 0.5 with the Lehmer mean.
        dtype: dtype of the stored means.
    """

    def __init__(
        self,
        num_strategies: int,
        size: int,
        *,
        params: Mapping[str, tuple[float, str]] | None = None,
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
        np_dtype = host_dtype(dtype)
        init = np.array([float(v) for v, _ in params.values()], np_dtype)
        self._values = np.repeat(init.reshape(-1, 1, 1), num_strategies, 1).repeat(size, 2)
        self.values = host_view(self._values)  # (P, K, H), sharing the host array
        self._positions = np.zeros(int(num_strategies), np.int64)  # pos_k
        self._lehmer = np.array([kind == "lehmer" for kind in self.means], np.bool_)
        self._updated = np.zeros(int(num_strategies), np.bool_)
        self._no_ids = np.empty(0, np.int64)

    def __getitem__(self, name: str) -> torch.Tensor:
        """The ``(num_strategies, H)`` memory of parameter ``name`` (a view)."""
        return self.values[self.names.index(name)]

    def sample_slots(self, n: int, *, generator=None) -> torch.Tensor:
        r"""Random memory slots :math:`r_i \sim U\{0, H-1\}`, one per individual (the rule
        :meth:`draw_cells` applies to its uniforms)."""
        u = uniforms(n, generator)
        return torch.from_numpy(np.minimum((u * self.size).astype(np.int64), self.size - 1))

    def draw_cells(self, strategy_ids: np.ndarray | None, u: np.ndarray, out: np.ndarray):
        r"""The ``(P, n)`` cells :math:`M_{p, k_i, r_i}` of every parameter into ``out``, for
        random slots :math:`r_i = \lfloor u_i H \rfloor`. ``strategy_ids=None`` means row 0
        for everyone (a memory of one strategy)."""
        memory_cells(self._values, self._no_ids if strategy_ids is None else strategy_ids, u, out)
        return out

    def update(
        self,
        strategy_ids,
        values: Mapping[str, torch.Tensor] | Sequence[torch.Tensor] | torch.Tensor,
        improvements,
    ) -> tuple[bool, ...]:
        r"""Record one generation's successes.

        The entries may be the successes alone or a whole generation: an entry of weight 0
        (a failure) or NaN (a non-finite trial) counts for nothing, so the caller need not
        select the successful rows first. The weighted sums are taken in float64.

        Args:
            strategy_ids: ``(s,)`` strategy of each entry (may be None for a memory of one
                strategy).
            values: ``{name: (s,) values}`` for every parameter of the memory, a sequence of
                ``(s,)`` vectors, or a ``(P, s)`` array, with the parameters in the
                memory's order (tensors or NumPy arrays).
            improvements: ``(s,)`` weights: :math:`|f(u_i) - f(x_i)| > 0` for a success, 0
                (or NaN) for anything else. An infinite one (a trial beating a NaN/inf
                parent) is capped at 1e300, so it dominates its strategy's means as the
                limit of the weighted mean would.

        Returns:
            For each strategy (row), whether it was updated (a positive total weight).
        """
        if isinstance(values, Mapping):
            values = [values[n] for n in self.names]
        if isinstance(values, (list, tuple)):
            params = np.stack([as_host(v, np.float64) for v in values]) if values else None
        else:
            params = as_host(values, np.float64)
        weights = as_host(improvements, np.float64)
        if params is None or params.shape[1] == 0:
            params = np.zeros((len(self.names), 0))
        ids = None if strategy_ids is None else as_host(strategy_ids, np.int64)
        self.update_host(ids, params, weights)
        return tuple(bool(v) for v in self._updated)

    def update_host(self, strategy_ids, params: np.ndarray, weights: np.ndarray) -> None:
        """:meth:`update` for host arrays as the engine holds them (``params`` ``(P, n)``)."""
        memory_update(self._values, self._positions, self._lehmer,
                      self._no_ids if strategy_ids is None else strategy_ids, params, weights,
                      self._updated)

    @property
    def position(self) -> torch.Tensor:
        """The ``(num_strategies,)`` write positions :math:`pos_k` (a new int64 tensor)."""
        return torch.tensor(self._positions)

    def state_dict(self) -> dict:
        return {"values": torch.tensor(self._values), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self._values[:] = as_host(state["values"], self._values.dtype)
        position = as_host(torch.as_tensor(state["position"]), np.int64).reshape(-1)
        if len(position) != len(self._positions):
            raise ValueError(
                f"Memory state has {len(position)} positions, expected {len(self._positions)}."
            )
        self._positions[:] = position


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
        self._host_data = host_rows_view(storage)  # the CPU path of the row copies

    @property
    def members(self) -> torch.Tensor:
        """The ``(count, d)`` current members (a view)."""
        return self.data[: self.count]

    def add(
        self, rows: torch.Tensor, *, generator=None, index: torch.Tensor | None = None,
        u: np.ndarray | None = None,
    ) -> None:
        """Insert the beaten parents ``rows`` (``(k, d)``), or ``rows[index]`` when ``index``
        is given (only the members that stay are then gathered).

        When the archive overflows, the members and the newcomers together keep a uniformly
        random subset of ``capacity`` of them: a random ``k``-subset of the ``count + k`` is
        deleted, the newcomers that survive fill the slots of the deleted members (and any
        free slots), and nothing else moves. The deletion uses ``k`` uniforms, ``u`` when
        given (host float64), else drawn from ``generator``.
        """
        if index is None:
            newcomers = np.arange(rows.shape[0], dtype=np.int64)
        else:
            newcomers = as_host(index, np.int64)
        k = newcomers.shape[0]
        if k == 0 or self.capacity == 0:
            return
        if u is None:
            u = uniforms(k, generator, device=self.data.device)
        slots = np.empty(k, np.int64)
        survivors = np.empty(k, np.int64)
        written = archive_plan(self.count, self.capacity, newcomers, u, slots, survivors)
        self.count = min(self.capacity, self.count + k)
        if written == 0:
            return
        if index is not None:
            survivors = newcomers[survivors[:written]]
        else:
            survivors = survivors[:written]
        source = host_rows_view(rows) if self._host_data is not None else None
        if source is not None:  # each row copied once, straight into its slot
            copy_rows(self._host_data, slots, source, survivors, written)
            return
        device = self.data.device
        new = rows.index_select(0, to_device(survivors, device))
        self.data.index_copy_(0, to_device(slots[:written], device), new)

    def state_dict(self) -> dict:
        return {"data": self.members.clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.data[: self.count] = state["data"]
