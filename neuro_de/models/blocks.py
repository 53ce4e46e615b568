r"""Block partitions of a network and the decoding of NE-SGD's binary codes (Eq. 1).

NE-SGD (Zhang et al., 2020, Sec. II-B) splits the trained weights :math:`P^\alpha` into
:math:`n` blocks :math:`x_1, \dots, x_n` and evolves bit strings
:math:`k \in \{0, 1\}^n`. Decoding a code applies Eq. (1) to every block,

.. math::
    f(x_i) = \begin{cases} \text{initialize}(x_i) & k_i = 0, \\
                           x_i \;\text{(retain)} & k_i = 1, \end{cases}

so the architecture never changes; only the values of the re-initialised blocks do.

:class:`BlockPartition` is the partition: named blocks of parameter **and buffer** tensors
(BatchNorm running statistics belong to their block and are reset with it), validated so
that every tensor of the network is in exactly one block. :meth:`BlockPartition.decode`
applies a code to a *copy* of the network. The paper never states the block granularity;
:meth:`BlockPartition.for_model` gives the readings of the specification (one block per
conv/linear layer for LeNet and MLPs, one per residual block for ResNets, see its
docstring).

References:
    H. Zhang, K. Hao, L. Gao, B. Wei, X. Tang. *Optimizing Deep Neural Networks through
    Neuroevolution with Stochastic Gradient Descent.* arXiv:2012.11184, 2020.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["BlockPartition", "InitFn", "derive_seed"]

#: A user re-initialiser: called with every module of a block that is reset (containers
#: included, in ``named_modules()`` order); it re-initialises the module's own tensors in
#: place (e.g. ``lambda m: isinstance(m, nn.Linear) and nn.init.xavier_uniform_(m.weight)``).
InitFn = Callable[[nn.Module], Any]

_MAX_LISTED = 8


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed derived deterministically from ``parts`` (SHA-256 of their ``repr``).

    Used to give every block, code and repetition its own reproducible random stream; the
    value does not depend on Python's hash randomisation or on the platform.
    """
    digest = hashlib.sha256(repr(tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _cuda_indices(devices: Sequence[torch.device]) -> list[int]:
    return sorted(
        {
            d.index if d.index is not None else torch.cuda.current_device()
            for d in devices
            if d.type == "cuda"
        }
    )


def _manual_seed(seed: int, devices: Sequence[torch.device]) -> None:
    """Seed the CPU generator and those of the CUDA ``devices`` (not every GPU)."""
    torch.random.default_generator.manual_seed(int(seed))
    for index in _cuda_indices(devices):
        with torch.cuda.device(index):
            torch.cuda.manual_seed(int(seed))


@contextlib.contextmanager
def seeded_rng(seed: int, devices: Sequence[torch.device] = ()) -> Iterator[None]:
    """Run a block with torch's global RNG (CPU and the given CUDA devices) seeded with
    ``seed``, restoring the caller's RNG state on exit (:func:`torch.random.fork_rng`)."""
    with torch.random.fork_rng(devices=_cuda_indices(devices)):
        _manual_seed(seed, devices)
        yield


def model_devices(model: nn.Module) -> list[torch.device]:
    """The distinct devices of ``model``'s parameters and buffers."""
    seen: dict[str, torch.device] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        seen.setdefault(str(t.device), t.device)
    return list(seen.values())


def _under(name: str, prefix: str) -> bool:
    """``name`` is ``prefix`` or lies below it on a module-name boundary
    (``features.1`` covers ``features.1.weight`` but not ``features.10.weight``)."""
    return name == prefix or name.startswith(prefix + ".")


def _listing(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    shown = ", ".join(repr(s) for s in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _named_tensors(model: nn.Module) -> tuple[list[str], list[str], dict[str, torch.Tensor]]:
    params = [n for n, _ in model.named_parameters()]
    buffers = [n for n, _ in model.named_buffers()]
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    return params, buffers, tensors


def _has_tensors(module: nn.Module, *, recurse: bool = True) -> bool:
    return (
        next(module.parameters(recurse=recurse), None) is not None
        or next(module.buffers(recurse=recurse), None) is not None
    )


def _own_tensor_names(module: nn.Module) -> list[str]:
    return [n for n, _ in module.named_parameters(recurse=False)] + [
        n for n, _ in module.named_buffers(recurse=False)
    ]


class BlockPartition:
    """A partition of a network's parameters and buffers into named blocks.

    A block is a list of **module-name prefixes**: a prefix takes every parameter and buffer
    whose name is the prefix or starts with ``prefix + "."`` (so ``"features.1"`` takes
    ``features.1.weight`` but not ``features.10.weight``), and the modules under it are the
    ones re-initialised when the block is reset. A prefix may also name a single tensor
    (e.g. a parameter registered directly on a container); such a tensor belongs to the
    block but no module of the block owns it, so it cannot be re-initialised (see
    :meth:`decode`).

    The block order of the mapping is the gene order of the codes. The partition keeps
    only names and shapes, not the model, and pickles.

    Args:
        model: The network the partition is validated against.
        blocks: ``{block name: [prefix, ...]}`` (a single string is one prefix), e.g.
            ``{"conv1": ["features.0"], "conv2": ["features.3"], "fc": ["classifier"]}``.

    Raises:
        TypeError: If ``model`` is not a module or ``blocks`` not a mapping of strings.
        ValueError: For an empty partition, an empty block, a prefix matching no module or
            tensor, a tensor matched by two blocks (both are named), a block holding no
            tensor, tensors left out of every block (they are named), or a tensor shared by
            two modules of different blocks (tied weights). Each message says the fix.

    Example:
        >>> partition = BlockPartition.for_model(LeNet5())
        >>> partition.names
        ['conv1', 'conv2', 'fc1', 'fc2', 'fc3']
        >>> net = partition.decode(pretrained, [1, 1, 1, 1, 0])  # reset the last layer
    """

    def __init__(self, model: nn.Module, blocks: Mapping[str, str | Sequence[str]]):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"`model` must be a torch.nn.Module, got {type(model).__name__}; pass the "
                "network itself (not its state_dict)."
            )
        if not isinstance(blocks, Mapping):
            raise TypeError(
                "`blocks` must be a mapping {block name: [module-name prefix, ...]}, e.g. "
                "{'conv1': ['features.0'], 'fc': ['classifier']}; got "
                f"{type(blocks).__name__}."
            )
        if len(blocks) == 0:
            raise ValueError(
                "The partition is empty; give at least one block {name: [module prefixes]}, "
                "or use BlockPartition.for_model(model) for a built-in partition."
            )
        params, buffers, tensors = _named_tensors(model)
        if not tensors:
            raise ValueError(
                f"`model` ({type(model).__name__}) has no parameters or buffers to partition."
            )
        module_names = [n for n, _ in model.named_modules() if n]
        all_tensor_names = params + buffers

        owner: dict[str, tuple[str, str]] = {}  # tensor -> (block, prefix)
        conflicts: list[str] = []
        self._prefixes: dict[str, tuple[str, ...]] = {}
        block_tensors: dict[str, set[str]] = {}
        block_modules: dict[str, set[str]] = {}
        for block, raw in blocks.items():
            if not isinstance(block, str) or not block:
                raise TypeError(f"Block names must be non-empty strings, got {block!r}.")
            prefixes = [raw] if isinstance(raw, str) else raw
            if not isinstance(prefixes, Sequence) or not all(isinstance(p, str) for p in prefixes):
                raise TypeError(
                    f"Block {block!r} must map to a list of module-name prefixes (strings), "
                    f"got {raw!r}."
                )
            if len(prefixes) == 0:
                raise ValueError(
                    f"Block {block!r} is empty (no prefixes); give it at least one module "
                    "name, or remove it from the partition."
                )
            block_tensors[block] = set()
            block_modules[block] = set()
            for prefix in prefixes:
                if not prefix:
                    raise ValueError(
                        f"Block {block!r} has an empty prefix ''; it would name the whole "
                        "model. Name its submodules (e.g. one block per top-level child)."
                    )
                hit_t = [t for t in all_tensor_names if _under(t, prefix)]
                hit_m = [m for m in module_names if _under(m, prefix)]
                if not hit_t and not hit_m:
                    close = difflib.get_close_matches(prefix, module_names, n=3)
                    hint = f" Did you mean {_listing(close)}?" if close else ""
                    raise ValueError(
                        f"Prefix {prefix!r} of block {block!r} matches no module or tensor of "
                        f"{type(model).__name__}.{hint} Module names are those of "
                        "model.named_modules(), e.g. 'features.0' or 'layer1.0'."
                    )
                for t in hit_t:
                    if t in owner and owner[t][0] != block:
                        other, other_prefix = owner[t]
                        conflicts.append(
                            f"{t!r} is in block {other!r} (prefix {other_prefix!r}) and in "
                            f"block {block!r} (prefix {prefix!r})"
                        )
                        continue
                    owner.setdefault(t, (block, prefix))
                    block_tensors[block].add(t)
                block_modules[block].update(hit_m)
            self._prefixes[block] = tuple(prefixes)
        if conflicts:
            raise ValueError(
                "The blocks overlap: every tensor must be in exactly one block, but "
                + "; ".join(conflicts[:_MAX_LISTED])
                + (
                    f"; and {len(conflicts) - _MAX_LISTED} more"
                    if len(conflicts) > _MAX_LISTED
                    else ""
                )
                + ". Use more specific prefixes (e.g. 'layer1.0' instead of 'layer1') so no "
                "tensor is matched by two blocks."
            )
        empty = [b for b, ts in block_tensors.items() if not ts]
        if empty:
            raise ValueError(
                f"Block(s) {_listing(empty)} hold no parameter or buffer (their prefixes name "
                "only parameter-free modules such as activations or pooling); add the layers "
                "with weights to them, or remove them."
            )
        missing = [t for t in all_tensor_names if t not in owner]
        if missing:
            tops = list(dict.fromkeys(t.split(".")[0] for t in missing))
            raise ValueError(
                f"The partition leaves {len(missing)} tensor(s) of {type(model).__name__} in no "
                f"block: {_listing(missing)}. Add their modules to a block (e.g. a block "
                f"{{'rest': {tops[:4]!r}}}) so that every parameter and buffer is in exactly one "
                "block."
            )
        self._check_tied(model)

        order = {n: i for i, n in enumerate(module_names)}
        self._names: list[str] = list(self._prefixes)
        self._params = {b: tuple(p for p in params if owner[p][0] == b) for b in self._names}
        self._buffers = {b: tuple(p for p in buffers if owner[p][0] == b) for b in self._names}
        self._modules = {
            b: tuple(sorted(block_modules[b], key=order.__getitem__)) for b in self._names
        }
        self._shapes = {n: tuple(t.shape) for n, t in tensors.items()}
        self._numel = {
            b: sum(int(tensors[p].numel()) for p in self._params[b]) for b in self._names
        }
        self._model_class = type(model).__name__
        self._resettable = self._find_resettable(model)

    # ------------------------------------------------------------------ construction
    def _check_tied(self, model: nn.Module) -> None:
        """Refuse a parameter registered under two names that fall in different blocks."""
        by_id: dict[int, list[str]] = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            by_id.setdefault(id(p), []).append(name)
        for names in by_id.values():
            if len(names) < 2:
                continue
            blocks = {
                b
                for n in names
                for b, prefixes in self._prefixes.items()
                if any(_under(n, p) for p in prefixes)
            }
            if len(blocks) > 1:
                raise ValueError(
                    f"The parameter {names[0]!r} is shared (tied) with {_listing(names[1:])}, "
                    f"and these names fall in different blocks {sorted(blocks)}; put the "
                    "modules that share it in one block."
                )

    def _find_resettable(self, model: nn.Module) -> dict[str, dict[str, tuple[str, ...]]]:
        """Per block: ``uncovered`` parameters (no module of the block up their owner chain
        has ``reset_parameters``) and ``orphans`` (owned by no module of the block)."""
        modules = dict(model.named_modules())
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for b in self._names:
            inside = set(self._modules[b])
            uncovered, orphans = [], []
            for p in self._params[b]:
                path = p.rsplit(".", 1)[0] if "." in p else ""
                if path not in inside:
                    orphans.append(p)
                    continue
                chain, covered = path, False
                while chain in inside:
                    if callable(getattr(modules[chain], "reset_parameters", None)):
                        covered = True
                        break
                    if "." not in chain:
                        break
                    chain = chain.rsplit(".", 1)[0]
                if not covered:
                    uncovered.append(p)
            out[b] = {"uncovered": tuple(uncovered), "orphans": tuple(orphans)}
        return out

    @classmethod
    def from_modules(
        cls, model: nn.Module, groups: Mapping[str, str | Sequence[str]] | Sequence[str]
    ) -> BlockPartition:
        """A partition whose blocks name **modules** of ``model``.

        Same semantics as the constructor (a module takes everything below it), but every
        name must be a module of ``model.named_modules()`` (not a tensor).

        Args:
            model: The network.
            groups: ``{block name: [module name, ...]}``, or a list of module names, each
                its own block named after the module.

        Raises:
            ValueError: For a name that is not a module (with close matches), and every
                error of the constructor.
        """
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, Mapping):
            if not isinstance(groups, Sequence):
                raise TypeError(
                    "`groups` must be a mapping {block: [module names]} or a list of module "
                    f"names, got {type(groups).__name__}."
                )
            groups = {str(g): [g] for g in groups}
        modules = dict(model.named_modules())
        for block, names in groups.items():
            for name in [names] if isinstance(names, str) else names:
                if name not in modules or name == "":
                    close = difflib.get_close_matches(str(name), [m for m in modules if m], n=3)
                    hint = f" Did you mean {_listing(close)}?" if close else ""
                    raise ValueError(
                        f"{name!r} (block {block!r}) is not a module of "
                        f"{type(model).__name__}.{hint} Use names from model.named_modules()."
                    )
        return cls(model, groups)

    @classmethod
    def per_module(
        cls,
        model: nn.Module,
        types: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Linear),
    ) -> BlockPartition:
        """One block per module of ``types``, named after the module.

        **Attachment rule.** Modules are visited in ``model.named_modules()`` order (the
        order of registration, which for ``nn.Sequential`` and torchvision networks is the
        order of execution). Every module of ``types`` opens a new block; every other
        module owning tensors (BatchNorm, LayerNorm, PReLU, ...) joins the block of the
        **closest preceding** module of ``types``, so a conv's BatchNorm is reset with the
        conv. Tensors met before the first module of ``types`` join the first block. The
        tensors registered directly on a container (not on a leaf) are attached by the
        same rule, by tensor name.

        Raises:
            ValueError: If ``model`` has no module of ``types``.
        """
        if not isinstance(types, tuple):
            types = tuple(types) if isinstance(types, Sequence) else (types,)
        groups: dict[str, list[str]] = {}
        pending: list[str] = []
        current: str | None = None
        for name, module in model.named_modules():
            if isinstance(module, types) and name:
                current = name
                groups[name] = [name]
                continue
            own = _own_tensor_names(module)
            if not own or (current is not None and _under(name, current)):
                continue
            has_children = any(True for _ in module.children())
            entries = (
                [f"{name}.{t}" if name else t for t in own] if has_children or not name else [name]
            )
            if current is None:
                pending.extend(entries)
            else:
                groups[current].extend(entries)
        if not groups:
            raise ValueError(
                f"{type(model).__name__} has no module of types "
                f"{[t.__name__ for t in types]}; pass other `types` or a partition."
            )
        first = next(iter(groups))
        groups[first] = pending + groups[first]
        return cls(model, groups)

    @classmethod
    def for_model(cls, model: nn.Module) -> BlockPartition:
        """The built-in partition of a known network, else one block per top-level child.

        * LeNet-1 / LeNet-5 (:mod:`neuro_de.models.lenet`): one block per conv and linear
          layer, ``conv1, conv2, fc`` (LeNet-1) and ``conv1, conv2, fc1, fc2, fc3``
          (LeNet-5).
        * :class:`~neuro_de.models.MLP`: one block per linear layer, ``fc1 .. fcK``.
        * torchvision ResNets: ``stem`` (``conv1`` + ``bn1``), one block per residual block
          ``layerK.J`` (its downsample included), and ``fc``: 10 blocks for ResNet-18, 18
          for ResNet-34 (the reading of Fig. 1 of the paper).
        * torchvision MobileNetV2/V3: one block per ``features.i`` plus ``classifier``.
        * Any other model: one block per top-level child that owns tensors (children
          without tensors are ignored), named after the child. When exactly one child owns
          tensors and it is a container without tensors of its own (e.g. a model wrapping
          one ``nn.Sequential``), the rule is applied inside it instead.

        Raises:
            ValueError: For a model with parameters or buffers registered directly on
                itself (pass a partition naming them), or without tensors.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}.")
        return cls(model, _builtin_groups(model))

    # ------------------------------------------------------------------ inspection
    @property
    def names(self) -> list[str]:
        """Block names in gene order."""
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def n(self) -> int:
        """Number of blocks, the genome length."""
        return len(self._names)

    def _block(self, block: str | int) -> str:
        if isinstance(block, (int, np.integer)) and not isinstance(block, bool):
            if not -self.n <= int(block) < self.n:
                raise IndexError(f"Block index {block} out of range for {self.n} blocks.")
            return self._names[int(block)]
        if block not in self._prefixes:
            raise KeyError(f"No block {block!r}; the blocks are {self._names}.")
        return block  # type: ignore[return-value]

    def prefixes(self, block: str | int) -> list[str]:
        """The prefixes that define ``block`` (name or index)."""
        return list(self._prefixes[self._block(block)])

    def tensors(self, block: str | int) -> list[str]:
        """Names of the parameters, then the buffers, of ``block`` in model order."""
        b = self._block(block)
        return list(self._params[b] + self._buffers[b])

    def parameters(self, block: str | int) -> list[str]:
        """Names of the parameters of ``block`` (no buffers), in model order."""
        return list(self._params[self._block(block)])

    def buffers(self, block: str | int) -> list[str]:
        """Names of the buffers of ``block``, in model order."""
        return list(self._buffers[self._block(block)])

    def modules(self, block: str | int) -> list[str]:
        """Names of the modules re-initialised with ``block``, in ``named_modules()`` order."""
        return list(self._modules[self._block(block)])

    def numel(self, block: str | int) -> int:
        """Number of parameter values (buffers not counted) in ``block``."""
        return self._numel[self._block(block)]

    def block_of(self, tensor: str) -> str:
        """The block holding the parameter or buffer named ``tensor``."""
        for b in self._names:
            if tensor in self._params[b] or tensor in self._buffers[b]:
                return b
        raise KeyError(f"No tensor {tensor!r} in this partition.")

    def to_dict(self) -> dict[str, list[str]]:
        """``{block: [prefixes]}``, enough to rebuild the partition with the constructor."""
        return {b: list(p) for b, p in self._prefixes.items()}

    def describe(self) -> str:
        """A small table: index, block, tensors, parameters, prefixes."""
        rows = [("#", "block", "tensors", "params", "prefixes")]
        for i, b in enumerate(self._names):
            rows.append(
                (
                    str(i),
                    b,
                    str(len(self._params[b]) + len(self._buffers[b])),
                    f"{self._numel[b]:,}",
                    ", ".join(self._prefixes[b]),
                )
            )
        total = sum(self._numel.values())
        rows.append(("", "total", str(len(self._shapes)), f"{total:,}", ""))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        align = ["<", "<", ">", ">", "<"]
        lines = [
            "  ".join(f"{r[c]:{align[c]}{widths[c]}}" for c in range(5)).rstrip() for r in rows
        ]
        header = f"BlockPartition of {self._model_class}: {self.n} blocks"
        return "\n".join([header, *lines])

    def __repr__(self) -> str:
        return f"BlockPartition({self._model_class}, n={self.n}, blocks={self._names})"

    # ------------------------------------------------------------------ checks
    def check_model(self, model: nn.Module, *, name: str = "model") -> None:
        """Raise a ``ValueError`` unless ``model`` has exactly the tensors (names and shapes)
        this partition was built for."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"`{name}` must be a torch.nn.Module, got {type(model).__name__}.")
        _, _, tensors = _named_tensors(model)
        missing = [t for t in self._shapes if t not in tensors]
        extra = [t for t in tensors if t not in self._shapes]
        shapes = [
            f"{t} {tuple(tensors[t].shape)} vs {self._shapes[t]}"
            for t in self._shapes
            if t in tensors and tuple(tensors[t].shape) != self._shapes[t]
        ]
        if missing or extra or shapes:
            parts = []
            if missing:
                parts.append(f"missing from `{name}`: {_listing(missing, 5)}")
            if extra:
                parts.append(f"not in the partition: {_listing(extra, 5)}")
            if shapes:
                parts.append(f"shapes differ: {'; '.join(shapes[:5])}")
            raise ValueError(
                f"The partition (built for a {self._model_class}) does not fit `{name}` "
                f"({type(model).__name__}): {'; '.join(parts)}. Build the partition from this "
                "model, e.g. BlockPartition.for_model(model)."
            )

    def check_resettable(self, *, init_fn: InitFn | None = None) -> None:
        """Raise a ``ValueError`` if a block cannot be re-initialised.

        Without ``init_fn``, every parameter of a block must be owned by a module of the
        block which (or an ancestor of which, inside the block) has ``reset_parameters``.
        With ``init_fn`` the user's function is trusted with every module of the block, but
        a parameter owned by no module of the block (a prefix naming a tensor on a
        container) can never be reached.
        """
        if init_fn is not None and not callable(init_fn):
            raise TypeError(f"`init_fn` must be callable(module), got {type(init_fn).__name__}.")
        for b in self._names:
            orphans = self._resettable[b]["orphans"]
            if orphans:
                raise ValueError(
                    f"Block {b!r} holds {_listing(orphans)}, owned by no module of the block "
                    "(a prefix names the tensor itself), so it cannot be re-initialised. Put "
                    "the module that owns it in the block instead."
                )
            uncovered = self._resettable[b]["uncovered"]
            if init_fn is None and uncovered:
                raise ValueError(
                    f"Block {b!r} holds {_listing(uncovered)}, but no module of the block that "
                    "owns them has reset_parameters(), so re-initialising the block would "
                    "leave them unchanged. Pass init_fn=callable(module) that re-initialises "
                    "them, or give the owning module a reset_parameters() method."
                )

    def parse_code(self, code: Any) -> tuple[int, ...]:
        """A code as a tuple of ``n`` ints in ``{0, 1}``.

        Accepts a 1-D integer or bool tensor or NumPy array, a sequence of 0/1 (ints or
        bools) or a string such as ``"10110"``.

        Raises:
            TypeError: For floating-point or other non-integer values.
            ValueError: For a wrong length or values other than 0 and 1.
        """
        if isinstance(code, str):
            if set(code) - {"0", "1"}:
                raise ValueError(f"A code string must hold only '0' and '1', got {code!r}.")
            values = [int(c) for c in code]
        else:
            if isinstance(code, torch.Tensor):
                arr = code.detach().cpu()
                if arr.is_floating_point() or arr.is_complex():
                    raise TypeError(
                        f"A code must hold integers 0/1, got a {arr.dtype} tensor; convert it "
                        "with code.long() if its values are exactly 0 and 1."
                    )
                if arr.ndim != 1:
                    raise ValueError(f"A code must be 1-D, got shape {tuple(arr.shape)}.")
                values = [int(v) for v in arr.tolist()]
            else:
                arr = np.asarray(code)
                if arr.ndim != 1:
                    raise ValueError(f"A code must be 1-D, got shape {arr.shape}.")
                if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
                    raise TypeError(
                        f"A code must hold integers 0/1, got {arr.dtype} values {code!r}."
                    )
                values = [int(v) for v in arr.tolist()]
        if len(values) != self.n:
            raise ValueError(
                f"The code has length {len(values)} but the partition has {self.n} blocks "
                f"({self._names}); give one bit per block."
            )
        bad = [(i, v) for i, v in enumerate(values) if v not in (0, 1)]
        if bad:
            i, v = bad[0]
            raise ValueError(
                f"Code values must be 0 (re-initialise) or 1 (keep); position {i} (block "
                f"{self._names[i]!r}) is {v}."
            )
        return tuple(values)

    def format_code(self, code: Any) -> str:
        """A code as a string of ``0``/``1``, e.g. ``"11110"``."""
        return "".join(str(b) for b in self.parse_code(code))

    # ------------------------------------------------------------------ decoding
    def decode(
        self,
        model: nn.Module,
        code: Any,
        *,
        init_fn: InitFn | None = None,
        seed: int = 0,
    ) -> nn.Module:
        r"""Eq. (1): a **new** network with the blocks of bit 0 re-initialised.

        ``model`` is deep-copied and never touched. In the copy, the tensors of blocks with
        bit 1 are kept exactly; for every block with bit 0, each module of the block (all
        modules below its prefixes, in ``named_modules()`` order) is re-initialised with its
        own ``reset_parameters()`` (PyTorch's default initialisation; for BatchNorm it also
        resets the running statistics: mean 0, variance 1, ``num_batches_tracked`` 0), or
        with ``init_fn(module)`` when given (then called on every module of the block,
        containers included).

        **Randomness.** Block :math:`i` is re-initialised inside
        :func:`torch.random.fork_rng` with the global RNG seeded by
        ``derive_seed(seed, i)``, so a block's new values depend only on ``seed`` and the
        block, not on which other blocks are reset, and the caller's RNG state is
        unchanged.

        Args:
            model: The trained network :math:`P^\alpha` (any device).
            code: ``n`` bits (see :meth:`parse_code`); 1 keeps a block, 0 resets it.
            init_fn: Optional re-initialiser ``init_fn(module)`` (in place).
            seed: Seed of the re-initialisation (an integer >= 0).

        Returns:
            The decoded network :math:`P^{\alpha+1}`, on ``model``'s device, in
            ``model``'s training mode.

        Raises:
            ValueError: For a bad code, a model the partition was not built for, or a block
                that cannot be re-initialised (see :meth:`check_resettable`).
        """
        bits = self.parse_code(code)
        self.check_model(model)
        self.check_resettable(init_fn=init_fn)
        seed = _check_seed(seed)
        net = copy.deepcopy(model)
        if all(bits):
            return net
        modules = dict(net.named_modules())
        devices = model_devices(net)
        with seeded_rng(seed, devices), torch.no_grad():
            for i, (block, bit) in enumerate(zip(self._names, bits, strict=True)):
                if bit:
                    continue
                _manual_seed(derive_seed(seed, i), devices)
                for name in self._modules[block]:
                    module = modules[name]
                    if init_fn is not None:
                        init_fn(module)
                        continue
                    reset = getattr(module, "reset_parameters", None)
                    if callable(reset):
                        reset()
        return net


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0, got {seed!r}.")
    return int(seed)


# ---------------------------------------------------------------------- built-ins
def _numbered(names: list[str], stem: str) -> dict[str, list[str]]:
    if len(names) == 1:
        return {stem: [names[0]]}
    return {f"{stem}{i}": [n] for i, n in enumerate(names, start=1)}


def _builtin_groups(model: nn.Module) -> dict[str, list[str]]:
    from .lenet import LeNet1, LeNet5
    from .mlp import MLP

    if isinstance(model, (LeNet1, LeNet5)):
        convs = [f"features.{i}" for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]
        groups = {f"conv{i}": [n] for i, n in enumerate(convs, start=1)}
        if isinstance(model.classifier, nn.Linear):
            groups["fc"] = ["classifier"]
        else:
            linears = [
                f"classifier.{i}"
                for i, m in enumerate(model.classifier)
                if isinstance(m, nn.Linear)
            ]
            groups.update(_numbered(linears, "fc"))
        return groups
    if isinstance(model, MLP):
        linears = [f"net.{i}" for i, m in enumerate(model.net) if isinstance(m, nn.Linear)]
        return _numbered(linears, "fc")
    try:
        import torchvision.models as tvm
    except ImportError:  # pragma: no cover - torchvision is a dependency
        tvm = None
    if tvm is not None and isinstance(model, tvm.ResNet):
        groups = {"stem": ["conv1", "bn1"]}
        for k in range(1, 5):
            layer = getattr(model, f"layer{k}")
            for j in range(len(layer)):
                groups[f"layer{k}.{j}"] = [f"layer{k}.{j}"]
        groups["fc"] = ["fc"]
        return groups
    if tvm is not None and isinstance(model, (tvm.MobileNetV2, tvm.MobileNetV3)):
        groups = {f"features.{i}": [f"features.{i}"] for i in range(len(model.features))}
        groups["classifier"] = ["classifier"]
        return groups
    return _fallback_groups(model)


def _fallback_groups(model: nn.Module) -> dict[str, list[str]]:
    prefix, module = "", model
    while True:
        own = _own_tensor_names(module)
        if own:
            where = "itself" if not prefix else f"its container {prefix!r}"
            raise ValueError(
                f"{type(model).__name__} has parameters or buffers registered directly on "
                f"{where} ({_listing(own)}), so it has no built-in block partition. Pass one, "
                "e.g. BlockPartition(model, {'body': ['features'], 'head': ['fc']}), naming "
                "modules (or these tensors) so every tensor is in exactly one block."
            )
        children = [(n, c) for n, c in module.named_children() if _has_tensors(c)]
        if not children:
            raise ValueError(f"{type(model).__name__} has no parameters or buffers to partition.")
        if len(children) == 1:
            name, child = children[0]
            grandchildren = [c for c in child.children() if _has_tensors(c)]
            if grandchildren and not _own_tensor_names(child):
                prefix = f"{prefix}.{name}" if prefix else name
                module = child
                continue
        qualified = [f"{prefix}.{n}" if prefix else n for n, _ in children]
        return {q: [q] for q in qualified}
