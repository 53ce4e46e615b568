"""The best and worst solutions a :class:`~evotorch.Problem` has seen, kept cheaply.

EvoTorch's ``Problem.evaluate`` keeps the best and worst solutions ever evaluated (the
``best`` / ``worst`` / ``best_eval`` / ``worst_eval`` status items) when
``problem.stores_solution_stats`` is on, which is the default on CPU. It does so by cloning
a row of the batch (``batch[i].clone()``, a deep copy through the batch's serialisation)
whenever the best or worst improves: ~0.26 ms at d = 1000 on one CPU thread, more than the
whole generation of a sphere-sized problem spends on its arithmetic. An adaptive DE finds a
new best in most generations, so that clone was the largest single cost left between
SHADE and DE (docs/design.md, "Best-solution bookkeeping").

:func:`evaluate_keeping_solution_stats` evaluates the batch with EvoTorch's bookkeeping
switched off for that one call and then does the same bookkeeping itself: the batch's
extremes from one ``aminmax`` (a NaN anywhere makes both NaN, so nothing compares true and
nothing changes, as with EvoTorch's ``argmin`` / ``argmax``, which then pick a NaN row),
the same strict comparisons against ``problem._best_evals``, EvoTorch's ``argmin`` /
``argmax`` for the row of an improvement, the same attributes updated and the same status
dictionary, with the new best or worst copied into a row of a per-problem pool of rows
(each written once, ~18 µs at d = 1000; a fresh one-row batch took ~36 µs). Where
any of that could differ (several objectives, object-valued solutions, a subclass that
overrides the bookkeeping, the very first evaluation, which initialises it), EvoTorch's own
code runs.

:func:`solution_stats_state` and :func:`load_solution_stats` carry the same attributes
through ``state_dict()`` / ``load_state_dict()``, so a resumed run logs the numbers the
uninterrupted one would have.
"""

from __future__ import annotations

import weakref

import torch
from evotorch import Problem, Solution, SolutionBatch

__all__ = ["evaluate_keeping_solution_stats", "solution_stats_state", "load_solution_stats"]


def _fast_path_applies(problem: Problem, batch: SolutionBatch) -> bool:
    """Whether :func:`evaluate_keeping_solution_stats` may do EvoTorch's bookkeeping itself."""
    if type(problem)._get_best_and_worst is not Problem._get_best_and_worst:
        return False  # a subclass keeps its own statistics: leave them to it
    if type(problem).evaluate is not Problem.evaluate or not problem.is_main:
        return False
    if len(problem.senses) != 1 or problem.dtype is object:
        return False
    if getattr(problem, "_best", None) is None:
        return False  # the first evaluation: EvoTorch initialises its attributes
    stores = problem._store_solution_stats
    if stores is None:  # EvoTorch's own default, decided on the first evaluation
        stores = str(batch.device) == "cpu"
    return bool(stores)


def _solution_in(one: SolutionBatch, values: torch.Tensor, evals: torch.Tensor) -> Solution:
    """The :class:`~evotorch.Solution` of the empty one-row batch ``one``, holding copies of
    ``values`` and ``evals`` (the whole evaluation row, extra evaluation data included)."""
    one.access_values(keep_evals=True)[0].copy_(values)
    one.access_evals()[0].copy_(evals)
    return Solution(one, 0)


