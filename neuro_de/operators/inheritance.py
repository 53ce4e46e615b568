r"""Weight-inheritance rules of the Lamarckian (1+1)-EA over block CNNs.

M. Prellberg and O. Kramer, *Lamarckian Evolution of Convolutional Neural Networks*, PPSN
2018 (arXiv:1806.08099), §3.3: after a mutation, the child network starts from its
parent's trained weights "wherever possible"; the other weights are initialised afresh.

A rule is called as ``rule(parent_arch, parent_state, child_arch, mutation, fresh_state)``
and returns ``(child_state, inherited_fraction)`` (see :class:`InheritanceRule`):

* ``parent_arch`` / ``child_arch``: architecture genomes ``((f, k, s), ...)``;
* ``parent_state``: the parent's (trained) state dict, a
  :class:`~neuro_de.models.block_cnn.BlockCNN` state dict (keys ``blocks.{i}.conv.weight``,
  ``blocks.{i}.conv.bias``, ``blocks.{i}.bn.{weight,bias,running_mean,running_var,
  num_batches_tracked}``, ``head.weight``, ``head.bias``);
* ``mutation``: any object with ``kind`` (one of ``add_block``, ``remove_block``,
  ``add_filters``, ``remove_filters``, ``change_kernel``, ``change_stride``) and
  ``index`` (the inserted block's index in the *child* for ``add_block``, the mutated or
  removed block's index in the *parent* otherwise), e.g.
  :class:`neuro_de.operators.architecture.Mutation`;
* ``fresh_state``: the state dict of a freshly initialised ``BlockCNN(child_arch)`` (the
  caller seeds it);
* ``child_state``: new tensors (clones; the inputs are never modified) with exactly the
  keys of ``fresh_state``;
* ``inherited_fraction``: the fraction of the child's *parameter* elements (buffers not
  counted) copied or derived from the parent; 0.0 for no inheritance.

The four rules (:data:`INHERITANCE`, :func:`get_inheritance`):

``"paper"`` (:class:`PaperInheritance`)
    The paper's rule as read in spec B.5: every child block is mapped to its parent block
    (:func:`block_map`), and a tensor is copied iff the mapped parent tensor exists and has
    the same shape; otherwise it is taken from ``fresh_state``. This gives the table

    ==================  ===========================================================  ==========
    mutation at ``j``   re-initialised                                               inherited
    ==================  ===========================================================  ==========
    add block           the new block's W, b, BN; plus W_{j+1} (or ``head.weight``)   the rest
                        when the new block's filters differ from f_{j-1}
    remove block        W_{j+1} (or ``head.weight``) when f_{j-1} != f_j             the rest
    add/remove filters  W_j, b_j, BN_j (gamma, beta, running stats); W_{j+1} (or      the rest
                        ``head.weight``)
    change kernel       W_j                                                          the rest
    change stride       nothing                                                      everything
    ==================  ===========================================================  ==========

    with the BatchNorm running statistics inherited together with gamma/beta (spec B.9
    #11). The scalar ``bn.num_batches_tracked`` goes with its block's running statistics
    (its shape never changes, so the shape test alone would always copy it).
``"none"`` (:class:`NoInheritance`)
    The baseline: the fresh state, fraction 0.
``"partial"`` (:class:`PartialInheritance`, **not the paper's**)
    Copies the overlapping slice of a changed-shape tensor (zero-initialising a successor's
    new input slices, as Auto-Keras/NNI ``wider_next_conv``).
``"morphism"`` (:class:`MorphismInheritance`, **not the paper's**)
    Function-preserving widening and deepening (Net2WiderNet / Net2DeeperNet; T. Chen, I.
    Goodfellow, J. Shlens, *Net2Net: Accelerating Learning via Knowledge Transfer*, ICLR
    2016), falling back to ``"partial"`` where no exact morphism exists.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from ..models.block_cnn import Arch, validate_arch

__all__ = [
    "INHERITANCE",
    "InheritanceRule",
    "MorphismInheritance",
    "NoInheritance",
    "PaperInheritance",
    "PartialInheritance",
    "block_map",
    "get_inheritance",
    "state_keys",
]

_KINDS = (
    "add_block",
    "remove_block",
    "add_filters",
    "remove_filters",
    "change_kernel",
    "change_stride",
)
#: Per-block tensors of a BlockCNN state dict: (suffix, is a parameter).
_BLOCK_TENSORS = (
    ("conv.weight", True),
    ("conv.bias", True),
    ("bn.weight", True),
    ("bn.bias", True),
    ("bn.running_mean", False),
    ("bn.running_var", False),
    ("bn.num_batches_tracked", False),
)
_HEAD_TENSORS = (("head.weight", True), ("head.bias", True))
_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(.+)$")


class InheritanceRule(Protocol):
    """The call signature shared by all weight-inheritance rules.

    Attributes:
        name: The rule's registry name (``"paper"``, ``"none"``, ...).
    """

    name: str

    def __call__(
        self,
        parent_arch: Arch,
        parent_state: Mapping[str, Tensor],
        child_arch: Arch,
        mutation: Any,
        fresh_state: Mapping[str, Tensor],
    ) -> tuple[dict[str, Tensor], float]:
        """Returns the child's state dict and its inherited parameter fraction."""
        ...


