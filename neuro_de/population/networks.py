"""A first population from the user's own networks: modules, state dicts or checkpoint files.

A user who trained a network with their own loop has snapshots or checkpoints already;
:func:`population_from_networks` stacks them into the ``(m, d)`` genomes of a parameter view
(the problem's), with each member's BatchNorm buffers and excluded parameters kept beside
them, as the other builders of :mod:`neuro_de.population` do.

Files are read with ``torch.load(path, map_location="cpu", weights_only=True)``, which
loads tensors and plain containers but never runs code from the file, or with
``safetensors`` for ``.safetensors`` files (what :func:`neuro_de.checkpoint.export_network`
writes).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..problems.parameter_view import ParameterView
from .backprop import _resolve_view
from .result import Population

__all__ = ["NetworkSource", "STATE_DICT_KEYS", "population_from_networks"]

#: One member: a module of the model's architecture, its ``state_dict()``, or the path of a
#: file holding one (``torch.save(model.state_dict(), path)`` or a ``.safetensors`` file).
NetworkSource = nn.Module | Mapping[str, torch.Tensor] | str | os.PathLike

#: Keys under which training scripts commonly nest the state dict in a checkpoint
#: (``{"epoch": 3, "model_state_dict": ..., "optimizer_state_dict": ...}``); tried in this
#: order when a loaded mapping is not itself a state dict and ``key`` is not given.
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")

#: Prefixes added by ``nn.DataParallel``/``DistributedDataParallel`` and ``torch.compile``;
#: stripped when the model's own names lack them.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def population_from_networks(
    members: Sequence[NetworkSource],
    *,
    model: nn.Module,
    view: ParameterView | None = None,
    exclude: Iterable[str | type] | None = None,
    key: str | None = None,
    strict: bool = True,
) -> Population:
    """Build a :class:`Population` from networks the user trained: modules, state dicts
    or checkpoint files.

    Row ``i`` of the result's ``vectors`` is member ``i``'s genome under ``view``, in the
    order given. Pass the problem's view (``view=problem.view``) so that the columns are
    the problem's, then ``DE(problem, popsize=len(pop), init_population=pop.vectors)``.

    Each member is one of:

    - an ``nn.Module`` of ``model``'s architecture (its ``state_dict()`` is read);
    - a state dict, ``{name: tensor}`` as ``module.state_dict()`` returns;
    - the path (``str`` or ``os.PathLike``) of a file written by
      ``torch.save(module.state_dict(), path)``, loaded with
      ``torch.load(path, map_location="cpu", weights_only=True)`` (no code from the file is
      run); the state dict may be nested in a checkpoint dict under ``key`` (or one of
      :data:`STATE_DICT_KEYS`); or a ``.safetensors`` file.

    Names with a ``module.`` (``DataParallel``/DDP) or ``_orig_mod.`` (``torch.compile``)
    prefix the model lacks are matched without it.

    Args:
        members: The networks, at least one, in a list or tuple.
        model: A network of the members' architecture (e.g. the one given to the problem).
            It defines the view (with ``exclude``) and, with ``strict=False``, supplies what
            a member does not hold. It is not modified.
        view: The parameter view of the genome (e.g. ``problem.view``); not with
            ``exclude``.
        exclude: Build the view as ``ParameterView(model, exclude=exclude)``; not with
            ``view``.
        key: Where the state dict sits inside each loaded checkpoint dict (e.g.
            ``"model_state_dict"``); ``None``: the file is the state dict, or the entry of
            :data:`STATE_DICT_KEYS` that holds one.
        strict: ``True`` (default): every member must hold exactly the tensors of
            ``model.state_dict()`` (parameters and persistent buffers, no unknown names),
            as ``load_state_dict(strict=True)`` demands. ``False``: only the viewed
            parameters are required; missing buffers and excluded parameters keep
            ``model``'s values, unknown names are ignored.

    Returns:
        A :class:`Population` with ``vectors`` a float32 CPU ``(m, d)`` tensor (``d =
        view.numel``), ``view``, each member's persistent ``buffers`` (``None`` when the
        model has none) and ``excluded`` parameters (``None`` when the view excludes
        nothing), ``meta[i] = {"member": i, "source": ...}`` (the file path, or
        ``"module"``/``"state_dict"``) and ``info["method"] == "networks"``.

    Raises:
        TypeError: If ``members`` is not a list/tuple (e.g. a single path or module), a
            member is of another type, or ``model``/``view`` has the wrong type.
        ValueError: If ``members`` is empty, both ``view`` and ``exclude`` are given, a
            file holds no state dict (or not under ``key``), or a member's names or shapes
            do not match the model; the message names the member (file) and the tensor.
        FileNotFoundError: If a path does not exist.

    Example:
        >>> paths = sorted(Path("checkpoints").glob("epoch_*.pt"))
        >>> pop = population_from_networks(paths, model=net, view=problem.view)
        >>> searcher = DE(problem, popsize=pop.m, init_population=pop.vectors)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be an nn.Module of the members' architecture, got "
            f"{type(model).__name__}."
        )
    if isinstance(members, (str, os.PathLike, nn.Module, Mapping)):
        raise TypeError(
            "`members` must be a list of networks (modules, state dicts or file paths), got "
            f"a single {type(members).__name__}; wrap it in a list."
        )
    if not isinstance(members, Sequence):
        raise TypeError(
            f"`members` must be a list or tuple, got {type(members).__name__}; e.g. "
            "members=sorted(Path(folder).glob('*.pt'))."
        )
    if len(members) == 0:
        raise ValueError("`members` is empty; give at least one network.")
    if key is not None and not isinstance(key, str):
        raise TypeError(f"`key` must be a string or None, got {type(key).__name__}.")
    view = _resolve_view(model, view, exclude)
    reference = {n: t.detach() for n, t in model.state_dict().items()}
    param_names = {n for n, _ in model.named_parameters()}
    buffer_names = [n for n in reference if n not in param_names]
    viewed = set(view.names)

    vectors, buffers, excluded, meta = [], [], [], []
    for i, member in enumerate(members):
        where, state = _read_member(member, i, key)
        state = _strip_wrappers(state, reference)
        _check_names(state, reference, viewed, where, strict)
        for name, tensor in state.items():
            if name in reference:
                _check_tensor(name, tensor, reference[name], where)
        vectors.append(
            torch.cat([state[n].detach().to("cpu", torch.float32).reshape(-1)
                       for n in view.names])
        )
        buffers.append({n: _value(state, reference, n) for n in buffer_names})
        excluded.append({n: _value(state, reference, n) for n in view.excluded})
        meta.append({"member": i, "source": str(member) if isinstance(member, (str, os.PathLike))
                     else ("module" if isinstance(member, nn.Module) else "state_dict")})

    return Population(
        vectors=torch.stack(vectors),
        view=view,
        buffers=buffers if buffer_names else None,
        excluded=excluded if view.excluded else None,
        meta=meta,
        info={"method": "networks", "sources": [m["source"] for m in meta],
              "strict": bool(strict)},
    )


