r"""Architecture mutations of Prellberg & Kramer's Lamarckian (1+1)-EA over plain CNNs, and
the EvoTorch operator that composes them with a weight-inheritance rule.

M. Prellberg and O. Kramer, *Lamarckian Evolution of Convolutional Neural Networks*, PPSN
2018 (arXiv:1806.08099), §3.2. The genome (§3, Fig. 1) is a list of blocks, each block a
convolution with ``f`` filters, kernel size ``k`` and stride ``s`` followed by batch
normalisation and a ReLU; here an architecture is a tuple of ``(filters, kernel, stride)``
int triples with at least one block. The search sets are ``F = {16, 32, 64, 96, 128, 192,
256}``, ``K = {1, 3, 5}``, ``S = {1, 2}`` with at most three stride-2 convolutions
(:meth:`SearchSpace.paper`); :meth:`SearchSpace.mnist1d` scales the filters by 1/4 for
MNIST-1D (spec B.10).

Exactly one mutation makes a child (§3.2), drawn with relative frequencies

============== ==== ===============================================================
add block       3   insert a block at a uniform position, random ``f``, ``k``, stride 1
remove block    3   delete a uniform block
add filters     2   a uniform block's ``f`` -> next larger value of ``F``
remove filters  2   a uniform block's ``f`` -> next smaller value of ``F``
change kernel   2   a uniform block's ``k`` -> uniform draw from ``K`` (may be the same)
change stride   1   a uniform block's ``s`` -> uniform draw from ``S`` (may be the same)
============== ==== ===============================================================

with *forced novelty*: the mutation is redrawn (kind and details) until the child is valid
(at least one block, at most ``max_stride2`` downsampling blocks, at most ``max_blocks``
blocks, a safety cap the paper does not have) and was never evaluated before. No-op draws
(add filters at the top of ``F``, the same kernel redrawn, ...) give back the parent, which
is in the history, and are therefore redrawn too. A try limit turns an exhausted
neighbourhood into a clear :class:`RuntimeError` (spec B.4).

The pure, genome-level functions are :func:`initial_arch`, :func:`apply_mutation` and
:func:`mutate`; :func:`mutate_solution` makes one child *solution* (architecture plus
starting weights) from a parent solution through an inheritance rule, and
:class:`ArchitectureMutation` does that for every row of an EvoTorch object-dtype batch.
All randomness comes from a :class:`torch.Generator`, so a seed reproduces every draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from evotorch import Problem, SolutionBatch
from evotorch.operators import CopyingOperator
from evotorch.tools import is_dtype_object
from evotorch.tools.immutable import mutable_copy

__all__ = [
    "KINDS",
    "PAPER_WEIGHTS",
    "Arch",
    "ArchitectureMutation",
    "BuildFresh",
    "Inheritance",
    "Mutation",
    "SearchSpace",
    "apply_mutation",
    "check_arch",
    "count_stride2",
    "initial_arch",
    "mutate",
    "mutate_solution",
    "to_arch",
]

#: An architecture: ``((filters, kernel, stride), ...)``, at least one block.
Arch = tuple[tuple[int, int, int], ...]

#: The six mutation kinds of Prellberg & Kramer (2018), §3.2, in the paper's order.
KINDS: tuple[str, ...] = (
    "add_block",
    "remove_block",
    "add_filters",
    "remove_filters",
    "change_kernel",
    "change_stride",
)


class _Weights(Mapping):
    """A read-only, picklable mapping kind -> relative frequency."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, float]):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key: str) -> float:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("mutation weights are read-only")

    def __reduce__(self):
        return (_Weights, (self._data,))

    def __repr__(self) -> str:
        return repr(self._data)


#: The paper's relative frequencies (§3.2): 3:3:2:2:2:1, probabilities /13.
PAPER_WEIGHTS: Mapping[str, float] = _Weights(
    {
        "add_block": 3,
        "remove_block": 3,
        "add_filters": 2,
        "remove_filters": 2,
        "change_kernel": 2,
        "change_stride": 1,
    }
)