# ------------------------------------------------------------------------------ helpers
def state_keys(arch: Any) -> list[str]:
    """The state-dict keys of a :class:`~neuro_de.models.block_cnn.BlockCNN` of ``arch``
    (parameters and buffers), in module order."""
    arch = validate_arch(arch)
    keys = [f"blocks.{i}.{suffix}" for i in range(len(arch)) for suffix, _ in _BLOCK_TENSORS]
    return keys + [name for name, _ in _HEAD_TENSORS]


def _is_parameter_key(key: str) -> bool:
    match = _BLOCK_KEY.match(key)
    suffix = match.group(2) if match else key
    return dict(_BLOCK_TENSORS + _HEAD_TENSORS).get(suffix, False)


def _check_kind(mutation: Any) -> tuple[str, int]:
    kind = getattr(mutation, "kind", None)
    index = getattr(mutation, "index", None)
    if kind not in _KINDS:
        raise ValueError(
            f"A mutation needs a `kind` among {list(_KINDS)}, got {kind!r} (from {mutation!r})."
        )
    if not isinstance(index, int) or isinstance(index, bool):
        raise ValueError(f"A mutation needs an int `index`, got {index!r} (from {mutation!r}).")
    return kind, index


def block_map(mutation: Any, parent_len: int) -> list[int | None]:
    """For every block of the child, the parent block it comes from (None if inserted).

    Args:
        mutation: An object with ``kind`` and ``index`` (see the module docstring): for
            ``add_block`` the index of the new block in the child, otherwise the index of
            the mutated or removed block in the parent.
        parent_len: The number of blocks of the parent.

    Returns:
        A list of length ``len(child_arch)``: ``[0, ..., j-1, None, j, ..., L-1]`` for a
        block inserted at ``j``, ``[0, ..., j-1, j+1, ..., L-1]`` for block ``j`` removed,
        the identity ``[0, ..., L-1]`` for the other kinds.

    Raises:
        ValueError: For an unknown kind, an index out of range, or removing the only block.
    """
    kind, j = _check_kind(mutation)
    if not isinstance(parent_len, int) or isinstance(parent_len, bool) or parent_len < 1:
        raise ValueError(f"`parent_len` must be a positive int, got {parent_len!r}.")
    n = parent_len
    if kind == "add_block":
        if not 0 <= j <= n:
            raise ValueError(
                f"add_block index {j} is out of range for a parent of {n} blocks (0..{n})."
            )
        return [*range(j), None, *range(j, n)]
    if not 0 <= j < n:
        raise ValueError(
            f"{kind} index {j} is out of range for a parent of {n} blocks (0..{n - 1})."
        )
    if kind == "remove_block":
        if n == 1:
            raise ValueError("remove_block cannot remove the only block of a 1-block parent.")
        return [*range(j), *range(j + 1, n)]
    return list(range(n))