class _RowPool:
    """Rows of one batch handed out, one per kept solution, so that a new best costs two
    row copies and a :class:`~evotorch.Solution` instead of a new one-row batch (half the
    cost). Each row is written once; a used-up pool is replaced by a fresh one, and an
    old pool lives on only while a solution still refers to it. The pool holds at most
    ``_POOL_ELEMENTS`` values (so one row for a network genome) and ``_POOL_ROWS`` rows."""

    def __init__(self, like: SolutionBatch):
        d = max(1, like.solution_length or 1)
        self._like = like
        self._rows = max(1, min(_POOL_ROWS, _POOL_ELEMENTS // d))
        self._renew()

    def _renew(self) -> None:
        self._batch = SolutionBatch(like=self._like, popsize=self._rows, empty=True)
        self._values = self._batch.access_values(keep_evals=True)
        self._evals = self._batch.access_evals()
        self._next = 0

    def take(self, values: torch.Tensor, evals: torch.Tensor) -> Solution:
        """A :class:`~evotorch.Solution` holding copies of ``values`` and ``evals``."""
        if self._next == self._rows:
            self._renew()
        j = self._next
        self._next += 1
        self._values[j].copy_(values)
        self._evals[j].copy_(evals)
        return Solution(self._batch, j)


_POOL_ROWS = 64
_POOL_ELEMENTS = 1 << 18
_pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _copy_of_row(problem: Problem, batch: SolutionBatch, index: int) -> Solution:
    """An independent :class:`~evotorch.Solution` equal to ``batch[index].clone()`` (a row
    of ``problem``'s pool of kept solutions)."""
    pool = _pools.get(problem)
    if pool is None:
        pool = _pools[problem] = _RowPool(batch)
    return pool.take(
        batch.access_values(keep_evals=True)[index], batch.access_evals()[index]
    )


def evaluate_keeping_solution_stats(problem: Problem, batch: SolutionBatch) -> None:
    """``problem.evaluate(batch)``, with the best/worst bookkeeping done without deep copies.

    The problem's attributes (``_best``, ``_worst``, ``_best_evals``, ``_worst_evals``) and
    its ``status`` afterwards are those EvoTorch's ``Problem.evaluate`` would leave; the one
    difference a user could observe is that an ``after_eval_hook`` reading
    ``problem.status`` *while it runs* sees the previous evaluation's best and worst.
    """
    if not _fast_path_applies(problem, batch):
        problem.evaluate(batch)
        return

    saved = problem._store_solution_stats
    problem._store_solution_stats = False
    try:
        problem.evaluate(batch)
    finally:
        problem._store_solution_stats = saved

    scores = batch.access_evals(0)
    maximising = problem.senses[0] == "max"
    # The batch's extremes as host floats (exact copies of the eval-dtype numbers, so the
    # strict comparisons below decide exactly as EvoTorch's tensor comparisons do). A NaN
    # anywhere makes both NaN, as EvoTorch's argmin/argmax then pick a NaN row: nothing
    # compares true and nothing changes.
    low, high = (float(v) for v in torch.aminmax(scores))
    best_score, worst_score = (high, low) if maximising else (low, high)
    best_eval = float(problem._best_evals[0])
    worst_eval = float(problem._worst_evals[0])
    if (best_score > best_eval) if maximising else (best_score < best_eval):
        i_best = int(scores.argmax() if maximising else scores.argmin())  # EvoTorch's row
        problem._best_evals[0] = best_eval = best_score
        problem._best[0] = _copy_of_row(problem, batch, i_best)
    if (worst_score < worst_eval) if maximising else (worst_score > worst_eval):
        i_worst = int(scores.argmin() if maximising else scores.argmax())
        problem._worst_evals[0] = worst_eval = worst_score
        problem._worst[0] = _copy_of_row(problem, batch, i_worst)

    # best_eval / worst_eval: EvoTorch reads them back from the kept solutions, which hold
    # the same numbers as _best_evals / _worst_evals
    status = {
        "best": problem._best[0],
        "worst": problem._worst[0],
        "best_eval": best_eval,
        "worst_eval": worst_eval,
    }
    status.update(problem._after_eval_status)  # the hooks' items, ordered as EvoTorch does
    problem._after_eval_status = status


def solution_stats_state(problem: Problem) -> dict | None:
    """The problem's best/worst bookkeeping as plain tensors (``None`` before any is kept)."""
    best = getattr(problem, "_best", None)
    if best is None:
        return None

    def pack(solutions):
        return [None if s is None else [s.values.clone(), s.evals.clone()] for s in solutions]

    return {
        "best": pack(best),
        "worst": pack(problem._worst),
        "best_evals": problem._best_evals.clone(),
        "worst_evals": problem._worst_evals.clone(),
    }


def load_solution_stats(problem: Problem, stats: dict | None) -> None:
    """Restore what :func:`solution_stats_state` returned (``None``: nothing to restore)."""
    if stats is None or not hasattr(problem, "_best"):
        return

    def unpack(packed):
        return [
            None if item is None
            else _solution_in(SolutionBatch(problem, popsize=1, empty=True), item[0], item[1])
            for item in packed
        ]

    problem._best = unpack(stats["best"])
    problem._worst = unpack(stats["worst"])
    problem._best_evals = stats["best_evals"].to(problem.device)
    problem._worst_evals = stats["worst_evals"].to(problem.device)
