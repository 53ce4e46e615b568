r"""DE mutation strategies and their registry.

A strategy turns the parents into the ``(n, d)`` mutant vectors of the ``n`` target
individuals ``ctx.rows``. The engine samples the random indices the strategy declares
(``num_random`` mutually distinct indices, all different from the target) before the call.
A strategy comes in one of two forms.

**Linear** (every classic DE mutation): :math:`v_i = \sum_t c_t\, y_t`, where each vector
:math:`y_t` is the target ``x``, the ``best`` parent, a ``pbest`` parent or a random
individual ``r1``, ``r2``, ... and each coefficient is affine in :math:`F` and :math:`K`
(or computed by a function, as the trigonometric weights are). It is declared, not coded:

.. code-block:: python

    from neuro_de.operators import register_linear_strategy

    register_linear_strategy(
        "best/2", {"best": "1", "r1": "F", "r2": "-F", "r3": "F", "r4": "-F"}
    )

The engine then builds the mutants of a whole pool of linear strategies at once: one
``(N, T)`` table of indices and one of coefficients (a few small tensor operations, however
many strategies) and one fused weighted gather-sum (:func:`combine_terms`).

**Any other** mutation is a function returning the mutants:

.. code-block:: python

    from neuro_de.operators import register_strategy

    @register_strategy("centroid/2", num_random=2)
    def centroid(ctx):
        return (ctx.x(0) + ctx.x(1)) / 2

Calling a :class:`Strategy` returns the mutants, whichever form it has.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F_nn

from .grad import without_grad

__all__ = [
    "Combination",
    "MutationContext",
    "Strategy",
    "STRATEGIES",
    "Terms",
    "combine_terms",
    "parse_coefficient",
    "register_strategy",
    "register_linear_strategy",
    "get_strategy",
    "available_strategies",
    "trigonometric_coefficients",
    "trigonometric_weights",
]

_NEEDS = frozenset({"best", "pbest", "archive", "K"})

# Up to this many elements combine_terms' result is a new tensor made in one call; with a given
# buffer, or above it, the result is built in column chunks, so that a 50M-parameter genome
# never needs an extra (n, d) temporary.
_FRESH_ELEMENTS = 1 << 24
# Elements per column chunk: small enough for a chunk to stay in cache (2**18 measured ~2.8x
# faster than 2**24 at d = 11.7M, 10 rows, one CPU thread).
_CHUNK_ELEMENTS = 1 << 18


class Terms(NamedTuple):
    r"""A linear mutation :math:`v_i = \sum_t c_{it}\, s_{j_{it}}`.

    Attributes:
        index: ``(n, T)`` int64 row indices :math:`j_{it}` into the parents (``0 .. N-1``)
            or, for strategies that use the archive, into ``population ++ archive``.
        coef: ``(n, T)`` coefficients :math:`c_{it}`.
    """

    index: torch.Tensor
    coef: torch.Tensor


class Combination:
    r"""The mutants :math:`v_i = \sum_t c_{it}\, s_{j_{it}}` of linear strategies, built
    on demand: :meth:`columns` makes a block of columns, :meth:`materialize` all of them.

    Binomial crossover reads the mutants through :meth:`columns`, one cache-sized block at
    a time, so a generation never writes the mutants out to memory and reads them back:
    the block is consumed while it is in cache (:func:`~neuro_de.operators.binomial_crossover`
    accepts a tensor or any object with ``shape`` and ``columns``). A block's values are
    bit-identical to the same columns of :meth:`materialize`: every coordinate is the same
    weighted sum of the same ``T`` source coordinates, in the same order.

    Args:
        source: ``(M, d)`` rows the indices refer to (the parents, or parents ++ archive);
            it must not change while the combination is read.
        index: ``(n, T)`` int64 row indices.
        coef: ``(n, T)`` coefficients (cast to ``source``'s dtype).
    """

    def __init__(self, source: torch.Tensor, index: torch.Tensor, coef: torch.Tensor):
        self.source, self.index = source, index
        self.weights = coef.to(source.dtype)
        self.shape = torch.Size((index.shape[0], source.shape[1]))
        self.dtype, self.device = source.dtype, source.device

    @without_grad
    def columns(self, start: int, stop: int) -> torch.Tensor:
        """The ``(n, stop - start)`` mutant columns ``start .. stop - 1`` (a new tensor)."""
        return _weighted_rows(self.index, self.source[:, start:stop], self.weights)

    @without_grad
    def materialize(self, out: torch.Tensor | None = None) -> torch.Tensor:
        """All ``(n, d)`` mutants: one call up to ``2**24`` elements, otherwise (or into
        ``out``) column chunks of ``2**18`` elements, so that a 50M-parameter genome needs
        no ``(n, d)`` temporary besides the result."""
        n, d = self.shape
        if out is None and n * d <= _FRESH_ELEMENTS:
            return self.columns(0, d)
        if out is None:
            out = torch.empty((n, d), device=self.device, dtype=self.dtype)
        step = max(1, _CHUNK_ELEMENTS // max(n, 1))
        for start in range(0, d, step):
            stop = min(d, start + step)
            out[:, start:stop] = self.columns(start, stop)
        return out


@without_grad
def combine_terms(
    source: torch.Tensor,
    index: torch.Tensor,
    coef: torch.Tensor,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The mutants :math:`v_i = \sum_t c_{it}\, s_{j_{it}}` of linear strategies.

    One fused weighted gather-sum (``torch.nn.functional.embedding_bag`` in ``"sum"`` mode
    with per-sample weights: row :math:`i` is the bag of the ``T`` rows ``index[i]`` of
    ``source`` weighted by ``coef[i]``): every mutant coordinate reads its ``T`` source
    coordinates once, and no ``(n, T, d)`` block of gathered rows is ever made. With
    ``out``, or when the ``(n, d)`` result would exceed ``2**24`` elements, it is built in
    column chunks of ``2**18`` elements (cache-sized) and written into ``out``
    (:meth:`Combination.materialize`).

    Args:
        source: ``(M, d)`` rows the indices refer to (the parents, or parents ++ archive).
        index: ``(n, T)`` int64 row indices.
        coef: ``(n, T)`` coefficients (cast to ``source``'s dtype).
        out: Optional ``(n, d)`` destination; without it the result is a new tensor.

    Returns:
        The ``(n, d)`` mutants (``out`` when given).
    """
    return Combination(source, index, coef).materialize(out)


def _weighted_rows(index: torch.Tensor, source: torch.Tensor, weights: torch.Tensor):
    """``(weights[:, :, None] * source[index]).sum(1)`` without the gathered block (1-D
    bags with cached offsets: the 2-D form makes the offsets anew on every call)."""
    n, num_terms = index.shape
    return F_nn.embedding_bag(
        index.reshape(-1), source, _bag_offsets(n, num_terms, index.device),
        per_sample_weights=weights.reshape(-1), mode="sum",
    )


_BAG_OFFSETS: dict[tuple[int, int, str], torch.Tensor] = {}


def _bag_offsets(n: int, num_terms: int, device) -> torch.Tensor:
    key = (n, num_terms, str(device))
    found = _BAG_OFFSETS.get(key)
    if found is None:
        with torch.inference_mode(False):  # an ordinary tensor, usable in and out of it
            found = _BAG_OFFSETS[key] = torch.arange(0, n * num_terms, num_terms, device=device)
    return found


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
        union: Optional ``(N + A, d)`` tensor holding ``population ++ archive`` in one
            block (the algorithm keeps them contiguous, so the union costs no copy).
        generator: The problem's random generator: a strategy that draws random numbers
            must draw them from it (``torch.rand(..., generator=ctx.generator,
            device=ctx.population.device)``), so that a seed reproduces the run and a
            resume continues it exactly.
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
    union: torch.Tensor | None = None
    generator: torch.Generator | None = None

    def x(self, j: int) -> torch.Tensor:
        """A new ``(n, d)`` tensor holding the individuals ``r[:, j]``."""
        return self.population.index_select(0, self.r[:, j])

    def x_union(self, j: int) -> torch.Tensor:
        """Like :meth:`x`, indexing ``population ++ archive`` (for archive strategies)."""
        return self.source().index_select(0, self.r[:, j])

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

    def source(self) -> torch.Tensor:
        """The rows that indices refer to: ``population ++ archive`` when there is an
        archive (a view when the engine keeps them contiguous), else the population."""
        if self.union is not None:
            return self.union
        if self.archive is None or self.archive.shape[0] == 0:
            return self.population
        return torch.cat([self.population, self.archive], dim=0)

    def vector_indices(self, name: str) -> torch.Tensor:
        """``(n,)`` row indices of the vector called ``name`` in a linear strategy's terms:
        ``"x"`` (the targets), ``"best"``, ``"pbest"`` or ``"r<k>"`` (``r[:, k-1]``)."""
        if name == "x":
            return self.rows
        if name == "best":
            if self.best_index is None:
                raise RuntimeError("This strategy must declare needs=('best',).")
            return self.best_index.reshape(1).expand(self.rows.shape[0])
        if name == "pbest":
            if self.pbest is None:
                raise RuntimeError("This strategy must declare needs=('pbest',).")
            return self.pbest
        return self.r[:, int(name[1:]) - 1]


# ------------------------------------------------------------------ linear strategy parts
_VECTOR = re.compile(r"^(x|best|pbest|r[1-9][0-9]*)$")
_TERM = re.compile(
    r"([+-]?)(?:((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?:\*(?=[FK]))?)?([FK]?)"
)


def parse_coefficient(expr: str | float) -> tuple[float, float, float]:
    """``(a, b, c)`` of a coefficient ``a + b F + c K`` written as a number or a string such
    as ``"1"``, ``"-F"``, ``"1 - F"``, ``"0.5*K"``, ``"2F - 1"``."""
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        return float(expr), 0.0, 0.0
    if not isinstance(expr, str):
        raise TypeError(f"A coefficient must be a number or a string like '1 - F', got {expr!r}.")
    text = expr.replace(" ", "")
    parts = [0.0, 0.0, 0.0]
    pos = 0
    if not text:
        raise ValueError("Empty coefficient expression.")
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos or (not m.group(2) and not m.group(3)):
            raise ValueError(
                f"Cannot read coefficient {expr!r}: write a sum of numbers, F and K, such as "
                "'1 - F' or '0.5*K + F'."
            )
        sign = -1.0 if m.group(1) == "-" else 1.0
        number = float(m.group(2)) if m.group(2) else 1.0
        slot = {"": 0, "F": 1, "K": 2}[m.group(3)]
        parts[slot] += sign * number
        pos = m.end()
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class Strategy:
    """A registered mutation strategy.

    Attributes:
        name: Registry name, e.g. ``"rand/1"``.
        fn: ``fn(ctx) -> (n, d) mutants``; ``None`` for a linear strategy.
        num_random: How many mutually distinct random indices (besides ``i``) it needs.
        crossover: Whether binomial crossover follows (``current-to-rand/1`` has none).
        needs: Subset of ``{"best", "pbest", "archive", "K"}`` the engine must provide.
        key: Short name used in status keys (``p/<key>``, ``success/<key>``, ...).
        vectors: Linear strategies: the vector of each term (``"x"``, ``"best"``,
            ``"pbest"``, ``"r1"``, ...).
        coef: Linear strategies: ``(a, b, c)`` of each term's coefficient ``a + b F + c K``.
        coef_fn: Linear strategies whose coefficients are not affine in F and K:
            ``coef_fn(ctx) -> (n, T)`` coefficients (it replaces ``coef``).
    """

    name: str
    fn: Callable[[MutationContext], torch.Tensor] | None
    num_random: int
    crossover: bool = True
    needs: frozenset = field(default_factory=frozenset)
    key: str = ""
    vectors: tuple[str, ...] = ()
    coef: tuple[tuple[float, float, float], ...] = ()
    coef_fn: Callable[[MutationContext], torch.Tensor] | None = None

    @property
    def min_popsize(self) -> int:
        """Smallest population for which the strategy's indices can all be distinct."""
        return self.num_random + 1

    @property
    def linear(self) -> bool:
        """Whether the strategy is declared by its terms (the engine fuses such pools)."""
        return bool(self.vectors)

    @property
    def num_terms(self) -> int:
        return len(self.vectors)

    def coefficients(self, ctx: MutationContext) -> torch.Tensor:
        """``(n, T)`` coefficients of a linear strategy's terms."""
        if self.coef_fn is not None:
            return self.coef_fn(ctx)
        dt, dev = ctx.population.dtype, ctx.population.device
        table = torch.tensor(self.coef, dtype=dt, device=dev)  # (T, 3)
        out = table[:, 0].expand(ctx.rows.shape[0], -1) + ctx.F * table[:, 1]
        if "K" in self.needs:
            out = out + ctx.K * table[:, 2]
        return out

    def terms(self, ctx: MutationContext) -> Terms:
        """The :class:`Terms` of a linear strategy for the targets of ``ctx``."""
        if not self.linear:
            raise TypeError(f"Strategy {self.name!r} is not linear; call it for the mutants.")
        index = torch.stack([ctx.vector_indices(v) for v in self.vectors], dim=1)
        return Terms(index, self.coefficients(ctx))

    def __call__(self, ctx: MutationContext) -> torch.Tensor:
        """The ``(n, d)`` mutants."""
        if self.linear:
            index, coef = self.terms(ctx)
            return combine_terms(ctx.source(), index, coef)
        return self.fn(ctx)


STRATEGIES: dict[str, Strategy] = {}


def _default_key(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z_]+", "", name.replace("-", "_"))


def _check_needs(needs: Iterable[str]) -> frozenset:
    needs = frozenset(needs)
    unknown = needs - _NEEDS
    if unknown:
        raise ValueError(f"Unknown `needs` {sorted(unknown)}; valid: {sorted(_NEEDS)}.")
    return needs


def _register(strategy: Strategy, aliases: Iterable[str], overwrite: bool) -> None:
    names = (strategy.name, *aliases)
    for n in names:
        if n in STRATEGIES and not overwrite:
            raise ValueError(f"A strategy named {n!r} is already registered; pass overwrite=True.")
    for n in names:
        STRATEGIES[n] = strategy


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
    """Decorator registering a mutation function ``fn(ctx) -> (n, d) mutants`` under
    ``name`` (and ``aliases``).

    Args:
        name: The name algorithms accept, e.g. ``"centroid/2"``.
        num_random: Number of distinct random indices the function reads from ``ctx.r``.
        crossover: Whether binomial crossover is applied to its mutants.
        needs: What the engine must prepare: ``"best"``, ``"pbest"``, ``"archive"``, ``"K"``.
        key: Short status key; default derived from the name.
        aliases: Other names for the same strategy.
        overwrite: Allow replacing an existing registration (useful in notebooks).

    Returns:
        The decorator; it returns the function unchanged.
    """
    needs = _check_needs(needs)
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
        _register(strategy, aliases, overwrite)
        return fn

    return decorator


def register_linear_strategy(
    name: str,
    terms: Mapping[str, str | float] | Sequence[str],
    *,
    coefficients: Callable[[MutationContext], torch.Tensor] | None = None,
    archive: bool = False,
    crossover: bool = True,
    key: str | None = None,
    aliases: Iterable[str] = (),
    overwrite: bool = False,
) -> Strategy:
    r"""Register a linear mutation :math:`v = \sum_t c_t\, y_t` by its terms.

    Args:
        name: The name algorithms accept.
        terms: ``{vector: coefficient}``: vectors ``"x"`` (the target), ``"best"``,
            ``"pbest"``, ``"r1"``, ``"r2"``, ... (mutually distinct random individuals);
            coefficients as numbers or strings affine in F and K (``"1 - F"``, ``"-F"``,
            ``"K"``). With ``coefficients`` given, just the sequence of vectors.
        coefficients: Optional ``fn(ctx) -> (n, T)`` coefficients, for rules that are not
            affine in F and K (e.g. the trigonometric weights).
        archive: The last random vector is drawn from population ∪ archive (JADE/SHADE).
        crossover: Whether binomial crossover follows.
        key: Short status key; default derived from the name.
        aliases: Other names for the same strategy.
        overwrite: Allow replacing an existing registration.

    Returns:
        The registered :class:`Strategy`.
    """
    if isinstance(terms, Mapping):
        if coefficients is not None:
            raise ValueError("Give `terms` as a sequence of vectors when `coefficients` is set.")
        vectors = tuple(terms)
        coef = tuple(parse_coefficient(c) for c in terms.values())
    else:
        if coefficients is None:
            raise ValueError(
                "`terms` must map each vector to its coefficient, e.g. {'r1': '1', 'r2': 'F', "
                "'r3': '-F'}, unless a `coefficients` function is given."
            )
        vectors = tuple(terms)
        coef = ()
    if not vectors:
        raise ValueError("A linear strategy needs at least one term.")
    bad = [v for v in vectors if not _VECTOR.match(v)]
    if bad or len(set(vectors)) != len(vectors):
        raise ValueError(
            f"Terms must be distinct vectors among 'x', 'best', 'pbest', 'r1', 'r2', ...; "
            f"got {list(vectors)}."
        )
    randoms = sorted(int(v[1:]) for v in vectors if v.startswith("r"))
    num_random = randoms[-1] if randoms else 0
    needs = set()
    if "best" in vectors:
        needs.add("best")
    if "pbest" in vectors:
        needs.add("pbest")
    if any(c[2] != 0.0 for c in coef):
        needs.add("K")
    if archive:
        if num_random == 0:
            raise ValueError("An archive strategy needs a random vector ('r1', ...).")
        needs.add("archive")
    strategy = Strategy(
        name=name,
        fn=None,
        num_random=num_random,
        crossover=bool(crossover),
        needs=frozenset(needs),
        key=key or _default_key(name),
        vectors=vectors,
        coef=coef,
        coef_fn=coefficients,
    )
    _register(strategy, aliases, overwrite)
    return strategy


def available_strategies() -> list[str]:
    """Names (and aliases) of all registered strategies."""
    return sorted(STRATEGIES)


def get_strategy(spec: str | Strategy | Callable, *, num_random: int | None = None) -> Strategy:
    """Resolve a strategy given by name, as a :class:`Strategy`, or as a plain callable.

    A plain callable must say how many random indices it needs (``num_random``, or an
    attribute ``fn.num_random``); it returns mutants, gets crossover and no extra needs.
    """
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, str):
        if spec not in STRATEGIES:
            raise ValueError(
                f"Unknown mutation strategy {spec!r}. Registered: {available_strategies()}. "
                "Register your own with neuro_de.operators.register_strategy or "
                "register_linear_strategy."
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
# Built-in strategies, all linear.
# --------------------------------------------------------------------------------------

#: DE/rand/1 (Storn & Price 1997; the seed paper's S1): v = x_r1 + F (x_r2 - x_r3).
RAND_1 = register_linear_strategy(
    "rand/1", {"r1": "1", "r2": "F", "r3": "-F"}, key="rand1", aliases=("S1",)
)

#: DE/rand/2 (S3): v = x_r1 + F (x_r2 - x_r3) + F (x_r4 - x_r5).
RAND_2 = register_linear_strategy(
    "rand/2",
    {"r1": "1", "r2": "F", "r3": "-F", "r4": "F", "r5": "-F"},
    key="rand2",
    aliases=("S3",),
)

#: DE/best/1: v = x_best + F (x_r1 - x_r2).
BEST_1 = register_linear_strategy("best/1", {"best": "1", "r1": "F", "r2": "-F"}, key="best1")

#: DE/best/2: v = x_best + F (x_r1 - x_r2) + F (x_r3 - x_r4).
BEST_2 = register_linear_strategy(
    "best/2", {"best": "1", "r1": "F", "r2": "-F", "r3": "F", "r4": "-F"}, key="best2"
)

#: SaDE's DE/rand-to-best/2 (Qin et al. 2009), i.e. current-to-best/2:
#: v = x_i + F (x_best - x_i) + F (x_r1 - x_r2) + F (x_r3 - x_r4).
CURRENT_TO_BEST_2 = register_linear_strategy(
    "current-to-best/2",
    {"x": "1 - F", "best": "F", "r1": "F", "r2": "-F", "r3": "F", "r4": "-F"},
    key="ctb2",
    aliases=("rand-to-best/2",),
)

#: The seed paper's S2, current-to-best/1 (one difference pair, not SaDE's two):
#: v = x_i + F (x_gbest - x_i) + F (x_r2 - x_r3).
CURRENT_TO_BEST_1 = register_linear_strategy(
    "current-to-best/1",
    {"x": "1 - F", "best": "F", "r1": "F", "r2": "-F"},
    key="ctb1",
    aliases=("S2",),
)

#: DE/current-to-rand/1 (SaDE; the seed paper's S4), no crossover, K ~ U(0, 1):
#: v = x_i + K (x_r1 - x_i) + F (x_r2 - x_r3).
CURRENT_TO_RAND_1 = register_linear_strategy(
    "current-to-rand/1",
    {"x": "1 - K", "r1": "K", "r2": "F", "r3": "-F"},
    crossover=False,
    key="ctr1",
    aliases=("S4",),
)

#: JADE/SHADE current-to-pbest/1 with external archive:
#: v = x_i + F (x_pbest - x_i) + F (x_r1 - x~_r2), x_pbest uniform among the best
#: ceil(pN) parents, x_r1 from the population, x~_r2 from population ∪ archive.
CURRENT_TO_PBEST_1 = register_linear_strategy(
    "current-to-pbest/1",
    {"x": "1 - F", "pbest": "F", "r1": "F", "r2": "-F"},
    archive=True,
    key="ctpb1",
)


def trigonometric_weights(f: torch.Tensor, *, population_fitness: torch.Tensor) -> torch.Tensor:
    r"""Fan & Lampinen's weights :math:`p_k = |f_k| / \sum_j |f_j|` for ``f`` of shape (n, 3).

    The rule assumes minimisation of a non-negative objective (a lower :math:`f_k` gives a
    smaller :math:`p_k` and pulls the mutant toward :math:`x_{r_k}`). When some parent's
    minimisation-oriented fitness is negative (e.g. a maximised problem, negated), all values
    are first shifted by the population minimum, ``min(0, min f)``, so they are
    non-negative and the ordering is kept. When :math:`\sum |f| = 0` the weights are
    :math:`1/3` each (the centroid). An infinite :math:`|f|` (a NaN/inf parent) is capped
    at 1e300, so that it takes the whole weight, the limit of the rule, rather than making
    :math:`0 \cdot \infty`.
    """
    a = (f - population_fitness.min().clamp(max=0.0)).abs_().clamp_(max=1e300)
    return a.div_(a.sum(dim=1, keepdim=True)).nan_to_num_(nan=1.0 / 3.0)


def trigonometric_coefficients(ctx: MutationContext) -> torch.Tensor:
    r"""Coefficients of the trigonometric mutation (Fan & Lampinen 2003; the seed paper's
    S_Trigo):

    .. math::
        v = \frac{x_{r_1} + x_{r_2} + x_{r_3}}{3} + (p_2 - p_1)(x_{r_1} - x_{r_2})
            + (p_3 - p_2)(x_{r_2} - x_{r_3}) + (p_1 - p_3)(x_{r_3} - x_{r_1}),
        \quad p_k = \frac{|f(x_{r_k})|}{\sum_j |f(x_{r_j})|}

    is :math:`v = \sum_k c_k x_{r_k}` with :math:`c_1 = 1/3 + p_2 + p_3 - 2 p_1`,
    :math:`c_2 = 1/3 + p_1 + p_3 - 2 p_2`, :math:`c_3 = 1/3 + p_1 + p_2 - 2 p_3`, i.e.
    (as :math:`p_1 + p_2 + p_3 = 1`) :math:`c_k = 4/3 - 3 p_k`: three terms, no differences.
    F is not used. See :func:`trigonometric_weights` for f < 0 and the all-zero guard.
    """
    p = trigonometric_weights(ctx.fitness[ctx.r[:, :3]], population_fitness=ctx.fitness)
    return (4.0 / 3.0 - 3.0 * p).to(ctx.population.dtype)


#: Trigonometric mutation (Fan & Lampinen 2003; the seed paper's S_Trigo).
TRIGONOMETRIC = register_linear_strategy(
    "trigonometric",
    ("r1", "r2", "r3"),
    coefficients=trigonometric_coefficients,
    key="trig",
    aliases=("S_trigo", "trig"),
)