#: ``inheritance(parent_arch, parent_state, child_arch, mutation, fresh_state)`` ->
#: ``(child_state, inherited_fraction)``.
Inheritance = Callable[[Arch, dict, Arch, "Mutation", dict], tuple[Mapping, float]]
#: ``build_fresh(child_arch)`` -> the state dict of a freshly initialised network.
BuildFresh = Callable[[Arch], Mapping]


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Mutation:
    """What one mutation did.

    Attributes:
        kind: One of :data:`KINDS`.
        index: For ``add_block`` the index of the new block in the *child*
            (``0 .. len(parent)``); for every other kind the index ``j`` of the mutated
            (or removed) block in the *parent*.
        block: The inserted ``(filters, kernel, stride)`` block for ``add_block``; None
            otherwise.
    """

    kind: str
    index: int
    block: tuple[int, int, int] | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_set(values: Any, name: str, *, odd: bool = False) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"SearchSpace.{name} must be a sequence of positive ints, got {values!r}.")
    values = tuple(values)
    if len(values) == 0:
        raise ValueError(f"SearchSpace.{name} must not be empty.")
    for v in values:
        if not _is_int(v) or v <= 0:
            raise ValueError(f"SearchSpace.{name} must hold positive ints, got {v!r}.")
        if odd and v % 2 == 0:
            raise ValueError(
                f"SearchSpace.{name} must hold odd sizes (the block CNN pads 'same'), got {v}."
            )
    if len(set(values)) != len(values):
        raise ValueError(f"SearchSpace.{name} has duplicate values: {values}.")
    return tuple(sorted(values))


@dataclass(frozen=True)
class SearchSpace:
    """The sets an architecture's blocks are drawn from (Prellberg & Kramer 2018, §3.2).

    The value sets are stored sorted (``add_filters`` moves to the next larger value of
    ``filters``). The defaults are the paper's (:meth:`paper`).

    Attributes:
        filters: Allowed filter counts ``F`` (positive ints).
        kernels: Allowed kernel sizes ``K`` (positive odd ints: the block CNN pads 'same').
        strides: Allowed strides ``S`` (positive ints, must contain 1: new blocks have
            stride 1).
        max_stride2: Most downsampling blocks (stride > 1) an architecture may have (paper:
            3, for 32x32 inputs).
        max_blocks: Most blocks an architecture may have: a safety cap; the paper sets no
            bound (spec B.9 row 10).
        weights: Relative frequencies of the mutation kinds (paper 3:3:2:2:2:1); a kind
            left out has weight 0. Stored as a read-only mapping in :data:`KINDS` order.

    Raises:
        ValueError: An empty set, a non-positive, non-int or duplicate value, an even
            kernel, strides without 1, a negative ``max_stride2``, ``max_blocks < 1``, or
            weights that are negative, non-finite, all zero or name an unknown kind. The
            message names the field.
    """

    filters: tuple[int, ...] = (16, 32, 64, 96, 128, 192, 256)
    kernels: tuple[int, ...] = (1, 3, 5)
    strides: tuple[int, ...] = (1, 2)
    max_stride2: int = 3
    max_blocks: int = 64
    weights: Mapping[str, float] = field(default_factory=lambda: dict(PAPER_WEIGHTS),
                                         hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", _int_set(self.filters, "filters"))
        object.__setattr__(self, "kernels", _int_set(self.kernels, "kernels", odd=True))
        strides = _int_set(self.strides, "strides")
        if 1 not in strides:
            raise ValueError(
                f"SearchSpace.strides must contain 1 (added and initial blocks have stride 1), "
                f"got {strides}."
            )
        object.__setattr__(self, "strides", strides)
        if not _is_int(self.max_stride2) or self.max_stride2 < 0:
            raise ValueError(f"SearchSpace.max_stride2 must be an int >= 0, got "
                             f"{self.max_stride2!r}.")
        if not _is_int(self.max_blocks) or self.max_blocks < 1:
            raise ValueError(f"SearchSpace.max_blocks must be an int >= 1, got "
                             f"{self.max_blocks!r}.")
        if not isinstance(self.weights, Mapping):
            raise ValueError(f"SearchSpace.weights must be a mapping kind -> weight, got "
                             f"{self.weights!r}.")
        unknown = [k for k in self.weights if k not in KINDS]
        if unknown:
            raise ValueError(f"SearchSpace.weights names unknown kinds {unknown}; known: "
                             f"{list(KINDS)}.")
        weights = {}
        for kind in KINDS:
            w = self.weights.get(kind, 0)
            if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) \
                    or w < 0:
                raise ValueError(f"SearchSpace.weights[{kind!r}] must be a finite number >= 0, "
                                 f"got {w!r}.")
            weights[kind] = w
        if sum(weights.values()) <= 0:
            raise ValueError("SearchSpace.weights are all zero; at least one kind needs a "
                             "positive weight.")
        object.__setattr__(self, "weights", _Weights(weights))

    @classmethod
    def paper(cls) -> SearchSpace:
        """The paper's space: F = {16, ..., 256}, K = {1, 3, 5}, S = {1, 2}, <= 3 stride-2."""
        return cls()

    @classmethod
    def mnist1d(cls) -> SearchSpace:
        """The scaled space of spec B.10 for MNIST-1D: F/4 = {4, 8, 16, 24, 32, 48, 64}, the
        paper's K and S, at most 3 stride-2 blocks (length 40 -> 20 -> 10 -> 5)."""
        return cls(filters=(4, 8, 16, 24, 32, 48, 64))