# Fields of a (f, k, s) block that a mutation at the same position may change.
_CHANGES = {"add_filters": 0, "remove_filters": 0, "change_kernel": 1, "change_stride": 2}


def _check_mutation(parent: Arch, child: Arch, kind: str, j: int) -> None:
    n = len(parent)
    if kind == "add_block":
        ok = len(child) == n + 1 and child[:j] + child[j + 1 :] == parent
    elif kind == "remove_block":
        ok = child == parent[:j] + parent[j + 1 :]
    else:
        field = _CHANGES[kind]
        ok = (
            len(child) == n
            and child[:j] == parent[:j]
            and child[j + 1 :] == parent[j + 1 :]
            and all(child[j][d] == parent[j][d] for d in range(3) if d != field)
        )
    if not ok:
        raise ValueError(
            f"`child_arch` {child} is not `parent_arch` {parent} after a {kind} at index {j}."
        )


def _plain(t: Any, what: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise ValueError(f"{what} must be a tensor, got {type(t).__name__}.")
    return t.detach().as_subclass(Tensor)


def _check_state(state: Any, arch: Arch, what: str) -> dict[str, Tensor]:
    if not isinstance(state, Mapping):
        raise ValueError(f"`{what}` must be a state dict (mapping), got {type(state).__name__}.")
    expected = state_keys(arch)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in set(expected)]
    if missing or extra:
        raise ValueError(
            f"`{what}` is not the state dict of a BlockCNN with architecture {arch}: "
            f"missing keys {missing[:6]}{' ...' if len(missing) > 6 else ''}, "
            f"unexpected keys {extra[:6]}{' ...' if len(extra) > 6 else ''}."
        )
    out = {k: _plain(state[k], f"`{what}[{k!r}]`") for k in expected}
    first = out["blocks.0.conv.weight"]
    if first.dim() not in (3, 4):
        raise ValueError(
            f"`{what}['blocks.0.conv.weight']` must be a 1-D or 2-D convolution kernel, got "
            f"shape {tuple(first.shape)}."
        )
    c_in, dim = first.shape[1], first.dim() - 2
    for i, (f, k, _) in enumerate(arch):
        want = (f, c_in) + (k,) * dim
        got = tuple(out[f"blocks.{i}.conv.weight"].shape)
        if got != want:
            raise ValueError(
                f"`{what}['blocks.{i}.conv.weight']` has shape {got}, but architecture {arch} "
                f"needs {want}."
            )
        c_in = f
    head = tuple(out["head.weight"].shape)
    if len(head) != 2 or head[1] != c_in:
        raise ValueError(
            f"`{what}['head.weight']` has shape {head}, but architecture {arch} needs "
            f"(classes, {c_in})."
        )
    return out


@dataclass(frozen=True)
class _Context:
    """Validated inputs of a rule call."""

    parent_arch: Arch
    child_arch: Arch
    parent: dict[str, Tensor]
    fresh: dict[str, Tensor]
    kind: str
    index: int
    bmap: list[int | None]
    in_channels: int

    def parent_key(self, key: str) -> str | None:
        """The parent's key of the tensor that ``key`` of the child maps to (None if the
        child's block is new)."""
        match = _BLOCK_KEY.match(key)
        if match is None:
            return key
        p = self.bmap[int(match.group(1))]
        return None if p is None else f"blocks.{p}.{match.group(2)}"


