r"""Operators of a binary (bit-string) genetic algorithm: tournaments between distinct
individuals, crossover with a crossover probability, bit-flip mutations, and the
environmental (survivor) selections of NE-SGD.

Zhang et al. (2020), *Neuroevolution-based SGD* (arXiv 2012.11184), Algorithm 1, names only
"binary tournament selection", a crossover probability :math:`\mu = 0.9`, a mutation
probability :math:`\nu = 0.1` and an unspecified "environmental selection". Its loop is the
one of Y. Sun et al.'s CNN-GA code (``yn-sun/cnn-ga``), whose conventions fill the gaps:

* each parent is the winner of a binary tournament between two *different* individuals, and
  the two parents of a pairing are different individuals;
* a pairing is crossed with probability :math:`\mu`, otherwise its two children are copies
  of the parents;
* each child then undergoes, with probability :math:`\nu`, *one* mutation (here: one
  uniformly chosen bit is flipped);
* survivors are chosen from parents and offspring by roulette wheel (``evolve.py``) or by
  binary tournament, and the best individual overall replaces the worst chosen one if it
  was not chosen (elitism).

EvoTorch's :class:`~evotorch.operators.CrossOver` has no crossover probability and draws
its tournaments with replacement (a pairing can mate an individual with itself), so the
crossovers here override its tournament. All randomness comes from the problem's
``make_uniform`` / ``make_randint`` (its seeded generator), so ``seed=`` reproduces a run.

Fitness conventions: the selection functions take *higher-is-better* float utilities (the
problem's evaluations times -1 for a minimised objective); NaN counts as the worst.
"""

from __future__ import annotations

import torch
from evotorch import Problem, SolutionBatch
from evotorch.operators import CopyingOperator, CrossOver

__all__ = [
    "BitFlipMutation",
    "CrossOverWithProb",
    "EnvironmentalSelection",
    "OnePointCrossOverWithProb",
    "PerBitFlipMutation",
    "RouletteSelection",
    "TournamentSelection",
    "TruncationSelection",
    "UniformCrossOverWithProb",
    "distinct_parent_pairs",
    "higher_is_better_utility",
    "keep_elite",
    "tournament_winners",
]


# ---------------------------------------------------------------------------- helpers
def _check_probability(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"`{name}` must be a number in [0, 1], got {value!r}.")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1], got {value}.")
    return value


def _check_discrete_problem(problem: Problem, who: str) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"`problem` must be an evotorch.Problem, got {type(problem).__name__}.")
    dtype = problem.dtype
    if not isinstance(dtype, torch.dtype) or dtype.is_floating_point or dtype.is_complex:
        raise TypeError(
            f"{who} works on integer 0/1 codes; the problem has dtype={dtype}. Build the "
            "problem with dtype=torch.int64 and bounds=(0, 1)."
        )


def higher_is_better_utility(evals: torch.Tensor, *, sense: str) -> torch.Tensor:
    """Float64 utilities to maximise: ``evals`` for ``sense="max"``, ``-evals`` for
    ``"min"``; NaN becomes ``-inf`` so that it never wins a comparison."""
    u = evals.detach().to(torch.float64)
    if sense == "min":
        u = -u
    return torch.nan_to_num(u, nan=-float("inf"), posinf=float("inf"), neginf=-float("inf"))


def _uniform(problem: Problem, *shape: int, device) -> torch.Tensor:
    return problem.make_uniform(tuple(shape), dtype=torch.float64, device=device)