def count_stride2(arch: Iterable[tuple[int, int, int]]) -> int:
    """Number of downsampling blocks (stride > 1) of an architecture."""
    return sum(1 for _, _, s in arch if s > 1)


def check_arch(arch: Any, space: SearchSpace) -> Arch:
    """Check that ``arch`` is a valid architecture of ``space`` and return it.

    Args:
        arch: The genome to check.
        space: The search space.

    Returns:
        ``arch`` itself.

    Raises:
        ValueError: ``arch`` is not a tuple of ``(filters, kernel, stride)`` int tuples, has
            zero blocks or more than ``space.max_blocks``, a value outside the space's sets,
            or more than ``space.max_stride2`` downsampling blocks.
    """
    if not isinstance(arch, tuple):
        raise ValueError(f"An architecture must be a tuple of (filters, kernel, stride) tuples, "
                         f"got {type(arch).__name__}: {arch!r}.")
    if len(arch) == 0:
        raise ValueError("An architecture needs at least one block, got ().")
    if len(arch) > space.max_blocks:
        raise ValueError(f"The architecture has {len(arch)} blocks, more than max_blocks="
                         f"{space.max_blocks}.")
    for i, block in enumerate(arch):
        if not (isinstance(block, tuple) and len(block) == 3 and all(_is_int(v) for v in block)):
            raise ValueError(f"Block {i} of the architecture must be a (filters, kernel, stride) "
                             f"tuple of 3 ints, got {block!r}.")
        f, k, s = block
        for value, allowed, name in ((f, space.filters, "filters"),
                                     (k, space.kernels, "kernels"),
                                     (s, space.strides, "strides")):
            if value not in allowed:
                raise ValueError(f"Block {i} {block}: {value} is not in the space's {name} "
                                 f"{allowed}.")
    n2 = count_stride2(arch)
    if n2 > space.max_stride2:
        raise ValueError(f"The architecture has {n2} downsampling blocks, more than "
                         f"max_stride2={space.max_stride2}: {arch}.")
    return arch


def to_arch(value: Any, space: SearchSpace | None = None) -> Arch:
    """Normalise a sequence of 3-int sequences (lists, EvoTorch's ``ImmutableList``, numpy
    or 0-d tensor ints) into an :data:`Arch` tuple, checked against ``space`` if given.

    Raises:
        ValueError: ``value`` is not a sequence of 3-int sequences, or (with ``space``)
            :func:`check_arch` fails.
    """
    try:
        if isinstance(value, str | bytes | Mapping):
            raise TypeError
        blocks = []
        for block in value:
            if isinstance(block, str | bytes | Mapping):
                raise TypeError
            items = tuple(block)
            if len(items) != 3 or any(isinstance(v, bool) for v in items):
                raise TypeError
            blocks.append(tuple(int(v.__index__()) for v in items))
    except (TypeError, AttributeError):
        raise ValueError(f"Not an architecture (a sequence of (filters, kernel, stride) int "
                         f"triples): {value!r}.") from None
    arch = tuple(blocks)
    if space is not None:
        check_arch(arch, space)
    return arch


# ---------------------------------------------------------------------------- draws
def _randint(n: int, rng: torch.Generator) -> int:
    return int(torch.randint(n, (1,), generator=rng).item())


