r"""Fast Geometric Ensembling (Garipov et al. 2018, Sec. 5).

Starting from a trained network, FGE keeps training with a cyclical piecewise-linear
learning rate and collects one network per cycle, at the learning-rate minimum; the
ensemble averages the members' softmax probabilities.

With the cycle length :math:`c` (iterations, even), the learning rates
:math:`\alpha_1 \ge \alpha_2`, and iterations numbered :math:`i = 1, 2, \dots`
(paper, Sec. 5, Eq. for :math:`\alpha(i)`):

.. math::
    t(i) = \frac{((i-1) \bmod c) + 1}{c}, \qquad
    \alpha(i) = \begin{cases}
        (1 - 2t(i))\,\alpha_1 + 2t(i)\,\alpha_2 & 0 < t(i) \le \tfrac12, \\
        (2 - 2t(i))\,\alpha_2 + (2t(i) - 1)\,\alpha_1 & \tfrac12 < t(i) \le 1.
    \end{cases}

So within a cycle the rate falls linearly from :math:`\alpha_1` to :math:`\alpha_2`
(reached at :math:`t = 1/2`, iteration :math:`c/2` of the cycle) and climbs back to
:math:`\alpha_1` (reached at :math:`t = 1`, the cycle's last iteration). A member is
collected right after the iteration with :math:`t(i) = 1/2`, i.e. after iterations
:math:`i = kc - c/2` for cycles :math:`k = 1, 2, \dots` The authors' code requires an even
cycle length too (``assert args.cycle % 2 == 0``), otherwise :math:`t(i)` never equals
:math:`1/2`.

References:
    T. Garipov, P. Izmailov, D. Podoprikhin, D. Vetrov, A. G. Wilson, "Loss Surfaces, Mode
    Connectivity, and Fast Ensembling of DNNs", NeurIPS 2018.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..population.result import Population
from ..problems.parameter_view import ParameterView
from .averaging import (
    _check_batch_size,
    _check_int,
    _check_positive,
    _make_optimizer,
    _training_loader,
    _training_pair,
    has_batchnorm,
)
from .ensemble import ProbabilityEnsemble, evaluate_ensemble

__all__ = [
    "FGEResult",
    "fge_cycle_position",
    "fge_learning_rate",
    "fge_snapshot_iterations",
    "train_fge",
]


def _check_cycle_length(cycle_length: Any) -> int:
    _check_int("cycle_length", cycle_length, 2)
    if cycle_length % 2:
        raise ValueError(
            f"`cycle_length` must be even (got {cycle_length}): FGE collects a member where "
            "t(i) = 1/2, the middle of a cycle, which an odd length never reaches."
        )
    return cycle_length


def _check_alphas(alpha_1: Any, alpha_2: Any) -> tuple[float, float]:
    a1 = _check_positive("alpha_1", alpha_1)
    a2 = _check_positive("alpha_2", alpha_2, allow_zero=True)
    if a2 > a1:
        raise ValueError(
            f"`alpha_2` ({a2}) must not exceed `alpha_1` ({a1}): alpha_1 is the largest and "
            "alpha_2 the smallest learning rate of a cycle."
        )
    return a1, a2


def fge_cycle_position(i: int, *, cycle_length: int) -> float:
    r"""The position :math:`t(i) = (((i-1) \bmod c) + 1)/c \in (0, 1]` of iteration ``i``
    (counted from 1) in its cycle of ``cycle_length`` :math:`c` iterations."""
    _check_int("i", i, 1)
    _check_cycle_length(cycle_length)
    return (((i - 1) % cycle_length) + 1) / cycle_length


def fge_learning_rate(i: int, *, cycle_length: int, alpha_1: float, alpha_2: float) -> float:
    r"""The FGE learning rate :math:`\alpha(i)` of iteration ``i >= 1`` (module docstring).

    Args:
        i: Iteration number, counted from 1.
        cycle_length: Cycle length :math:`c` in iterations (even, >= 2).
        alpha_1: Largest learning rate :math:`\alpha_1 > 0` (cycle ends).
        alpha_2: Smallest learning rate :math:`0 \le \alpha_2 \le \alpha_1` (cycle middle).

    Returns:
        :math:`\alpha(i)`.

    Example:
        With :math:`c = 4`, :math:`\alpha_1 = 0.1`, :math:`\alpha_2 = 0.01`, iterations
        1..4 get 0.055, 0.01, 0.055, 0.1.
    """
    a1, a2 = _check_alphas(alpha_1, alpha_2)
    t = fge_cycle_position(i, cycle_length=cycle_length)
    if t <= 0.5:
        return (1.0 - 2.0 * t) * a1 + 2.0 * t * a2
    return (2.0 - 2.0 * t) * a2 + (2.0 * t - 1.0) * a1


def fge_snapshot_iterations(num_cycles: int, *, cycle_length: int) -> list[int]:
    r"""Iterations after which FGE collects a member: :math:`kc - c/2`, :math:`k = 1..K`
    (those with :math:`t(i) = 1/2`, where :math:`\alpha(i) = \alpha_2`)."""
    _check_int("num_cycles", num_cycles, 1)
    c = _check_cycle_length(cycle_length)
    return [k * c - c // 2 for k in range(1, num_cycles + 1)]


@dataclass
class FGEResult:
    """What :func:`train_fge` returns.

    Attributes:
        members: The collected networks (one per cycle, eval mode, each with the BatchNorm
            running statistics tracked during training at that moment, as in the
            authors' code).
        snapshot_iterations: The iteration after which each member was collected.
        lr_history: Learning rate :math:`\\alpha(i)` used at every iteration
            ``i = 1..cycles * cycle_length`` (index ``i - 1``).
        loss_history: Training loss of every iteration.
        final_model: The network after the last iteration (end of the last cycle).
    """

    members: list[nn.Module]
    snapshot_iterations: list[int]
    lr_history: list[float] = field(default_factory=list)
    loss_history: list[float] = field(default_factory=list)
    final_model: nn.Module | None = None

    def ensemble(self) -> ProbabilityEnsemble:
        """The members as a probability-averaging :class:`ProbabilityEnsemble`."""
        return ProbabilityEnsemble(self.members)

    def evaluate(
        self,
        data: Any,
        *,
        topk: Iterable[int] = (1, 5),
        batch_size: int = 1024,
        device: str | torch.device | None = None,
    ) -> dict[str, float]:
        """Top-k accuracies and NLL of the ensemble on ``data``
        (:func:`~neuro_de.baselines.ensemble.evaluate_ensemble`)."""
        return evaluate_ensemble(
            self.members, data, topk=topk, batch_size=batch_size, device=device
        )

    def to_population(self, view: ParameterView | None = None) -> Population:
        """The members as a :class:`~neuro_de.population.Population` of genomes of ``view``
        (default: every parameter), with their buffers and excluded parameters."""
        view = ParameterView(self.members[0]) if view is None else view
        viewed = set(view.names)
        return Population(
            vectors=torch.stack([view.to_vector(m).to("cpu", torch.float32) for m in self.members]),
            view=view,
            buffers=[
                {n: b.detach().to("cpu").clone() for n, b in m.named_buffers()}
                for m in self.members
            ],
            excluded=[
                {
                    n: p.detach().to("cpu").clone()
                    for n, p in m.named_parameters()
                    if n not in viewed
                }
                for m in self.members
            ]
            if view.excluded
            else None,
            meta=[{"iteration": i, "cycle": k + 1} for k, i in enumerate(self.snapshot_iterations)],
            info={"method": "fge"},
        )


def train_fge(
    model: nn.Module,
    loader: Any,
    *,
    cycles: int,
    cycle_length: int,
    alpha_1: float,
    alpha_2: float,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> FGEResult:
    r"""Fast Geometric Ensembling from a trained network (Garipov et al. 2018, Sec. 5).

    A copy of ``model`` is trained for ``cycles * cycle_length`` iterations (minibatch
    steps of mean cross-entropy; the data is re-read epoch after epoch as needed). Before
    iteration :math:`i` the learning rate is set to :math:`\alpha(i)`
    (:func:`fge_learning_rate`); right after each iteration with :math:`t(i) = 1/2`
    (:func:`fge_snapshot_iterations`) a copy of the network is collected. The optimiser
    starts with fresh state (the authors resume the pre-training optimiser's momentum;
    this function does not know it). Batches of a single sample are skipped, without
    counting as an iteration, for networks with BatchNorm. The user's ``model`` is not
    modified; the global torch RNG is seeded with ``seed`` inside
    :func:`torch.random.fork_rng`.

    Args:
        model: The trained network to start from (the paper starts FGE from a network
            trained with the usual budget, e.g. after ~80% of it).
        loader: Training data: a ``Dataset`` (shuffled per epoch, seeded, in batches of
            ``batch_size``) or a ``DataLoader``.
        cycles: Number of cycles :math:`K \ge 1` = number of members.
        cycle_length: Cycle length :math:`c` in iterations (even, >= 2; the paper uses
            2-4 epochs' worth of iterations).
        alpha_1: Largest learning rate :math:`\alpha_1`.
        alpha_2: Smallest learning rate :math:`\alpha_2 \le \alpha_1`.
        optimizer: ``"sgd"`` (as in the paper, with ``momentum``) or ``"adam"``.
        momentum: SGD momentum.
        weight_decay: L2 penalty passed to the optimiser.
        batch_size: Batch size when ``loader`` is a ``Dataset``.
        seed: Seed of the run.
        device: Where to train.

    Returns:
        An :class:`FGEResult`; ``result.ensemble()`` / ``result.evaluate(data)`` give the
        probability-averaging ensemble and its top-1/top-5 accuracy.

    Raises:
        ValueError: For an odd or < 2 ``cycle_length``, ``cycles < 1``, ``alpha_1 <= 0``,
            ``alpha_2 < 0`` or ``> alpha_1``, an unknown optimiser, or data without batches.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be an nn.Module, got {type(model).__name__}.")
    _check_int("cycles", cycles, 1)
    c = _check_cycle_length(cycle_length)
    a1, a2 = _check_alphas(alpha_1, alpha_2)
    momentum = _check_positive("momentum", momentum, allow_zero=True)
    weight_decay = _check_positive("weight_decay", weight_decay, allow_zero=True)
    _check_batch_size(batch_size)
    _check_int("seed", seed, 0)
    device = torch.device(device)
    total = cycles * c
    collect = set(fge_snapshot_iterations(cycles, cycle_length=c))

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        batches = _training_loader(loader, batch_size=batch_size, seed=seed)
        net = copy.deepcopy(model).to(device)
        net.train()
        opt = _make_optimizer(
            optimizer, net.parameters(), lr=a1, momentum=momentum, weight_decay=weight_decay
        )
        skip_single = has_batchnorm(net)
        members: list[nn.Module] = []
        taken: list[int] = []
        lrs: list[float] = []
        losses: list[float] = []
        i = 0
        while i < total:
            progressed = False
            for batch in batches:
                x, y = _training_pair(batch, device)
                if skip_single and x.shape[0] < 2:
                    continue
                progressed = True
                i += 1
                lr = fge_learning_rate(i, cycle_length=c, alpha_1=a1, alpha_2=a2)
                for group in opt.param_groups:
                    group["lr"] = lr
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lrs.append(lr)
                losses.append(float(loss.detach()))
                if i in collect:
                    opt.zero_grad(set_to_none=True)  # do not copy gradients into members
                    members.append(copy.deepcopy(net).eval())
                    taken.append(i)
                if i >= total:
                    break
            if not progressed:
                raise ValueError(
                    "The training data yielded no usable batch; pass a non-empty data set."
                )
    return FGEResult(
        members=members,
        snapshot_iterations=taken,
        lr_history=lrs,
        loss_history=losses,
        final_model=net.eval(),
    )