def _prepare(
    parent_arch: Any,
    parent_state: Any,
    child_arch: Any,
    mutation: Any,
    fresh_state: Any,
) -> _Context:
    parent_arch = validate_arch(parent_arch)
    child_arch = validate_arch(child_arch)
    kind, j = _check_kind(mutation)
    bmap = block_map(mutation, len(parent_arch))
    _check_mutation(parent_arch, child_arch, kind, j)
    parent = _check_state(parent_state, parent_arch, "parent_state")
    fresh = _check_state(fresh_state, child_arch, "fresh_state")
    pw, fw = parent["blocks.0.conv.weight"], fresh["blocks.0.conv.weight"]
    if pw.dim() != fw.dim() or pw.shape[1] != fw.shape[1]:
        raise ValueError(
            f"`parent_state` and `fresh_state` disagree on the input: first kernels "
            f"{tuple(pw.shape)} and {tuple(fw.shape)} (dimension or input channels differ)."
        )
    if parent["head.weight"].shape[0] != fresh["head.weight"].shape[0]:
        raise ValueError(
            f"`parent_state` has {parent['head.weight'].shape[0]} classes but `fresh_state` "
            f"{fresh['head.weight'].shape[0]}."
        )
    return _Context(parent_arch, child_arch, parent, fresh, kind, j, bmap, int(fw.shape[1]))


def _copy(src: Tensor, like: Tensor) -> Tensor:
    return src.to(device=like.device, dtype=like.dtype, copy=True)


def _fraction(out: Mapping[str, Tensor], inherited: Mapping[str, int]) -> float:
    total = sum(t.numel() for k, t in out.items() if _is_parameter_key(k))
    got = sum(n for k, n in inherited.items() if _is_parameter_key(k))
    return float(got) / float(total) if total else 0.0


def _counters(ctx: _Context, out: dict[str, Tensor], inherited: Mapping[str, int]) -> None:
    """``bn.num_batches_tracked`` (a scalar, so its shape never changes) goes with its
    block's running statistics: the parent's counter iff the running mean was inherited
    (fully or in part), the fresh one otherwise."""
    for key in out:
        if key.endswith(".bn.num_batches_tracked"):
            mean = key[: -len("num_batches_tracked")] + "running_mean"
            pkey = ctx.parent_key(key)
            if pkey is not None and inherited.get(mean, 0) > 0:
                out[key] = _copy(ctx.parent[pkey], ctx.fresh[key])
            else:
                out[key] = ctx.fresh[key].clone()


def _paper(ctx: _Context) -> tuple[dict[str, Tensor], dict[str, int]]:
    out: dict[str, Tensor] = {}
    inherited: dict[str, int] = {}
    for key, fresh in ctx.fresh.items():
        pkey = ctx.parent_key(key)
        if pkey is not None and ctx.parent[pkey].shape == fresh.shape:
            out[key] = _copy(ctx.parent[pkey], fresh)
            inherited[key] = fresh.numel()
        else:
            out[key] = fresh.clone()
    _counters(ctx, out, inherited)
    return out, inherited


def _overlap(parent: Tensor, fresh: Tensor) -> tuple[Tensor, int]:
    """The fresh tensor with the overlapping slice of ``parent`` copied in.

    Vectors (biases, BN entries): the first ``min`` entries. Kernels and the dense weight
    ``(out, in, *k)``: the first ``min`` output rows and input slices; new input slices of
    the kept output rows are zero; spatially the old kernel is centre-cropped or
    zero-padded (odd sizes, so the centre is exact). Returns the result and the number of
    copied elements.
    """
    src = _copy(parent, fresh)
    out = fresh.clone()
    if src.dim() != out.dim():
        raise ValueError(f"Cannot overlap tensors of shapes {tuple(src.shape)} and "
                         f"{tuple(out.shape)}.")
    if out.dim() == 0:
        return src, 1
    o = min(src.shape[0], out.shape[0])
    if out.dim() == 1:
        out[:o] = src[:o]
        return out, o
    i = min(src.shape[1], out.shape[1])
    if out.shape[1] > src.shape[1]:
        out[:o, src.shape[1] :] = 0.0  # new input slices of kept outputs: zero
    dst_idx: list[slice] = [slice(0, o), slice(0, i)]
    src_idx: list[slice] = [slice(0, o), slice(0, i)]
    pad = False
    for k_new, k_old in zip(out.shape[2:], src.shape[2:], strict=True):
        if k_new >= k_old:
            off = (k_new - k_old) // 2
            dst_idx.append(slice(off, off + k_old))
            src_idx.append(slice(0, k_old))
            pad = pad or k_new > k_old
        else:
            off = (k_old - k_new) // 2
            dst_idx.append(slice(0, k_new))
            src_idx.append(slice(off, off + k_new))
    if pad:
        out[:o, :i] = 0.0  # zero-pad around the old kernel
    out[tuple(dst_idx)] = src[tuple(src_idx)]
    return out, out[tuple(dst_idx)].numel()


