"""Evaluate networks, parameter vectors or ensembles on clean and corrupted test sets."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..baselines.ensemble import evaluate_classifier
from ..problems.parameter_view import ParameterView
from .metrics import CLEAN

__all__ = ["as_networks", "robustness_errors"]


def as_networks(
    networks: nn.Module | torch.Tensor | Mapping[str, nn.Module | torch.Tensor],
    *,
    template: nn.Module | None = None,
    exclude: Iterable[str | type] | None = None,
) -> dict[str, nn.Module]:
    """Name -> module, turning parameter vectors into networks.

    Args:
        networks: One network or vector (named ``"model"``), or a mapping name -> network or
            genome. A genome is a 1-D tensor in the layout of
            :class:`~neuro_de.problems.ParameterView` of ``template`` (what the algorithms
            evolve); it is loaded into a copy of ``template``. Ensembles such as FGE's
            :class:`~neuro_de.baselines.ProbabilityEnsemble` are modules too.
        template: The network the genomes are parameters of.
        exclude: The ``exclude`` the genomes' ``ParameterView`` was built with.

    Raises:
        TypeError: An entry that is neither a module nor a tensor.
        ValueError: A genome without ``template``, or of the wrong length.
    """
    if isinstance(networks, (nn.Module, torch.Tensor)):
        networks = {"model": networks}
    if not isinstance(networks, Mapping) or not networks:
        raise TypeError("`networks` must be a module, a genome, or a non-empty mapping of them.")
    view = None
    out = {}
    for name, net in networks.items():
        if isinstance(net, nn.Module):
            out[str(name)] = net
        elif isinstance(net, torch.Tensor):
            if template is None:
                raise ValueError(
                    f"`networks[{name!r}]` is a parameter vector; pass `template=` (the network "
                    "whose parameters it holds) to evaluate it."
                )
            view = view or ParameterView(template, exclude=exclude)
            view.check_vector(net, name=f"networks[{name!r}]")
            out[str(name)] = view.load_into(copy.deepcopy(template), net)
        else:
            raise TypeError(
                f"`networks[{name!r}]` must be an nn.Module or a parameter vector, got "
                f"{type(net).__name__}."
            )
    return out


def robustness_errors(
    networks: nn.Module | torch.Tensor | Mapping[str, nn.Module | torch.Tensor],
    corrupted: Iterable[tuple[str, int, Dataset]],
    *,
    clean: Dataset | None = None,
    template: nn.Module | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
    progress: bool = False,
    **extra: Any,
) -> pd.DataFrame:
    """Top-1 error (and loss) of every network on the clean and every corrupted set.

    Each corrupted set is built once (generated, cached or read) and read by every network
    before the next one is made.

    Args:
        networks: See :func:`as_networks` (modules, genomes with ``template``, ensembles).
        corrupted: ``(corruption, severity, data set)`` triples:
            :class:`~neuro_de.robustness.CorruptedSets` or
            :class:`~neuro_de.robustness.ReleasedSets`.
        clean: The clean test set (its rows have ``corruption="clean"``, ``severity=0``).
        template: For genomes.
        device: Where the networks run (default: where each one's parameters are).
        batch_size: Evaluation batch size.
        progress: A progress bar over the conditions.
        **extra: Constant columns added to every row (e.g. ``seed=3``).

    Returns:
        A long table with columns ``model``, ``corruption``, ``severity``, ``error`` and
        ``loss`` (plus ``extra``): what :mod:`~neuro_de.robustness.metrics` reads.
    """
    nets = as_networks(networks, template=template)
    rows = []

    def score(corruption: str, severity: int, data: Dataset) -> None:
        for name, net in nets.items():
            m = evaluate_classifier(net, data, topk=(1,), batch_size=batch_size, device=device)
            rows.append({"model": name, "corruption": corruption, "severity": severity,
                         "error": 1.0 - m["top1"], "loss": m["loss"], **extra})

    if clean is not None:
        score(CLEAN, 0, clean)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(corrupted) if hasattr(corrupted, "__len__") else None,
                   desc="corrupted sets", unit="set")
    try:
        for corruption, severity, data in corrupted:
            score(corruption, severity, data)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return pd.DataFrame(rows)
