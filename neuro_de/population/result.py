"""The result type of every population builder: an ``(m, d)`` tensor plus what it came from."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..problems.checks import resolve_device
from ..problems.parameter_view import ParameterView

__all__ = ["Population", "SnapshotResult"]


@dataclass
class Population:
    """A first population of networks, as flat genomes of one parameter view.

    Row ``i`` of :attr:`vectors` is the genome of member ``i`` (see
    :class:`~neuro_de.problems.ParameterView`): the concatenation of the viewed parameters,
    which is what an EvoTorch problem over that view evolves. Everything else a member needs
    to be rebuilt exactly as it was trained (BatchNorm buffers, parameters left out of the
    genome) is kept beside it, so :meth:`to_modules` returns the trained networks.
    :func:`~neuro_de.population.population_from_networks` builds one from the user's own
    modules, state dicts or checkpoint files.

    Attributes:
        vectors: ``(m, d)`` float tensor (on the CPU for the builders of this package), one
            genome per row.
        view: The parameter view the rows belong to, or ``None`` for "every parameter of
            the template" (what :meth:`to_modules` then assumes).
        buffers: Optional list of ``m`` dicts ``{buffer_name: tensor}`` holding each
            member's buffers (e.g. BatchNorm ``running_mean``/``running_var``/
            ``num_batches_tracked``) as they were when the genome was taken. Baselines such
            as SWA or model soups need them; the genome never contains them.
        excluded: Optional list of ``m`` dicts ``{param_name: tensor}`` with each member's
            parameters that the view leaves out (``None`` when the view excludes nothing or
            they were not recorded).
        meta: One dict per member describing where it comes from (e.g. ``run``, ``seed``,
            ``epoch``, ``loss`` and the training hyper-parameters ``lr``, ``weight_decay``,
            ``mixup_alpha``, ``label_smoothing``...). ``pandas.DataFrame(pop.meta)`` makes a
            table of it.
        info: Population-level facts, e.g. ``{"method": "init-hp", "configs": [...]}`` or
            the noise ``std`` used.
    """

    vectors: torch.Tensor
    view: ParameterView | None = None
    buffers: list[dict[str, torch.Tensor]] | None = None
    excluded: list[dict[str, torch.Tensor]] | None = None
    meta: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.vectors, torch.Tensor):
            raise TypeError(
                f"`vectors` must be a torch.Tensor of shape (m, d), got "
                f"{type(self.vectors).__name__}."
            )
        if self.vectors.ndim != 2 or self.vectors.shape[0] == 0:
            raise ValueError(
                "`vectors` must be a 2-D tensor (m, d) with m >= 1 rows, got shape "
                f"{tuple(self.vectors.shape)}."
            )
        m, d = self.vectors.shape
        if self.view is not None and self.view.numel != d:
            raise ValueError(
                f"`vectors` has {d} columns but the view holds {self.view.numel} values; "
                "build the population with the same ParameterView as the problem."
            )
        if not self.meta:
            self.meta = [{} for _ in range(m)]
        for name in ("buffers", "excluded", "meta"):
            value = getattr(self, name)
            if value is not None and len(value) != m:
                raise ValueError(
                    f"`{name}` has {len(value)} entries for {m} members; give one each."
                )

    # ------------------------------------------------------------------ sizes
    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def m(self) -> int:
        """Population size (number of rows)."""
        return int(self.vectors.shape[0])

    @property
    def d(self) -> int:
        """Genome length (number of columns)."""
        return int(self.vectors.shape[1])

    def __repr__(self) -> str:
        method = self.info.get("method", "?")
        return (
            f"{type(self).__name__}(m={self.m}, d={self.d}, method={method!r}, "
            f"buffers={'yes' if self.buffers else 'no'})"
        )

    # ------------------------------------------------------------- selection
    def select(self, indices: Sequence[int] | torch.Tensor) -> Population:
        """A new population holding the members at ``indices`` (in that order)."""
        idx = [int(i) for i in (indices.tolist() if isinstance(indices, torch.Tensor) else indices)]
        if not idx:
            raise ValueError("`indices` is empty; select at least one member.")
        for i in idx:
            if not -self.m <= i < self.m:
                raise IndexError(f"Member index {i} out of range for a population of {self.m}.")
        return Population(
            vectors=self.vectors[idx].clone(),
            view=self.view,
            buffers=None if self.buffers is None else [self.buffers[i] for i in idx],
            excluded=None if self.excluded is None else [self.excluded[i] for i in idx],
            meta=[dict(self.meta[i]) for i in idx],
            info=dict(self.info),
        )

    @staticmethod
    def cat(populations: Sequence[Population]) -> Population:
        """Concatenate populations over the same view (e.g. snapshots of several runs).

        Buffers and excluded parameters are kept only if every part has them.
        """
        pops = list(populations)
        if not pops:
            raise ValueError("`populations` is empty; give at least one Population.")
        d = pops[0].d
        if any(p.d != d for p in pops):
            raise ValueError(
                f"Populations have different genome lengths {[p.d for p in pops]}; they must "
                "share one parameter view."
            )

        def joined(name: str) -> list | None:
            parts = [getattr(p, name) for p in pops]
            return None if any(x is None for x in parts) else [e for x in parts for e in x]

        return Population(
            vectors=torch.cat([p.vectors for p in pops]),
            view=pops[0].view,
            buffers=joined("buffers"),
            excluded=joined("excluded"),
            meta=[dict(e) for p in pops for e in p.meta],
            info={"method": "cat", "parts": [dict(p.info) for p in pops]},
        )

    def to(self, device: str | torch.device) -> Population:
        """Same population with :attr:`vectors` moved to ``device`` (the rest stays on CPU).

        Raises:
            ValueError: For a ``device`` that is not a device or is missing on this machine
                (e.g. ``"gpu"``, or ``"cuda"`` without a GPU).
        """
        return Population(
            vectors=self.vectors.to(resolve_device(device)),
            view=self.view,
            buffers=self.buffers,
            excluded=self.excluded,
            meta=self.meta,
            info=self.info,
        )

    # ------------------------------------------------------------- to modules
    def _view_for(self, template: nn.Module) -> ParameterView:
        view = self.view if self.view is not None else ParameterView(template)
        if view.numel != self.d:
            raise ValueError(
                f"The template's parameter view holds {view.numel} values but the genomes have "
                f"{self.d}: the template is not the architecture of this population."
            )
        return view

    @torch.no_grad()
    def to_module(self, template: nn.Module, index: int, *, buffers: bool = True) -> nn.Module:
        """A deep copy of ``template`` carrying member ``index``.

        The genome goes into the viewed parameters; the member's recorded excluded
        parameters and (if ``buffers``) buffers are copied in too when the population has
        them, otherwise the template's are kept. The template is never modified, and the
        copy keeps its device and train/eval mode.

        Args:
            template: A network of the population's architecture.
            index: Which member (negative indices count from the end).
            buffers: Copy the member's recorded buffers (BatchNorm statistics) too.

        Returns:
            The new module.
        """
        if not isinstance(template, nn.Module):
            raise TypeError(f"`template` must be an nn.Module, got {type(template).__name__}.")
        if not -self.m <= index < self.m:
            raise IndexError(f"Member index {index} out of range for a population of {self.m}.")
        view = self._view_for(template)
        module = copy.deepcopy(template)
        view.load_into(module, self.vectors[index])
        if self.excluded is not None:
            _copy_named(dict(module.named_parameters()), self.excluded[index], "parameter")
        if buffers and self.buffers is not None:
            _copy_named(dict(module.named_buffers()), self.buffers[index], "buffer")
        return module

    def to_modules(self, template: nn.Module, *, buffers: bool = True) -> list[nn.Module]:
        """One deep copy of ``template`` per member; see :meth:`to_module`."""
        return [self.to_module(template, i, buffers=buffers) for i in range(self.m)]


def _copy_named(targets: dict[str, torch.Tensor], values: dict[str, torch.Tensor], kind: str):
    missing = [n for n in values if n not in targets]
    if missing:
        raise ValueError(
            f"The template has no {kind}s named {missing}; it is not the architecture this "
            "population was built with."
        )
    for name, value in values.items():
        targets[name].copy_(value)


@dataclass(repr=False)
class SnapshotResult(Population):
    """A :class:`Population` of epoch snapshots from one backpropagation run.

    Row ``j`` is the genome after epoch ``epochs - keep_last + 1 + j`` (so the last row is
    the final network). Besides the :class:`Population` fields:

    Attributes:
        model: The trained network (a copy; the user's module is untouched) after the last
            epoch, in eval mode, on the training device. Its genome equals ``vectors[-1]``.
        loss_history: Mean training loss of every epoch (``epochs`` floats), averaged over
            the samples seen, as optimised: with mixup it is the mixed loss, with label
            smoothing the smoothed one.
    """

    model: nn.Module | None = None
    loss_history: list[float] = field(default_factory=list)
