r"""The (1+1)-EA with niching of Prellberg & Kramer (2018, Algorithm 1), under an epoch budget.

.. code-block:: text

    a <- initial; evaluate a
    while the budget affords another evaluation:
        b <- mutate(a); evaluate b
        if fitness(b) > fitness(a): a <- b                      # strict
        else, with probability p_niche (and not already niching):
            c <- greedy sub-run from b for k iterations (mutate-evaluate-select,
                 strict, no nested niching); c = its final parent
            if fitness(c) > fitness(a): a <- c
    return a

The algorithm knows nothing of networks: it compares evaluations and calls ``mutate``. The
problem supplies the budget (``can_afford``, ``epochs_used``), as
:class:`~neuro_de.problems.architecture.ArchitectureProblem` does.

References:
    M. Prellberg, O. Kramer. *Lamarckian Evolution of Convolutional Neural Networks.*
    PPSN XV, 2018. arXiv:1806.08099 (Algorithm 1; niching adapted from O. Kramer,
    *Machine Learning for Evolution Strategies*, 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from evotorch import Problem, Solution, SolutionBatch
from evotorch.algorithms.searchalgorithm import SearchAlgorithm, SinglePopulationAlgorithmMixin

from ..problems.architecture import BudgetExceeded, plain_value

__all__ = ["OnePlusOneEA"]

_MAX_SEED = 2**62


def _is_int(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, np.integer))


def _as_float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


class OnePlusOneEA(SearchAlgorithm, SinglePopulationAlgorithmMixin):
    r"""(1+1)-EA with niching over object-dtype genomes (Prellberg & Kramer 2018, Alg. 1).

    The population is a one-row :class:`~evotorch.SolutionBatch` holding the parent ``a``.

    * The **first** :meth:`step` draws the initial individual (``initial(generator)``, or
      the problem's ``generate_batch(1)`` when ``initial`` is ``None``) and evaluates it;
      that evaluation counts against the budget (spec B.9 #3).
    * Every later step is one outer iteration: child ``b = mutate(a, generator)``,
      evaluated; ``a <- b`` only if ``b`` is **strictly** better (ties keep the parent,
      B.9 #4; the comparison is the algorithm's own, not EvoTorch's sort). Otherwise a
      uniform draw ``u`` from the algorithm's generator (one per failed child) starts a
      niching episode when ``u < p_niche``: a greedy sub-run from ``b`` of ``niche_steps``
      mutate-evaluate-select iterations (strict, no niching inside it); its final parent
      ``c`` replaces ``a`` only if strictly better.
    * Every evaluation, niching included, is charged by the problem; an episode stops early
      when the budget cannot afford the next evaluation, so the budget is never overrun
      (B.9 #2). :attr:`is_terminated` is true once the problem cannot afford another
      evaluation (``evolve`` stops there); a step after that raises
      :class:`~neuro_de.problems.architecture.BudgetExceeded`.

    ``mutate`` receives a plain copy of the parent's value (a ``dict`` with ordinary, cloned
    tensors; sequences as tuples) and the algorithm's ``torch.Generator``, and returns the
    child's value dict. With the Lamarckian problem the parent's value holds the weights
    written back by its evaluation, so the child starts from the trained weights.

    **Budget-indexed checkpoints.** For each ``point`` in ``checkpoints`` (epochs), when
    ``problem.epochs_used`` first reaches ``>= point`` the current parent is recorded in
    ``snapshots[point]`` as ``{"value": plain value dict, "fitness": float, "evals": [...],
    "epochs_used": int, "evaluations": int}`` (B.9 #12: the parent is the best so far). The
    check runs after every selection and, during an episode, after every evaluation, where
    the parent is the outer ``a`` (an episode's result is merged only at its end). When the
    budget is spent, ``snapshots["end"]`` records the final parent.

    **Status items** (floats; EvoTorch's reserved ``best``/``worst``/``iter`` are left to
    EvoTorch): ``epochs_used``, ``n_blocks`` (``len(arch)`` of the parent), ``niching``
    (1 when an episode ran in this step), ``inherited_fraction`` (of the last child, from its
    value's ``"inherited_fraction"``; ``nan`` without one), ``best_val`` (the parent's
    fitness), ``evaluations`` (made by this algorithm), ``episodes`` (niching episodes so
    far) and ``replaced`` (1 when ``a`` changed in this step); plus the mixin's
    ``pop_best``, ``pop_best_eval``, ``mean_eval``, ``median_eval``.

    All randomness of the algorithm (mutations, niching draws, the initial individual) comes
    from one ``torch.Generator``; :meth:`state_dict` holds it with the parent, the snapshots
    and the problem's state, so ``neuro_de.runner.evolve(..., checkpoint=...)`` resumes
    exactly.

    Args:
        problem: A single-objective EvoTorch problem with ``dtype=object`` that has
            ``can_afford(n)`` and ``epochs_used`` (e.g.
            :class:`~neuro_de.problems.architecture.ArchitectureProblem`).
        mutate: ``mutate(parent_value, generator) -> child_value`` (paper Sec. 3.2: one
            mutation per child, forced novelty, weight inheritance).
        initial: ``initial(generator) -> value``, the initial individual (paper: one block,
            random f and k, stride 1); ``None`` asks the problem (``generate_batch(1)``).
        p_niche: Niching probability in ``[0, 1]`` (paper: 0.1).
        niche_steps: Iterations ``k`` of a niching sub-run (>= 1; paper: 5).
        checkpoints: Epoch counts at which to snapshot the parent (paper: 128 and 512),
            each a positive integer not above the problem's ``budget``.
        generator_seed: Seed of the algorithm's generator; ``None`` draws one from the
            problem's generator (so a seeded problem gives a seeded run), or from torch's
            global RNG when the problem has none.

    Raises:
        TypeError: A problem that is not an object-dtype EvoTorch problem with a budget,
            a ``mutate`` / ``initial`` that is not callable.
        ValueError: ``p_niche`` outside ``[0, 1]``, ``niche_steps < 1``, a multi-objective
            problem, a checkpoint that is not a positive integer or lies beyond the budget,
            a negative ``generator_seed``.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        mutate: Callable[[dict, torch.Generator], Mapping[str, Any]],
        initial: Callable[[torch.Generator], Mapping[str, Any]] | None = None,
        p_niche: float = 0.1,
        niche_steps: int = 5,
        checkpoints: Iterable[int] = (),
        generator_seed: int | None = None,
    ):
        if not isinstance(problem, Problem):
            raise TypeError(f"`problem` must be an evotorch.Problem, got {type(problem).__name__}.")
        if problem.dtype is not object:
            raise TypeError(
                f"OnePlusOneEA works on object-dtype genomes (value dicts); the problem has "
                f"dtype {problem.dtype}. Build it with dtype=object (e.g. ArchitectureProblem)."
            )
        if len(problem.senses) != 1:
            raise ValueError(
                f"OnePlusOneEA is single-objective; the problem has {len(problem.senses)} "
                "objectives."
            )
        if not callable(getattr(problem, "can_afford", None)) or not hasattr(
            problem, "epochs_used"
        ):
            raise TypeError(
                f"{type(problem).__name__} has no epoch budget: OnePlusOneEA needs a problem "
                "with can_afford(n) and epochs_used (e.g. ArchitectureProblem)."
            )
        if not callable(mutate):
            raise TypeError(
                f"`mutate` must be a callable (parent_value, generator) -> child_value, got "
                f"{type(mutate).__name__}."
            )
        if initial is not None and not callable(initial):
            raise TypeError(
                f"`initial` must be a callable generator -> value, got {type(initial).__name__}."
            )
        if isinstance(p_niche, bool) or not isinstance(p_niche, (int, float, np.floating)):
            raise TypeError(f"`p_niche` must be a number in [0, 1], got {p_niche!r}.")
        if not (math.isfinite(float(p_niche)) and 0.0 <= float(p_niche) <= 1.0):
            raise ValueError(f"`p_niche` must be a probability in [0, 1], got {p_niche}.")
        if not _is_int(niche_steps):
            raise TypeError(f"`niche_steps` must be an integer >= 1, got {niche_steps!r}.")
        if niche_steps < 1:
            raise ValueError(
                f"`niche_steps` must be >= 1 (the iterations of a niching sub-run; paper: 5), "
                f"got {niche_steps}; use p_niche=0 to turn niching off."
            )
        if isinstance(checkpoints, (str, bytes)) or not isinstance(checkpoints, Iterable):
            raise TypeError(
                f"`checkpoints` must be a sequence of epoch counts, got {checkpoints!r}."
            )
        points = list(checkpoints)
        budget = getattr(problem, "budget", None)
        for p in points:
            if not _is_int(p) or p < 1:
                raise ValueError(
                    f"`checkpoints` must hold positive integers (epoch counts), got {p!r}."
                )
            if budget is not None and p > budget:
                raise ValueError(
                    f"Checkpoint {p} lies beyond the budget of {budget} epochs; it would never "
                    "be reached."
                )
        if generator_seed is not None and (not _is_int(generator_seed) or generator_seed < 0):
            raise ValueError(f"`generator_seed` must be an integer >= 0 or None, got "
                             f"{generator_seed!r}.")

        SearchAlgorithm.__init__(
            self,
            problem,
            epochs_used=self._get_epochs_used,
            n_blocks=self._get_n_blocks,
            niching=self._get_niching,
            inherited_fraction=self._get_inherited_fraction,
            best_val=self._get_best_val,
            evaluations=self._get_evaluations,
            episodes=self._get_episodes,
            replaced=self._get_replaced,
        )
        self._mutate = mutate
        self._initial = initial
        self._p_niche = float(p_niche)
        self._niche_steps = int(niche_steps)
        self._checkpoints = tuple(sorted({int(p) for p in points}))
        if generator_seed is None:
            source = problem.generator if problem.has_own_generator else None
            generator_seed = int(torch.randint(0, _MAX_SEED, (1,), generator=source))
        self._ea_generator = torch.Generator().manual_seed(int(generator_seed))
        self._population = SolutionBatch(problem, popsize=1, empty=True)
        self._started = False
        self._in_episode = False
        self._evaluations = 0
        self._episodes = 0
        self._niching_now = 0
        self._replaced_now = 0
        self._last_fraction = float("nan")
        self.snapshots: dict[int | str, dict[str, Any]] = {}
        SinglePopulationAlgorithmMixin.__init__(self)

    # ---------------------------------------------------------------- properties
    @property
    def population(self) -> SolutionBatch:
        """The one-row batch holding the parent ``a``."""
        return self._population

    @property
    def generator(self) -> torch.Generator:
        """The algorithm's generator (mutations, niching draws, initial individual)."""
        return self._ea_generator

    @property
    def p_niche(self) -> float:
        """Niching probability."""
        return self._p_niche

    @property
    def niche_steps(self) -> int:
        """Iterations of a niching sub-run."""
        return self._niche_steps

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """The budget points (epochs) of :attr:`snapshots`, ascending."""
        return self._checkpoints

    @property
    def evaluations(self) -> int:
        """Evaluations made by this algorithm (the initial one included)."""
        return self._evaluations

    @property
    def is_terminated(self) -> bool:
        """Whether the problem cannot afford another evaluation (the budget is spent)."""
        return not self.problem.can_afford(1)

    def parent_value(self) -> dict[str, Any]:
        """A plain copy of the parent's value (``RuntimeError`` before the first step)."""
        self._require_started()
        return plain_value(self._population.values[0])

    @property
    def parent_fitness(self) -> float:
        """The parent's fitness (``nan`` before the first step)."""
        return float(self._population.evals[0, 0]) if self._started else float("nan")

    def snapshot(self) -> dict[str, Any]:
        """The current parent as a snapshot dict (the format of :attr:`snapshots`)."""
        self._require_started()
        evals = self._population.evals[0].as_subclass(torch.Tensor)
        return {
            "value": plain_value(self._population.values[0]),
            "fitness": float(evals[0]),
            "evals": [float(v) for v in evals.tolist()],
            "epochs_used": int(self.problem.epochs_used),
            "evaluations": self._evaluations,
        }

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError("No individual has been evaluated yet; call step() first.")

    # ---------------------------------------------------------------- status
    def _get_epochs_used(self) -> float:
        return float(self.problem.epochs_used)

    def _get_n_blocks(self) -> float:
        if not self._started:
            return float("nan")
        arch = self._population.values[0].get("arch")
        return float("nan") if arch is None else float(len(arch))

    def _get_niching(self) -> float:
        return float(self._niching_now)

    def _get_inherited_fraction(self) -> float:
        return self._last_fraction

    def _get_best_val(self) -> float:
        return self.parent_fitness

    def _get_evaluations(self) -> float:
        return float(self._evaluations)

    def _get_episodes(self) -> float:
        return float(self._episodes)

    def _get_replaced(self) -> float:
        return float(self._replaced_now)

    # ---------------------------------------------------------------- the search
    def _better(self, x: SolutionBatch, y: SolutionBatch) -> bool:
        """Whether ``x``'s fitness is strictly better than ``y``'s (NaN never wins and
        always loses)."""
        fx = float(x.evals[0, 0])
        fy = float(y.evals[0, 0])
        if math.isnan(fx):
            return False
        if math.isnan(fy):
            return True
        return fx > fy if self.problem.senses[0] == "max" else fx < fy

    def _evaluate_value(self, value: Mapping[str, Any], *, what: str) -> SolutionBatch:
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{what} must return a value dict (e.g. {{'arch': ..., 'weights': ...}}), got "
                f"{type(value).__name__}."
            )
        if not self.problem.can_afford(1):  # callers check first; a guard against misuse
            raise BudgetExceeded("The budget cannot afford another evaluation.")
        batch = SolutionBatch(self.problem, popsize=1, empty=True)
        batch.access_values()[0] = value
        self.problem.evaluate(batch)
        self._evaluations += 1
        self._last_fraction = _as_float(value.get("inherited_fraction", float("nan")))
        return batch

    def _offspring(self, parent: SolutionBatch) -> SolutionBatch:
        """Mutate ``parent`` and evaluate the child."""
        child = self._mutate(plain_value(parent.values[0]), self._ea_generator)
        return self._evaluate_value(child, what="`mutate`")

    def _step(self) -> None:
        self._niching_now = 0
        self._replaced_now = 0
        if not self.problem.can_afford(1):
            raise BudgetExceeded(
                f"The epoch budget is spent ({self.problem.epochs_used} epochs used); the "
                "search is over (check `is_terminated` before stepping)."
            )
        if not self._started:
            self._evaluate_initial()
        else:
            self._iterate()
        if not self.problem.can_afford(1):
            self.snapshots["end"] = self.snapshot()

    def _evaluate_initial(self) -> None:
        if self._initial is None:
            batch = self.problem.generate_batch(1)
            self.problem.evaluate(batch)
            self._evaluations += 1
            self._last_fraction = _as_float(
                batch.values[0].get("inherited_fraction", float("nan"))
                if isinstance(batch.values[0], Mapping) else float("nan")
            )
        else:
            batch = self._evaluate_value(self._initial(self._ea_generator), what="`initial`")
        self._population = batch
        self._started = True
        self._record_checkpoints()

    def _iterate(self) -> None:
        """One outer iteration of Algorithm 1."""
        parent = self._population
        child = self._offspring(parent)
        if self._better(child, parent):
            self._population = child
            self._replaced_now = 1
            self._record_checkpoints()
            return
        self._record_checkpoints()
        draw = float(torch.rand((), generator=self._ea_generator))
        if draw < self._p_niche and not self._in_episode:
            result = self._niche(child)
            if self._better(result, self._population):
                self._population = result
                self._replaced_now = 1
            self._record_checkpoints()

    def _niche(self, start: SolutionBatch) -> SolutionBatch:
        """A greedy sub-run of ``niche_steps`` iterations from ``start`` (no niching inside
        it); returns its final parent. Stops early when the budget cannot afford the next
        evaluation."""
        self._episodes += 1
        self._niching_now = 1
        self._in_episode = True
        try:
            sub = start
            for _ in range(self._niche_steps):
                if not self.problem.can_afford(1):
                    break
                child = self._offspring(sub)
                if self._better(child, sub):
                    sub = child
                self._record_checkpoints()
            return sub
        finally:
            self._in_episode = False

    def _record_checkpoints(self) -> None:
        used = self.problem.epochs_used
        for point in self._checkpoints:
            if point not in self.snapshots and used >= point:
                self.snapshots[point] = self.snapshot()

    # ---------------------------------------------------------------- state
    def _solution_stats_state(self) -> dict | None:
        best = getattr(self.problem, "_best", None)
        if best is None:
            return None

        def pack(solutions):
            return [
                None if s is None
                else [plain_value(s.values), s.evals.as_subclass(torch.Tensor).clone()]
                for s in solutions
            ]

        return {
            "best": pack(best),
            "worst": pack(self.problem._worst),
            "best_evals": self.problem._best_evals.as_subclass(torch.Tensor).clone(),
            "worst_evals": self.problem._worst_evals.as_subclass(torch.Tensor).clone(),
        }

    def _load_solution_stats(self, stats: dict | None) -> None:
        if stats is None or not hasattr(self.problem, "_best"):
            return

        def unpack(packed):
            out = []
            for item in packed:
                if item is None:
                    out.append(None)
                    continue
                one = SolutionBatch(self.problem, popsize=1, empty=True)
                one.access_values()[0] = item[0]
                one.access_evals()[0] = item[1].to(one.evals.dtype)
                out.append(Solution(one, 0))
            return out

        self.problem._best = unpack(stats["best"])
        self.problem._worst = unpack(stats["worst"])
        self.problem._best_evals = stats["best_evals"].clone()
        self.problem._worst_evals = stats["worst_evals"].clone()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly: the parent (value and
        evaluations), counters, snapshots, the algorithm's and the problem's generator
        states and the problem's own ``state_dict()`` (tensors and plain Python values
        only, loadable with ``torch.load(..., weights_only=True)`` when the values the
        mutation produces are)."""
        pgen = self.problem.generator if self.problem.has_own_generator else None
        state: dict[str, Any] = {
            "algorithm": type(self).__name__,
            "p_niche": self._p_niche,
            "niche_steps": self._niche_steps,
            "checkpoints": list(self._checkpoints),
            "started": self._started,
            "parent": plain_value(self._population.values[0]) if self._started else None,
            "parent_evals": (
                self._population.evals.as_subclass(torch.Tensor).clone()
                if self._started else None
            ),
            "steps_count": self._steps_count,
            "evaluations": self._evaluations,
            "episodes": self._episodes,
            "last": {
                "niching": self._niching_now,
                "replaced": self._replaced_now,
                "inherited_fraction": self._last_fraction,
            },
            "snapshots": {k: dict(v) for k, v in self.snapshots.items()},
            "generator_state": self._ea_generator.get_state(),
            "problem_generator_state": None if pgen is None else pgen.get_state(),
            "solution_stats": self._solution_stats_state(),
        }
        if callable(getattr(self.problem, "state_dict", None)):
            state["problem"] = self.problem.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` of a OnePlusOneEA with the same settings, on a
        problem built as for the original run.

        Raises:
            ValueError: For a state of another algorithm or other settings.
        """
        if not isinstance(state, Mapping) or state.get("algorithm") != type(self).__name__:
            raise ValueError(
                f"`state` is not a {type(self).__name__} state_dict (saved by "
                f"{state.get('algorithm') if isinstance(state, Mapping) else None!r})."
            )
        for key, mine in (
            ("p_niche", self._p_niche),
            ("niche_steps", self._niche_steps),
            ("checkpoints", list(self._checkpoints)),
        ):
            if state[key] != mine:
                raise ValueError(
                    f"The state was saved with {key}={state[key]!r}, this algorithm has "
                    f"{mine!r}; build it with the original run's settings."
                )
        if "problem" in state and callable(getattr(self.problem, "load_state_dict", None)):
            self.problem.load_state_dict(state["problem"])
        population = SolutionBatch(self.problem, popsize=1, empty=True)
        if state["started"]:
            population.access_values()[0] = state["parent"]
            population.access_evals()[:] = state["parent_evals"].to(population.evals.dtype)
        self._population = population
        self._started = bool(state["started"])
        self._steps_count = int(state["steps_count"])
        self._evaluations = int(state["evaluations"])
        self._episodes = int(state["episodes"])
        last = state["last"]
        self._niching_now = int(last["niching"])
        self._replaced_now = int(last["replaced"])
        self._last_fraction = float(last["inherited_fraction"])
        self.snapshots = {k: dict(v) for k, v in state["snapshots"].items()}
        self._ea_generator.set_state(state["generator_state"])
        pgen = self.problem.generator if self.problem.has_own_generator else None
        if pgen is not None and state.get("problem_generator_state") is not None:
            pgen.set_state(state["problem_generator_state"])
        self._load_solution_stats(state.get("solution_stats"))