def _partial(ctx: _Context) -> tuple[dict[str, Tensor], dict[str, int]]:
    out: dict[str, Tensor] = {}
    inherited: dict[str, int] = {}
    for key, fresh in ctx.fresh.items():
        pkey = ctx.parent_key(key)
        if pkey is None:
            out[key] = fresh.clone()
        elif ctx.parent[pkey].shape == fresh.shape:
            out[key] = _copy(ctx.parent[pkey], fresh)
            inherited[key] = fresh.numel()
        else:
            out[key], inherited[key] = _overlap(ctx.parent[pkey], fresh)
    _counters(ctx, out, inherited)
    return out, inherited


def _successor_key(ctx: _Context, j: int) -> str:
    """The key of the kernel that reads block ``j``'s output in the child."""
    return f"blocks.{j + 1}.conv.weight" if j + 1 < len(ctx.child_arch) else "head.weight"


# -------------------------------------------------------------------------------- rules
class PaperInheritance:
    """The paper's rule: copy a tensor iff its mapped parent tensor has the same shape.

    Prellberg & Kramer 2018 (PPSN, arXiv:1806.08099), §3.3, read precisely as in spec
    B.5: each child block is mapped to its parent block by :func:`block_map` (identity,
    shifted by an insertion or removal); a child tensor is copied from the mapped parent
    tensor when that exists and has the same shape, and is otherwise taken from
    ``fresh_state``. ``head.*`` maps to the parent's ``head.*``. BatchNorm running
    statistics are inherited with gamma and beta (spec B.9 #11). The resulting
    re-initialised/inherited table is in the module docstring; change stride inherits
    everything (global average pooling makes the dense input independent of the spatial
    size).
    """

    name = "paper"

    def __call__(
        self,
        parent_arch: Arch,
        parent_state: Mapping[str, Tensor],
        child_arch: Arch,
        mutation: Any,
        fresh_state: Mapping[str, Tensor],
    ) -> tuple[dict[str, Tensor], float]:
        """Returns the child's state dict and its inherited parameter fraction."""
        ctx = _prepare(parent_arch, parent_state, child_arch, mutation, fresh_state)
        out, inherited = _paper(ctx)
        return out, _fraction(out, inherited)

    def __repr__(self) -> str:
        return "PaperInheritance()"


class NoInheritance:
    """The paper's baseline (Prellberg & Kramer 2018, §4.1): no weight inheritance.

    Every child starts from ``fresh_state`` (cloned); the inherited fraction is 0.0. The
    inputs are still validated, so a bad call fails the same way for every rule.
    """

    name = "none"

    def __call__(
        self,
        parent_arch: Arch,
        parent_state: Mapping[str, Tensor],
        child_arch: Arch,
        mutation: Any,
        fresh_state: Mapping[str, Tensor],
    ) -> tuple[dict[str, Tensor], float]:
        """Returns a clone of ``fresh_state`` and 0.0."""
        ctx = _prepare(parent_arch, parent_state, child_arch, mutation, fresh_state)
        return {k: t.clone() for k, t in ctx.fresh.items()}, 0.0

    def __repr__(self) -> str:
        return "NoInheritance()"


