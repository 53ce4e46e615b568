r"""The genetic algorithm of NE-SGD over binary block codes (Zhang et al. 2020, Algorithm 1)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
from evotorch import Problem, SolutionBatch
from evotorch.algorithms import GeneticAlgorithm
from evotorch.operators import CrossOver

from ..operators.binary import (
    BitFlipMutation,
    CrossOverWithProb,
    EnvironmentalSelection,
    OnePointCrossOverWithProb,
    TournamentSelection,
    _check_probability,
    higher_is_better_utility,
)
from ..operators.suppression import LINKAGES, METRICS, suppress
from .problem_state import load_problem_state, problem_state

__all__ = ["BlockCodeGA"]

_COUNTER_KEYS = ("cache_hits", "retrainings")


def _read_counter(counters, key: str) -> float:
    if callable(counters) and not isinstance(counters, Mapping):
        counters = counters()
    value = counters.get(key) if isinstance(counters, Mapping) else getattr(counters, key, None)
    return float("nan") if value is None else float(value)


class BlockCodeGA(GeneticAlgorithm):
    r"""NE-SGD's genetic algorithm over bit strings, with hierarchical-clustering
    suppression (Zhang et al. 2020, *Neuroevolution-based SGD*, arXiv 2012.11184,
    Algorithms 1 and 2; unstated conventions from Y. Sun et al.'s CNN-GA code).

    With ``m`` = ``popsize`` and ``c`` = ``num_children``:

    1. Generation 0: ``m`` random codes, evaluated once (the first :meth:`step`).
    2. Every generation: ``c`` children are made by the crossover operator (two different
       parents, each the winner of a binary tournament between two different individuals;
       crossed with probability :math:`\mu`, else copied) and the mutation operator
       (per child, with probability :math:`\nu`, one flipped bit). Only the children are
       evaluated: parents are never re-evaluated (EvoTorch's ``re_evaluate=False``).
    3. Parents and children are merged (``N = m + c``); the suppression (Algorithm 2:
       :func:`~neuro_de.operators.suppression.suppress`, ``m`` clusters) changes a *copy* of
       their fitness; the stored evaluations are never modified.
    4. The environmental selection picks ``m`` survivors on the suppressed copy; the
       elitist selections keep the best individual by *true* fitness, so the best code
       found is never lost.

    So a run of ``T`` generations makes exactly ``m + T c`` evaluations (185 for the
    paper's ``m = 5``, ``T = 30``, ``c = 6``). Evaluating a code may be expensive (NE-SGD
    retrains a network): the problem may cache evaluations by code; when it exposes
    ``counters`` (a mapping, an object with attributes, or a method returning either) with
    ``cache_hits`` / ``retrainings``, those become status items.

    All randomness comes from the problem's generator, so the same problem ``seed`` gives
    the same codes and fitness. Works for ``objective_sense`` ``"max"`` (accuracy, the
    paper) and ``"min"``.

    Status items (Python floats), besides EvoTorch's ``pop_best``, ``pop_best_eval``,
    ``mean_eval``, ``median_eval`` and the problem's ``best`` / ``best_eval`` (kept by the
    problem when ``store_solution_stats`` is on: EvoTorch's default on CPU only):

    * ``spread``: max - min fitness of the population (the paper's :math:`\nabla`);
    * ``distinct_codes``: distinct codes evaluated so far;
    * ``evaluations``: evaluations requested so far (``m + t c`` after ``t`` steps);
    * ``suppressed``: individuals suppressed in this generation;
    * ``cache_hits``, ``retrainings``: from ``problem.counters`` when it exists.

    Args:
        problem: A single-objective EvoTorch problem over integer 0/1 codes
            (``dtype=torch.int64``, ``bounds=(0, 1)``).
        popsize: Population size ``m`` (>= 2; paper: 5).
        num_children: Children per generation, even (default: ``popsize`` rounded up to
            even: 6 for ``m = 5``). Only with the default crossover.
        crossover: A crossover operator (an EvoTorch ``CrossOver``), default
            :class:`~neuro_de.operators.binary.OnePointCrossOverWithProb` with binary
            tournaments. :class:`~neuro_de.operators.binary.UniformCrossOverWithProb` is the
            uniform variant.
        crossover_probability: :math:`\mu` of the default crossover (default 0.9).
        mutation: A mutation operator (an EvoTorch operator, or a function from values to
            values), default :class:`~neuro_de.operators.binary.BitFlipMutation` (one bit
            per child); :class:`~neuro_de.operators.binary.PerBitFlipMutation` flips bits
            independently.
        mutation_probability: :math:`\nu` of the default mutation (default 0.1).
        suppression: ``True`` (default): :func:`~neuro_de.operators.suppression.suppress`
            with ``linkage`` and ``metric``; ``False`` / ``None``: none (the paper's
            ablation, Table V); or a callable ``f(codes, utilities, *, n_clusters,
            higher_is_better)`` returning a
            :class:`~neuro_de.operators.suppression.SuppressionResult` or the suppressed
            utilities (e.g. ``functools.partial(suppress, min_size=5)``).
        linkage: Linkage of the default suppression (default ``"average"``).
        metric: Distance of the default suppression (default ``"hamming"``).
        environmental_selection: An
            :class:`~neuro_de.operators.binary.EnvironmentalSelection` (or a callable with
            its signature): default binary
            :class:`~neuro_de.operators.binary.TournamentSelection` with elitism;
            :class:`~neuro_de.operators.binary.TruncationSelection` and
            :class:`~neuro_de.operators.binary.RouletteSelection` (Sun's) are the others.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int,
        num_children: int | None = None,
        crossover: CrossOver | None = None,
        crossover_probability: float | None = None,
        mutation: Callable | None = None,
        mutation_probability: float | None = None,
        suppression: bool | Callable | None = True,
        linkage: str | None = None,
        metric: str | None = None,
        environmental_selection: EnvironmentalSelection | Callable | None = None,
    ):
        """Build the algorithm; the class docstring describes every argument."""
        self._check_problem(problem)
        if isinstance(popsize, bool) or not isinstance(popsize, int):
            raise TypeError(f"`popsize` must be an int, got {popsize!r}.")
        if popsize < 2:
            raise ValueError(
                f"BlockCodeGA needs popsize >= 2 (two different parents per pairing), "
                f"got {popsize}."
            )
        if crossover_probability is not None:
            _check_probability(crossover_probability, "crossover_probability")
        if mutation_probability is not None:
            _check_probability(mutation_probability, "mutation_probability")

        if crossover is None:
            if num_children is None:
                num_children = popsize + popsize % 2
            elif isinstance(num_children, bool) or not isinstance(num_children, int):
                raise TypeError(f"`num_children` must be an int, got {num_children!r}.")
            elif num_children < 2 or num_children % 2:
                raise ValueError(
                    f"`num_children` must be an even number >= 2 (two children per "
                    f"pairing), got {num_children}."
                )
            crossover = OnePointCrossOverWithProb(
                problem,
                probability=0.9 if crossover_probability is None else crossover_probability,
                num_children=num_children,
            )
        else:
            given = [n for n, v in (("crossover_probability", crossover_probability),
                                    ("num_children", num_children)) if v is not None]
            if given:
                raise ValueError(
                    f"Give {' and '.join(given)} to the crossover operator, not with "
                    "`crossover=`."
                )
            if not isinstance(crossover, CrossOver):
                raise TypeError(
                    f"`crossover` must be an evotorch CrossOver operator, got "
                    f"{type(crossover).__name__}."
                )
        if mutation is None:
            mutation = BitFlipMutation(
                problem, probability=0.1 if mutation_probability is None else mutation_probability
            )
        elif mutation_probability is not None:
            raise ValueError("Give `mutation_probability` to the mutation operator, not with "
                             "`mutation=`.")
        elif not callable(mutation):
            raise TypeError(f"`mutation` must be an operator or a function, got {mutation!r}.")

        self._suppression = self._make_suppression(suppression, linkage, metric)
        if environmental_selection is None:
            environmental_selection = TournamentSelection()
        elif not callable(environmental_selection):
            raise TypeError(
                "`environmental_selection` must be an EnvironmentalSelection (or a callable "
                f"(fitness, true_fitness, k, *, problem) -> indices), got "
                f"{environmental_selection!r}."
            )
        self._selection = environmental_selection
        self._crossover = crossover
        self._mutation = mutation

        GeneticAlgorithm.__init__(
            self, problem, operators=[crossover, mutation], popsize=popsize, re_evaluate=False
        )
        if isinstance(crossover, CrossOverWithProb):
            self._num_children = crossover.num_children_for(popsize)
        else:
            self._num_children = int(crossover._compute_num_tournaments(self._population))
        self._evaluations = 0
        self._seen = torch.empty((0, problem.solution_length), dtype=problem.dtype,
                                 device=self._population.device)
        self._stats: dict[str, float] = {}
        keys = ["spread", "distinct_codes", "evaluations", "suppressed"]
        if getattr(problem, "counters", None) is not None:
            keys.extend(_COUNTER_KEYS)
        self.add_status_getters({k: self._make_getter(k) for k in keys})

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _check_problem(problem: Problem) -> None:
        if not isinstance(problem, Problem):
            raise TypeError(
                f"`problem` must be an evotorch.Problem, got {type(problem).__name__}."
            )
        if problem.is_multi_objective:
            raise ValueError(
                f"BlockCodeGA optimises a single objective; the problem has "
                f"{len(problem.senses)}."
            )
        dtype = problem.dtype
        if not isinstance(dtype, torch.dtype) or dtype.is_floating_point or dtype.is_complex:
            raise TypeError(
                f"BlockCodeGA evolves integer 0/1 codes; the problem has dtype={dtype}. "
                "Build it with dtype=torch.int64 and bounds=(0, 1)."
            )
        if problem.solution_length is None:
            raise ValueError("The problem must have a fixed `solution_length` (the code length).")
        for name in ("lower_bounds", "initial_lower_bounds", "upper_bounds",
                     "initial_upper_bounds"):
            bound = getattr(problem, name, None)
            want = 0 if "lower" in name else 1
            if bound is not None and not bool((torch.as_tensor(bound) == want).all()):
                raise ValueError(
                    f"BlockCodeGA evolves 0/1 codes, but the problem's {name} are not all "
                    f"{want}. Build it with bounds=(0, 1)."
                )

    @staticmethod
    def _make_suppression(suppression, linkage, metric):
        if linkage is not None and linkage not in LINKAGES:
            raise ValueError(f"`linkage` must be one of {LINKAGES}, got {linkage!r}.")
        if metric is not None and metric not in METRICS:
            raise ValueError(f"`metric` must be one of {METRICS}, got {metric!r}.")
        if suppression is True:
            return functools.partial(suppress, linkage=linkage or "average",
                                     metric=metric or "hamming")
        if linkage is not None or metric is not None:
            raise ValueError("`linkage` and `metric` configure the default suppression "
                             "(suppression=True) only.")
        if suppression is False or suppression is None:
            return None
        if not callable(suppression):
            raise TypeError(
                f"`suppression` must be True, False, None or a callable, got {suppression!r}."
            )
        return suppression

    def _make_getter(self, key: str) -> Callable[[], float]:
        def getter() -> float:
            return float(self._stats.get(key, float("nan")))

        return getter

    # ------------------------------------------------------------------ properties
    @property
    def popsize(self) -> int:
        return self._popsize

    @property
    def num_children(self) -> int:
        """Children made (and evaluated) per generation."""
        return self._num_children

    @property
    def evaluations(self) -> int:
        """Evaluations requested so far: ``popsize + generations * num_children``."""
        return self._evaluations

    @property
    def distinct_codes(self) -> torch.Tensor:
        """The distinct codes evaluated so far, ``(K, n)``, sorted."""
        return self._seen

    @property
    def crossover(self) -> CrossOver:
        return self._crossover

    @property
    def mutation(self) -> Callable:
        return self._mutation

    # ------------------------------------------------------------------ the step
    def _record_evaluated(self, batch: SolutionBatch) -> None:
        values = batch.values.as_subclass(torch.Tensor)
        self._evaluations += int(values.shape[0])
        self._seen = torch.unique(torch.cat([self._seen, values.to(self._seen.device)]), dim=0)

    @torch.no_grad()
    def _step(self) -> None:
        first = self._first_iter
        parents, children = self._make_extended_population(split=True)
        if first:
            self._record_evaluated(parents)
        self._record_evaluated(children)
        merged = SolutionBatch.cat([parents, children])
        evals = merged.evals[:, 0].as_subclass(torch.Tensor).clone()
        sense = self.problem.senses[0]
        true_fitness = higher_is_better_utility(evals, sense=sense)
        n_suppressed = 0
        if self._suppression is None:
            fitness = true_fitness
        else:
            codes = merged.values.as_subclass(torch.Tensor)
            result = self._suppression(codes, evals.clone(), n_clusters=self._popsize,
                                       higher_is_better=sense == "max")
            suppressed = getattr(result, "utilities", result)
            if not isinstance(suppressed, torch.Tensor) or suppressed.shape != evals.shape:
                raise ValueError(
                    f"The suppression returned {type(suppressed).__name__} of shape "
                    f"{getattr(suppressed, 'shape', None)}; expected ({evals.shape[0]},) "
                    "utilities or a SuppressionResult."
                )
            mask = getattr(result, "suppressed", None)
            if mask is None:  # a plain tensor: count the changed utilities (NaN = NaN)
                s = suppressed.to(evals.dtype)
                mask = ~((s == evals) | (s.isnan() & evals.isnan()))
            n_suppressed = int(mask.sum())
            fitness = higher_is_better_utility(suppressed, sense=sense)
        index = self._selection(fitness, true_fitness, self._popsize, problem=self.problem)
        self._population = merged.take(index.tolist())
        self._update_stats(n_suppressed)

    def _update_stats(self, n_suppressed: int) -> None:
        evals = self._population.evals[:, 0].as_subclass(torch.Tensor).to(torch.float64)
        finite = evals[torch.isfinite(evals)]
        spread = float(finite.max() - finite.min()) if finite.numel() else float("nan")
        self._stats = {
            "spread": spread,
            "distinct_codes": float(self._seen.shape[0]),
            "evaluations": float(self._evaluations),
            "suppressed": float(n_suppressed),
        }
        counters = getattr(self.problem, "counters", None)
        if counters is not None:
            for key in _COUNTER_KEYS:
                self._stats[key] = _read_counter(counters, key)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly: population, evaluations,
        counters, the distinct codes seen, status items and RNG states (tensors and plain
        Python values only, loadable with ``torch.load(..., weights_only=True)``)."""
        state = {
            "algorithm": type(self).__name__,
            "solution_length": int(self.problem.solution_length),
            "popsize": self._popsize,
            "values": self._population.values.as_subclass(torch.Tensor).clone(),
            "evals": self._population.evals.as_subclass(torch.Tensor).clone(),
            "first_iter": bool(self._first_iter),
            "steps_count": self._steps_count,
            "evaluations": self._evaluations,
            "seen": self._seen.clone(),
            "stats": dict(self._stats),
            **problem_state(self.problem),
        }
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a state produced by :meth:`state_dict` of a BlockCodeGA on the same
        problem and popsize."""
        if not isinstance(state, dict) or "values" not in state:
            raise ValueError("`state` is not a neuro_de algorithm state_dict.")
        if state.get("algorithm") != type(self).__name__:
            raise ValueError(
                f"This state was saved by {state.get('algorithm')!r}, not {type(self).__name__}."
            )
        expected = (self._popsize, self.problem.solution_length)
        if tuple(state["values"].shape) != expected:
            raise ValueError(
                f"State population has shape {tuple(state['values'].shape)}, expected "
                f"{expected}: another problem or popsize."
            )
        population = SolutionBatch(self.problem, self._popsize, empty=True,
                                   device=self._population.device)
        population.access_values()[:] = state["values"].to(population.device)
        population.access_evals()[:] = state["evals"].to(population.device)
        self._population = population
        self._first_iter = bool(state["first_iter"])
        self._steps_count = int(state["steps_count"])
        self._evaluations = int(state["evaluations"])
        self._seen = state["seen"].to(self._seen.device).clone()
        self._stats = dict(state["stats"])
        load_problem_state(self.problem, state)