def _choice(values: tuple[int, ...], rng: torch.Generator) -> int:
    return values[_randint(len(values), rng)]


def _draw_kind(space: SearchSpace, rng: torch.Generator) -> str:
    w = torch.tensor([float(space.weights[k]) for k in KINDS], dtype=torch.float64)
    return KINDS[int(torch.multinomial(w, 1, generator=rng).item())]


def initial_arch(space: SearchSpace, rng: torch.Generator) -> Arch:
    """The initial individual (Prellberg & Kramer 2018, §3.2; spec B.2): one block with a
    uniform ``f`` from ``F``, a uniform ``k`` from ``K`` and stride 1."""
    return ((_choice(space.filters, rng), _choice(space.kernels, rng), 1),)


def _apply(
    arch: Arch, kind: str, rng: torch.Generator, space: SearchSpace, *,
    in_channels: int | None, deepen_identity: bool,
) -> tuple[Arch, Mutation] | None:
    n = len(arch)
    if kind == "add_block":
        if deepen_identity:
            positions = list(range(1, n + 1))
            if in_channels is not None and in_channels in space.filters:
                positions.insert(0, 0)
            j = positions[_randint(len(positions), rng)]
            f = arch[j - 1][0] if j > 0 else int(in_channels)
        else:
            j = _randint(n + 1, rng)
            f = _choice(space.filters, rng)
        block = (f, _choice(space.kernels, rng), 1)
        if n + 1 > space.max_blocks:
            return None
        return arch[:j] + (block,) + arch[j:], Mutation(kind, j, block)
    j = _randint(n, rng)
    f, k, s = arch[j]
    if kind == "remove_block":
        if n == 1:
            return None
        return arch[:j] + arch[j + 1:], Mutation(kind, j)
    if kind == "add_filters":
        i = space.filters.index(f)
        new = (space.filters[min(i + 1, len(space.filters) - 1)], k, s)
    elif kind == "remove_filters":
        i = space.filters.index(f)
        new = (space.filters[max(i - 1, 0)], k, s)
    elif kind == "change_kernel":
        new = (f, _choice(space.kernels, rng), s)
    elif kind == "change_stride":
        new = (f, k, _choice(space.strides, rng))
    else:  # pragma: no cover - checked by the callers
        raise ValueError(f"Unknown mutation kind {kind!r}; known: {list(KINDS)}.")
    child = arch[:j] + (new,) + arch[j + 1:]
    if count_stride2(child) > space.max_stride2:
        return None
    return child, Mutation(kind, j)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown mutation kind {kind!r}; known: {list(KINDS)}.")


def _check_in_channels(in_channels: int | None) -> None:
    if in_channels is not None and (not _is_int(in_channels) or in_channels < 1):
        raise ValueError(f"`in_channels` must be a positive int or None, got {in_channels!r}.")


def apply_mutation(
    arch: Arch, kind: str, rng: torch.Generator, space: SearchSpace, *,
    in_channels: int | None = None, deepen_identity: bool = False,
) -> tuple[Arch, Mutation] | None:
    """One draw of one mutation kind (Prellberg & Kramer 2018, §3.2), all choices uniform.

    * ``add_block``: a new block at a uniform position ``0 .. L`` of the child, uniform
      ``f`` and ``k``, stride 1.
    * ``remove_block``: a uniform block is deleted.
    * ``add_filters`` / ``remove_filters``: a uniform block's ``f`` moves to the next
      larger / smaller value of ``F``; at the end of ``F`` the draw is a no-op and the
      parent comes back unchanged (forced novelty redraws it in :func:`mutate`).
    * ``change_kernel`` / ``change_stride``: a uniform block's ``k`` / ``s`` becomes a
      uniform draw from ``K`` / ``S`` (possibly the same value: a no-op).

    Extension, not the paper's: with ``deepen_identity=True`` ``add_block`` inserts a block
    whose filter count equals its input channels (the previous block's ``f``, or
    ``in_channels`` at position 0), a uniform (odd) kernel from ``K`` and stride 1: the
    shape a function-preserving Net2DeeperNet insertion (Chen et al. 2016) needs. Position
    0 is drawn only when ``in_channels`` is given and lies in ``F`` (the child must stay in
    the space); otherwise the position is uniform over ``1 .. L``.

    Args:
        arch: The parent architecture (checked with :func:`check_arch`).
        kind: One of :data:`KINDS`.
        rng: The generator of every draw.
        space: The search space.
        in_channels: The network's input channels (only used by ``deepen_identity``).
        deepen_identity: Insert identity-shaped blocks (see above).

    Returns:
        ``(child, mutation)``, or None when the child is invalid (no block left, more than
        ``max_stride2`` downsampling blocks or more than ``max_blocks`` blocks); the caller
        redraws.

    Raises:
        ValueError: An unknown ``kind``, a bad ``in_channels`` or an invalid ``arch``.
    """
    _check_kind(kind)
    _check_in_channels(in_channels)
    check_arch(arch, space)
    return _apply(arch, kind, rng, space, in_channels=in_channels,
                  deepen_identity=bool(deepen_identity))