class PartialInheritance:
    """Overlapping-slice inheritance, an extension that is **not the paper's** (spec B.5).

    Like :class:`PaperInheritance`, but a mapped tensor whose shape changed keeps the
    overlapping slice of the parent's tensor:

    * **add filters** at ``j``: block ``j`` keeps its old ``f_j`` kernels, biases and BN
      entries (gamma, beta, running statistics); the new channels take the fresh values.
      The successor's kernel (``W_{j+1}`` or ``head.weight``) keeps its old input slices
      and **zero-initialises the new input slices** (Auto-Keras/NNI ``wider_next_conv``),
      so the new channels do not change the function (in eval mode).
    * **remove filters** at ``j``: the **first** ``f'`` channels are kept (a fixed, simple
      choice; no importance ranking), with the matching first ``f'`` input slices of the
      successor.
    * **change kernel** at ``j``: the old kernel is centre-cropped (5 -> 3) or zero-padded
      (3 -> 5); odd sizes make the centre exact. Zero-padding preserves the convolution
      because the padding grows with the kernel.
    * **add / remove block** with a channel change: the successor's kernel keeps the
      overlapping input slices (the first ``min(old, new)``); new input slices are zero.
      The inserted block itself is fresh.
    * **change stride**: everything is inherited.

    The inherited fraction counts the copied parameter elements (zeroed slices and
    padding are not counted).
    """

    name = "partial"

    def __call__(
        self,
        parent_arch: Arch,
        parent_state: Mapping[str, Tensor],
        child_arch: Arch,
        mutation: Any,
        fresh_state: Mapping[str, Tensor],
    ) -> tuple[dict[str, Tensor], float]:
        """Returns the child's state dict and its inherited parameter fraction."""
        ctx = _prepare(parent_arch, parent_state, child_arch, mutation, fresh_state)
        out, inherited = _partial(ctx)
        return out, _fraction(out, inherited)

    def __repr__(self) -> str:
        return "PartialInheritance()"


