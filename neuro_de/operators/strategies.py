r"""DE mutation strategies and their registry.

A strategy is a function ``fn(ctx: MutationContext) -> Tensor`` returning the ``(n, d)``
mutant vectors of the ``n`` target individuals ``ctx.rows``. The engine samples the random
indices the strategy declares (``num_random`` mutually distinct indices, all different from
the target) before the call, so a strategy is a few lines of tensor algebra:

.. code-block:: python

    from neuro_de.operators import register_strategy

    @register_strategy("best/2", num_random=4, needs=("best",))
    def best_2(ctx):
        v = ctx.best()
        v += ctx.F * (ctx.x(0) - ctx.x(1) + ctx.x(2) - ctx.x(3))
        return v

Notation: :math:`x_i` the target, :math:`x_{r_k}` the k-th random individual, :math:`F` the
per-individual scale factor (a ``(n, 1)`` tensor), :math:`K \sim U(0, 1)` per individual.

References:
    R. Storn, K. Price. Differential Evolution - a simple and efficient heuristic for global
    optimization over continuous spaces. J. Global Optim. 11:341-359, 1997.
    A. K. Qin, V. L. Huang, P. N. Suganthan. Differential evolution algorithm with strategy
    adaptation for global numerical optimization. IEEE TEVC 13(2):398-417, 2009.
    J. Zhang, A. C. Sanderson. JADE: adaptive differential evolution with optional external
    archive. IEEE TEVC 13(5):945-958, 2009.
    R. Tanabe, A. Fukunaga. Success-history based parameter adaptation for differential
    evolution. IEEE CEC 2013.
    H.-Y. Fan, J. Lampinen. A trigonometric mutation operation to differential evolution.
    J. Global Optim. 27:105-129, 2003.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

__all__ = [
    "MutationContext",
    "Strategy",
    "STRATEGIES",
    "register_strategy",
    "get_strategy",
    "available_strategies",
    "trigonometric_weights",
]

_NEEDS = frozenset({"best", "pbest", "archive", "K"})


@dataclass
class MutationContext:
    """Everything a mutation strategy may read, for ``n`` target individuals.

    Attributes:
        population: ``(N, d)`` parent values. Strategies must not modify it.
        fitness: ``(N,)`` parent fitness oriented for minimisation (lower is better).
        rows: ``(n,)`` indices ``i`` of the targets.
        F: ``(n, 1)`` scale factors.
        r: ``(n, num_random)`` mutually distinct random indices, all ``!= i``. If the strategy
            uses the archive, the LAST column indexes the union ``population ++ archive``.
        best_index: Index of the best parent (lowest ``fitness``), if requested.
        pbest: ``(n,)`` indices of a random individual among the ``p``-best, if requested.
        K: ``(n, 1)`` uniform ``U(0, 1)`` coefficients, if requested.
        archive: ``(A, d)`` external archive (may have 0 rows), if requested.
    """

    population: torch.Tensor
    fitness: torch.Tensor
    rows: torch.Tensor
    F: torch.Tensor
    r: torch.Tensor
    best_index: torch.Tensor | None = None
    pbest: torch.Tensor | None = None
    K: torch.Tensor | None = None
    archive: torch.Tensor | None = None

    def x(self, j: int) -> torch.Tensor:
        """A new ``(n, d)`` tensor holding the individuals ``r[:, j]``."""
        return self.population.index_select(0, self.r[:, j])

    def x_union(self, j: int) -> torch.Tensor:
        """Like :meth:`x`, indexing ``population ++ archive`` (for archive strategies)."""
        idx = self.r[:, j]
        n_pop = self.population.shape[0]
        if self.archive is None or self.archive.shape[0] == 0:
            return self.population.index_select(0, idx)
        out = self.population.index_select(0, idx.clamp(max=n_pop - 1))
        rows = (idx >= n_pop).nonzero().squeeze(1)  # the draws that fall in the archive
        if rows.shape[0]:
            members = self.archive.index_select(0, idx.index_select(0, rows) - n_pop)
            out.index_copy_(0, rows, members)
        return out

    def target(self) -> torch.Tensor:
        """A new ``(n, d)`` tensor holding the targets ``x_i``."""
        return self.population.index_select(0, self.rows)

    def best(self) -> torch.Tensor:
        """A new ``(n, d)`` tensor whose rows all equal the best parent."""
        if self.best_index is None:
            raise RuntimeError("This strategy must declare needs=('best',).")
        return self.population[self.best_index].expand(self.rows.shape[0], -1).clone()

    def pbest_vectors(self) -> torch.Tensor:
        """A new ``(n, d)`` tensor holding the chosen p-best individuals."""
        if self.pbest is None:
            raise RuntimeError("This strategy must declare needs=('pbest',).")
        return self.population.index_select(0, self.pbest)


@dataclass(frozen=True)
class Strategy:
    """A registered mutation strategy.

    Attributes:
        name: Registry name, e.g. ``"rand/1"``.
        fn: The mutation function ``fn(ctx) -> (n, d) tensor``.
        num_random: How many mutually distinct random indices (besides ``i``) it needs.
        crossover: Whether binomial crossover follows (``current-to-rand/1`` has none).
        needs: Subset of ``{"best", "pbest", "archive", "K"}`` the engine must provide.
        key: Short name used in status keys (``p/<key>``, ``success/<key>``, ...).
    """

    name: str
    fn: Callable[[MutationContext], torch.Tensor]
    num_random: int
    crossover: bool = True
    needs: frozenset = field(default_factory=frozenset)
    key: str = ""

    @property
    def min_popsize(self) -> int:
        """Smallest population for which the strategy's indices can all be distinct."""
        return self.num_random + 1

    def __call__(self, ctx: MutationContext) -> torch.Tensor:
        return self.fn(ctx)


