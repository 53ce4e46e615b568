"""Common machinery of neuro_de's population-based EvoTorch search algorithms."""

from __future__ import annotations

from collections.abc import Callable

import torch
from evotorch import Problem, SolutionBatch
from evotorch.algorithms.searchalgorithm import SearchAlgorithm, SinglePopulationAlgorithmMixin

from ..operators.rows import copy_rows
from ..operators.selection import parent_utility
from .problem_state import load_problem_state, problem_state

__all__ = ["PopulationAlgorithm", "mean_pairwise_distance", "RESERVED_STATUS_KEYS"]

RESERVED_STATUS_KEYS = frozenset(
    {"best", "worst", "best_eval", "worst_eval", "iter", "pop_best", "pop_best_eval",
     "mean_eval", "median_eval"}
)


@torch.no_grad()
def mean_pairwise_distance(values: torch.Tensor, *, chunk_elements: int = 1 << 24) -> float:
    r"""Mean Euclidean distance over all pairs :math:`i < j` of the rows of ``values``.

    Computed from the Gram matrix of the centred population,
    :math:`\|x_i - x_j\|^2 = G_{ii} + G_{jj} - 2 G_{ij}`, accumulated in float64 over column
    chunks so no ``(n, d)`` temporary larger than a chunk is made (``d`` reaches 5e7).
    """
    n, d = values.shape
    if n < 2:
        return 0.0
    gram = torch.zeros((n, n), dtype=torch.float64, device=values.device)
    step = max(1, chunk_elements // n)
    for start in range(0, d, step):
        block = values[:, start : start + step].to(torch.float64)
        block = block - block.mean(dim=0, keepdim=True)
        gram.addmm_(block, block.T)
    diag = gram.diagonal()
    sq = (diag[:, None] + diag[None, :] - 2.0 * gram).clamp_(min=0)
    iu = torch.triu_indices(n, n, offset=1, device=values.device)
    return float(sq[iu[0], iu[1]].sqrt().mean())


class PopulationAlgorithm(SearchAlgorithm, SinglePopulationAlgorithmMixin):
    """Base of DE-family algorithms and PSO: a population of ``(popsize, d)`` tensors.

    It owns what every neuro_de algorithm shares:

    * the population, built from ``init_population`` (a ``(popsize, d)`` tensor, e.g. the
      snapshots of a trained network) or sampled by the problem;
    * minimisation-oriented fitness (``utility``: evals times +1 for ``"min"`` problems and -1
      for ``"max"``; NaN becomes +inf so it never wins);
    * the protocol with problems whose objective changes (mini-batch fitness): problems with
      ``advance_generation()`` are advanced once at the start of every generation after the
      first, and when ``problem.fitness_epoch`` differs from the epoch the parents were scored
      on, the parents are re-evaluated before any comparison;
    * float status items, computed lazily (only when a logger reads them);
    * ``state_dict()`` / ``load_state_dict()`` of the population, counters and RNG states.

    Subclasses implement :meth:`_generation` (one generation after the parents are current)
    and extend :meth:`_extra_state` / :meth:`_load_extra_state`.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None,
        init_population: torch.Tensor | None = None,
        min_popsize: int = 1,
        status_keys: tuple[str, ...] = (),
    ):
        if not isinstance(problem, Problem):
            raise TypeError(
                f"`problem` must be an evotorch.Problem, got {type(problem).__name__}."
            )
        if problem.is_multi_objective:
            raise ValueError(
                f"{type(self).__name__} optimises a single objective; the problem has "
                f"{len(problem.senses)}. Use a single-objective Problem."
            )
        if problem.solution_length is None:
            raise ValueError(
                "The problem must have a fixed `solution_length` (a numeric vector problem)."
            )
        problem.ensure_numeric()
        if not (problem.dtype.is_floating_point if isinstance(problem.dtype, torch.dtype)
                else True):
            raise TypeError(
                f"{type(self).__name__} needs a floating-point problem, got "
                f"dtype={problem.dtype}. Build the problem with dtype=torch.float32 "
                "(DE mutations produce real-valued vectors)."
            )
        SearchAlgorithm.__init__(self, problem)

        popsize = self._check_popsize(popsize, init_population, min_popsize)
        self._popsize = popsize
        self._population = self._make_population(problem, popsize, init_population)
        self._sign = 1.0 if problem.senses[0] == "min" else -1.0
        self._parents_epoch: int | None = None  # fitness epoch the parents' evals come from
        self._generation_index = 0
        self._stats: dict[str, torch.Tensor | float] = {}
        # A callable returning more status items, run only when a status item is read, so
        # an unlogged run pays nothing for per-strategy statistics.
        self._pending_stats: Callable[[], dict] | None = None
        self._nonfinite_total = 0
        SinglePopulationAlgorithmMixin.__init__(self)
        keys = ("diversity", "nonfinite_trials", "nonfinite_total", *status_keys)
        clash = RESERVED_STATUS_KEYS.intersection(status_keys)
        if clash:
            raise ValueError(f"Status keys {sorted(clash)} are reserved by EvoTorch.")
        getters: dict[str, Callable[[], float]] = {k: self._make_getter(k) for k in keys}
        getters["diversity"] = self._get_diversity
        self.add_status_getters(getters)

    # ------------------------------------------------------------------ construction
    def _check_popsize(self, popsize, init_population, min_popsize) -> int:
        name = type(self).__name__
        if init_population is not None:
            if not isinstance(init_population, torch.Tensor):
                raise TypeError(
                    f"`init_population` must be a (popsize, d) torch.Tensor, got "
                    f"{type(init_population).__name__}."
                )
            if init_population.ndim != 2:
                raise ValueError(
                    f"`init_population` must be 2-D (popsize, d), got shape "
                    f"{tuple(init_population.shape)}."
                )
            if init_population.shape[0] == 0:
                raise ValueError("`init_population` is empty; give at least one individual.")
            if popsize is None:
                popsize = int(init_population.shape[0])
            elif int(popsize) != init_population.shape[0]:
                raise ValueError(
                    f"`popsize`={popsize} but `init_population` has "
                    f"{init_population.shape[0]} rows; pass one or make them agree."
                )
        if popsize is None:
            raise ValueError(f"{name} needs `popsize` (or an `init_population` tensor).")
        if isinstance(popsize, bool) or not isinstance(popsize, int):
            raise TypeError(f"`popsize` must be an int, got {popsize!r}.")
        if popsize < min_popsize:
            raise ValueError(
                f"{name} with these settings needs popsize >= {min_popsize} (so that the "
                f"mutation's random individuals can all be distinct), got {popsize}."
            )
        return int(popsize)

    @staticmethod
    def _make_population(problem: Problem, popsize: int, init_population) -> SolutionBatch:
        if init_population is None:
            return problem.generate_batch(popsize)
        d = problem.solution_length
        if init_population.shape[1] != d:
            from ..problems.checks import genome_length_hint

            columns = int(init_population.shape[1])
            raise ValueError(
                f"`init_population` has {columns} columns but the problem's "
                f"solution_length is {d}.{genome_length_hint(problem, columns)}"
            )
        if init_population.device.type == "meta" or (
            init_population.device.type != torch.device(problem.device).type
            and init_population.device.type != "cpu"
        ):
            raise ValueError(
                f"`init_population` is on device {init_population.device}, the problem on "
                f"{problem.device}. Move it first: init_population.to({str(problem.device)!r})."
            )
        if not bool(torch.isfinite(init_population).all()):
            raise ValueError("`init_population` contains NaN or inf values.")
        batch = SolutionBatch(problem, popsize, empty=True)
        # detached: a population that requires grad leaves the algorithm's values ordinary
        batch.access_values()[:] = init_population.detach().to(device=batch.device,
                                                              dtype=problem.dtype)
        return batch

    def _make_getter(self, key: str) -> Callable[[], float]:
        def getter() -> float:
            if self._pending_stats is not None:  # computed on first read only
                pending, self._pending_stats = self._pending_stats, None
                self._stats.update(pending())
            value = self._stats.get(key, float("nan"))
            return float(value)

        return getter

    # ------------------------------------------------------------------ properties
    @property
    def population(self) -> SolutionBatch:
        """The current parents (values and evaluations)."""
        return self._population

    @property
    def popsize(self) -> int:
        return self._popsize

    @property
    def generation(self) -> int:
        """Number of completed generations (steps)."""
        return self._generation_index

    def utility(self, batch: SolutionBatch) -> torch.Tensor:
        """Minimisation-oriented fitness of ``batch``; NaN maps to +inf."""
        return self._utility_of(batch.access_evals(0))

    def _utility_of(self, evals: torch.Tensor) -> torch.Tensor:
        """:meth:`utility` of a column of evaluations."""
        return parent_utility(evals, sign=self._sign)

    # ------------------------------------------------------------------ the step
    def _fitness_epoch(self) -> int | None:
        epoch = getattr(self.problem, "fitness_epoch", None)
        return None if epoch is None else int(epoch)

    def _ensure_parents_current(self) -> None:
        """Evaluate the parents at start, and again whenever the objective's data changed."""
        epoch = self._fitness_epoch()
        stale = self._parents_epoch is None or (epoch is not None and epoch != self._parents_epoch)
        # NaN evaluations are legitimate results (they never win a selection), not a sign of
        # an unevaluated batch, so only the epoch decides when to re-score.
        if stale:
            self._evaluate_parents()
            self._parents_epoch = epoch if epoch is not None else 0

    def _evaluate_parents(self) -> None:
        self._evaluate(self._population)

    def _evaluate(self, batch: SolutionBatch) -> None:
        """``problem.evaluate(batch)``, outside the generation's inference mode (with
        autograd still off): what the problem and EvoTorch keep from it (best-solution
        clones, hook results, minibatches) are ordinary tensors a user can train with."""
        with torch.inference_mode(False), torch.no_grad():
            self.problem.evaluate(batch)

    def _step(self) -> None:
        # A generation runs in inference mode (cheaper dispatch than no_grad for the many
        # small operations of the adaptive variants); the algorithms' persistent tensors are
        # ordinary tensors updated in place, and everything the problem sees or returns goes
        # through _evaluate / the block below, outside inference mode.
        if self._generation_index > 0 and hasattr(self.problem, "advance_generation"):
            with torch.no_grad():
                self.problem.advance_generation()
        with torch.inference_mode():
            self._step_in_inference_mode()

    def _step_in_inference_mode(self) -> None:
        self._ensure_parents_current()
        self._stats = {}
        self._pending_stats = None
        self._generation()
        self._generation_index += 1
        self._stats["nonfinite_total"] = float(self._nonfinite_total)

    def _generation(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _get_diversity(self) -> float:
        return mean_pairwise_distance(self._population.access_values(keep_evals=True))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly: population, evals, counters,
        adaptation state and RNG states (tensors and plain Python values only, so the result
        loads with ``torch.load(..., weights_only=True)``)."""
        state = {
            "algorithm": type(self).__name__,
            "solution_length": int(self.problem.solution_length),
            "popsize": self._popsize,
            "values": self._population.values.clone(),
            "evals": self._population.evals.clone(),
            "parents_epoch": self._parents_epoch,
            "generation_index": self._generation_index,
            "steps_count": self._steps_count,
            "nonfinite_total": self._nonfinite_total,
            **problem_state(self.problem),
        }
        state.update(self._extra_state())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a state produced by :meth:`state_dict` of the same algorithm and problem."""
        if not isinstance(state, dict) or "values" not in state:
            raise ValueError("`state` is not a neuro_de algorithm state_dict.")
        if state.get("algorithm") != type(self).__name__:
            raise ValueError(
                f"This state was saved by {state.get('algorithm')!r}, not {type(self).__name__}."
            )
        if state["values"].shape != (self._popsize, self.problem.solution_length):
            raise ValueError(
                f"State population has shape {tuple(state['values'].shape)}, expected "
                f"({self._popsize}, {self.problem.solution_length}): another problem or popsize."
            )
        self._population.access_values()[:] = state["values"].to(self._population.device)
        self._population.access_evals()[:] = state["evals"].to(self._population.device)
        self._parents_epoch = state["parents_epoch"]
        self._generation_index = int(state["generation_index"])
        self._steps_count = int(state["steps_count"])
        self._nonfinite_total = int(state["nonfinite_total"])
        load_problem_state(self.problem, state)
        self._load_extra_state(state)

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass


def copy_rows_where(mask: torch.Tensor, sources: tuple, targets: tuple) -> None:
    """``target[i] = source[i]`` for every row ``i`` with ``mask[i]``, for each pair of
    ``(N, ...)`` tensors (values and evaluations of a selection). On CPU only the selected
    rows are copied (one host sync; :func:`~neuro_de.operators.rows.copy_rows`, in column
    chunks for wide tensors); on accelerators one
    ``torch.where`` each, no sync."""
    if mask.device.type == "cpu":
        rows = mask.nonzero().squeeze(1)
        for source, target in zip(sources, targets, strict=True):
            copy_rows(target, rows, source, rows)
    else:
        for source, target in zip(sources, targets, strict=True):
            torch.where(mask[:, None], source, target, out=target)


def plain_bound(bound):
    """A hard bound as a Python float when all its entries are equal (scalar clamps and
    checks are cheaper), else as a plain tensor (not EvoTorch's read-only subclass, which
    routes every operation through ``__torch_function__``); ``None`` stays ``None``."""
    if bound is None or not isinstance(bound, torch.Tensor):
        return bound
    bound = bound.as_subclass(torch.Tensor)
    if bound.numel() > 0 and bool((bound == bound.reshape(-1)[0]).all()):
        return float(bound.reshape(-1)[0])
    return bound
