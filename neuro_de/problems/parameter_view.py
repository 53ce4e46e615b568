"""A flat, ordered view of a subset of a module's parameters (the genome)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["ParameterView"]


class ParameterView:
    """An ordered subset of a module's parameters, seen as one flat vector.

    The genome of a network is the concatenation of the selected parameters, each
    flattened in row-major order, in the order of ``module.named_parameters()``.
    Buffers (e.g. BatchNorm running statistics) are never part of the genome.

    Args:
        module: The network whose parameters are viewed. It is not modified.
        exclude: Parameters to leave out of the genome. Each item is either a
            string, matched against parameter names (``"fc"`` excludes ``fc.weight``
            and ``fc.bias``; a full name excludes one tensor), or an ``nn.Module``
            subclass, which excludes every parameter owned by submodules of that
            type (e.g. ``nn.Linear``). A single string is taken as one pattern
            (``exclude="fc"`` is ``exclude=["fc"]``), not as its characters.

    Raises:
        ValueError: If the module has no parameters, an exclusion matches nothing, or
            nothing is left to evolve.
    """

    def __init__(self, module: nn.Module, *, exclude: Iterable[str | type] | None = None):
        if not isinstance(module, nn.Module):
            raise TypeError(f"`module` must be a torch.nn.Module, got {type(module).__name__}.")
        if isinstance(exclude, (str, type)):
            exclude = [exclude]  # one pattern, not its characters ('fc' -> ['fc'])
        exclude = list(exclude or [])
        if not any(True for _ in module.parameters()):
            raise ValueError(
                f"`model` ({type(module).__name__}) has no parameters, so there is nothing to "
                "evolve; pass the network whose weights you want to improve (e.g. one with "
                "nn.Linear or nn.Conv2d layers)."
            )
        for item in exclude:
            is_type = isinstance(item, type) and issubclass(item, nn.Module)
            if not (isinstance(item, str) or is_type):
                raise TypeError(
                    "`exclude` items must be parameter-name prefixes (str) or nn.Module "
                    f"subclasses, got {item!r}."
                )
        excluded_names: set[str] = set()
        used: set[int] = set()
        for mod_name, sub in module.named_modules():
            for k, item in enumerate(exclude):
                if isinstance(item, type) and isinstance(sub, item):
                    used.add(k)
                    for p_name, _ in sub.named_parameters(recurse=True):
                        excluded_names.add(f"{mod_name}.{p_name}" if mod_name else p_name)
        names, shapes = [], []
        for name, param in module.named_parameters():
            hit = False
            for k, item in enumerate(exclude):
                if isinstance(item, str) and (name == item or name.startswith(item + ".")):
                    used.add(k)
                    hit = True
            if hit or name in excluded_names:
                continue
            names.append(name)
            shapes.append(tuple(param.shape))
        unused = [exclude[k] for k in range(len(exclude)) if k not in used]
        if unused:
            available = ", ".join(n for n, _ in module.named_parameters())
            raise ValueError(
                f"`exclude` entries {unused!r} match no parameter of the module. "
                f"Parameter names are: {available}."
            )
        if not names:
            raise ValueError(
                f"`exclude`={exclude!r} leaves no parameter to evolve (it matches every "
                "parameter of the module); exclude fewer layers."
            )
        self.names: tuple[str, ...] = tuple(names)
        self.shapes: tuple[tuple[int, ...], ...] = tuple(shapes)
        self.numels: tuple[int, ...] = tuple(int(torch.Size(s).numel()) for s in shapes)
        self.numel: int = int(sum(self.numels))
        self.excluded: tuple[str, ...] = tuple(
            n for n, _ in module.named_parameters() if n not in set(names)
        )

    def __len__(self) -> int:
        return self.numel

    def __repr__(self) -> str:
        return (
            f"ParameterView({len(self.names)} tensors, {self.numel} values, "
            f"excluded={list(self.excluded)})"
        )

    def _params(self, module: nn.Module) -> list[torch.Tensor]:
        params = dict(module.named_parameters())
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ValueError(
                f"The module has no parameters named {missing}; it is not the architecture "
                "this view was built for."
            )
        for name, shape in zip(self.names, self.shapes, strict=True):
            if tuple(params[name].shape) != shape:
                raise ValueError(
                    f"Parameter {name!r} has shape {tuple(params[name].shape)}, the view "
                    f"expects {shape}: the module is not the architecture of this view."
                )
        return [params[n] for n in self.names]

    @torch.no_grad()
    def to_vector(self, module: nn.Module) -> torch.Tensor:
        """Return a new flat tensor holding the viewed parameters of ``module``."""
        return torch.cat([p.detach().reshape(-1) for p in self._params(module)])

    def check_vector(self, vector: torch.Tensor, *, name: str = "vector") -> None:
        """Raise a clear error if ``vector`` is not a 1-D tensor of the genome length."""
        if not isinstance(vector, torch.Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor, got {type(vector).__name__}.")
        if vector.ndim != 1 or vector.numel() != self.numel:
            raise ValueError(
                f"`{name}` must be a 1-D tensor of length {self.numel} (the genome length "
                f"of this view), got shape {tuple(vector.shape)}."
            )

    @torch.no_grad()
    def load_into(self, module: nn.Module, vector: torch.Tensor) -> nn.Module:
        """Copy ``vector`` into the viewed parameters of ``module`` in place; return it."""
        self.check_vector(vector)
        offset = 0
        for param, n in zip(self._params(module), self.numels, strict=True):
            param.copy_(vector[offset : offset + n].view_as(param))
            offset += n
        return module

    def split(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``vector`` reshaped per parameter, keyed by parameter name.

        ``vector`` may be batched, of shape ``(..., numel)``; the leading dimensions are kept.
        """
        if vector.shape[-1] != self.numel:
            raise ValueError(
                f"Last dimension of `vector` must be {self.numel}, got {tuple(vector.shape)}."
            )
        lead = tuple(vector.shape[:-1])
        out, offset = {}, 0
        for name, shape, n in zip(self.names, self.shapes, self.numels, strict=True):
            out[name] = vector[..., offset : offset + n].reshape(*lead, *shape)
            offset += n
        return out