def _read_member(member: Any, i: int, key: str | None) -> tuple[str, Mapping[str, Any]]:
    """``(name for messages, state dict)`` of one member."""
    if isinstance(member, nn.Module):
        return f"members[{i}] ({type(member).__name__} module)", member.state_dict()
    if isinstance(member, (str, os.PathLike)):
        path = Path(member)
        where = f"members[{i}] ({str(path)!r})"
        if not path.is_file():
            raise FileNotFoundError(f"{where}: no such file; pass the path of a saved state dict.")
        loaded = _load_file(path, where)
        return where, _find_state_dict(loaded, key, where)
    if isinstance(member, Mapping):
        where = f"members[{i}] (state dict)"
        return where, _find_state_dict(member, key, where)
    raise TypeError(
        f"members[{i}] must be an nn.Module, a state dict or a file path, got "
        f"{type(member).__name__}."
    )


def _load_file(path: Path, where: str) -> Any:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as err:
            raise ValueError(f"{where} is not a readable safetensors file: {err}") from err
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as err:
        raise ValueError(
            f"{where} could not be read with torch.load(..., weights_only=True) "
            f"({_reason(err)}). Save the network's weights with "
            "torch.save(model.state_dict(), path) (a whole pickled model holds code, which "
            "is never loaded), or load the model yourself and pass the module."
        ) from err