STRATEGIES: dict[str, Strategy] = {}


def _default_key(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z_]+", "", name.replace("-", "_"))


def register_strategy(
    name: str,
    *,
    num_random: int,
    crossover: bool = True,
    needs: Iterable[str] = (),
    key: str | None = None,
    aliases: Iterable[str] = (),
    overwrite: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator registering a mutation function under ``name`` (and ``aliases``).

    Args:
        name: The name algorithms accept, e.g. ``"rand/1"``.
        num_random: Number of distinct random indices the function reads from ``ctx.r``.
        crossover: Whether binomial crossover is applied to its mutants.
        needs: What the engine must prepare: ``"best"``, ``"pbest"``, ``"archive"``, ``"K"``.
        key: Short status key; default derived from the name.
        aliases: Other names for the same strategy.
        overwrite: Allow replacing an existing registration (useful in notebooks).

    Returns:
        The decorator; it returns the function unchanged.
    """
    needs = frozenset(needs)
    unknown = needs - _NEEDS
    if unknown:
        raise ValueError(f"Unknown `needs` {sorted(unknown)}; valid: {sorted(_NEEDS)}.")
    if num_random < 0:
        raise ValueError(f"`num_random` must be >= 0, got {num_random}.")

    def decorator(fn: Callable) -> Callable:
        strategy = Strategy(
            name=name,
            fn=fn,
            num_random=int(num_random),
            crossover=bool(crossover),
            needs=needs,
            key=key or _default_key(name),
        )
        for n in (name, *aliases):
            if n in STRATEGIES and not overwrite:
                raise ValueError(
                    f"A strategy named {n!r} is already registered; pass overwrite=True."
                )
            STRATEGIES[n] = strategy
        return fn

    return decorator


def available_strategies() -> list[str]:
    """Names (and aliases) of all registered strategies."""
    return sorted(STRATEGIES)


def get_strategy(spec: str | Strategy | Callable, *, num_random: int | None = None) -> Strategy:
    """Resolve a strategy given by name, as a :class:`Strategy`, or as a plain callable.

    A plain callable must say how many random indices it needs (``num_random``, or an
    attribute ``fn.num_random``); it gets crossover and no extra needs.
    """
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, str):
        if spec not in STRATEGIES:
            raise ValueError(
                f"Unknown mutation strategy {spec!r}. Registered: {available_strategies()}. "
                "Register your own with neuro_de.operators.register_strategy."
            )
        return STRATEGIES[spec]
    if callable(spec):
        n = num_random if num_random is not None else getattr(spec, "num_random", None)
        if n is None:
            raise ValueError(
                "A callable strategy needs `num_random`: decorate it with register_strategy "
                "or set `fn.num_random = k`."
            )
        name = getattr(spec, "__name__", "custom")
        return Strategy(name=name, fn=spec, num_random=int(n), key=_default_key(name))
    raise TypeError(f"A strategy must be a name, a Strategy or a callable, got {spec!r}.")


# --------------------------------------------------------------------------------------
# Built-in strategies. Each builds its result in a freshly gathered tensor and works in
# place on it, so the peak memory is a few (n, d) temporaries.
# --------------------------------------------------------------------------------------


@register_strategy("rand/1", num_random=3, key="rand1", aliases=("S1",))
def rand_1(ctx: MutationContext) -> torch.Tensor:
    r"""DE/rand/1: :math:`v = x_{r_1} + F (x_{r_2} - x_{r_3})` (Storn & Price 1997; paper S1)."""
    v = ctx.x(1)
    v.sub_(ctx.x(2)).mul_(ctx.F).add_(ctx.x(0))
    return v


@register_strategy("rand/2", num_random=5, key="rand2", aliases=("S3",))
def rand_2(ctx: MutationContext) -> torch.Tensor:
    r"""DE/rand/2: :math:`v = x_{r_1} + F (x_{r_2} - x_{r_3}) + F (x_{r_4} - x_{r_5})` (S3)."""
    v = ctx.x(1)
    v.sub_(ctx.x(2)).add_(ctx.x(3)).sub_(ctx.x(4)).mul_(ctx.F).add_(ctx.x(0))
    return v


@register_strategy("best/1", num_random=2, needs=("best",), key="best1")
def best_1(ctx: MutationContext) -> torch.Tensor:
    r"""DE/best/1: :math:`v = x_{best} + F (x_{r_1} - x_{r_2})`."""
    v = ctx.x(0)
    v.sub_(ctx.x(1)).mul_(ctx.F).add_(ctx.population[ctx.best_index])
    return v


@register_strategy("best/2", num_random=4, needs=("best",), key="best2")
def best_2(ctx: MutationContext) -> torch.Tensor:
    r"""DE/best/2: :math:`v = x_{best} + F (x_{r_1} - x_{r_2}) + F (x_{r_3} - x_{r_4})`."""
    v = ctx.x(0)
    v.sub_(ctx.x(1)).add_(ctx.x(2)).sub_(ctx.x(3)).mul_(ctx.F).add_(ctx.population[ctx.best_index])
    return v


@register_strategy(
    "current-to-best/2",
    num_random=4,
    needs=("best",),
    key="ctb2",
    aliases=("rand-to-best/2",),
)
def current_to_best_2(ctx: MutationContext) -> torch.Tensor:
    r"""SaDE's DE/rand-to-best/2 (Qin et al. 2009), i.e. current-to-best/2:

    .. math:: v = x_i + F (x_{best} - x_i) + F (x_{r_1} - x_{r_2}) + F (x_{r_3} - x_{r_4})
    """
    xi = ctx.target()
    v = ctx.population[ctx.best_index] - xi
    v.add_(ctx.x(0)).sub_(ctx.x(1)).add_(ctx.x(2)).sub_(ctx.x(3)).mul_(ctx.F).add_(xi)
    return v


@register_strategy("current-to-best/1", num_random=2, needs=("best",), key="ctb1", aliases=("S2",))
def current_to_best_1(ctx: MutationContext) -> torch.Tensor:
    r"""The seed paper's S2, current-to-best/1 (one difference pair, not SaDE's two):

    .. math:: v = x_i + F (x_{gbest} - x_i) + F (x_{r_2} - x_{r_3})
    """
    xi = ctx.target()
    v = ctx.population[ctx.best_index] - xi
    v.add_(ctx.x(0)).sub_(ctx.x(1)).mul_(ctx.F).add_(xi)
    return v


@register_strategy(
    "current-to-rand/1", num_random=3, crossover=False, needs=("K",), key="ctr1", aliases=("S4",)
)
def current_to_rand_1(ctx: MutationContext) -> torch.Tensor:
    r"""DE/current-to-rand/1 (SaDE; the seed paper's S4, no crossover):

    .. math:: v = x_i + K (x_{r_1} - x_i) + F (x_{r_2} - x_{r_3}), \quad K \sim U(0, 1)
    """
    xi = ctx.target()
    v = ctx.x(0)
    v.sub_(xi).mul_(ctx.K)
    diff = ctx.x(1)
    diff.sub_(ctx.x(2)).mul_(ctx.F)
    v.add_(diff).add_(xi)
    return v


@register_strategy(
    "current-to-pbest/1", num_random=2, needs=("pbest", "archive"), key="ctpb1"
)
def current_to_pbest_1(ctx: MutationContext) -> torch.Tensor:
    r"""JADE/SHADE current-to-pbest/1 with external archive:

    .. math:: v = x_i + F (x_{pbest} - x_i) + F (x_{r_1} - \tilde{x}_{r_2})

    :math:`x_{pbest}` is drawn uniformly from the best :math:`\lceil pN \rceil` parents,
    :math:`x_{r_1}` from the population, :math:`\tilde{x}_{r_2}` from population ∪ archive.
    """
    xi = ctx.target()
    v = ctx.pbest_vectors()
    v.sub_(xi).add_(ctx.x(0)).sub_(ctx.x_union(1)).mul_(ctx.F).add_(xi)
    return v


def trigonometric_weights(f: torch.Tensor, *, population_fitness: torch.Tensor) -> torch.Tensor:
    r"""Fan & Lampinen's weights :math:`p_k = |f_k| / \sum_j |f_j|` for ``f`` of shape (n, 3).

    The rule assumes minimisation of a non-negative objective (a lower :math:`f_k` gives a
    smaller :math:`p_k` and pulls the mutant toward :math:`x_{r_k}`). When some parent's
    minimisation-oriented fitness is negative (e.g. a maximised problem, negated), all values
    are first shifted by the population minimum so they are non-negative and the ordering is
    kept. When :math:`\sum |f| = 0` the weights are :math:`1/3` each (the centroid).
    """
    low = population_fitness.min()
    if bool(low < 0):
        f = f - low
    a = f.abs()
    s = a.sum(dim=1, keepdim=True)
    third = torch.full_like(a, 1.0 / 3.0)
    return torch.where(s > 0, a / torch.where(s > 0, s, torch.ones_like(s)), third)


@register_strategy("trigonometric", num_random=3, key="trig", aliases=("S_trigo", "trig"))
def trigonometric(ctx: MutationContext) -> torch.Tensor:
    r"""Trigonometric mutation (Fan & Lampinen 2003; the seed paper's S_Trigo):

    .. math::
        v = \frac{x_{r_1} + x_{r_2} + x_{r_3}}{3} + (p_2 - p_1)(x_{r_1} - x_{r_2})
            + (p_3 - p_2)(x_{r_2} - x_{r_3}) + (p_1 - p_3)(x_{r_3} - x_{r_1}),
        \quad p_k = \frac{|f(x_{r_k})|}{\sum_j |f(x_{r_j})|}

    Equivalently :math:`v = \sum_k c_k x_{r_k}` with :math:`c_1 = 1/3 + p_2 + p_3 - 2 p_1`,
    :math:`c_2 = 1/3 + p_1 + p_3 - 2 p_2`, :math:`c_3 = 1/3 + p_1 + p_2 - 2 p_3` (so
    :math:`c_k = 4/3 - 3 p_k`), which is how it is computed: three gathers, no differences.
    F is not used. See :func:`trigonometric_weights` for f < 0 and the all-zero guard.
    """
    f = ctx.fitness.index_select(0, ctx.r.reshape(-1)).reshape(ctx.r.shape).to(
        ctx.population.dtype
    )
    p = trigonometric_weights(f, population_fitness=ctx.fitness)
    p1, p2, p3 = p[:, 0:1], p[:, 1:2], p[:, 2:3]
    third = 1.0 / 3.0
    v = ctx.x(0).mul_(third + p2 + p3 - 2.0 * p1)
    v.add_(ctx.x(1).mul_(third + p1 + p3 - 2.0 * p2))
    v.add_(ctx.x(2).mul_(third + p1 + p2 - 2.0 * p3))
    return v