def mutate(
    arch: Arch, space: SearchSpace, rng: torch.Generator, *,
    exclude: Container[tuple] = (), max_tries: int = 1000, in_channels: int | None = None,
    deepen_identity: bool = False,
) -> tuple[Arch, Mutation]:
    """The paper's mutation operator with forced novelty (Prellberg & Kramer 2018, §3.2).

    Draws a kind with ``space.weights`` (3:3:2:2:2:1), applies it
    (:func:`apply_mutation`), and redraws kind and details while the child is invalid or
    ``child in exclude``. ``exclude`` is meant to be the global history of evaluated
    architectures (which holds the parent, so no-op draws are redrawn too); it is only
    read. With ``exclude`` empty a no-op child equal to ``arch`` can be returned.

    Args:
        arch: The parent architecture (checked with :func:`check_arch`).
        space: The search space.
        rng: The generator of every draw.
        exclude: Architectures the child must not be (tuples; ``in`` is all that is used).
        max_tries: Most draws before giving up.
        in_channels: The network's input channels (for ``deepen_identity``).
        deepen_identity: Extension, not the paper's: see :func:`apply_mutation`.

    Returns:
        ``(child, mutation)``.

    Raises:
        RuntimeError: No valid child outside ``exclude`` within ``max_tries`` draws.
        ValueError: An invalid ``arch``, ``max_tries`` or ``in_channels``.
    """
    if not _is_int(max_tries) or max_tries < 1:
        raise ValueError(f"`max_tries` must be an int >= 1, got {max_tries!r}.")
    _check_in_channels(in_channels)
    check_arch(arch, space)
    deepen_identity = bool(deepen_identity)
    for _ in range(max_tries):
        kind = _draw_kind(space, rng)
        result = _apply(arch, kind, rng, space, in_channels=in_channels,
                        deepen_identity=deepen_identity)
        if result is not None and result[0] not in exclude:
            return result
    raise RuntimeError(
        f"mutate: no novel valid neighbour within {max_tries} tries of {arch} (every draw was "
        "invalid or already in the history); the neighbourhood may be exhausted - enlarge the "
        "search space or max_tries."
    )


# ---------------------------------------------------------------------------- solutions
class _Either:
    """``x in _Either(a, b)`` iff ``x in a or x in b``."""

    def __init__(self, *parts: Container):
        self._parts = parts

    def __contains__(self, item: object) -> bool:
        return any(item in part for part in self._parts)


def _plain(value: Any) -> Any:
    """A mutable, writable copy of a stored value (ReadOnlyTensor -> plain tensor clone,
    ImmutableDict -> dict, ...)."""
    if isinstance(value, torch.Tensor):
        return value.as_subclass(torch.Tensor).clone()
    return mutable_copy(value)


def _plain_state(state: Any) -> dict | None:
    if state is None:
        return None
    if not isinstance(state, Mapping):
        raise ValueError(f"A solution's 'weights' must be a state dict (mapping) or None, got "
                         f"{type(state).__name__}.")
    return {key: _plain(value) for key, value in state.items()}


