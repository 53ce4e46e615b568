r"""Model soups: uniform and greedy weight averages of a population (Wortsman et al. 2022).

A *soup* of ingredients :math:`\theta_1..\theta_k` is their equal-weight average
:math:`\frac{1}{k}\sum_i \theta_i`, one network with the inference cost of one member.

* :func:`uniform_soup` averages every member (Wortsman et al., Eq. 1 with equal weights).
* :func:`greedy_soup` (Wortsman et al., Recipe 1) sorts the ingredients by held-out
  accuracy in decreasing order, starts the soup with the best one, and adds each next
  ingredient only if the held-out accuracy of the resulting soup does not fall.

**Buffers.** As in the authors' code, which averages whole ``state_dict`` s, floating
buffers (BatchNorm ``running_mean``/``running_var``) are averaged like parameters; integer
buffers (``num_batches_tracked``) are taken from the first ingredient
(:func:`~neuro_de.baselines.averaging.average_state_dicts`). For an ``(m, d)`` tensor of
genomes there is one set of buffers (the template's), shared by all. Averaged running
statistics are not those of the soup's activations; pass ``bn_loader`` (training data) to
recompute them with :func:`torch.optim.swa_utils.update_bn`, as SWA does.

**Held-out data.** Greedy selection reads only the held-out split, which is carved from
the *training* data (``load_splits(...).heldout``, see :mod:`neuro_de.data.splits`); the
test set must never be passed, and :func:`greedy_soup` has no argument for it.

References:
    M. Wortsman, G. Ilharco, S. Y. Gadre, R. Roelofs, R. Gontijo-Lopes, A. S. Morcos,
    H. Namkoong, A. Farhadi, Y. Carmon, S. Kornblith, L. Schmidt, "Model soups: averaging
    weights of multiple fine-tuned models improves accuracy without increasing inference
    time", ICML 2022.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..problems.parameter_view import ParameterView
from .averaging import (
    PopulationLike,
    _check_batch_size,
    _check_vectors,
    _template_and_view,
    as_modules,
    average_state_dicts,
    has_batchnorm,
    recalibrate_bn,
    uniform_average,
)
from .ensemble import evaluate_classifier

__all__ = ["GreedySoupResult", "greedy_soup", "uniform_soup"]


def uniform_soup(
    population: PopulationLike,
    *,
    template: nn.Module | None = None,
    view: ParameterView | None = None,
    bn_loader: Any = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> nn.Module:
    r"""The uniform soup :math:`\frac{1}{m}\sum_{i=1}^{m}\theta_i` of the whole population.

    Parameters and floating buffers are averaged (module docstring). With ``bn_loader``
    the BatchNorm running statistics are then recomputed on it
    (:func:`~neuro_de.baselines.averaging.recalibrate_bn`); networks without BatchNorm
    ignore it.

    Args:
        population: A population-like input (see :mod:`neuro_de.baselines.averaging`).
        template: A network of the members' architecture (for genomes and state_dicts).
        view: The genomes' parameter view (for an ``(m, d)`` tensor).
        bn_loader: Training data to recalibrate BatchNorm statistics on, or ``None`` to
            keep the averaged ones.
        batch_size: Batch size when ``bn_loader`` is a ``Dataset``.
        device: Move the soup there (default: where the members are).

    Returns:
        A new network in eval mode; the inputs are not modified.
    """
    _check_batch_size(batch_size)
    soup = uniform_average(population, template=template, view=view)
    if device is not None:
        soup = soup.to(device)
    if bn_loader is not None:
        recalibrate_bn(soup, bn_loader, batch_size=batch_size, device=device)
    return soup.eval()


@dataclass
class GreedySoupResult:
    """What :func:`greedy_soup` returns.

    Attributes:
        model: The greedy soup, in eval mode.
        ingredients: Indices (into the population) of the chosen ingredients, in the order
            they were added; the first is the best single member.
        heldout_accuracy: Held-out accuracy (of ``metric``) of the final soup.
        individual_accuracies: Held-out accuracy of every member, by population index.
        order: Population indices sorted by decreasing held-out accuracy (ties keep the
            population order): the order in which ingredients were tried.
        history: One dict per tried ingredient after the first:
            ``{"index", "accuracy", "accepted"}`` with the candidate soup's accuracy.
    """

    model: nn.Module
    ingredients: list[int]
    heldout_accuracy: float
    individual_accuracies: list[float]
    order: list[int]
    history: list[dict[str, Any]] = field(default_factory=list)


def greedy_soup(
    population: PopulationLike,
    heldout: Any,
    *,
    template: nn.Module | None = None,
    view: ParameterView | None = None,
    accept_ties: bool = True,
    metric: str = "top1",
    bn_loader: Any = None,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
) -> GreedySoupResult:
    r"""Greedy soup (Wortsman et al. 2022, Recipe 1), selected on held-out data only.

    With :math:`a(\cdot)` the held-out accuracy and the members sorted so that
    :math:`a(\theta_{\pi_1}) \ge a(\theta_{\pi_2}) \ge \dots` (stable: ties keep the
    population order),

    .. math::
        S \leftarrow \{\pi_1\};\quad
        \text{for } j = 2..m:\ \text{if } a\big(\operatorname{avg}(S \cup \{\pi_j\})\big)
        \succeq a\big(\operatorname{avg}(S)\big) \text{ then } S \leftarrow S \cup \{\pi_j\},

    where :math:`\operatorname{avg}` is the uniform soup of the ingredients and
    :math:`\succeq` is ``>=`` when ``accept_ties`` (the default, as in the authors' code:
    an ingredient that leaves the accuracy unchanged is kept, which can only help on
    unseen data by averaging more models) or strict ``>`` otherwise (keep the soup as
    small as possible). Each accepted step never lowers the held-out accuracy, so the
    soup's held-out accuracy is at least that of the best single member.

    Buffers are averaged with the parameters; with ``bn_loader`` every candidate soup's
    BatchNorm statistics are recomputed on it before being scored (and the returned soup's
    too), so selection judges the network that is returned.

    Args:
        population: A population-like input (see :mod:`neuro_de.baselines.averaging`).
        heldout: The held-out data used for every selection decision: a ``Dataset`` of
            ``(input, label)`` pairs or a ``DataLoader``. It must come from the *training*
            data (``load_splits(...).heldout``), never from the test set.
        template: A network of the members' architecture (for genomes and state_dicts).
        view: The genomes' parameter view (for an ``(m, d)`` tensor).
        accept_ties: Keep an ingredient when the soup's accuracy stays equal (``>=``);
            ``False`` needs a strict improvement (``>``).
        metric: The accuracy compared: ``"top1"`` (default, as in the paper) or
            ``"top5"``.
        bn_loader: Training data to recompute BatchNorm statistics of each candidate on
            (``None``: keep averaged statistics). Ignored for networks without BatchNorm.
        batch_size: Batch size when ``heldout``/``bn_loader`` are ``Dataset`` s.
        device: Where soups are built and scored (default: where the members are).

    Returns:
        A :class:`GreedySoupResult` (soup, chosen ingredients, accuracies, history).

    Raises:
        ValueError: For an unknown ``metric`` or a non-positive ``batch_size``; and see
            :func:`~neuro_de.baselines.averaging.as_modules`.
    """
    if metric not in ("top1", "top5"):
        raise ValueError(f"`metric` must be 'top1' or 'top5', got {metric!r}.")
    if not isinstance(accept_ties, bool):
        raise TypeError(f"`accept_ties` must be True or False, got {accept_ties!r}.")
    _check_batch_size(batch_size)
    k = int(metric[3:])

    if isinstance(population, torch.Tensor):
        vectors = _check_vectors(population)
        template, view = _template_and_view(template, view, vectors)
        base = copy.deepcopy(template)
        if device is not None:
            base = base.to(device)

        def build(indices: list[int]) -> nn.Module:
            rows = vectors[indices]
            mean = (rows.sum(dim=0, dtype=torch.float64) / len(indices)).to(vectors.dtype)
            return view.load_into(copy.deepcopy(base), mean)

        m = int(vectors.shape[0])
    else:
        members = as_modules(population, template=template, view=view)
        states = [mem.state_dict() for mem in members]
        base = copy.deepcopy(members[0])
        if device is not None:
            base = base.to(device)

        def build(indices: list[int]) -> nn.Module:
            net = copy.deepcopy(base)
            net.load_state_dict(average_state_dicts([states[i] for i in indices]))
            return net

        m = len(members)

    recalibrate = bn_loader is not None and has_batchnorm(base)

    def score(indices: list[int]) -> tuple[nn.Module, float]:
        net = build(indices)
        if recalibrate:
            recalibrate_bn(net, bn_loader, batch_size=batch_size, device=device)
        acc = evaluate_classifier(net, heldout, topk=(k,), batch_size=batch_size, device=device)
        return net.eval(), float(acc[metric])

    individual: list[float] = []
    soup, best = None, float("-inf")
    for i in range(m):  # keep only the best single network (the first one on ties)
        net, acc = score([i])
        individual.append(acc)
        if acc > best:
            soup, best = net, acc
    order = sorted(range(m), key=lambda i: -individual[i])  # stable: ties keep input order
    chosen = [order[0]]
    history: list[dict[str, Any]] = []
    for i in order[1:]:
        candidate, acc = score(chosen + [i])
        accepted = acc >= best if accept_ties else acc > best
        history.append({"index": i, "accuracy": acc, "accepted": accepted})
        if accepted:
            chosen.append(i)
            soup, best = candidate, acc
    return GreedySoupResult(
        model=soup.eval(),
        ingredients=chosen,
        heldout_accuracy=best,
        individual_accuracies=individual,
        order=order,
        history=history,
    )