class MorphismInheritance:
    r"""Function-preserving (network-morphism) inheritance, **not the paper's** (spec B.5).

    Net2Net (T. Chen, I. Goodfellow, J. Shlens, *Net2Net: Accelerating Learning via
    Knowledge Transfer*, ICLR 2016), as proposed in Prellberg & Kramer 2018, §5 as future
    work:

    * **add filters** (Net2WiderNet): block ``j`` grows from ``n`` to ``m`` channels with
      the map :math:`g(c) = c` for :math:`c < n` and :math:`g(c)` uniform in
      :math:`\{0, \dots, n-1\}` for the new channels. New channel ``c`` copies kernel, bias
      and BN entries (gamma, beta, running mean and variance) of channel :math:`g(c)`; the
      successor's input weights (``W_{j+1}`` or ``head.weight``) for every copy of an
      original channel :math:`c'` (the original included) are divided by
      :math:`|\{c: g(c) = c'\}|`. With ``noise=0`` (default) the function is preserved
      exactly (up to rounding) in eval mode; ``noise > 0`` adds Gaussian noise of standard
      deviation ``noise * std(W_j)`` to the kernels of the *new* channels, to break the
      symmetry (then only approximately preserving).
    * **add block** (Net2DeeperNet): the inserted block must have ``f' = f_{j-1}`` (the
      input channels when inserted first), an odd kernel and stride 1 (else
      :class:`ValueError`; the mutation operator's ``deepen_identity`` option draws such
      blocks). Its kernel is the identity (``torch.nn.init.dirac_``), its bias 0 and its
      BatchNorm the identity in eval mode (running mean 0, running variance 1,
      :math:`\gamma = \sqrt{1 + \epsilon}`, :math:`\beta = 0`); the ReLU of a post-ReLU
      input is the identity. Exact in eval mode, not in train mode (batch statistics
      differ). Inserted **first** (``j = 0``), it sees the raw input, and the ReLU is the
      identity only for non-negative inputs (e.g. images in [0, 1]).
    * **remove block, remove filters, change kernel**: no exact morphism exists; these
      fall back to :class:`PartialInheritance` (overlapping slices; a kernel grown by
      zero-padding is still exact).
    * **change stride**: everything is inherited (not function preserving).

    Randomness (the map ``g`` and the noise) comes from ``generator`` (the call's
    ``generator=`` keyword overrides the one given at construction), or from torch's
    global RNG when neither is given, so a seed reproduces it.

    Args:
        generator: The :class:`torch.Generator` (CPU) of the widening draws.
        noise: Relative standard deviation of the symmetry-breaking noise (>= 0).
        bn_eps: The BatchNorm epsilon of the networks (must match the ``BlockCNN``'s
            ``bn_eps``, default 1e-3), used for the identity BatchNorm.

    Raises:
        ValueError: For ``noise < 0`` or ``bn_eps <= 0``.
    """

    name = "morphism"

    def __init__(
        self,
        *,
        generator: torch.Generator | None = None,
        noise: float = 0.0,
        bn_eps: float = 1e-3,
    ) -> None:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"`generator` must be a torch.Generator or None, got {generator!r}.")
        if not isinstance(noise, int | float) or isinstance(noise, bool) or not noise >= 0.0:
            raise ValueError(f"`noise` must be a number >= 0, got {noise!r}.")
        if not isinstance(bn_eps, int | float) or isinstance(bn_eps, bool) or not bn_eps > 0.0:
            raise ValueError(f"`bn_eps` must be a number > 0, got {bn_eps!r}.")
        self.generator = generator
        self.noise = float(noise)
        self.bn_eps = float(bn_eps)

    def __call__(
        self,
        parent_arch: Arch,
        parent_state: Mapping[str, Tensor],
        child_arch: Arch,
        mutation: Any,
        fresh_state: Mapping[str, Tensor],
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, Tensor], float]:
        """Returns the child's state dict and its inherited parameter fraction.

        Raises:
            ValueError: For an ``add_block`` whose new block does not have ``f' = f_{j-1}``
                and stride 1, or an ``add_filters`` that does not grow the block.
        """
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"`generator` must be a torch.Generator or None, got {generator!r}.")
        ctx = _prepare(parent_arch, parent_state, child_arch, mutation, fresh_state)
        gen = generator if generator is not None else self.generator
        if ctx.kind == "add_filters":
            out, inherited = self._widen(ctx, gen)
        elif ctx.kind == "add_block":
            out, inherited = self._deepen(ctx)
        elif ctx.kind == "change_stride":
            out, inherited = _paper(ctx)
        else:  # remove_block, remove_filters, change_kernel: no exact morphism
            out, inherited = _partial(ctx)
        return out, _fraction(out, inherited)

    def _widen(
        self, ctx: _Context, gen: torch.Generator | None
    ) -> tuple[dict[str, Tensor], dict[str, int]]:
        j = ctx.index
        n, m = ctx.parent_arch[j][0], ctx.child_arch[j][0]
        if m < n:
            raise ValueError(
                f"add_filters at block {j} must not shrink it ({n} -> {m} filters)."
            )
        out, inherited = _paper(ctx)  # every other tensor keeps its shape
        g = torch.cat([torch.arange(n), torch.randint(0, n, (m - n,), generator=gen)])
        counts = torch.bincount(g, minlength=n)
        for suffix in ("conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean",
                       "bn.running_var"):
            key = f"blocks.{j}.{suffix}"
            like = ctx.fresh[key]
            src = _copy(ctx.parent[key], like)
            out[key] = src[g.to(src.device)].clone()
            inherited[key] = like.numel()
        key = f"blocks.{j}.bn.num_batches_tracked"
        out[key] = _copy(ctx.parent[key], ctx.fresh[key])
        if self.noise > 0.0 and m > n:
            w = out[f"blocks.{j}.conv.weight"]
            old = ctx.parent[f"blocks.{j}.conv.weight"]
            std = float(old.double().std()) if old.numel() > 1 else 0.0
            eps = torch.randn(w[n:].shape, generator=gen, dtype=torch.float64)
            w[n:] += (self.noise * std * eps).to(device=w.device, dtype=w.dtype)
        key = _successor_key(ctx, j)
        like = ctx.fresh[key]
        src = _copy(ctx.parent[key], like)
        scale = counts[g].to(device=src.device, dtype=src.dtype)
        shape = (1, m) + (1,) * (src.dim() - 2)
        out[key] = (src[:, g.to(src.device)] / scale.reshape(shape)).contiguous()
        inherited[key] = like.numel()
        return out, inherited

    def _deepen(self, ctx: _Context) -> tuple[dict[str, Tensor], dict[str, int]]:
        j = ctx.index
        f_new, k, s = ctx.child_arch[j]
        f_prev = ctx.in_channels if j == 0 else ctx.child_arch[j - 1][0]
        if f_new != f_prev or s != 1 or k % 2 == 0:
            where = "the input channels" if j == 0 else f"block {j - 1}'s filters"
            raise ValueError(
                f"Morphism inheritance (Net2DeeperNet) needs the block inserted at {j} to "
                f"be an identity-shaped block: filters equal to {where} ({f_prev}), an odd "
                f"kernel and stride 1; got {ctx.child_arch[j]}. Draw such blocks (the "
                "architecture mutation's deepen_identity option) or use another rule."
            )
        out, inherited = _paper(ctx)  # the successor's shape is unchanged
        prefix = f"blocks.{j}."
        w = torch.zeros_like(ctx.fresh[prefix + "conv.weight"])
        torch.nn.init.dirac_(w)
        out[prefix + "conv.weight"] = w
        out[prefix + "conv.bias"] = torch.zeros_like(ctx.fresh[prefix + "conv.bias"])
        gamma = ctx.fresh[prefix + "bn.weight"]
        out[prefix + "bn.weight"] = torch.full_like(gamma, math.sqrt(1.0 + self.bn_eps))
        out[prefix + "bn.bias"] = torch.zeros_like(ctx.fresh[prefix + "bn.bias"])
        out[prefix + "bn.running_mean"] = torch.zeros_like(ctx.fresh[prefix + "bn.running_mean"])
        out[prefix + "bn.running_var"] = torch.ones_like(ctx.fresh[prefix + "bn.running_var"])
        out[prefix + "bn.num_batches_tracked"] = torch.zeros_like(
            ctx.fresh[prefix + "bn.num_batches_tracked"]
        )
        return out, inherited

    def __repr__(self) -> str:
        return f"MorphismInheritance(noise={self.noise}, bn_eps={self.bn_eps})"


