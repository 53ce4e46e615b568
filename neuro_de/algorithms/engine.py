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

import torch
from evotorch import Problem, SolutionBatch

from ..adaptation import (
    Archive,
    MedianCRMemory,
    StrategyLearner,
    SuccessHistoryMemory,
    cauchy_regenerate,
    normal_clipped,
    normal_regenerate,
    sinusoidal_decreasing,
    sinusoidal_increasing,
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
    sample_distinct_from_rows,
)
from .base import PopulationAlgorithm, copy_rows_where, plain_bound

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

    Each individual's terms read from a row of ``values``, an ``(N, S)`` table of candidate
    vector indices whose columns are the ``slots``: the target ``x``, ``best``, ``pbest``
    (those the pool uses), the ``num_plain`` random individuals and, for an archive strategy,
    one column drawn from population ∪ archive. Strategy ``k``'s term ``t`` reads slot
    ``slot_table[k, t]`` and has coefficient ``a + b F + c K`` with
    ``(a, b, c) = coef_table[k, :, t]``.
    A strategy with fewer than ``T`` terms is padded with coefficient-0 terms on its own
    first vector (so a padded term never reads a vector the mutant does not already use).
    """

    def __init__(self, strategies, *, device, dtype):
        self.num_plain = _num_plain(strategies)
        self.union_column = any("archive" in s.needs for s in strategies)
        self.slots = [v for v in ("x", "best", "pbest") if any(v in s.vectors for s in strategies)]
        first_random = len(self.slots)
        num_terms = max(s.num_terms for s in strategies)
        table, const, per_F, per_K = [], [], [], []
        self.coef_fns = []
        for k, s in enumerate(strategies):
            row = []
            for v in s.vectors:
                if v.startswith("r"):
                    j = int(v[1:])
                    if "archive" in s.needs and j == s.num_random:
                        row.append(first_random + self.num_plain)  # the union column
                    else:
                        row.append(first_random + j - 1)
                else:
                    row.append(self.slots.index(v))
            pad = num_terms - len(row)
            table.append(row + [row[0]] * pad)
            coef = s.coef if s.coef_fn is None else [(0.0, 0.0, 0.0)] * s.num_terms
            coef = list(coef) + [(0.0, 0.0, 0.0)] * pad
            const.append([c[0] for c in coef])
            per_F.append([c[1] for c in coef])
            per_K.append([c[2] for c in coef])
            if s.coef_fn is not None:
                self.coef_fns.append((k, s.coef_fn))
        self.single = len(strategies) == 1
        self.slot_table = torch.tensor(table, dtype=torch.int64, device=device)
        self.identity_slots = self.single and table[0] == list(range(len(table[0]))) and (
            len(table[0]) == first_random + self.num_plain + int(self.union_column)
        )
        # (K, 3, T): per strategy, the constant, F and K parts of each term's coefficient
        self.coef_table = torch.tensor(
            [list(row) for row in zip(const, per_F, per_K, strict=True)], dtype=dtype,
            device=device,
        )
        self.needs_K = any("K" in s.needs for s in strategies)
        # a single strategy's (constant, F, K) coefficient rows, split once
        self.single_coef = tuple(self.coef_table[0].unbind(0)) if self.single else None

    @classmethod
    def build(cls, strategies, *, device, dtype) -> _FusedPool | None:
        """The tables for ``strategies``, or None when the pool cannot be fused: a strategy
        returns mutants, or an archive strategy shares the pool with strategies that use
        more random individuals (its union column must avoid only its own picks)."""
        if not all(s.linear for s in strategies):
            return None
        num_plain = _num_plain(strategies)
        if any("archive" in s.needs and s.num_random - 1 != num_plain for s in strategies):
            return None
        return cls(strategies, device=device, dtype=dtype)


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
    :class:`SHADE`, :class:`SAShadeTriEnsin`), which fix its options to each paper."""

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
        n_strat = len(strategies)
        self._crossover_flags = torch.tensor(
            [s.crossover for s in strategies], device=device, dtype=torch.bool
        )

        # strategy choice
        self._learner: StrategyLearner | None = None
        self._fixed_probs: torch.Tensor | None = None
        if learner is not None and n_strat > 1:
            self._learner = StrategyLearner(n_strat, device=device, **learner)
        elif strategy_probabilities is not None:
            self._fixed_probs = torch.tensor(strategy_probabilities, dtype=torch.float64)
        elif n_strat > 1:
            self._fixed_probs = torch.full((n_strat,), 1.0 / n_strat, dtype=torch.float64)
        if self._fixed_probs is not None:
            self._fixed_probs = self._fixed_probs.to(device)

        # parameters
        self._F_fixed = F
        self._CR_fixed = float(CR)
        # DE's fixed F and CR per individual, made once (read-only in every generation)
        self._constant_CR = torch.full((self._popsize,), self._CR_fixed, device=device, dtype=dtype)
        self._constant_F = (
            None if isinstance(F, tuple)
            else torch.full((self._popsize,), float(F), device=device, dtype=dtype)
        )
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
                self._popsize,
                learning_period=(learner or {}).get("learning_period", 50),
                init=0.5 if CR_init is None else CR_init,
                device=device,
                dtype=dtype,
            )
        elif scheme == "shade":
            f0 = 0.5 * (lo_f + hi_f) if F_init is None else F_init
            c0 = 0.5 * (lo_c + hi_c) if CR_init is None else CR_init
            self._memory = SuccessHistoryMemory(
                n_strat,
                memory_size,
                params={"F": (f0, "lehmer"), "CR": (c0, cr_mean)},
                device=device,
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
                device=device,
                dtype=dtype,
            )

        # archive and p-best
        self._archive: Archive | None = None
        self._union: torch.Tensor | None = None  # population ++ archive, one block
        if needs_archive and archive_rate > 0:
            cap = int(round(archive_rate * self._popsize))
            self._archive = self._attach_archive(problem, cap)
        p_max = float(p_best[1])
        if p_best[0] is not None:
            p_min = float(p_best[0])
        else:  # SHADE's 2/N (at least two p-best); below N = 10 it exceeds p_max = 0.2
            p_min = 2.0 / self._popsize
            p_max = max(p_max, p_min)
        self._p_best = (p_min, p_max)
        if not (0 < self._p_best[0] <= self._p_best[1] <= 1):
            raise ValueError(f"`p_best` range must satisfy 0 < min <= max <= 1, got {p_best}.")
        self._p_best_cdf = torch.tensor(
            p_best_rank_cdf(self._popsize, *self._p_best), dtype=torch.float64, device=device
        )

        self._trials = SolutionBatch(problem, self._popsize, empty=True)
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
        self._rows = torch.arange(self._popsize, device=device)
        self._self_exclude = self._rows[:, None]
        self._needs_best = any("best" in s.needs for s in strategies)
        self._all_crossover = all(s.crossover for s in strategies)
        self._fused = _FusedPool.build(strategies, device=device, dtype=dtype)
        self._zero_ids: torch.Tensor | None = None  # strategy 0 for all (one strategy), cached
        # the storage of the parents' and trials' values and evaluations: EvoTorch's
        # SolutionBatch keeps one tensor each for its lifetime, so the references stay valid
        # (and spare eight accessor calls per generation)
        self._bind_storage()

    def _bind_storage(self) -> None:
        self._values = self._population.access_values(keep_evals=True)
        self._evals = self._population.access_evals()
        self._trial_values = self._trials.access_values(keep_evals=True)
        self._trial_evals = self._trials.access_evals()

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

    def _choose_strategies(self, n: int) -> torch.Tensor:
        if self._learner is not None:
            return self._learner.sample(n, generator=self._gen)
        if self._fixed_probs is not None:
            return torch.multinomial(self._fixed_probs, n, replacement=True, generator=self._gen)
        if self._zero_ids is None or self._zero_ids.shape[0] != n:
            with torch.inference_mode(False):  # an ordinary tensor, read-only in use
                self._zero_ids = torch.zeros(n, dtype=torch.int64, device=self._device)
        return self._zero_ids

    def _sinusoidal_phase(self) -> int:
        """0: memory F; 1: non-adaptive decreasing; 2: adaptive increasing."""
        if self._sin is None:
            return 0
        horizon = self._sin["horizon"]
        g = self._generation_index % horizon + 1
        if g > horizon / 2:
            return 0
        coin = torch.randint(0, 2, (), generator=self._gen, device=self._device)
        return 1 + int(coin)  # 1 or 2 with probability 1/2 each

    def _draw_parameters(self, ids: torch.Tensor, phase: int):
        n = ids.shape[0]
        dev, dt, gen = self._device, self._dtype, self._gen
        lo_f, hi_f = self._F_range
        lo_c, hi_c = self._CR_range
        freqs = None
        if self._scheme == "fixed":
            if isinstance(self._F_fixed, tuple):
                a, b = self._F_fixed
                F = torch.rand(n, generator=gen, device=dev, dtype=dt).mul_(b - a).add_(a)
            else:
                F = self._constant_F
            CR = self._constant_CR
        # In the sinusoidal phases (``phase`` 1, 2) the schedule below gives F, so the F of
        # the other rules is not drawn.
        elif self._scheme == "sade":
            if not phase:
                mu, sigma = self._sade_F
                F = torch.normal(mu, sigma, (n,), generator=gen, device=dev, dtype=dt)
                if self._clip_F:
                    F.clamp_(lo_f, hi_f)
            CR = normal_clipped(
                self._cr_memory.means[ids], self._sade_CR_std, low=lo_c, high=hi_c, generator=gen
            )
        else:
            slots = self._memory.sample_slots(n, generator=gen)
            loc_F, loc_CR = self._memory.cells(self._memory_ids(ids), slots).unbind(0)  # F, CR
            if not phase:
                draw = cauchy_regenerate if self._F_distribution == "cauchy" else normal_regenerate
                F = draw(loc_F, self._F_scale, low=lo_f, high=hi_f, generator=gen)
            CR = normal_clipped(loc_CR, self._CR_scale, low=lo_c, high=hi_c, generator=gen)
        if phase:
            horizon = self._sin["horizon"]
            g = self._generation_index % horizon + 1
            if phase == 1:  # one value for everyone, mapped onto F_range
                unit = sinusoidal_decreasing(g, horizon, freq=self._sin["freq"])
                F = torch.full((n,), lo_f + (hi_f - lo_f) * unit, device=dev, dtype=dt)
            else:
                slots = self._memory_freq.sample_slots(n, generator=gen)
                draw = cauchy_regenerate if self._F_distribution == "cauchy" else normal_regenerate
                freqs = draw(
                    self._memory_freq.cells(self._memory_ids(ids), slots)[0],
                    self._sin["freq_scale"], low=0.0, high=float("inf"), generator=gen,
                )
                unit = sinusoidal_increasing(g, horizon, freqs)
                F = unit.mul_(hi_f - lo_f).add_(lo_f)  # map the [0, 1] schedule onto F_range
        return F, CR, freqs

    def _memory_ids(self, ids: torch.Tensor) -> torch.Tensor | None:
        """Strategy ids for the memories; None (row 0 for all) with a single strategy."""
        return None if len(self._strategies) == 1 else ids

    def _p_best_indices(self, utility: torch.Tensor, n: int) -> torch.Tensor:
        r"""For each of ``n`` individuals, :math:`p_i \sim U[p_{min}, p_{max}]` and a parent
        drawn uniformly from the best :math:`c_i = \max(1, \mathrm{round}(p_i N))`.

        :math:`p_i` is used for nothing else, so only the rank of the pick matters, and its
        law is fixed: :math:`P(rank = r) = \sum_{c > r} P(c_i = c) / c`. The rank is drawn
        from that law directly (one uniform and a search in its cumulative table, made
        once), which is the same distribution as drawing :math:`p_i` and then the pick."""
        order = torch.argsort(utility)
        u = torch.rand((n,), generator=self._gen, device=self._device, dtype=torch.float64)
        return order.index_select(0, torch.searchsorted(self._p_best_cdf, u, right=True))

    # ------------------------------------------------------------------ generation
    def _archive_count(self) -> int:
        return self._archive.count if self._archive is not None else 0

    def _union_rows(self, count: int) -> torch.Tensor:
        """Population ∪ archive: the first ``N + count`` rows of the block (all of them once
        the archive is full)."""
        union = self._union
        return union if self._popsize + count == union.shape[0] else union[: self._popsize + count]

    def _build_trials(self, ids, F, CR, utility) -> torch.Tensor:
        """Mutants (fused for a pool of linear strategies, else strategy by strategy),
        binomial crossover and bound repair, into the reused trial buffer."""
        parents = self._values
        trials = self._trial_values  # overwritten below, then evaluated
        if self._fused is not None:
            source = self._fused_mutants(ids, F, utility, parents, trials)
        else:
            source = self._grouped_mutants(ids, F, utility, parents, trials)
        if self._all_crossover:  # a fixed CR as a number: its thresholds are cached
            cr_eff = self._CR_fixed if self._scheme == "fixed" else CR
        else:
            cr_eff = torch.where(self._crossover_flags[ids], CR, 1.0)
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

    def _fused_mutants(self, ids, F, utility, parents, trials) -> torch.Tensor:
        """All mutants of a pool of linear strategies at once: the ``(N, T)`` index and
        coefficient tables (a few small operations, whatever the number of strategies) and
        one fused weighted gather-sum. Returns the tensor holding them: a new one (which the
        crossover reads while it writes the trials, so the mutants are never copied), or
        ``trials`` itself for a genome so large that they are built there in chunks."""
        pool = self._fused
        n = self._popsize
        gen, dev = self._gen, self._device
        count = self._archive_count()
        pools = [n] * pool.num_plain + ([n + count] if pool.union_column else [])
        r_all = sample_distinct_from_rows(pools, len(pools), num_rows=n, generator=gen, device=dev)
        columns = []
        best_index = pbest = K = None
        for slot in pool.slots:
            if slot == "x":
                columns.append(self._self_exclude)
            elif slot == "best":
                best_index = torch.argmin(utility)
                columns.append(best_index.reshape(1, 1).expand(n, 1))
            elif slot == "pbest":
                pbest = self._p_best_indices(utility, n)
                columns.append(pbest.unsqueeze(1))
        columns.append(r_all)
        values = torch.cat(columns, dim=1) if len(columns) > 1 else r_all  # (N, slots)
        F = F.unsqueeze(1)
        if pool.needs_K:
            K = torch.rand((n, 1), generator=gen, device=dev, dtype=self._dtype)
        if pool.single:
            index = values if pool.identity_slots else values.index_select(1, pool.slot_table[0])
            const, per_F, per_K = pool.single_coef
            coef = torch.addcmul(const, F, per_F)
            if pool.needs_K:
                coef.addcmul_(K, per_K)
        else:
            index = values.gather(1, pool.slot_table.index_select(0, ids))
            const, per_F, per_K = pool.coef_table.index_select(0, ids).unbind(1)
            coef = const.addcmul_(F, per_F)
            if pool.needs_K:
                coef.addcmul_(K, per_K)
        for k, fn in pool.coef_fns:  # coefficients that are not affine in F and K
            strategy = self._strategies[k]
            ctx = MutationContext(
                population=parents, fitness=utility, rows=self._rows, F=F,
                r=r_all[:, : strategy.num_random], best_index=best_index, pbest=pbest, K=K,
            )
            c = fn(ctx).to(coef.dtype)
            t = strategy.num_terms
            if pool.single:
                coef = c
            else:  # its table rows are 0, so adding c on its rows sets them
                coef[:, :t].addcmul_(c, (ids == k).unsqueeze(1))
        union = self._union_rows(count) if self._union is not None else parents
        in_place = trials.numel() > _FRESH_MUTANTS_MAX
        return combine_terms(union, index, coef, out=trials if in_place else None)

    def _grouped_mutants(self, ids, F, utility, parents, trials) -> torch.Tensor:
        """Mutants strategy by strategy (pools with a strategy that returns mutants); returns
        the tensor holding them (``trials``, or the single strategy's own result)."""
        n_pop = self._popsize
        best_index = torch.argmin(utility) if self._needs_best else None
        archive = self._archive.members if self._archive is not None else None
        count = self._archive_count()
        union = self._union_rows(count) if self._union is not None else None
        single = len(self._strategies) == 1
        if single:
            groups = [self._rows]
        else:  # one sort and one host sync for all strategies
            order = torch.argsort(ids, stable=True)
            counts = torch.bincount(ids, minlength=len(self._strategies)).tolist()
            groups = list(order.split(counts))
        # One draw of distinct indices serves every strategy: strategy k reads the first
        # ``num_random`` columns of its rows (any subset of distinct indices is distinct).
        n_plain = _num_plain(self._strategies)
        r_all = sample_distinct(
            n_pop, n_pop, n_plain, exclude=self._self_exclude, generator=self._gen,
            device=self._device,
        )
        source = trials
        for strategy, rows in zip(self._strategies, groups, strict=True):
            n = rows.shape[0]
            if n == 0:
                continue
            uses_archive = "archive" in strategy.needs
            r_rows = r_all if single else r_all.index_select(0, rows)
            if uses_archive:  # the last column from population ∪ archive, for these rows
                r = r_rows[:, : strategy.num_random - 1]
                last = sample_distinct(
                    n, n_pop + count, 1, exclude=torch.cat([rows[:, None], r], dim=1),
                    generator=self._gen, device=self._device,
                )
                r = torch.cat([r, last], dim=1)
            else:
                r = r_rows[:, : strategy.num_random]
            ctx = MutationContext(
                population=parents,
                fitness=utility,
                rows=rows,
                F=F.index_select(0, rows).unsqueeze(1),
                r=r,
                best_index=best_index if "best" in strategy.needs else None,
                pbest=self._p_best_indices(utility, n) if "pbest" in strategy.needs else None,
                K=(
                    torch.rand((n, 1), generator=self._gen, device=self._device,
                               dtype=self._dtype)
                    if "K" in strategy.needs else None
                ),
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
        n = self._popsize
        values, evals = self._values, self._evals
        trial_values, trial_evals = self._trial_values, self._trial_evals
        utility = self._utility_of(evals[:, 0])
        phase = self._sinusoidal_phase()
        ids = self._choose_strategies(n)
        F, CR, freqs = self._draw_parameters(ids, phase)
        self._build_trials(ids, F, CR, utility)
        trial_evals.fill_(float("nan"))  # what EvoTorch marks as "not evaluated"
        self._evaluate(self._trials)
        # NaN for a non-finite trial: it neither replaces its parent nor counts as a success
        f_trial = self._candidate_utility_of(trial_evals[:, 0])
        replace = f_trial <= utility
        success = f_trial < utility
        weights = s_idx = None
        if self._memory is not None or self._memory_freq is not None:
            # the memories' weights: |Δf| for a success, 0 for a failure, NaN for a NaN
            # trial (which the memories count as 0), +inf for a trial beating a NaN parent
            weights = torch.sub(utility, f_trial).clamp_(min=0.0)
        if self._archive is not None:
            # the successful individuals (one host sync)
            s_idx = success.nonzero().squeeze(1)
            if s_idx.shape[0] > 0:
                self._archive.add(values, index=s_idx, generator=self._gen)
        copy_rows_where(replace, (trial_values, trial_evals), (values, evals))

        self._adapt(ids, F, CR, freqs, phase, success, weights, s_idx)
        self._pending_stats = lambda: self._generation_stats(ids, F, CR, success, phase)

    def _adapt(self, ids, F, CR, freqs, phase, success, weights, s_idx=None) -> None:
        r"""Update the adaptation state. ``weights`` (for the success-history memories) is
        :math:`|\Delta f|` of each success and 0 elsewhere; ``s_idx``, when given, the
        successful rows (so that a generation without success skips the memories)."""
        if self._learner is not None:
            self._learner.record(ids, success)
        if self._cr_memory is not None:
            self._cr_memory.record(ids, CR, success)
        if weights is None or (s_idx is not None and s_idx.shape[0] == 0):
            return  # no memory, or no success: the memories keep their values and positions
        memory_ids = self._memory_ids(ids)
        if self._memory is not None:
            # every successful F is recorded, sinusoidal ones included (as in LSHADE-EpSin,
            # whose success-history update is the same in both halves of the run)
            self._memory.update(memory_ids, (F, CR), weights)
        if phase == 2 and self._memory_freq is not None:
            self._memory_freq.update(memory_ids, (freqs,), weights)

    def _generation_stats(self, ids, F, CR, success, phase) -> dict:
        st: dict = {}
        st["success_rate"] = success.to(torch.float64).mean()
        st["mean_F"] = F.mean()
        st["mean_CR"] = CR.mean()
        st["archive_size"] = float(self._archive.count) if self._archive is not None else 0.0
        st["sinusoidal_phase"] = float(phase)
        k_all = len(self._strategies)
        used = torch.bincount(ids, minlength=k_all).to(torch.float64)
        won = torch.bincount(ids[success], minlength=k_all).to(torch.float64)
        if self._learner is not None:
            probs = self._learner.probabilities
        elif self._fixed_probs is not None:
            probs = self._fixed_probs
        else:
            probs = torch.ones(1, dtype=torch.float64)
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=used.device)
        for k, strategy in enumerate(self._strategies):
            key = strategy.key
            st[f"p/{key}"] = probs[k]
            st[f"success/{key}"] = torch.where(used[k] > 0, won[k] / used[k].clamp(min=1), nan)
            if self._memory is not None:
                st[f"F/{key}"] = self._memory["F"][k].mean()
                st[f"CR/{key}"] = self._memory["CR"][k].mean()
            else:
                mask = ids == k
                cnt = mask.sum()
                st[f"F/{key}"] = torch.where(cnt > 0, (F * mask).sum() / cnt.clamp(min=1), nan)
                if self._cr_memory is not None:
                    st[f"CR/{key}"] = self._cr_memory.means[k]
                else:
                    st[f"CR/{key}"] = torch.where(
                        cnt > 0, (CR * mask).sum() / cnt.clamp(min=1), nan
                    )
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
