r"""Differential evolution composed of components: the generation loop of every DE variant.

One generation (Storn & Price 1997; the adaptive variants only change the components):

1. the **strategy selector** chooses a mutation strategy :math:`k_i` per individual;
2. the **parameter rule** draws :math:`F_i` and :math:`CR_i`;
3. the **strategy pool** builds the mutants :math:`v_i` (random vectors distinct from each
   other and from :math:`i`; the best or a p-best parent; the archive);
4. binomial crossover with a forced :math:`j_{rand}` (:math:`CR = 1` for strategies
   without crossover), then bound repair;
5. the trials are evaluated and **one-to-one selection** replaces a parent when
   :math:`f(u_i) \le f(x_i)`; a *success* is :math:`f(u_i) < f(x_i)`; a NaN/inf trial
   never replaces anything; beaten parents enter the **archive**;
6. selector and rule learn from the :class:`~neuro_de.adaptation.Outcome`; an optional
   **population-size schedule** (L-SHADE) removes the worst individuals.

:class:`DifferentialEvolution` is that loop and nothing else; :class:`DE`, :class:`SaDE`,
:class:`SHADE`, :class:`SAShadeTriEnsin`, :class:`JDE`, :class:`JADE` and :class:`LSHADE`
are compositions of it, and a user composes their own the same way (``docs/algorithms.md``,
"Writing your own adaptive DE").
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from evotorch import Problem, SolutionBatch

from ..adaptation import (
    Archive,
    FixedParameters,
    FixedStrategies,
    Generation,
    Outcome,
    ParameterRule,
    StrategySelector,
)
from ..operators import (
    BOUND_HANDLERS,
    MutationContext,
    StrategyPool,
    binomial_crossover,
    candidate_utility,
    clamp_bounds,
    get_strategy,
    one_to_one,
    p_best_rank_cdf,
    repair_bounds,
    sample_p_best,
)
from .base import PopulationAlgorithm, copy_rows_where, plain_bound

__all__ = ["DifferentialEvolution", "PopulationSchedule", "resolve_strategies"]

def resolve_strategies(spec) -> tuple[list, list[float] | None]:
    """Turn a strategy spec into strategies and (optional) fixed probabilities.

    ``spec`` is a name/callable/Strategy, a sequence of them, or a mapping
    ``{strategy: probability}`` (e.g. Fan & Lampinen's TDE:
    ``{"trigonometric": 0.05, "rand/1": 0.95}``).
    """
    if isinstance(spec, Mapping):
        if not spec:
            raise ValueError("`strategy` mapping is empty.")
        probs = [float(p) for p in spec.values()]
        if any(p < 0 for p in probs) or sum(probs) <= 0:
            raise ValueError(f"Strategy probabilities must be >= 0 and not all 0, got {probs}.")
        return [get_strategy(s) for s in spec], [p / sum(probs) for p in probs]
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("`strategies` is empty; give at least one strategy.")
        return [get_strategy(s) for s in spec], None
    return [get_strategy(spec)], None


class PopulationSchedule:
    """Base of population-size schedules: :meth:`size` gives the population size after a
    generation, from the evaluations spent so far (L-SHADE's linear reduction is
    :class:`~neuro_de.algorithms.lshade.LinearPopulationReduction`)."""

    def size(self, evaluations: int, popsize: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError


class DifferentialEvolution(PopulationAlgorithm):
    r"""Differential evolution from components (see the module docstring).

    Args:
        problem: A single-objective EvoTorch problem (minimised or maximised).
        popsize: Population size :math:`N` (optional when ``init_population`` is given).
        init_population: Optional ``(N, d)`` starting individuals (e.g. network snapshots).
            A CPU tensor is copied to the problem's device and dtype; a tensor on another
            device (another GPU, ``meta``) is refused, naming both devices.
        strategies: The mutation strategies: a name, a list, a
            :class:`~neuro_de.operators.StrategyPool`, or a ``{strategy: probability}``
            mapping (fixed probabilities; then leave ``selector`` out).
        selector: A :class:`~neuro_de.adaptation.StrategySelector` (default: uniform
            :class:`~neuro_de.adaptation.FixedStrategies`).
        parameters: A :class:`~neuro_de.adaptation.ParameterRule` (default:
            :class:`~neuro_de.adaptation.FixedParameters`, F = 0.5, CR = 0.9).
        archive_rate: Capacity of the external archive as a multiple of :math:`N`, used by
            archive strategies (current-to-pbest/1).
        p_best: ``(p_min, p_max)`` of the p-best pick; ``p_min=None`` is SHADE's
            :math:`2/N`; a point ``(p, p)`` is JADE's fixed :math:`p`.
        bounds_handling: ``"clip"``, ``"midpoint"`` (JADE/SHADE) or ``"none"``; used only
            if the problem has hard bounds.
        population_schedule: Optional :class:`PopulationSchedule` (L-SHADE).
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        strategies="rand/1",
        selector: StrategySelector | None = None,
        parameters: ParameterRule | None = None,
        archive_rate: float = 1.0,
        p_best: tuple[float | None, float] = (None, 0.2),
        bounds_handling: str = "clip",
        population_schedule: PopulationSchedule | None = None,
    ):
        """Build the algorithm; the class docstring describes every argument."""
        if isinstance(strategies, StrategyPool):
            pool, probs = strategies, None
        else:
            resolved, probs = resolve_strategies(strategies)
            pool = StrategyPool(resolved)
        if probs is not None and selector is not None:
            raise ValueError("Give strategy probabilities in `strategies` or a `selector`, "
                             "not both.")
        selector = FixedStrategies(probs) if selector is None else selector
        parameters = FixedParameters() if parameters is None else parameters
        if not isinstance(selector, StrategySelector):
            raise TypeError(f"`selector` must be a StrategySelector, got "
                            f"{type(selector).__name__}.")
        if not isinstance(parameters, ParameterRule):
            raise TypeError(f"`parameters` must be a ParameterRule, got "
                            f"{type(parameters).__name__}.")
        if bounds_handling not in BOUND_HANDLERS:
            raise ValueError(
                f"`bounds_handling` must be one of {BOUND_HANDLERS}, got {bounds_handling!r}."
            )
        if isinstance(archive_rate, bool) or not isinstance(archive_rate, (int, float)) or not (
            archive_rate >= 0
        ):
            raise ValueError(f"`archive_rate` must be a number >= 0, got {archive_rate!r}.")
        self.pool, self.selector, self.parameters = pool, selector, parameters
        self.population_schedule = population_schedule
        status_keys = ["success_rate", "mean_F", "mean_CR", "archive_size",
                       *parameters.status_keys()]
        if population_schedule is not None:
            status_keys.append("popsize")
        for k in pool.keys:
            status_keys += [f"p/{k}", f"success/{k}", f"F/{k}", f"CR/{k}"]
        super().__init__(problem, popsize=popsize, init_population=init_population,
                         min_popsize=pool.min_popsize, status_keys=tuple(status_keys))
        n = self._popsize
        self._bounds_handling = bounds_handling
        self._device, self._dtype = self._population.device, problem.dtype
        self._archive_rate = float(archive_rate)
        self._p_best = self._check_p_best(p_best, n)
        self._lb, self._ub = clamp_bounds(
            plain_bound(problem.lower_bounds), plain_bound(problem.upper_bounds),
            dtype=self._dtype, device=self._device,
        )
        self._archive: Archive | None = None
        self._block: SolutionBatch | None = None
        if pool.uses_archive and archive_rate > 0:
            self._attach_archive(problem, int(round(archive_rate * n)))
        self._all_trials = SolutionBatch(problem, n, empty=True)
        self._trials = self._all_trials
        self._evaluations = 0
        self._set_popsize(n)
        selector.setup(num_strategies=len(pool), popsize=n, device=self._device)
        parameters.setup(popsize=n, num_strategies=len(pool), device=self._device)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _check_p_best(p_best, n: int) -> tuple[float | None, float]:
        try:
            p_min, p_max = p_best
            p_max = float(p_max)
            p_min = None if p_min is None else float(p_min)
        except (TypeError, ValueError):
            raise TypeError(
                f"`p_best` must be a (p_min or None, p_max) pair, got {p_best!r}."
            ) from None
        if not (0 < p_max <= 1) or (p_min is not None and not 0 < p_min <= p_max):
            raise ValueError(
                f"`p_best` range must satisfy 0 < min <= max <= 1, got {p_best!r}."
            )
        return p_min, p_max

    def _attach_archive(self, problem: Problem, capacity: int) -> None:
        """Keep the population in the first rows of a ``(N + capacity, d)`` block whose
        remaining rows hold the archive, so that an index into population ∪ archive is one
        gather (no per-generation concatenation)."""
        n = self._popsize
        block = SolutionBatch(problem, n + capacity, empty=True)
        block.access_values()[:n] = self._population.access_values(keep_evals=True)
        self._block = block
        self._population = block[:n]
        storage = block.access_values(keep_evals=True)[n:]
        self._archive = Archive(capacity, problem.solution_length, storage=storage)

    def _set_popsize(self, n: int) -> None:
        """Bind the per-generation views for a population of ``n`` (at start and after a
        reduction)."""
        self._popsize = n
        if self._block is not None:
            self._population = self._block[:n]
        self._trials = self._all_trials if n == len(self._all_trials) else self._all_trials[:n]
        self._values = self._population.access_values(keep_evals=True)
        self._evals = self._population.access_evals()
        self._trial_values = self._trials.access_values(keep_evals=True)
        self._trial_evals = self._trials.access_evals()
        self._rows = torch.arange(n, device=self._device)
        p_min, p_max = self._p_best
        if p_min is None:  # SHADE's 2/N (at least two p-best); below N = 10 it exceeds 0.2
            p_min = 2.0 / n
            p_max = max(p_max, p_min)
        self._p_best_cdf = torch.tensor(p_best_rank_cdf(n, p_min, p_max), dtype=torch.float64,
                                        device=self._device)

    # ------------------------------------------------------------------ properties
    @property
    def strategies(self) -> list:
        """The pool's strategies."""
        return list(self.pool.strategies)

    @property
    def archive(self) -> Archive | None:
        """The external archive (``None`` when the pool has no archive strategy)."""
        return self._archive

    @property
    def evaluations(self) -> int:
        """Solutions evaluated so far: the first population and every trial (re-scoring
        the parents on a new mini-batch not counted)."""
        return self._evaluations

    def _evaluate_parents(self) -> None:
        if self._generation_index == 0 and self._evaluations == 0:
            self._evaluations = self._popsize
        super()._evaluate_parents()

    # ------------------------------------------------------------------ generation
    def _generation(self) -> None:
        n, parents, trials = self._popsize, self._values, self._trial_values
        gen = Generation(
            index=self._generation_index, popsize=n, num_strategies=len(self.pool),
            utility=self._utility_of(self._evals[:, 0]), generator=self.problem.generator,
            device=self._device,
        )
        gen.strategy_ids = ids = self.selector.select(gen)
        F, CR = self._sample_parameters(gen)
        mutants = self._mutants(gen, F, buffer=trials)
        if not self.pool.all_crossover:  # CR = 1 for the strategies without crossover
            CR_used = torch.where(self.pool.crossover.to(self._device)[ids], CR, 1.0)
        else:
            CR_used = CR
        binomial_crossover(parents, mutants, CR_used, generator=gen.generator, out=trials)
        del mutants
        repair_bounds(trials, parents, self._lb, self._ub, method=self._bounds_handling)

        self._trial_evals.fill_(float("nan"))  # what EvoTorch marks as "not evaluated"
        self._evaluate(self._trials)
        self._evaluations += n
        sel = one_to_one(gen.utility, candidate_utility(self._trial_evals[:, 0], sign=self._sign))
        nonfinite = int(sel.nonfinite)
        self._nonfinite_total += nonfinite
        self._stats["nonfinite_trials"] = float(nonfinite)
        if self._archive is not None:  # the beaten parents, before they are replaced
            self._archive.add(parents, index=sel.improved.nonzero().squeeze(1),
                              generator=gen.generator)
        copy_rows_where(sel.selected, (trials, self._trial_evals), (parents, self._evals))

        outcome = Outcome(gen, ids, F, CR, sel.selected, sel.improved, sel.improvement,
                          nonfinite)
        self.selector.update(outcome)
        self.parameters.update(outcome)
        if self.population_schedule is not None:
            self._reduce_population(self.population_schedule.size(self._evaluations, n))
        self._pending_stats = lambda: self._generation_stats(outcome)

    def _sample_parameters(self, gen: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        F, CR = self.parameters.sample(gen)
        for name, t in (("F", F), ("CR", CR)):
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != (gen.popsize,):
                raise ValueError(
                    f"{type(self.parameters).__name__}.sample must return (F, CR) as "
                    f"({gen.popsize},) tensors; {name} is "
                    f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}."
                )
        return F.to(device=self._device, dtype=torch.float64), CR.to(
            device=self._device, dtype=torch.float64)

    def _mutants(self, gen: Generation, F: torch.Tensor, *, buffer: torch.Tensor):
        """The pool's mutants (:meth:`~neuro_de.operators.StrategyPool.lazy_mutants`: a
        pool of linear strategies leaves them to the crossover to build block by block;
        others build them in ``buffer``, the trial buffer), with the random vectors, best /
        p-best parents and K its strategies need."""
        pool, n, dev = self.pool, gen.popsize, self._device
        count = self._archive.count if self._archive is not None else 0
        r = pool.draw_indices(n, archive_count=count, generator=gen.generator, device=dev)
        needs = pool.needs
        ctx = MutationContext(
            population=self._values,
            fitness=gen.utility,
            rows=self._rows,
            F=F.to(self._dtype).unsqueeze(1),
            r=r,
            best_index=torch.argmin(gen.utility) if "best" in needs else None,
            pbest=(sample_p_best(gen.utility, self._p_best_cdf, generator=gen.generator)
                   if "pbest" in needs else None),
            K=gen.uniform(n, 1).to(self._dtype) if "K" in needs else None,
            archive=self._archive.members if self._archive is not None else None,
            union=(self._block.access_values(keep_evals=True)[: n + count]
                   if self._archive is not None else None),
            generator=gen.generator,
        )
        return pool.lazy_mutants(ctx, gen.strategy_ids, buffer=buffer)

    def _reduce_population(self, size: int) -> None:
        """Keep the best ``size`` individuals (L-SHADE), shrink the archive to
        ``archive_rate * size`` and move it after them in the block."""
        n = self._popsize
        size = max(int(size), self.pool.min_popsize)
        if size >= n:
            return
        keep = torch.argsort(self._utility_of(self._evals[:, 0]), stable=True)[:size]
        self._values[:size] = self._values.index_select(0, keep)
        self._evals[:size] = self._evals.index_select(0, keep)
        if self._archive is not None:
            archive = self._archive
            archive.shrink(int(round(self._archive_rate * size)),
                           generator=self.problem.generator)
            block = self._block.access_values(keep_evals=True)
            block[size : size + archive.count] = archive.members.clone()
            archive.data = block[size : size + archive.capacity]
        self.parameters.reindex(keep)
        self._set_popsize(size)

    def _generation_stats(self, outcome: Outcome) -> dict:
        ids, improved = outcome.strategy_ids, outcome.improved
        k_all = len(self.pool)
        used = torch.bincount(ids, minlength=k_all).tolist()
        won = torch.bincount(ids[improved], minlength=k_all).tolist()
        sum_F = torch.zeros(k_all, dtype=torch.float64, device=ids.device).index_add_(
            0, ids, outcome.F).tolist()
        sum_CR = torch.zeros(k_all, dtype=torch.float64, device=ids.device).index_add_(
            0, ids, outcome.CR).tolist()
        probs = self.selector.probabilities.tolist()
        st: dict = {
            "success_rate": float(improved.double().mean()),
            "mean_F": float(outcome.F.mean()),
            "mean_CR": float(outcome.CR.mean()),
            "archive_size": float(self._archive.count) if self._archive is not None else 0.0,
        }
        if self.population_schedule is not None:
            st["popsize"] = float(self._popsize)
        for k, key in enumerate(self.pool.keys):
            st[f"p/{key}"] = float(probs[k])
            st[f"success/{key}"] = won[k] / used[k] if used[k] else math.nan
            st[f"F/{key}"] = sum_F[k] / used[k] if used[k] else math.nan
            st[f"CR/{key}"] = sum_CR[k] / used[k] if used[k] else math.nan
        st.update(self.parameters.status(self.pool.keys))
        return st

    # ------------------------------------------------------------------ state
    def _extra_state(self) -> dict:
        state = {
            "selector": self.selector.state_dict(),
            "parameters": self.parameters.state_dict(),
            "evaluations": self._evaluations,
        }
        if self._archive is not None:
            state["archive"] = self._archive.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a state produced by :meth:`state_dict` of the same algorithm and problem
        (for a shrinking population, at whatever size it had reached)."""
        size = state.get("popsize") if isinstance(state, dict) else None
        if (self.population_schedule is not None and isinstance(size, int)
                and self.pool.min_popsize <= size < self._popsize):
            self._set_popsize(size)
            if self._archive is not None:
                cap = int(round(self._archive_rate * size))
                self._archive.shrink(cap)
                self._archive.data = self._block.access_values(keep_evals=True)[size:size + cap]
        super().load_state_dict(state)

    def _load_extra_state(self, state: dict) -> None:
        for key in ("selector", "parameters"):
            if key not in state:
                raise ValueError(f"State lacks {key!r}; it was saved by another algorithm.")
        self.selector.load_state_dict(state["selector"])
        self.parameters.load_state_dict(state["parameters"])
        self._evaluations = int(state.get("evaluations", 0))
        if self._archive is not None:
            if "archive" not in state:
                raise ValueError("State lacks 'archive'; it was saved with other settings.")
            self._archive.load_state_dict(state["archive"])