# ----------------------------------------------------------------------------- registry
#: Rule name -> rule class.
INHERITANCE: dict[str, type] = {
    "paper": PaperInheritance,
    "none": NoInheritance,
    "partial": PartialInheritance,
    "morphism": MorphismInheritance,
}


def get_inheritance(name_or_rule: Any, **kwargs: Any) -> InheritanceRule:
    """A weight-inheritance rule from its name, class or instance.

    Args:
        name_or_rule: A name of :data:`INHERITANCE` (``"paper"``, ``"none"``,
            ``"partial"``, ``"morphism"``), a rule class (instantiated with ``kwargs``), or
            a rule instance / callable (returned as is).
        **kwargs: Keyword options of the rule's constructor (e.g. ``generator=`` and
            ``noise=`` for ``"morphism"``); only with a name or a class.

    Returns:
        The rule.

    Raises:
        ValueError: For an unknown name (the message lists the valid ones), or options
            given with a rule instance.
        TypeError: For anything that is neither a name nor callable.
    """
    if isinstance(name_or_rule, str):
        key = name_or_rule.strip().lower()
        if key not in INHERITANCE:
            raise ValueError(
                f"Unknown inheritance rule {name_or_rule!r}; valid: {sorted(INHERITANCE)}."
            )
        return INHERITANCE[key](**kwargs)
    if isinstance(name_or_rule, type):
        return name_or_rule(**kwargs)
    if callable(name_or_rule):
        if kwargs:
            raise ValueError(
                f"Options {sorted(kwargs)} can only be given with a rule name or class, not "
                f"with the rule instance {name_or_rule!r}."
            )
        return name_or_rule
    raise TypeError(
        f"`name_or_rule` must be a rule name among {sorted(INHERITANCE)}, a rule class or a "
        f"callable rule, got {type(name_or_rule).__name__}."
    )
