r"""A pool of mutation strategies: the random vectors they read and the mutants of a whole
generation, each individual with its own strategy.

:class:`StrategyPool` owns the mutation law of a generation:

* :meth:`StrategyPool.draw_indices` draws, for every individual :math:`i`, the random
  vectors the pool's strategies read: ``num_plain`` mutually distinct parents, all
  :math:`\ne i`, and for a pool with an archive strategy (current-to-pbest/1) one more
  column from population ∪ archive, distinct from :math:`i` and from the random parents
  that strategy uses (JADE's :math:`\tilde x_{r_2}`). A strategy reads the first
  ``num_random`` of them (the union column last), and any subset of distinct indices is
  distinct, so one draw serves the whole pool.
* :meth:`StrategyPool.mutants` builds the mutants of all individuals. The reference is
  :meth:`StrategyPool.mutants_by_strategy`: each strategy called on its own rows. For a
  pool of linear (declared) strategies a private fast path builds them all at once: an
  ``(N, T)`` table of vector indices and one of coefficients (a few small tensor
  operations, however many strategies) and one fused weighted gather-sum
  (:class:`~neuro_de.operators.Combination`, which :meth:`StrategyPool.lazy_mutants`
  hands to the crossover unbuilt); tests check it against the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .indices import sample_distinct
from .strategies import Combination, MutationContext, Strategy, get_strategy

__all__ = ["StrategyPool"]


class StrategyPool:
    """An ordered pool of distinct mutation strategies.

    Args:
        strategies: Names, :class:`~neuro_de.operators.Strategy` objects or callables (see
            :func:`~neuro_de.operators.get_strategy`).
    """

    def __init__(self, strategies: Sequence):
        if isinstance(strategies, (str, Strategy)) or callable(strategies):
            strategies = [strategies]
        self.strategies: list[Strategy] = [get_strategy(s) for s in strategies]
        if not self.strategies:
            raise ValueError("`strategies` is empty; give at least one strategy.")
        keys = [s.key for s in self.strategies]
        if len(set(keys)) != len(keys):
            raise ValueError(
                f"Strategies must be distinct, got {[s.name for s in self.strategies]}."
            )
        self.keys: tuple[str, ...] = tuple(keys)
        self.needs = frozenset().union(*(s.needs for s in self.strategies))
        self.uses_archive = "archive" in self.needs
        #: random parents drawn from the population for every individual
        self.num_plain = max(s.num_random - ("archive" in s.needs) for s in self.strategies)
        archive_plain = {s.num_random - 1 for s in self.strategies if "archive" in s.needs}
        if len(archive_plain) > 1:
            raise ValueError(
                "The archive strategies of one pool must read the same number of random "
                f"parents; got {sorted(archive_plain)}."
            )
        self._archive_excludes = archive_plain.pop() if archive_plain else 0
        self.num_columns = self.num_plain + int(self.uses_archive)
        self.crossover = torch.tensor([s.crossover for s in self.strategies])
        self.all_crossover = bool(self.crossover.all())
        min_pop = max(s.min_popsize for s in self.strategies)
        if "pbest" in self.needs:
            min_pop = max(min_pop, 3)
        self.min_popsize = min_pop
        self._fused = _FusedTables(self) if all(s.linear for s in self.strategies) else None

    def __len__(self) -> int:
        return len(self.strategies)

    def __iter__(self):
        return iter(self.strategies)

    def draw_indices(
        self, popsize: int, *, archive_count: int = 0, generator=None, device=None
    ) -> torch.Tensor:
        """The ``(N, num_columns)`` random vector indices of a generation (see the module
        docstring); the union column indexes population ++ archive (``N + archive_count``
        rows)."""
        rows = torch.arange(popsize, device=device).unsqueeze(1)
        r = sample_distinct(popsize, popsize, self.num_plain, exclude=rows, generator=generator,
                            device=device)
        if self.uses_archive:
            exclude = torch.cat([rows, r[:, : self._archive_excludes]], dim=1)
            last = sample_distinct(popsize, popsize + archive_count, 1, exclude=exclude,
                                   generator=generator, device=device)
            r = torch.cat([r, last], dim=1)
        return r

    def context_for(self, k: int, ctx: MutationContext, positions=None) -> MutationContext:
        """Strategy ``k``'s view of a pool-wide context: its own random columns, for the
        individuals at ``positions`` (default all)."""
        s = self.strategies[k]
        if "archive" in s.needs:
            r = torch.cat([ctx.r[:, : s.num_random - 1], ctx.r[:, -1:]], dim=1)
        else:
            r = ctx.r[:, : s.num_random]

        def pick(t):
            return t if t is None or positions is None else t.index_select(0, positions)

        return MutationContext(
            population=ctx.population, fitness=ctx.fitness, rows=pick(ctx.rows), F=pick(ctx.F),
            r=pick(r), best_index=ctx.best_index, pbest=pick(ctx.pbest), K=pick(ctx.K),
            archive=ctx.archive, union=ctx.union, generator=ctx.generator,
        )

    def mutants(
        self, ctx: MutationContext, strategy_ids: torch.Tensor, *, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The ``(N, d)`` mutants of every individual of ``ctx`` (``ctx.r`` from
        :meth:`draw_indices`), individual :math:`i` by strategy ``strategy_ids[i]``.

        Args:
            ctx: The pool-wide context (every individual a target).
            strategy_ids: ``(N,)`` int64 strategy of each individual.
            out: Where to build them (e.g. the trial buffer); a new tensor otherwise.
        """
        if self._fused is not None:
            return self._fused.combination(ctx, strategy_ids).materialize(out)
        return self.mutants_by_strategy(ctx, strategy_ids, out=out)

    def lazy_mutants(
        self, ctx: MutationContext, strategy_ids: torch.Tensor, *,
        buffer: torch.Tensor | None = None,
    ) -> Combination | torch.Tensor:
        """The mutants of :meth:`mutants` as the crossover reads them: for a pool of linear
        strategies a :class:`~neuro_de.operators.Combination`, nothing built yet (the
        crossover builds each block of columns when it needs it, while it is in cache);
        otherwise the mutants themselves, built in ``buffer`` when given (e.g. the trial
        buffer, which the crossover then overwrites in place)."""
        if self._fused is not None:
            return self._fused.combination(ctx, strategy_ids)
        return self.mutants_by_strategy(ctx, strategy_ids, out=buffer)

    def mutants_by_strategy(
        self, ctx: MutationContext, strategy_ids: torch.Tensor, *, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:meth:`mutants` by calling each strategy on its own individuals (the reference,
        and the path of pools with a strategy that returns mutants)."""
        if len(self.strategies) == 1:
            mutants = self.strategies[0](self.context_for(0, ctx))
            return mutants if out is None else out.copy_(mutants)
        if out is None:
            out = torch.empty_like(ctx.population[: ctx.rows.shape[0]])
        for k, strategy in enumerate(self.strategies):
            positions = (strategy_ids == k).nonzero().squeeze(1)
            if positions.numel():
                out.index_copy_(0, positions, strategy(self.context_for(k, ctx, positions)))
        return out


class _FusedTables:
    """The tables of a pool of linear strategies (the fast path of
    :meth:`StrategyPool.mutants`).

    Each individual's terms read from its row of candidate vector indices
    ``(x, best, pbest, r_0, ..., r_{c-1})``. Strategy ``k``'s term ``t`` reads entry
    ``slots[k, t]`` of that row and has coefficient ``a + b F + c K`` with ``(a, b, c)``
    the entries ``[k, t]`` of ``const``, ``per_F``, ``per_K``; a strategy whose
    coefficients come from a function (the trigonometric weights) has zeros there and its
    function's values are put on its rows. A strategy with fewer than ``T`` terms is padded
    with coefficient-0 terms on its own first vector.
    """

    def __init__(self, pool: StrategyPool):
        self.pool = pool
        self.num_terms = max(s.num_terms for s in pool.strategies)
        fixed = {"x": 0, "best": 1, "pbest": 2}
        slots, const, per_F, per_K = [], [], [], []
        self.coef_fns = []
        for k, s in enumerate(pool.strategies):
            row = []
            for v in s.vectors:
                if v in fixed:
                    row.append(fixed[v])
                elif "archive" in s.needs and int(v[1:]) == s.num_random:
                    row.append(3 + pool.num_plain)  # the union column
                else:
                    row.append(3 + int(v[1:]) - 1)
            pad = self.num_terms - len(row)
            slots.append(row + [row[0]] * pad)
            coef = list(s.coef) if s.coef_fn is None else [(0.0, 0.0, 0.0)] * s.num_terms
            coef += [(0.0, 0.0, 0.0)] * pad
            const.append([c[0] for c in coef])
            per_F.append([c[1] for c in coef])
            per_K.append([c[2] for c in coef])
            if s.coef_fn is not None:
                self.coef_fns.append((k, s.num_terms, s.coef_fn))
        self.needs_K = "K" in pool.needs
        self._host = {
            "slots": torch.tensor(slots, dtype=torch.int64),
            "const": torch.tensor(const, dtype=torch.float64),
            "per_F": torch.tensor(per_F, dtype=torch.float64),
            "per_K": torch.tensor(per_K, dtype=torch.float64),
        }
        self._on: dict[str, dict[str, torch.Tensor]] = {}

    def _tables(self, device) -> dict[str, torch.Tensor]:
        key = str(device)
        if key not in self._on:
            with torch.inference_mode(False):
                self._on[key] = {n: t.to(device) for n, t in self._host.items()}
        return self._on[key]

    def combination(self, ctx: MutationContext, ids: torch.Tensor) -> Combination:
        pool = self.pool
        tables = self._tables(ctx.population.device)
        rows = ctx.rows
        n = rows.shape[0]
        best = rows if ctx.best_index is None else ctx.best_index.reshape(1).expand(n)
        pbest = rows if ctx.pbest is None else ctx.pbest
        candidates = torch.cat([torch.stack([rows, best, pbest], dim=1), ctx.r], dim=1)
        index = candidates.gather(1, tables["slots"][ids])
        coef = torch.addcmul(tables["const"][ids], tables["per_F"][ids],
                             ctx.F.reshape(n, 1).to(torch.float64))
        if self.needs_K:
            coef.addcmul_(tables["per_K"][ids], ctx.K.reshape(n, 1).to(torch.float64))
        for k, t, fn in self.coef_fns:
            c = fn(pool.context_for(k, ctx)).to(torch.float64)
            if len(pool.strategies) == 1:
                coef[:, :t] = c
            else:
                coef[:, :t] = torch.where((ids == k).unsqueeze(1), c, coef[:, :t])
        return Combination(ctx.source(), index, coef)