def mutate_solution(
    parent: Mapping, *, space: SearchSpace, inheritance: Inheritance | None,
    build_fresh: BuildFresh, rng: torch.Generator, history: Container[tuple] = (),
    max_tries: int = 1000, in_channels: int | None = None, deepen_identity: bool = False,
) -> dict:
    """One child solution of a parent solution: a novel mutated architecture and its
    starting weights (Prellberg & Kramer 2018, §3.2-3.3), what the (1+1)-EA calls directly.

    The child architecture comes from :func:`mutate` with ``exclude`` = ``history`` plus the
    parent's own architecture (a child identical to its parent is never made). Its weights:
    ``build_fresh(child_arch)`` always builds a freshly initialised state dict; a parent
    with weights (trained) then passes it through ``inheritance(parent_arch,
    parent_state, child_arch, mutation, fresh_state)``; a parent without weights (not yet
    trained), or ``inheritance=None`` (the no-inheritance baseline), keeps the fresh state
    with an inherited fraction of 0. ``history`` is only read: whoever evaluates adds the
    architectures it evaluated.

    Args:
        parent: A mapping with ``"arch"`` (any sequence of 3-int sequences, see
            :func:`to_arch`) and ``"weights"`` (a state dict or None); EvoTorch's
            ``ImmutableDict`` and ``ReadOnlyTensor`` values are fine and are not modified
            (the inheritance rule gets writable copies).
        space: The search space.
        inheritance: The weight-inheritance rule, or None for none.
        build_fresh: ``child_arch -> state_dict`` of a fresh network (seed it yourself).
        rng: The generator of the mutation's draws.
        history: Evaluated architectures (tuples) the child must not be.
        max_tries: As :func:`mutate`.
        in_channels: As :func:`mutate`.
        deepen_identity: As :func:`mutate` (an extension, not the paper's).

    Returns:
        ``{"arch": child_arch, "weights": child_state, "inherited_fraction": float,
        "mutation": (kind, index)}``.

    Raises:
        RuntimeError: As :func:`mutate`.
        ValueError: A parent without a valid ``"arch"``, a ``"weights"`` that is not a
            mapping, or an inheritance result that is not ``(mapping, fraction in [0, 1])``.
    """
    return _mutate_solution(
        parent, space=space, inheritance=inheritance, build_fresh=build_fresh, rng=rng,
        history=history, max_tries=max_tries, in_channels=in_channels,
        deepen_identity=deepen_identity,
    )[0]


def _mutate_solution(
    parent: Mapping, *, space: SearchSpace, inheritance: Inheritance | None,
    build_fresh: BuildFresh, rng: torch.Generator, history: Container[tuple],
    max_tries: int, in_channels: int | None, deepen_identity: bool,
) -> tuple[dict, Mutation]:
    if not isinstance(parent, Mapping) or "arch" not in parent:
        raise ValueError(f"A parent solution must be a mapping with an 'arch' key, got "
                         f"{parent!r}.")
    parent_arch = to_arch(parent["arch"], space)
    child_arch, mutation = mutate(
        parent_arch, space, rng, exclude=_Either(history, {parent_arch}), max_tries=max_tries,
        in_channels=in_channels, deepen_identity=deepen_identity,
    )
    fresh = build_fresh(child_arch)
    if not isinstance(fresh, Mapping):
        raise ValueError(f"`build_fresh` must return a state dict (mapping), got "
                         f"{type(fresh).__name__}.")
    parent_state = _plain_state(parent.get("weights"))
    if parent_state is None or inheritance is None:
        state, fraction = dict(fresh), 0.0
    else:
        result = inheritance(parent_arch, parent_state, child_arch, mutation, dict(fresh))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ValueError(f"`inheritance` must return (child_state, inherited_fraction), got "
                             f"{type(result).__name__}.")
        state, fraction = result
        if not isinstance(state, Mapping):
            raise ValueError(f"`inheritance` must return a state dict (mapping), got "
                             f"{type(state).__name__}.")
        try:
            fraction = float(fraction)
        except (TypeError, ValueError):
            raise ValueError(f"`inheritance`'s inherited fraction must be a number in [0, 1], "
                             f"got {fraction!r}.") from None
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"`inheritance`'s inherited fraction must be in [0, 1], got "
                             f"{fraction}.")
        state = dict(state)
    child = {
        "arch": child_arch,
        "weights": state,
        "inherited_fraction": fraction,
        "mutation": (mutation.kind, mutation.index),
    }
    return child, mutation