def _reason(err: BaseException) -> str:
    """The informative line of a ``torch.load`` error (its unpickler reason if any)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for line in lines:
        if "WeightsUnpickler error" in line:
            return line.split("WeightsUnpickler error:", 1)[-1].strip().split(". ")[0]
    return lines[0] if lines else type(err).__name__


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _find_state_dict(loaded: Any, key: str | None, where: str) -> Mapping[str, torch.Tensor]:
    if not isinstance(loaded, Mapping):
        raise ValueError(
            f"{where} holds a {type(loaded).__name__}, not a state dict; save "
            "model.state_dict() (a dict of tensors)."
        )
    if key is not None:
        if key not in loaded:
            raise ValueError(
                f"{where} has no entry {key!r} (`key`); its top-level keys are "
                f"{_some(loaded)}."
            )
        found = loaded[key]
        if not _is_state_dict(found):
            raise ValueError(f"{where}[{key!r}] is not a state dict (a dict of tensors).")
        return found
    if _is_state_dict(loaded):
        return loaded
    for candidate in STATE_DICT_KEYS:
        if candidate in loaded and _is_state_dict(loaded[candidate]):
            return loaded[candidate]
    raise ValueError(
        f"{where} is not a state dict and has none under {list(STATE_DICT_KEYS)}; its "
        f"top-level keys are {_some(loaded)}. Pass `key=` naming the entry that holds the "
        "model's state dict."
    )


def _strip_wrappers(
    state: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    state = dict(state)
    for prefix in _WRAPPER_PREFIXES:
        if any(n.startswith(prefix) for n in reference):
            continue
        if state and all(n.startswith(prefix) for n in state):
            state = {n[len(prefix):]: t for n, t in state.items()}
    return state


def _check_names(
    state: Mapping[str, torch.Tensor],
    reference: Mapping[str, torch.Tensor],
    viewed: set[str],
    where: str,
    strict: bool,
) -> None:
    required = reference.keys() if strict else viewed
    missing = [n for n in reference if n in required and n not in state]
    unknown = [n for n in state if n not in reference] if strict else []
    if not missing and not unknown:
        return
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} tensor(s) of the model: {_some(missing)}")
    if unknown:
        parts.append(f"{len(unknown)} name(s) the model does not have: {_some(unknown)}")
    if missing and unknown:
        hint = " It is not a network of `model`'s architecture (or was saved from a wrapper)."
    elif set(missing) & viewed:
        hint = " The genome needs every viewed parameter; was it saved from `model`'s architecture?"
    elif missing:
        hint = (" Pass strict=False to keep the model's buffers and excluded parameters where "
                "a member lacks them.")
    else:
        hint = " Pass strict=False to ignore names the model does not have."
    raise ValueError(f"{where} does not fit `model`: {'; '.join(parts)}.{hint}")


def _check_tensor(name: str, tensor: Any, ref: torch.Tensor, where: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{where}: {name!r} is a {type(tensor).__name__}, not a tensor.")
    if tuple(tensor.shape) != tuple(ref.shape):
        raise ValueError(
            f"{where}: {name!r} has shape {tuple(tensor.shape)}, the model's has "
            f"{tuple(ref.shape)}; the member is not a network of `model`'s architecture."
        )
    if ref.is_floating_point() and not tensor.is_floating_point():
        raise ValueError(
            f"{where}: {name!r} has dtype {tensor.dtype}, the model's is {ref.dtype} "
            "(floating point)."
        )


def _value(state: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor], name: str):
    src = state[name] if name in state else reference[name]
    return src.detach().to("cpu", reference[name].dtype).clone()


def _some(names: Iterable[Any], limit: int = 8) -> str:
    names = [str(n) for n in names]
    more = f" ... (+{len(names) - limit})" if len(names) > limit else ""
    return f"{names[:limit]}{more}"