def _distinct_candidates(
    problem: Problem, num: int, n: int, size: int, *, device, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """``(num, size)`` indices in ``[0, n)``, distinct within each row (and different from
    ``exclude[row]`` when given), uniformly: the first ``size`` of a random permutation."""
    keys = _uniform(problem, num, n, device=device)
    if exclude is not None:
        keys.scatter_(1, exclude.view(-1, 1), float("inf"))  # sorts last: never a candidate
    return keys.argsort(dim=1, stable=True)[:, :size]


def tournament_winners(
    fitness: torch.Tensor, num: int, *, problem: Problem, tournament_size: int = 2,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Winners of ``num`` independent tournaments, each among ``tournament_size``
    *different* individuals (Sun et al.'s binary tournament for ``tournament_size=2``).

    Individuals can win several tournaments (tournaments are independent). A tie goes to
    the first-drawn candidate, i.e. at random. With ``exclude`` (a ``(num,)`` index per
    tournament), that individual takes no part in that tournament and the tournament size is
    capped at ``N - 1``.

    Args:
        fitness: ``(N,)`` higher-is-better utilities (NaN: worst).
        num: Number of tournaments.
        problem: Source of the random numbers (its seeded generator).
        tournament_size: Candidates per tournament, capped at ``N`` (``N - 1`` with
            ``exclude``).
        exclude: Optional ``(num,)`` indices barred from their tournament.

    Returns:
        ``(num,)`` int64 indices of the winners.
    """
    n = int(fitness.shape[0])
    limit = n - 1 if exclude is not None else n
    if limit < 1:
        raise ValueError(f"A tournament needs at least {n - limit + 1} individuals, got {n}.")
    size = min(int(tournament_size), limit)
    device = fitness.device
    candidates = _distinct_candidates(problem, num, n, size, device=device, exclude=exclude)
    f = torch.nan_to_num(fitness.to(torch.float64), nan=-float("inf"))
    pick = f[candidates].argmax(dim=1)  # first maximum: the first-drawn candidate on a tie
    return candidates.gather(1, pick.view(-1, 1)).squeeze(1)


def distinct_parent_pairs(
    fitness: torch.Tensor, num_pairs: int, *, problem: Problem, tournament_size: int = 2,
    max_rounds: int = 8,
) -> torch.Tensor:
    r"""``num_pairs`` parent pairs, each parent the winner of a tournament between
    different individuals and the two parents of a pair different individuals
    (``yn-sun/cnn-ga``, ``crossover_and_mutation.py``).

    Sun's code redraws the second parent's tournament until it differs from the first.
    That is done here for all pairs at once, for at most ``max_rounds`` rounds; a pair
    still unresolved then (it can never resolve when one individual wins every tournament,
    e.g. ``N = 2`` with distinct fitness) takes as second parent the winner of a tournament
    that excludes the first parent.

    Returns:
        ``(num_pairs, 2)`` int64 indices, the two columns different in every row.
    """
    n = int(fitness.shape[0])
    if n < 2:
        raise ValueError(f"Two different parents need a population of at least 2, got {n}.")
    first = tournament_winners(fitness, num_pairs, problem=problem,
                               tournament_size=tournament_size)
    second = tournament_winners(fitness, num_pairs, problem=problem,
                                tournament_size=tournament_size)
    for _ in range(max_rounds):
        same = (first == second).nonzero().squeeze(1)
        if same.numel() == 0:
            break
        second[same] = tournament_winners(fitness, int(same.numel()), problem=problem,
                                          tournament_size=tournament_size)
    same = (first == second).nonzero().squeeze(1)
    if same.numel() > 0:
        second[same] = tournament_winners(fitness, int(same.numel()), problem=problem,
                                          tournament_size=tournament_size,
                                          exclude=first[same])
    return torch.stack([first, second], dim=1)


# ---------------------------------------------------------------------------- crossover
class CrossOverWithProb(CrossOver):
    r"""Base of crossovers with a crossover probability :math:`\mu` and Sun et al.'s
    tournaments (Zhang et al. 2020, Algorithm 1 line 7).

    For every pairing, two different parents are chosen, each by a tournament among
    ``tournament_size`` different individuals (:func:`distinct_parent_pairs`); with
    probability ``probability`` the pair is recombined by the subclass's mask
    (:meth:`_swap_mask`), otherwise both children are exact copies of the parents.
    Children are laid out as EvoTorch's crossovers do: ``[children1; children2]``, so child
    ``i`` and child ``i + P`` are the siblings of pairing ``i``.

    After each call, :attr:`last_parents` ``(P, 2)`` and :attr:`last_crossed` ``(P,)`` hold
    the parents' indices in the batch and which pairings were recombined.

    Args:
        problem: The problem (integer, float or bool genes all work).
        probability: Crossover probability :math:`\mu` in ``[0, 1]`` (paper: 0.9).
        tournament_size: Candidates per tournament (paper: 2, binary tournament).
        obj_index: Objective to select on (default: the single objective).
        num_children: Even number of children per call (default: the batch size rounded
            up to even). Not with ``cross_over_rate``.
        cross_over_rate: Children as a fraction of the batch size (EvoTorch's meaning).
    """

    def __init__(
        self,
        problem: Problem,
        *,
        probability: float = 0.9,
        tournament_size: int = 2,
        obj_index: int | None = None,
        num_children: int | None = None,
        cross_over_rate: float | None = None,
    ):
        if not isinstance(problem, Problem):
            raise TypeError(
                f"`problem` must be an evotorch.Problem, got {type(problem).__name__}."
            )
        if problem.is_multi_objective and obj_index is None:
            raise ValueError(
                f"{type(self).__name__} selects on one objective; give `obj_index` for a "
                "multi-objective problem."
            )
        if isinstance(tournament_size, bool) or not isinstance(tournament_size, int):
            raise TypeError(f"`tournament_size` must be an int, got {tournament_size!r}.")
        if tournament_size < 1:
            raise ValueError(f"`tournament_size` must be >= 1, got {tournament_size}.")
        if num_children is not None and (int(num_children) < 2 or int(num_children) % 2):
            raise ValueError(f"`num_children` must be an even number >= 2, got {num_children}.")
        super().__init__(
            problem,
            tournament_size=tournament_size,
            obj_index=obj_index,
            num_children=num_children,
            cross_over_rate=cross_over_rate,
        )
        self._probability = _check_probability(probability, "probability")
        self._select_index = problem.normalize_obj_index(obj_index)
        self._last_parents: torch.Tensor | None = None
        self._last_crossed: torch.Tensor | None = None

    @property
    def probability(self) -> float:
        """The crossover probability :math:`\\mu`."""
        return self._probability

    @property
    def last_parents(self) -> torch.Tensor | None:
        """``(P, 2)`` batch indices of the parents of the last call's pairings."""
        return self._last_parents

    @property
    def last_crossed(self) -> torch.Tensor | None:
        """``(P,)`` bool: which pairings of the last call were recombined."""
        return self._last_crossed

    def num_children_for(self, popsize: int) -> int:
        """Number of children one call on a batch of ``popsize`` solutions makes."""
        return int(self._compute_num_tournaments(range(popsize)))

    @torch.no_grad()
    def _do_tournament(self, batch: SolutionBatch) -> tuple:
        num_pairs = self._compute_num_tournaments(batch) // 2
        sense = self.problem.senses[self._select_index]
        fitness = higher_is_better_utility(batch.evals[:, self._select_index], sense=sense)
        pairs = distinct_parent_pairs(
            fitness, num_pairs, problem=self.problem, tournament_size=self._tournament_size
        )
        self._last_parents = pairs
        values = batch.values.as_subclass(torch.Tensor)
        return values[pairs[:, 0]], values[pairs[:, 1]]

    def _swap_mask(self, num_pairs: int, length: int, device) -> torch.Tensor:
        """``(P, n)`` bool: genes child 1 takes from parent 2 (and child 2 from parent 1)."""
        raise NotImplementedError

    @torch.no_grad()
    def _do_cross_over(self, parents1: torch.Tensor, parents2: torch.Tensor) -> SolutionBatch:
        num_pairs, length = parents1.shape
        device = parents1.device
        crossed = _uniform(self.problem, num_pairs, device=device) < self._probability
        mask = self._swap_mask(num_pairs, length, device) & crossed[:, None]
        children1 = torch.where(mask, parents2, parents1)
        children2 = torch.where(mask, parents1, parents2)
        self._last_crossed = crossed
        return self._make_children_batch(torch.cat([children1, children2], dim=0))


class OnePointCrossOverWithProb(CrossOverWithProb):
    r"""One-point crossover applied with probability :math:`\mu` (the default of NE-SGD,
    spec A.7 row 11: the classic binary-GA crossover; Sun's is one-point on unit lists).

    A crossed pair is cut after gene ``c``, ``c`` uniform in ``1 .. n-1``: child 1 is
    ``parent1[:c] + parent2[c:]`` and child 2 ``parent2[:c] + parent1[c:]``. A genome of
    length 1 has no cut point, so its children are copies. See :class:`CrossOverWithProb`
    for the tournaments and the arguments.
    """

    def _swap_mask(self, num_pairs: int, length: int, device) -> torch.Tensor:
        cut = self.problem.make_randint((num_pairs, 1), n=max(length - 1, 1),
                                        dtype=torch.int64, device=device) + 1
        return torch.arange(length, device=device)[None, :] >= cut


class UniformCrossOverWithProb(CrossOverWithProb):
    r"""Uniform crossover applied with probability :math:`\mu`: in a crossed pair every gene
    is swapped between the children independently with probability ``swap_probability``.

    Args:
        swap_probability: Per-gene swap probability in ``[0, 1]`` (default 0.5).
        **kwargs: As :class:`CrossOverWithProb`.
    """

    def __init__(self, problem: Problem, *, swap_probability: float = 0.5, **kwargs):
        super().__init__(problem, **kwargs)
        self._swap_probability = _check_probability(swap_probability, "swap_probability")

    def _swap_mask(self, num_pairs: int, length: int, device) -> torch.Tensor:
        return _uniform(self.problem, num_pairs, length, device=device) < self._swap_probability


# ---------------------------------------------------------------------------- mutation
class _BitMutation(CopyingOperator):
    """Shared part of the bit-flip mutations: a copy of the batch, the flip, the record."""

    def __init__(self, problem: Problem, *, probability: float | None):
        _check_discrete_problem(problem, type(self).__name__)
        super().__init__(problem)
        self._probability = None if probability is None else _check_probability(
            probability, "probability"
        )
        self._last_mutated: torch.Tensor | None = None

    @property
    def probability(self) -> float | None:
        return self._probability

    @property
    def last_mutated(self) -> torch.Tensor | None:
        """``(N,)`` bool: which solutions of the last call were changed."""
        return self._last_mutated

    def _flip_mask(self, num: int, length: int, device) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def _do(self, batch: SolutionBatch) -> SolutionBatch:
        result = batch.clone()
        data = result.access_values(keep_evals=True)
        num, length = data.shape
        flip = self._flip_mask(num, length, data.device)
        flipped = torch.logical_not(data).to(data.dtype)  # 0 <-> 1 (any nonzero reads as 1)
        data.copy_(torch.where(flip, flipped, data))
        mutated = flip.any(dim=1)
        evals = result.access_evals()
        evals[mutated] = float("nan")  # a changed code is not evaluated; copies keep theirs
        self._last_mutated = mutated
        return result


class BitFlipMutation(_BitMutation):
    r"""Per-child mutation: with probability :math:`\nu` a child gets exactly *one* flipped
    bit, chosen uniformly (Sun et al.'s convention, one mutation per offspring; NE-SGD's
    default, spec A.7 row 12).

    Works on integer 0/1 (or bool) genomes. After each call, :attr:`last_mutated` holds
    which solutions changed; a changed solution's evaluations are reset to NaN.

    Args:
        problem: A problem with an integer (or bool) dtype.
        probability: Mutation probability :math:`\nu` per child, in ``[0, 1]`` (paper: 0.1).
    """

    def __init__(self, problem: Problem, *, probability: float = 0.1):
        super().__init__(problem, probability=probability)

    def _flip_mask(self, num: int, length: int, device) -> torch.Tensor:
        mutate = _uniform(self.problem, num, device=device) < self._probability
        position = self.problem.make_randint((num, 1), n=length, dtype=torch.int64,
                                             device=device)
        one_hot = torch.arange(length, device=device)[None, :] == position
        return one_hot & mutate[:, None]


class PerBitFlipMutation(_BitMutation):
    r"""Per-bit mutation: every bit of every child flips independently with probability
    ``probability`` (default ``1 / n``, one expected flip per child).

    Args:
        problem: A problem with an integer (or bool) dtype.
        probability: Per-bit flip probability in ``[0, 1]``, or None for ``1 / n``.
    """

    def __init__(self, problem: Problem, *, probability: float | None = None):
        super().__init__(problem, probability=probability)

    def _flip_mask(self, num: int, length: int, device) -> torch.Tensor:
        p = 1.0 / max(length, 1) if self._probability is None else self._probability
        return _uniform(self.problem, num, length, device=device) < p


# ---------------------------------------------------------------------------- survivors
def keep_elite(
    selected: torch.Tensor, fitness: torch.Tensor, true_fitness: torch.Tensor
) -> torch.Tensor:
    r"""Elitism of ``yn-sun/cnn-ga`` (``evolve.py``): if no selected individual is as good
    as the best one overall by the *true* (unsuppressed) fitness, the best one (lowest index
    on ties: a parent before a child) replaces the selected individual that is worst by the
    selection ``fitness`` (the last such position on ties). The best fitness found is
    therefore never lost, whatever the suppression did.

    Args:
        selected: ``(k,)`` indices chosen by a selection.
        fitness: ``(N,)`` higher-is-better selection utilities (suppressed).
        true_fitness: ``(N,)`` higher-is-better true utilities.

    Returns:
        ``(k,)`` indices, a new tensor.
    """
    selected = selected.clone()
    elite = true_fitness.argmax()  # first maximum
    if not bool(true_fitness[selected].max() < true_fitness[elite]):
        return selected
    f = torch.nan_to_num(fitness.to(torch.float64), nan=-float("inf"))[selected]
    k = int(selected.shape[0])
    # the last position holding the minimum: argmin of the flipped vector is its first
    worst = k - 1 - int(f.flip(0).argmin())
    selected[worst] = elite
    return selected


class EnvironmentalSelection:
    r"""Base of NE-SGD's environmental selections (Zhang et al. 2020, Algorithm 1 line 11:
    ``K_{t+1}`` = ``m`` individuals of ``K_t \cup G_t``).

    Call with the *selection* utilities (suppressed) and the *true* ones (both
    higher-is-better, ``(N,)``), the number ``k`` to keep and the problem (random source);
    returns ``(k,)`` int64 indices into the merged population. Subclasses implement
    :meth:`_select`; with ``elitism`` the best by true fitness is then kept
    (:func:`keep_elite`).

    Args:
        elitism: Keep the best individual by true fitness.
    """

    #: whether an individual can be selected more than once (then ``k`` may exceed ``N``)
    with_replacement: bool = True

    def __init__(self, *, elitism: bool = True):
        self._elitism = bool(elitism)

    @property
    def elitism(self) -> bool:
        return self._elitism

    def __call__(
        self, fitness: torch.Tensor, true_fitness: torch.Tensor, k: int, *, problem: Problem
    ) -> torch.Tensor:
        if fitness.ndim != 1 or fitness.shape != true_fitness.shape:
            raise ValueError(
                f"`fitness` and `true_fitness` must both be (N,), got {tuple(fitness.shape)} "
                f"and {tuple(true_fitness.shape)}."
            )
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"`k` must be an int >= 1, got {k!r}.")
        if not self.with_replacement and k > int(fitness.shape[0]):
            raise ValueError(
                f"{type(self).__name__} cannot keep {k} of {fitness.shape[0]} individuals."
            )
        f = torch.nan_to_num(fitness.to(torch.float64), nan=-float("inf"))
        t = torch.nan_to_num(true_fitness.to(torch.float64), nan=-float("inf"))
        selected = self._select(f, k, problem)
        return keep_elite(selected, f, t) if self._elitism else selected

    def _select(self, fitness: torch.Tensor, k: int, problem: Problem) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(elitism={self._elitism})"


class TournamentSelection(EnvironmentalSelection):
    r"""``k`` independent tournaments among ``tournament_size`` different individuals
    (binary tournament by default) on the suppressed utilities, then elitism: NE-SGD's
    default environmental selection (spec A.7 row 13; a Sun-style GA does the same).

    Args:
        tournament_size: Candidates per tournament (default 2).
        elitism: Keep the best individual by true fitness (default True).
    """

    def __init__(self, *, tournament_size: int = 2, elitism: bool = True):
        super().__init__(elitism=elitism)
        if isinstance(tournament_size, bool) or not isinstance(tournament_size, int):
            raise TypeError(f"`tournament_size` must be an int, got {tournament_size!r}.")
        if tournament_size < 1:
            raise ValueError(f"`tournament_size` must be >= 1, got {tournament_size}.")
        self._tournament_size = tournament_size

    def _select(self, fitness: torch.Tensor, k: int, problem: Problem) -> torch.Tensor:
        return tournament_winners(fitness, k, problem=problem,
                                  tournament_size=self._tournament_size)

    def __repr__(self) -> str:
        return (f"TournamentSelection(tournament_size={self._tournament_size}, "
                f"elitism={self._elitism})")


class TruncationSelection(EnvironmentalSelection):
    r"""The ``k`` best by the suppressed utilities (stable: a parent before a child on
    ties), EvoTorch's elitist GA survivor rule. Truncation already keeps an individual of
    the best true fitness (a suppressed best always has an equally good unsuppressed twin
    in its crowded cluster); ``elitism`` guards it anyway."""

    with_replacement = False

    def _select(self, fitness: torch.Tensor, k: int, problem: Problem) -> torch.Tensor:
        return torch.argsort(fitness, descending=True, stable=True)[:k]


class RouletteSelection(EnvironmentalSelection):
    r"""Fitness-proportional (roulette-wheel) selection of ``k`` individuals with
    replacement, on the suppressed utilities, then elitism: ``yn-sun/cnn-ga``'s
    ``evolve.py`` environmental selection.

    Weights: the utilities themselves when all finite ones are >= 0 (Sun's rule on
    accuracies); otherwise the utilities minus their minimum (windowing: the worst gets
    weight 0), which covers negative fitness and minimised objectives. Non-finite
    utilities get weight 0; if every weight is 0 the draw is uniform.
    """

    def _select(self, fitness: torch.Tensor, k: int, problem: Problem) -> torch.Tensor:
        finite = torch.isfinite(fitness)
        if not bool(finite.any()):
            weights = torch.ones_like(fitness)
        else:
            f = torch.where(finite, fitness, 0.0)
            low = fitness[finite].min()
            weights = f if bool(low >= 0) else torch.where(finite, f - low, 0.0)
            if not bool(weights.sum() > 0):
                weights = finite.to(torch.float64)
        cumulative = weights.cumsum(0)
        spins = _uniform(problem, k, device=fitness.device) * cumulative[-1]
        index = torch.searchsorted(cumulative, spins, right=True)
        # a spin rounded up to the total would fall off the wheel: onto its last slot
        return index.clamp_(max=int((weights > 0).nonzero().max()))