class ArchitectureMutation(CopyingOperator):
    r"""EvoTorch operator: one mutated child solution per parent row (Prellberg & Kramer
    2018, §3.2-3.3), for an object-dtype problem whose solutions are dicts ``{"arch": arch,
    "weights": state_dict or None, ...}``.

    Each child row is :func:`mutate_solution` of its parent row: ``{"arch", "weights",
    "inherited_fraction", "mutation"}``, with NaN evaluations. The parent batch is not
    modified. ``history`` (a set of evaluated architectures, shared with whoever evaluates)
    is only *read*: the problem adds an architecture when it evaluates it. Within one call
    the children are also kept distinct from each other (and from their parents), without
    touching ``history``. After each call :attr:`last_mutations` holds the
    :class:`Mutation` of every row.

    Args:
        problem: An object-dtype problem (``Problem(..., dtype=object, device="cpu")``).
        space: The search space.
        inheritance: ``(parent_arch, parent_state, child_arch, mutation, fresh_state) ->
            (child_state, inherited_fraction)``, or None for no inheritance.
        history: The global history of evaluated architectures (read only).
        build_fresh: ``child_arch -> state_dict`` of a freshly initialised network.
        generator: The generator of the mutation draws; None: the problem's generator if it
            has one (``Problem(seed=...)``), otherwise PyTorch's global generator.
        max_tries: As :func:`mutate`.
        in_channels: The network's input channels (for ``deepen_identity``).
        deepen_identity: Extension, not the paper's: see :func:`apply_mutation`.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        space: SearchSpace,
        inheritance: Inheritance | None,
        history: Container[tuple],
        build_fresh: BuildFresh,
        generator: torch.Generator | None = None,
        max_tries: int = 1000,
        in_channels: int | None = None,
        deepen_identity: bool = False,
    ):
        if not isinstance(problem, Problem):
            raise TypeError(f"`problem` must be an evotorch.Problem, got "
                            f"{type(problem).__name__}.")
        if not is_dtype_object(problem.dtype):
            raise TypeError(f"ArchitectureMutation needs an object-dtype problem "
                            f"(dtype=object), got dtype={problem.dtype}.")
        if not isinstance(space, SearchSpace):
            raise TypeError(f"`space` must be a SearchSpace, got {type(space).__name__}.")
        if inheritance is not None and not callable(inheritance):
            raise TypeError("`inheritance` must be callable or None.")
        if not callable(build_fresh):
            raise TypeError("`build_fresh` must be callable.")
        if not isinstance(history, Container):
            raise TypeError(f"`history` must be a container of architectures, got "
                            f"{type(history).__name__}.")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"`generator` must be a torch.Generator or None, got "
                            f"{type(generator).__name__}.")
        if not _is_int(max_tries) or max_tries < 1:
            raise ValueError(f"`max_tries` must be an int >= 1, got {max_tries!r}.")
        _check_in_channels(in_channels)
        super().__init__(problem)
        self._space = space
        self._inheritance = inheritance
        self._history = history
        self._build_fresh = build_fresh
        self._generator = generator
        self._max_tries = max_tries
        self._in_channels = in_channels
        self._deepen_identity = bool(deepen_identity)
        self._last_mutations: list[Mutation] | None = None

    @property
    def space(self) -> SearchSpace:
        return self._space

    @property
    def history(self) -> Container[tuple]:
        """The shared history of evaluated architectures (read, never written, here)."""
        return self._history

    @property
    def generator(self) -> torch.Generator:
        """The generator the draws use now."""
        if self._generator is not None:
            return self._generator
        own = self.problem.generator
        return own if own is not None else torch.default_generator

    @property
    def last_mutations(self) -> list[Mutation] | None:
        """The :class:`Mutation` of every row of the last call."""
        return self._last_mutations

    def _do(self, batch: SolutionBatch) -> SolutionBatch:
        parents = batch.values
        n = len(parents)
        children = SolutionBatch(self.problem, popsize=n, empty=True)
        values = children.access_values()
        made: set[Arch] = set()
        mutations: list[Mutation] = []
        rng = self.generator
        for i in range(n):
            child, mutation = _mutate_solution(
                parents[i], space=self._space, inheritance=self._inheritance,
                build_fresh=self._build_fresh, rng=rng,
                history=_Either(self._history, made), max_tries=self._max_tries,
                in_channels=self._in_channels, deepen_identity=self._deepen_identity,
            )
            made.add(child["arch"])
            mutations.append(mutation)
            values[i] = child
        self._last_mutations = mutations
        return children
