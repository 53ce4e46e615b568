r"""The differential-evolution engine shared by DE, SaDE, SHADE and SA-SHADE-tri-ensin.

One generation (Storn & Price 1997; the adaptive variants only change how the strategy,
:math:`F` and :math:`CR` of each individual are chosen):

1. choose a strategy :math:`k_i` per individual (fixed, or SaDE's learned probabilities);
2. draw :math:`F_i` and :math:`CR_i` (fixed, SaDE's rules, SHADE's memories, or the
   sinusoidal schedule of LSHADE-EpSin);
3. build the mutants into one reused ``(N, d)`` trial buffer: for a pool of linear
   (declared) strategies all at once, from an ``(N, T)`` index table and coefficient table,
   one fused weighted gather-sum; otherwise strategy by strategy (a Python loop over at
   most a handful of strategies, never over individuals or dimensions);
4. binomial crossover with a forced :math:`j_{rand}` (skipped for strategies without it);
5. bound repair, evaluation of the trials, and one-to-one selection: the trial replaces its
   parent when :math:`f(u_i) \le f(x_i)`; a *success* is :math:`f(u_i) < f(x_i)`; a NaN/inf
   trial never replaces anything;
6. update of the adaptation state from the successes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from evotorch import Problem, SolutionBatch

from ..adaptation import (
    Archive,
    MedianCRMemory,
    StrategyLearner,
    SuccessHistoryMemory,
    sinusoidal_decreasing,
    sinusoidal_increasing,
)
from ..host import UniformBlock, as_host, host_dtype, host_rows_view, host_view, to_device
from ..host.kernels import (
    copy_rows,
    distinct_columns,
    draw_normal_clipped,
    draw_truncated,
    mutation_tables,
    p_best_picks,
    selection,
    strategy_draw,
    utility,
)
from ..operators import (
    BOUND_HANDLERS,
    MutationContext,
    Strategy,
    binomial_crossover,
    clamp_bounds,
    combine_terms,
    get_strategy,
    inside_bounds,
    repair_bounds,
    sample_distinct,
)
from ..operators.strategies import trigonometric_coefficients
from .base import PopulationAlgorithm, plain_bound

__all__ = ["DEEngine", "resolve_strategies"]

PARAMETER_SCHEMES = ("fixed", "sade", "shade")
# Up to this many elements the fused mutants are a new tensor that the crossover reads while
# writing the trials; above it (network genomes) they are built in the trial buffer itself,
# so that a generation never holds a second population-sized tensor.
_FRESH_MUTANTS_MAX = 1 << 24
DISTRIBUTIONS = ("cauchy", "normal")


def resolve_strategies(spec) -> tuple[list[Strategy], list[float] | None]:
    """Turn a strategy spec into strategies and (optional) fixed probabilities.

    ``spec`` is a name/callable/Strategy, a sequence of them, or a mapping
    ``{strategy: probability}`` (e.g. Fan & Lampinen's TDE:
    ``{"trigonometric": 0.05, "rand/1": 0.95}``).
    """
    if isinstance(spec, Mapping):
        if not spec:
            raise ValueError("`strategy` mapping is empty.")
        strategies = [get_strategy(s) for s in spec]
        probs = [float(p) for p in spec.values()]
        if any(p < 0 for p in probs) or sum(probs) <= 0:
            raise ValueError(f"Strategy probabilities must be >= 0 and not all 0, got {probs}.")
        total = sum(probs)
        return strategies, [p / total for p in probs]
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("`strategies` is empty; give at least one strategy.")
        return [get_strategy(s) for s in spec], None
    return [get_strategy(spec)], None


def p_best_rank_law(popsize: int, p_min: float, p_max: float) -> list[float]:
    r""":math:`P(rank = r)`, :math:`r = 0, 1, \dots`, of a p-best pick: :math:`p \sim
    U[p_{min}, p_{max}]`, :math:`c = \max(1, \mathrm{round}(p N))`, then a rank uniform in
    :math:`0 .. c - 1`, so :math:`P(rank = r) = \sum_{c > r} P(c) / c`, with :math:`P(c)`
    the length of :math:`\{p \in [p_{min}, p_{max}] : c(p) = c\}` over
    :math:`p_{max} - p_{min}` (all mass on one count when the range is a point)."""
    n = int(popsize)

    def count(p: float) -> int:
        return max(1, int(math.floor(p * n + 0.5)))

    c_max = count(p_max)
    mass = [0.0] * (c_max + 1)  # mass[c] = P(count = c)
    if p_max <= p_min:
        mass[count(p_min)] = 1.0
    else:
        for c in range(count(p_min), c_max + 1):
            low = -math.inf if c == 1 else (c - 0.5) / n  # count 1 also takes round(pN) = 0
            high = (c + 0.5) / n
            mass[c] = max(0.0, min(high, p_max) - max(low, p_min)) / (p_max - p_min)
    law, tail = [0.0] * c_max, 0.0
    for r in range(c_max - 1, -1, -1):
        tail += mass[r + 1] / (r + 1)
        law[r] = tail
    return law


def p_best_rank_cdf(popsize: int, p_min: float, p_max: float) -> list[float]:
    """The cumulative :func:`p_best_rank_law`, its last entry +inf, so that
    ``searchsorted(cdf, u, right=True)`` maps ``u ~ U[0, 1)`` to a rank that is always in
    range (rounding can leave the true total a hair below 1)."""
    cdf = list(itertools.accumulate(p_best_rank_law(popsize, p_min, p_max)))
    cdf[-1] = math.inf
    return cdf


def _check_range(name: str, rng: Sequence[float], low: float, high: float) -> tuple[float, float]:
    try:
        lo, hi = float(rng[0]), float(rng[1])
    except (TypeError, IndexError, ValueError):
        raise TypeError(f"`{name}` must be a (low, high) pair of floats, got {rng!r}.") from None
    if not (low <= lo < hi <= high):
        raise ValueError(f"`{name}` must satisfy {low} <= low < high <= {high}, got {rng!r}.")
    return lo, hi


def _num_plain(strategies) -> int:
    """Random columns drawn from the population alone: an archive strategy's last random
    vector comes from population ∪ archive instead."""
    return max(s.num_random - ("archive" in s.needs) for s in strategies)


class _FusedPool:
    """The tables that build the mutants of a pool of linear strategies in one pass.

    Each individual's terms read from its row of candidate vector indices
    ``(x, best, pbest, r_0, ..., r_{c-1})`` (``c`` random columns: the ``num_plain`` random
    individuals and, for an archive strategy, one drawn from population ∪ archive). Strategy
    ``k``'s term ``t`` reads entry ``slot_table[k, t]`` of that row and has coefficient
    ``a + b F + c K`` with ``(a, b, c)`` the entries ``[k, t]`` of ``const``, ``per_F``,
    ``per_K``; ``coef_kind[k]`` is 0 for those, 1 for the trigonometric mutation (made by
    the host kernel too) and 2 for another coefficient function (a torch function, run
    after the kernel). A strategy with fewer than ``T`` terms is padded with coefficient-0
    terms on its own first vector (so a padded term never reads a vector the mutant does
    not already use). All tables are NumPy arrays, read by
    :func:`~neuro_de.host.kernels.mutation_tables`.
    """

    def __init__(self, strategies, *, dtype):
        self.num_plain = _num_plain(strategies)
        self.union_column = any("archive" in s.needs for s in strategies)
        self.num_columns = self.num_plain + int(self.union_column)
        self.uses = {v for s in strategies for v in s.vectors if v in ("best", "pbest")}
        num_terms = max(s.num_terms for s in strategies)
        fixed = {"x": 0, "best": 1, "pbest": 2}
        table, const, per_F, per_K, kinds = [], [], [], [], []
        self.coef_fns = []
        for k, s in enumerate(strategies):
            row = []
            for v in s.vectors:
                if v.startswith("r"):
                    j = int(v[1:])
                    if "archive" in s.needs and j == s.num_random:
                        row.append(3 + self.num_plain)  # the union column
                    else:
                        row.append(3 + j - 1)
                else:
                    row.append(fixed[v])
            pad = num_terms - len(row)
            table.append(row + [row[0]] * pad)
            coef = s.coef if s.coef_fn is None else [(0.0, 0.0, 0.0)] * s.num_terms
            coef = list(coef) + [(0.0, 0.0, 0.0)] * pad
            const.append([c[0] for c in coef])
            per_F.append([c[1] for c in coef])
            per_K.append([c[2] for c in coef])
            if s.coef_fn is None:
                kinds.append(0)
            elif s.coef_fn is trigonometric_coefficients:
                kinds.append(1)
            else:
                kinds.append(2)
                self.coef_fns.append((k, s.coef_fn))
        self.single = len(strategies) == 1
        self.num_terms = num_terms
        self.slot_table = np.array(table, np.int64)
        self.coef_kind = np.array(kinds, np.int64)
        real = host_dtype(dtype)
        self.const = np.array(const, real)
        self.per_F = np.array(per_F, real)
        self.per_K = np.array(per_K, real)
        self.needs_K = any("K" in s.needs for s in strategies)

    @classmethod
    def build(cls, strategies, *, dtype) -> _FusedPool | None:
        """The tables for ``strategies``, or None when the pool cannot be fused: a strategy
        returns mutants, or an archive strategy shares the pool with strategies that use
        more random individuals (its union column must avoid only its own picks)."""
        if not all(s.linear for s in strategies):
            return None
        num_plain = _num_plain(strategies)
        if any("archive" in s.needs and s.num_random - 1 != num_plain for s in strategies):
            return None
        return cls(strategies, dtype=dtype)


class _CheckBackoff:
    """When to run a check that usually fails in runs: after ``f`` failures in a row, the
    next ``min(2**f - 1, 31)`` occasions skip it (as if it had failed), and a success resets
    the count. For the midpoint repair (mutants outside the bounds nearly every generation
    on some functions, never on others) this keeps the check's reduction off most
    generations where it would fail, and costs at most 31 repaired-but-inside generations
    after a stretch of failures; the trials are the same whichever way it goes."""

    def __init__(self):
        self.failures = 0
        self.skip = 0

    def due(self) -> bool:
        if self.skip:
            self.skip -= 1
            return False
        return True

    def record(self, passed: bool) -> None:
        self.failures = 0 if passed else self.failures + 1
        self.skip = min((1 << self.failures) - 1, 31)


class DEEngine(PopulationAlgorithm):
    """Configurable DE engine; use the public classes (:class:`DE`, :class:`SaDE`,
    :class:`SHADE`, :class:`SAShadeTriEnsin`), which fix its options to each paper.

    The per-individual bookkeeping (strategy ids, F, CR, memory slots, p-best picks, the
    selection's outcome and the adaptation updates) runs on the host, in NumPy buffers
    made once and the compiled kernels of :mod:`neuro_de.host.kernels`; the genome
    work (mutants, crossover, repair, evaluation, row copies) runs in torch on the problem's
    device. All the generation's small random numbers come from one block of uniforms drawn
    from the problem's generator (docs/design.md, "Host bookkeeping").
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None,
        init_population: torch.Tensor | None,
        strategies: Sequence[Strategy],
        strategy_probabilities: Sequence[float] | None,
        learner: dict | None,
        scheme: str,
        F: float | tuple[float, float] = 0.5,
        CR: float = 0.9,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
        sade_F: tuple[float, float] = (0.5, 0.3),
        sade_CR_std: float = 0.1,
        clip_F: bool = False,
        memory_size: int = 100,
        F_init: float | None = None,
        CR_init: float | None = None,
        F_scale: float = 0.1,
        CR_scale: float = 0.1,
        F_distribution: str = "cauchy",
        cr_mean: str = "arithmetic",
        sinusoidal: dict | None = None,
        archive_rate: float = 0.0,
        p_best: tuple[float | None, float] = (None, 0.2),
        bounds_handling: str = "clip",
    ):
        strategies = list(strategies)
        self._strategies = strategies
        keys = [s.key for s in strategies]
        if len(set(keys)) != len(keys):
            raise ValueError(f"Strategies must be distinct, got {[s.name for s in strategies]}.")
        needs_archive = any("archive" in s.needs for s in strategies)
        min_pop = max(s.min_popsize for s in strategies)
        if any("pbest" in s.needs for s in strategies):
            min_pop = max(min_pop, 3)
        status_keys = ["success_rate", "mean_F", "mean_CR", "archive_size", "sinusoidal_phase"]
        for k in keys:
            status_keys += [f"p/{k}", f"success/{k}", f"F/{k}", f"CR/{k}"]
        super().__init__(
            problem,
            popsize=popsize,
            init_population=init_population,
            min_popsize=min_pop,
            status_keys=tuple(status_keys),
        )
        if scheme not in PARAMETER_SCHEMES:
            raise ValueError(f"`scheme` must be one of {PARAMETER_SCHEMES}, got {scheme!r}.")
        if bounds_handling not in BOUND_HANDLERS:
            raise ValueError(
                f"`bounds_handling` must be one of {BOUND_HANDLERS}, got {bounds_handling!r}."
            )
        if F_distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"`F_distribution` must be one of {DISTRIBUTIONS}, got {F_distribution!r}."
            )
        self._scheme = scheme
        self._F_range = _check_range("F_range", F_range, 0.0, 2.0)
        self._CR_range = _check_range("CR_range", CR_range, 0.0, 1.0)
        self._bounds_handling = bounds_handling
        device, dtype = self._population.device, problem.dtype
        self._device, self._dtype = device, dtype
        n = self._popsize
        n_strat = len(strategies)
        self._crossover_flags = np.array([s.crossover for s in strategies], np.bool_)

        # strategy choice (on the host)
        self._learner: StrategyLearner | None = None
        self._fixed_probs: np.ndarray | None = None
        if learner is not None and n_strat > 1:
            self._learner = StrategyLearner(n_strat, **learner)
        elif strategy_probabilities is not None:
            self._fixed_probs = np.array(strategy_probabilities, np.float64)
        elif n_strat > 1:
            self._fixed_probs = np.full(n_strat, 1.0 / n_strat)

        # parameters
        self._F_fixed = F
        self._CR_fixed = float(CR)
        self._sade_F = (float(sade_F[0]), float(sade_F[1]))
        self._sade_CR_std = float(sade_CR_std)
        self._clip_F = bool(clip_F)
        self._F_scale, self._CR_scale = float(F_scale), float(CR_scale)
        self._F_distribution = F_distribution
        lo_f, hi_f = self._F_range
        lo_c, hi_c = self._CR_range
        self._cr_memory: MedianCRMemory | None = None
        self._memory: SuccessHistoryMemory | None = None  # SHADE's M_F and M_CR
        if scheme == "sade":
            self._cr_memory = MedianCRMemory(
                n_strat,
                n,
                learning_period=(learner or {}).get("learning_period", 50),
                init=0.5 if CR_init is None else CR_init,
                dtype=dtype,
            )
        elif scheme == "shade":
            f0 = 0.5 * (lo_f + hi_f) if F_init is None else F_init
            c0 = 0.5 * (lo_c + hi_c) if CR_init is None else CR_init
            self._memory = SuccessHistoryMemory(
                n_strat,
                memory_size,
                params={"F": (f0, "lehmer"), "CR": (c0, cr_mean)},
                dtype=dtype,
            )

        # sinusoidal F (LSHADE-EpSin)
        self._sin = None
        self._memory_freq: SuccessHistoryMemory | None = None
        if sinusoidal is not None:
            horizon = int(sinusoidal.get("horizon", 10))
            if horizon < 2:
                raise ValueError(f"`sin_horizon` must be >= 2 generations, got {horizon}.")
            self._sin = {
                "horizon": horizon,
                "freq": float(sinusoidal.get("freq", 0.5)),
                "freq_scale": float(sinusoidal.get("freq_scale", 0.1)),
            }
            self._memory_freq = SuccessHistoryMemory(
                n_strat,
                memory_size,
                params={"freq": (float(sinusoidal.get("freq_init", 0.5)), "lehmer")},
                dtype=torch.float64,
            )

        # archive and p-best
        self._archive: Archive | None = None
        self._union: torch.Tensor | None = None  # population ++ archive, one block
        if needs_archive and archive_rate > 0:
            cap = int(round(archive_rate * n))
            self._archive = self._attach_archive(problem, cap)
        p_max = float(p_best[1])
        if p_best[0] is not None:
            p_min = float(p_best[0])
        else:  # SHADE's 2/N (at least two p-best); below N = 10 it exceeds p_max = 0.2
            p_min = 2.0 / n
            p_max = max(p_max, p_min)
        self._p_best = (p_min, p_max)
        if not (0 < self._p_best[0] <= self._p_best[1] <= 1):
            raise ValueError(f"`p_best` range must satisfy 0 < min <= max <= 1, got {p_best}.")
        self._p_best_cdf = np.array(p_best_rank_cdf(n, *self._p_best), np.float64)

        self._trials = SolutionBatch(problem, n, empty=True)
        # per-generation constants, made once: plain-tensor bounds (EvoTorch's read-only
        # tensors route every op through __torch_function__), row indices, strategy needs
        # (one uniform bound a number and the other a tensor would be a pair clamp rejects)
        self._lb, self._ub = clamp_bounds(
            plain_bound(problem.lower_bounds), plain_bound(problem.upper_bounds), dtype=dtype,
            device=device,
        )
        # SHADE's midpoint repair with both bounds, done inside the crossover (see
        # _build_trials); None when it does not apply
        self._midpoint_bounds = None
        if bounds_handling == "midpoint" and self._lb is not None and self._ub is not None:
            self._midpoint_bounds = (self._lb, self._ub)
        self._parents_inside: bool | None = None  # known inside the bounds (None: check)
        self._midpoint_checks = _CheckBackoff()  # when to look for mutants outside (CPU)
        self._rows = torch.arange(n, device=device)
        self._self_exclude = self._rows[:, None]
        self._needs_best = any("best" in s.needs for s in strategies)
        self._all_crossover = all(s.crossover for s in strategies)
        self._fused = _FusedPool.build(strategies, dtype=dtype)
        self._make_host_buffers()
        # the storage of the parents' and trials' values and evaluations: EvoTorch's
        # SolutionBatch keeps one tensor each for its lifetime, so the references stay valid
        # (and spare eight accessor calls per generation)
        self._bind_storage()

    def _make_host_buffers(self) -> None:
        """The host buffers of the bookkeeping, made once, each with a tensor view of it for
        the CPU (on an accelerator the values are copied each generation), and the layout
        of the generation's block of uniforms: one row of ``N`` per draw that needs it."""
        n = self._popsize
        real = host_dtype(self._dtype)
        self._h_util = np.empty(n, np.float64)  # the parents' minimisation utilities
        self._h_zero_ids = np.zeros(n, np.int64)
        self._h_ids = np.zeros(n, np.int64)
        self._h_params = np.empty((2, n), real)  # F and CR (rows of one block)
        self._h_F, self._h_CR = self._h_params[0], self._h_params[1]
        self._h_cells = np.empty((2, n), np.float64)  # memory cells M_F, M_CR (and M_freq)
        self._h_freqs = np.empty(n, np.float64)
        self._h_cr_eff = np.empty(n, real)
        self._h_pbest = np.empty(n, np.int64)
        self._h_replace = np.empty(n, np.int64)
        self._h_success = np.zeros(n, np.bool_)
        self._h_weights = np.zeros(n, np.float64)
        self._h_sade_F_loc = np.full(n, self._sade_F[0])
        self._h_no_K = np.empty(0, real)
        self._h_no_ids = np.empty(0, np.int64)
        if self._scheme == "fixed":  # DE's fixed F and CR, written once (read-only after)
            self._h_CR[:] = self._CR_fixed
            if not isinstance(self._F_fixed, tuple):
                self._h_F[:] = float(self._F_fixed)
        shared = ["util", "ids", "F", "CR", "cr_eff", "pbest", "freqs"]  # sent to the device
        pool = self._fused
        if pool is not None:
            self._h_coef = np.empty((n, pool.num_terms), real)
            self._h_index = np.empty((n, pool.num_terms), np.int64)
            self._h_columns = np.empty((n, pool.num_columns), np.int64)
            self._h_pools = np.array([n] * pool.num_columns, np.int64)
            shared += ["coef", "index", "columns"]
        # a CPU tensor sharing each such buffer's memory, by buffer (see _on_device)
        self._views_of = {}
        for name in shared:
            buffer = getattr(self, f"_h_{name}")
            self._views_of[id(buffer)] = host_view(buffer)
        rows = []
        if self._learner is not None or self._fixed_probs is not None:
            rows.append("strategy")
        if self._scheme == "fixed" and isinstance(self._F_fixed, tuple):
            rows.append("F")
        elif self._scheme == "sade":
            rows += ["F", "CR"]
        elif self._scheme == "shade":
            rows += ["slot", "F", "CR"]
        if self._sin is not None:
            rows += ["coin", "freq_slot", "freq"]
        if self._fused is not None:  # the random columns of the index draw
            rows += [f"r{j}" for j in range(self._fused.num_columns)]
        if any("pbest" in s.needs for s in self._strategies):
            rows.append("pbest")
        if any("K" in s.needs for s in self._strategies):
            rows.append("K")
        if self._archive is not None:
            rows.append("archive")
        self._u_rows = {name: i for i, name in enumerate(rows)}
        gen = self._gen
        self._u_block = UniformBlock(
            (len(rows), n), gen.device if gen is not None else self._device
        ) if rows else None
        self._u: np.ndarray | None = None  # this generation's block (host)

    def _bind_storage(self) -> None:
        self._values = self._population.access_values(keep_evals=True)
        self._evals = self._population.access_evals()
        self._trial_values = self._trials.access_values(keep_evals=True)
        self._trial_evals = self._trials.access_evals()
        # host views of the first evaluation column, on the CPU (None: copied each time)
        viewable = self._evals.device.type == "cpu" and self._evals.dtype in (
            torch.float32, torch.float64)
        self._h_parent_evals = self._evals[:, 0].numpy() if viewable else None
        self._h_trial_evals = self._trial_evals[:, 0].numpy() if viewable else None
        # NumPy views of the rows the selection copies (None: torch's index copies)
        rows = [host_rows_view(t) for t in (self._values, self._trial_values,
                                            self._evals, self._trial_evals)]
        self._h_rows = rows if all(r is not None for r in rows) else None

    def _host_evals(self, trials: bool) -> np.ndarray:
        """The first evaluation column of the trials or the parents on the host."""
        view = self._h_trial_evals if trials else self._h_parent_evals
        if view is not None:
            return view
        return as_host((self._trial_evals if trials else self._evals)[:, 0])

    def _attach_archive(self, problem: Problem, capacity: int) -> Archive:
        """Move the population into the first rows of a ``(N + capacity, d)`` block whose
        remaining rows hold the archive, so that an index into population ∪ archive is one
        gather (no per-generation concatenation or second gather)."""
        n = self._popsize
        union = SolutionBatch(problem, n + capacity, empty=True)
        union.access_values()[:n] = self._population.access_values(keep_evals=True)
        self._population = union[:n]
        self._union = union.access_values(keep_evals=True)
        return Archive(
            capacity, problem.solution_length, storage=self._union[n:], device=self._device,
            dtype=self._dtype,
        )

    # ------------------------------------------------------------------ draws
    @property
    def strategies(self) -> list[Strategy]:
        return list(self._strategies)

    @property
    def _gen(self):
        return self.problem.generator

    def _uniforms(self, name: str) -> np.ndarray:
        """This generation's row of uniforms for ``name``."""
        return self._u[self._u_rows[name]]

    def _on_device(self, a: np.ndarray) -> torch.Tensor:
        """A host array as a tensor on the problem's device (on the CPU, the view made
        once when ``a`` is one of the engine's buffers)."""
        return to_device(a, self._device, self._views_of.get(id(a)))

    def _choose_strategies(self) -> np.ndarray:
        if self._learner is not None:
            return self._learner.draw(self._uniforms("strategy"), self._h_ids)
        if self._fixed_probs is not None:  # independent draws with fixed probabilities
            strategy_draw(self._fixed_probs, False, self._uniforms("strategy"), self._h_ids)
            return self._h_ids
        return self._h_zero_ids

    def _sinusoidal_phase(self) -> int:
        """0: memory F; 1: non-adaptive decreasing; 2: adaptive increasing."""
        if self._sin is None:
            return 0
        horizon = self._sin["horizon"]
        g = self._generation_index % horizon + 1
        if g > horizon / 2:
            return 0
        return 1 if self._uniforms("coin")[0] < 0.5 else 2  # probability 1/2 each

    def _draw_parameters(self, ids: np.ndarray, phase: int):
        """F and CR of every individual (host arrays), and the sinusoidal frequencies of
        phase 2 (else None)."""
        lo_f, hi_f = self._F_range
        lo_c, hi_c = self._CR_range
        F, CR = self._h_F, self._h_CR
        freqs = None
        memory_ids = self._memory_ids(ids)
        # In the sinusoidal phases (``phase`` 1, 2) the schedule below gives F, so the F of
        # the other rules is not drawn.
        if self._scheme == "fixed":  # the buffers hold the fixed values, but a dithered F
            if isinstance(self._F_fixed, tuple):
                a, b = self._F_fixed
                np.multiply(self._uniforms("F"), b - a, out=F)
                F += a
        elif self._scheme == "sade":
            if not phase:
                low, high = (lo_f, hi_f) if self._clip_F else (-math.inf, math.inf)
                draw_normal_clipped(self._h_sade_F_loc, self._sade_F[1], low, high,
                                    self._uniforms("F"), F)
            loc = self._cr_memory.host_means[ids]
            draw_normal_clipped(loc, self._sade_CR_std, lo_c, hi_c, self._uniforms("CR"), CR)
        else:
            cells = self._memory.draw_cells(memory_ids, self._uniforms("slot"), self._h_cells)
            if not phase:
                draw_truncated(cells[0], self._F_scale, lo_f, hi_f,
                               self._F_distribution == "cauchy", self._uniforms("F"), F)
            draw_normal_clipped(cells[1], self._CR_scale, lo_c, hi_c, self._uniforms("CR"), CR)
        if phase:
            horizon = self._sin["horizon"]
            g = self._generation_index % horizon + 1
            if phase == 1:  # one value for everyone, mapped onto F_range
                unit = sinusoidal_decreasing(g, horizon, freq=self._sin["freq"])
                F[:] = lo_f + (hi_f - lo_f) * unit
            else:
                cells = self._memory_freq.draw_cells(
                    memory_ids, self._uniforms("freq_slot"), self._h_cells[:1]
                )
                freqs = self._h_freqs
                draw_truncated(cells[0], self._sin["freq_scale"], 0.0, math.inf,
                               self._F_distribution == "cauchy", self._uniforms("freq"), freqs)
                unit = sinusoidal_increasing(g, horizon, freqs)
                F[:] = lo_f + (hi_f - lo_f) * unit  # the [0, 1] schedule onto F_range
        return F, CR, freqs

    def _memory_ids(self, ids: np.ndarray) -> np.ndarray | None:
        """Strategy ids for the memories; None (row 0 for all) with a single strategy."""
        return None if len(self._strategies) == 1 else ids

    def _p_best_picks(self, rows: np.ndarray | None = None) -> np.ndarray:
        r"""For each individual (of ``rows``, default all), :math:`p_i \sim U[p_{min},
        p_{max}]` and a parent drawn uniformly from the best
        :math:`c_i = \max(1, \mathrm{round}(p_i N))` (a host array of parent rows).

        :math:`p_i` is used for nothing else, so only the rank of the pick matters, and its
        law is fixed: :math:`P(rank = r) = \sum_{c > r} P(c_i = c) / c`. The rank is drawn
        from that law directly (one uniform and a search in its cumulative table, made
        once), which is the same distribution as drawing :math:`p_i` and then the pick."""
        u = self._uniforms("pbest")
        if rows is None:
            p_best_picks(self._h_util, self._p_best_cdf, u, self._h_pbest)
            return self._h_pbest
        picks = np.empty(rows.shape[0], np.int64)
        p_best_picks(self._h_util, self._p_best_cdf, u[rows], picks)
        return picks

    def _best_index(self) -> int:
        return int(np.argmin(self._h_util))

    # ------------------------------------------------------------------ generation
    def _archive_count(self) -> int:
        return self._archive.count if self._archive is not None else 0

    def _union_rows(self, count: int) -> torch.Tensor:
        """Population ∪ archive: the first ``N + count`` rows of the block (all of them once
        the archive is full)."""
        union = self._union
        return union if self._popsize + count == union.shape[0] else union[: self._popsize + count]

    def _build_trials(self, ids, F, CR) -> torch.Tensor:
        """Mutants (fused for a pool of linear strategies, else strategy by strategy),
        binomial crossover and bound repair, into the reused trial buffer. ``ids``, ``F``
        and ``CR`` are host arrays."""
        parents = self._values
        trials = self._trial_values  # overwritten below, then evaluated
        if self._fused is not None:
            source = self._fused_mutants(ids, F, parents, trials)
        else:
            source = self._grouped_mutants(ids, F, parents, trials)
        if self._all_crossover and self._scheme == "fixed":  # a number: thresholds cached
            cr_eff = self._CR_fixed
        elif self._all_crossover:
            cr_eff = self._on_device(CR)
        else:  # CR = 1 for the strategies without crossover
            np.copyto(self._h_cr_eff, np.where(self._crossover_flags[ids], CR, 1.0))
            cr_eff = self._on_device(self._h_cr_eff)
        if self._midpoint_bounds is not None and self._parents_inside is None:
            self._parents_inside = inside_bounds(parents, *self._midpoint_bounds)
        if self._midpoint_bounds is not None and self._parents_inside:
            # the repair in the crossover's pass: the same trials, as the parents' own
            # coordinates need none (the trials it makes are inside too, so once the parents
            # are inside they stay inside; `population` access or a reload re-checks)
            bounds, check = self._midpoint_bounds, self._midpoint_checks
            # on CPU: the repair's passes are skipped when no mutant is outside (a reduction
            # and a host sync, so on accelerators the repair always runs)
            if parents.device.type == "cpu" and check.due():
                if inside_bounds(source, *bounds):
                    bounds = None
                check.record(bounds is None)
            binomial_crossover(
                parents, source, cr_eff, generator=self._gen, out=trials,
                midpoint_bounds=bounds, midpoint_check=False,
            )
            return trials
        binomial_crossover(parents, source, cr_eff, generator=self._gen, out=trials)
        del source
        repair_bounds(trials, parents, self._lb, self._ub, method=self._bounds_handling)
        if self._parents_inside is False:  # the repaired trials may bring them inside
            self._parents_inside = None
        return trials

    def _fused_mutants(self, ids, F, parents, trials) -> torch.Tensor:
        """All mutants of a pool of linear strategies at once: the random columns, the
        ``(N, T)`` index and coefficient tables (two host kernels) and one fused weighted
        gather-sum on the device. Returns the tensor holding them: a new one (which the
        crossover reads while it writes the trials, so the mutants are never copied), or
        ``trials`` itself for a genome so large that they are built there in chunks."""
        pool = self._fused
        count = self._archive_count()
        columns = self._h_columns
        if pool.num_columns:
            if pool.union_column:
                self._h_pools[-1] = self._popsize + count
            first = self._u_rows["r0"]
            distinct_columns(self._h_pools, self._u[first : first + pool.num_columns], columns)
        best = self._best_index() if "best" in pool.uses else -1
        pbest = self._p_best_picks() if "pbest" in pool.uses else self._h_no_ids
        K = self._uniforms("K") if pool.needs_K else self._h_no_K
        mutation_tables(
            self._h_util, columns, best, pbest, self._h_no_ids if pool.single else ids,
            pool.slot_table, pool.coef_kind, pool.const, pool.per_F, pool.per_K, F, K,
            self._h_index, self._h_coef,
        )
        index, coef = self._on_device(self._h_index), self._on_device(self._h_coef)
        if coef.dtype != self._dtype:  # a dtype NumPy lacks (bfloat16)
            coef = coef.to(self._dtype)
        if pool.coef_fns:  # coefficients computed by a torch function
            self._add_coefficients(ids, F, K, best, pbest, parents, coef)
        union = self._union_rows(count) if self._union is not None else parents
        in_place = trials.numel() > _FRESH_MUTANTS_MAX
        return combine_terms(union, index, coef, out=trials if in_place else None)

    def _add_coefficients(self, ids, F, K, best, pbest, parents, coef) -> None:
        """The coefficients of the pool's strategies that a torch function computes (their
        table rows are 0, so adding them on their rows sets them)."""
        dev, pool = self._device, self._fused
        ctx_F = to_device(F, dev).to(self._dtype).unsqueeze(1)
        ctx_K = to_device(K, dev).to(self._dtype).unsqueeze(1) if pool.needs_K else None
        r = self._on_device(self._h_columns)
        fitness = self._on_device(self._h_util)
        ids_dev = None if pool.single else to_device(ids, dev)
        for k, fn in pool.coef_fns:
            strategy = self._strategies[k]
            ctx = MutationContext(
                population=parents, fitness=fitness, rows=self._rows, F=ctx_F,
                r=r[:, : strategy.num_random],
                best_index=None if best < 0 else torch.tensor(best, device=dev),
                pbest=None if pbest.shape[0] == 0 else to_device(pbest, dev), K=ctx_K,
            )
            c = fn(ctx).to(coef.dtype)
            t = strategy.num_terms
            if pool.single:
                coef[:, :t] = c
            else:
                coef[:, :t].addcmul_(c, (ids_dev == k).unsqueeze(1))

    def _grouped_mutants(self, ids, F, parents, trials) -> torch.Tensor:
        """Mutants strategy by strategy (pools with a strategy that returns mutants); returns
        the tensor holding them (``trials``, or the single strategy's own result)."""
        n_pop = self._popsize
        dev = self._device
        best_index = torch.tensor(self._best_index(), device=dev) if self._needs_best else None
        archive = self._archive.members if self._archive is not None else None
        count = self._archive_count()
        union = self._union_rows(count) if self._union is not None else None
        single = len(self._strategies) == 1
        F_dev = to_device(F, dev).to(self._dtype)
        fitness = self._on_device(self._h_util)
        if single:
            groups = [(None, self._rows)]
        else:  # the rows of each strategy, grouped on the host
            order = np.argsort(ids, kind="stable")
            counts = np.bincount(ids, minlength=len(self._strategies))
            host_groups = np.split(order, np.cumsum(counts)[:-1])
            groups = [(g, to_device(g, dev)) for g in host_groups]
        # One draw of distinct indices serves every strategy: strategy k reads the first
        # ``num_random`` columns of its rows (any subset of distinct indices is distinct).
        n_plain = _num_plain(self._strategies)
        r_all = sample_distinct(
            n_pop, n_pop, n_plain, exclude=self._self_exclude, generator=self._gen, device=dev,
        )
        source = trials
        for strategy, (host_rows, rows) in zip(self._strategies, groups, strict=True):
            n = rows.shape[0]
            if n == 0:
                continue
            uses_archive = "archive" in strategy.needs
            r_rows = r_all if single else r_all.index_select(0, rows)
            if uses_archive:  # the last column from population ∪ archive, for these rows
                r = r_rows[:, : strategy.num_random - 1]
                last = sample_distinct(
                    n, n_pop + count, 1, exclude=torch.cat([rows[:, None], r], dim=1),
                    generator=self._gen, device=dev,
                )
                r = torch.cat([r, last], dim=1)
            else:
                r = r_rows[:, : strategy.num_random]
            K = None
            if "K" in strategy.needs:
                u_K = self._uniforms("K")
                K = to_device(u_K if single else u_K[host_rows], dev).to(self._dtype)
                K = K.unsqueeze(1)
            ctx = MutationContext(
                population=parents,
                fitness=fitness,
                rows=rows,
                F=(F_dev if single else F_dev.index_select(0, rows)).unsqueeze(1),
                r=r,
                best_index=best_index if "best" in strategy.needs else None,
                pbest=(to_device(self._p_best_picks(host_rows), dev)
                       if "pbest" in strategy.needs else None),
                K=K,
                archive=archive if uses_archive else None,
                union=union if uses_archive else None,
            )
            mutants = strategy(ctx)
            if single and mutants.shape == trials.shape and mutants.dtype == trials.dtype:
                source = mutants  # the crossover reads the mutants where they are: no copy
            elif single:
                trials.copy_(mutants)
            else:
                trials.index_copy_(0, rows, mutants)
            del mutants
        return source

    def _generation(self) -> None:
        values, evals = self._values, self._evals
        trial_values, trial_evals = self._trial_values, self._trial_evals
        utility(self._host_evals(trials=False), self._sign, self._h_util)
        if self._u_block is not None:  # the generation's small random numbers, one draw
            self._u = self._u_block.draw(self._gen)
        phase = self._sinusoidal_phase()
        ids = self._choose_strategies()
        F, CR, freqs = self._draw_parameters(ids, phase)
        self._build_trials(ids, F, CR)
        trial_evals.fill_(float("nan"))  # what EvoTorch marks as "not evaluated"
        self._evaluate(self._trials)
        success, weights = self._h_success, self._h_weights
        replaced, nonfinite = selection(
            self._h_util, self._host_evals(trials=True), self._sign, self._h_replace, success,
            weights,
        )
        self._nonfinite_total += nonfinite
        self._stats["nonfinite_trials"] = float(nonfinite)
        if self._archive is not None:
            beaten = np.flatnonzero(success)
            if beaten.shape[0] > 0:
                self._archive.add(values, index=beaten, u=self._uniforms("archive"))
        if replaced and self._h_rows is not None:  # each row copied once (CPU)
            values_h, trials_h, evals_h, trial_evals_h = self._h_rows
            replace = self._h_replace
            copy_rows(values_h, replace, trials_h, replace, replaced)
            copy_rows(evals_h, replace, trial_evals_h, replace, replaced)
        elif replaced:
            rows = to_device(self._h_replace[:replaced], self._device)
            values.index_copy_(0, rows, trial_values.index_select(0, rows))
            evals.index_copy_(0, rows, trial_evals.index_select(0, rows))
        self._adapt(ids, F, CR, freqs, phase, success, weights)
        self._pending_stats = lambda: self._generation_stats(ids, F, CR, success, phase)

    def _adapt(self, ids, F, CR, freqs, phase, success, weights) -> None:
        r"""Update the adaptation state (host arrays). ``weights`` (for the success-history
        memories) is :math:`|\Delta f|` of each success and 0 elsewhere."""
        if self._learner is not None:
            self._learner.record(ids, success)
        if self._cr_memory is not None:
            self._cr_memory.record(ids, CR, success)
        memory_ids = self._memory_ids(ids)
        if self._memory is not None:
            # every successful F is recorded, sinusoidal ones included (as in LSHADE-EpSin,
            # whose success-history update is the same in both halves of the run)
            self._memory.update_host(memory_ids, self._h_params, weights)
        if phase == 2 and self._memory_freq is not None:
            self._memory_freq.update_host(memory_ids, freqs.reshape(1, -1), weights)

    def _generation_stats(self, ids, F, CR, success, phase) -> dict:
        st: dict = {}
        st["success_rate"] = float(success.mean())
        st["mean_F"] = float(F.mean())
        st["mean_CR"] = float(CR.mean())
        st["archive_size"] = float(self._archive.count) if self._archive is not None else 0.0
        st["sinusoidal_phase"] = float(phase)
        k_all = len(self._strategies)
        used = np.bincount(ids, minlength=k_all)
        won = np.bincount(ids[success], minlength=k_all)
        if self._learner is not None:
            probs = self._learner._p
        elif self._fixed_probs is not None:
            probs = self._fixed_probs
        else:
            probs = np.ones(1)
        for k, strategy in enumerate(self._strategies):
            key = strategy.key
            st[f"p/{key}"] = float(probs[k])
            st[f"success/{key}"] = float(won[k] / used[k]) if used[k] else math.nan
            if self._memory is not None:
                st[f"F/{key}"] = float(self._memory["F"][k].mean())
                st[f"CR/{key}"] = float(self._memory["CR"][k].mean())
            else:
                mask = ids == k
                st[f"F/{key}"] = float(F[mask].mean()) if used[k] else math.nan
                if self._cr_memory is not None:
                    st[f"CR/{key}"] = float(self._cr_memory.host_means[k])
                else:
                    st[f"CR/{key}"] = float(CR[mask].mean()) if used[k] else math.nan
        return st

    # ------------------------------------------------------------------ state
    def _extra_state(self) -> dict:
        state: dict = {}
        for name in ("_learner", "_cr_memory", "_memory", "_memory_freq", "_archive"):
            obj = getattr(self, name)
            if obj is not None:
                state[name.lstrip("_")] = obj.state_dict()
        return state

    @property
    def population(self) -> SolutionBatch:
        """The current parents (values and evaluations). Whoever takes it may change the
        values, so the next generation checks again that they are inside the bounds."""
        self._parents_inside = None
        return super().population

    def _load_extra_state(self, state: dict) -> None:
        self._parents_inside = None
        for name in ("_learner", "_cr_memory", "_memory", "_memory_freq", "_archive"):
            obj = getattr(self, name)
            if obj is not None:
                key = name.lstrip("_")
                if key not in state:
                    raise ValueError(f"State lacks {key!r}; it was saved with other settings.")
                obj.load_state_dict(state[key])
