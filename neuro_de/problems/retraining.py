r"""NE-SGD's retraining of a decoded network with two learning rates (Eqs. 4-6).

After decoding a code :math:`k` (Eq. 1, :meth:`~neuro_de.models.blocks.BlockPartition.decode`),
the **whole** network is retrained with SGD to a new minimum :math:`\beta`:

.. math::
    P^\beta = g\big(P_1^\alpha, P_3^{\alpha+1}, \eta_0, \eta_1\big)
    \quad \text{s.t.} \quad \eta_0 - \eta_1 < 0,

where :math:`P_1^\alpha` are the kept blocks (:math:`k_i = 1`), trained at :math:`\eta_0`, and
:math:`P_3^{\alpha+1}` the re-initialised blocks (:math:`k_i = 0`), trained at the larger
:math:`\eta_1` (the reading of Eq. 5 in the specification, A.3). :func:`retrain` does this
with ``torch.optim.SGD`` in two parameter groups (one when the code is all ones or all
zeros), heavy-ball momentum, coupled weight decay and a per-step cosine (or constant)
schedule from each group's own rate. :func:`score` measures the fitness, the top-1
accuracy (and mean cross-entropy) on held-out data.

References:
    H. Zhang, K. Hao, L. Gao, B. Wei, X. Tang. *Optimizing Deep Neural Networks through
    Neuroevolution with Stochastic Gradient Descent.* arXiv:2012.11184, 2020.
    I. Loshchilov, F. Hutter. *SGDR: Stochastic Gradient Descent with Warm Restarts.*
    ICLR 2017 (the cosine schedule).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..models.blocks import BlockPartition, InitFn, _check_seed, seeded_rng
from .batching import dataset_labels, fetch_samples
from .checks import check_class_labels, first_item, resolve_device, run_on_one_sample

__all__ = [
    "RetrainConfig", "RetrainResult", "check_rates", "retrain", "score", "train_epochs",
    "SCHEDULES",
]

#: Learning-rate schedules of :func:`retrain`.
SCHEDULES = ("cosine", "constant")


def check_rates(eta0: float, eta1: float, *, allow_equal_rates: bool = False) -> None:
    r"""Refuse learning rates that break Eq. (5), :math:`\eta_0 < \eta_1`.

    Args:
        eta0: Rate of the kept blocks.
        eta1: Rate of the re-initialised blocks.
        allow_equal_rates: Accept :math:`\eta_0 = \eta_1` (one rate for the whole network,
            an ablation); :math:`\eta_0 > \eta_1` is refused regardless.

    Raises:
        ValueError: Naming both values and the fix.
    """
    for name, value in (("eta0", eta0), ("eta1", eta1)):
        _check_float(name, value, "must be a learning rate > 0", lambda v: v > 0)
    if eta0 > eta1 or (eta0 == eta1 and not allow_equal_rates):
        extra = (
            " (allow_equal_rates=True accepts eta0 == eta1, never eta0 > eta1)"
            if eta0 > eta1
            else "; pass allow_equal_rates=True to train every block at one rate"
        )
        raise ValueError(
            f"NE-SGD needs eta0 < eta1 (Eq. 5: the kept blocks train slower than the "
            f"re-initialised ones), got eta0={eta0} and eta1={eta1}{extra}. The usual choice "
            f"is eta1 = the pretraining rate and eta0 = 0.1 * eta1 (e.g. eta0={0.1 * eta1:g})."
        )


def _check_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")
    return int(value)


def _check_float(name: str, value: Any, rule: str, ok) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"`{name}` must be a number, got {value!r}.")
    if not math.isfinite(float(value)) or not ok(float(value)):
        raise ValueError(f"`{name}` {rule}; got {value}.")
    return float(value)


@dataclass(frozen=True)
class RetrainConfig:
    r"""The hyper-parameters of one retraining :math:`g` (validated on construction).

    Attributes:
        epochs: Passes over the training data (>= 1).
        eta0: Learning rate of the kept blocks (> 0).
        eta1: Learning rate of the re-initialised blocks (> ``eta0``).
        momentum: SGD momentum in ``[0, 1)`` (0.9, as in kuangliu/pytorch-cifar).
        weight_decay: Coupled L2 weight decay >= 0 (5e-4, Table I).
        batch_size: Minibatch size >= 1 (128, Table I).
        schedule: ``"cosine"`` (per step, from each group's rate towards 0) or
            ``"constant"``.
        allow_equal_rates: Accept ``eta0 == eta1`` (see :func:`check_rates`).
    """

    epochs: int
    eta0: float
    eta1: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    schedule: str = "cosine"
    allow_equal_rates: bool = False

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("batch_size", self.batch_size, minimum=1)
        check_rates(self.eta0, self.eta1, allow_equal_rates=bool(self.allow_equal_rates))
        _check_float("momentum", self.momentum, "must be in [0, 1)", lambda v: 0 <= v < 1)
        _check_float(
            "weight_decay", self.weight_decay, "must be >= 0 (0 disables it)", lambda v: v >= 0
        )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {self.schedule!r}.")

    def as_dict(self) -> dict[str, Any]:
        """The configuration as a plain dict."""
        return asdict(self)


@dataclass
class RetrainResult:
    """What :func:`retrain` returns.

    Attributes:
        model: The retrained network :math:`P^\\beta`, on the training device, in eval mode.
        loss_history: Mean training cross-entropy of every epoch.
        param_groups: One summary per optimiser parameter group, in the optimiser's order
            (kept first): ``{"role": "kept" | "reinitialised", "lr": base rate,
            "blocks": [block names], "params": [parameter names], "numel": int}``.
        code: The code as a tuple of 0/1.
        seed: The seed of the run.
        seconds: Wall-clock time of decoding and training.
    """

    model: nn.Module
    loss_history: list[float]
    param_groups: list[dict[str, Any]]
    code: tuple[int, ...] = ()
    seed: int = 0
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------- data
def check_dataset(data: Any, *, name: str) -> int:
    """The length of a labelled map-style data set, or a clear error (empty, no length,
    float / one-hot / negative labels)."""
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise TypeError(
            f"`{name}` must be a map-style torch Dataset of (input, label) pairs, e.g. "
            f"TensorDataset(x, y); got {type(data).__name__}."
        )
    n = len(data)
    if n == 0:
        raise ValueError(f"`{name}` has zero samples; give a data set with at least one sample.")
    labels = dataset_labels(data)
    if labels is None:
        labels = torch.as_tensor(first_item(data, name=name)[1]).reshape(1)
    else:
        first_item(data, name=name)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"`{name}`'s labels are {labels.dtype}, but retraining uses the cross-entropy of "
            "integer class indices; convert them with labels.long()."
        )
    if labels.ndim != 1:
        raise ValueError(
            f"`{name}`'s labels have shape {tuple(labels.shape)}; give one integer class index "
            "per sample (not one-hot rows): use labels.argmax(1)."
        )
    return n


def check_model_fits(model: nn.Module, data: Any, *, name: str) -> int:
    """Run ``model`` (eval mode, no gradients, modes restored) on ``data[0]``, check that it
    returns ``(1, C)`` logits and that the labels lie in ``[0, C)``; return ``C``."""
    x0, _ = first_item(data, name=name)
    out = run_on_one_sample(model, x0, name=name)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"`model` must return (batch, num_classes) logits; on one sample of `{name}` it "
            f"returned {shape}."
        )
    labels = dataset_labels(data)
    if labels is None:
        labels = torch.as_tensor(data[0][1]).reshape(1)
    check_class_labels(labels, int(out.shape[1]), name=name)
    return int(out.shape[1])


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


# --------------------------------------------------------------------- training
def _lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * step / total))


def retrain(
    model: nn.Module,
    code: Any,
    partition: BlockPartition,
    train_set: Dataset,
    *,
    epochs: int,
    eta0: float,
    eta1: float,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    batch_size: int = 128,
    schedule: str = "cosine",
    seed: int = 0,
    device: str | torch.device = "cpu",
    allow_equal_rates: bool = False,
    init_fn: InitFn | None = None,
) -> RetrainResult:
    r"""Decode ``code`` and retrain the whole network with two learning rates (Eq. 6).

    The network is decoded with :meth:`BlockPartition.decode` (a copy; ``model`` is never
    touched), then every trainable parameter is trained with ``torch.optim.SGD`` and the
    cross-entropy loss, in two parameter groups: the blocks with bit 1 at ``eta0`` and the
    blocks with bit 0 at ``eta1`` (a single group when the code is all ones or all zeros).
    With ``schedule="cosine"`` the rate of a group at step :math:`t` of
    :math:`T = \text{epochs} \times \text{batches per epoch}` is
    :math:`\eta\,\tfrac12\big(1 + \cos(\pi t / T)\big)`, from the group's own :math:`\eta`.
    Buffers (BatchNorm statistics) are updated by the forward passes in train mode; on a
    BatchNorm network a last minibatch of one sample is skipped.

    **Reproducibility.** The data order comes from a ``torch.Generator`` seeded with
    ``seed``; the re-initialisation and every other draw (dropout) happen inside
    :func:`torch.random.fork_rng` seeded with ``seed``, so the same arguments give bitwise
    identical weights on the CPU, and the caller's RNG state is unchanged.

    Args:
        model: The trained network :math:`P^\alpha`.
        code: One bit per block (see :meth:`BlockPartition.parse_code`).
        partition: The blocks of ``model``.
        train_set: Labelled map-style data set (``TensorDataset`` or a ``Subset`` of one is
            gathered fast; others item by item).
        epochs: Passes over ``train_set`` (>= 1).
        eta0: Rate of the kept blocks (> 0).
        eta1: Rate of the re-initialised blocks (> ``eta0``).
        momentum: SGD momentum.
        weight_decay: Coupled L2 weight decay (applied to every parameter).
        batch_size: Minibatch size.
        schedule: ``"cosine"`` or ``"constant"``.
        seed: Seed (integer >= 0) of the re-initialisation, the data order and dropout.
        device: Training device.
        allow_equal_rates: Accept ``eta0 == eta1``.
        init_fn: Optional re-initialiser (see :meth:`BlockPartition.decode`).

    Returns:
        A :class:`RetrainResult`; ``param_groups`` records the optimiser's groups by
        parameter name.

    Raises:
        ValueError: ``eta0 >= eta1`` (both named), non-positive rates, ``epochs`` or
            ``batch_size`` < 1, an unknown schedule, an empty or badly labelled
            ``train_set``, a bad code, a partition of another model, a model that does not
            fit the data.
        FloatingPointError: If the training loss becomes non-finite.
    """
    config = RetrainConfig(
        epochs=epochs,
        eta0=eta0,
        eta1=eta1,
        momentum=momentum,
        weight_decay=weight_decay,
        batch_size=batch_size,
        schedule=schedule,
        allow_equal_rates=allow_equal_rates,
    )
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(partition, BlockPartition):
        raise TypeError(
            f"`partition` must be a BlockPartition, got {type(partition).__name__}; build one "
            "with BlockPartition.for_model(model)."
        )
    seed = _check_seed(seed)
    device = resolve_device(device)
    bits = partition.parse_code(code)
    partition.check_model(model)
    partition.check_resettable(init_fn=init_fn)
    check_dataset(train_set, name="train_set")
    check_model_fits(model, train_set, name="train_set")
    return run_retraining(
        model, bits, partition, train_set, config, seed=seed, device=device, init_fn=init_fn
    )


def run_retraining(
    model: nn.Module,
    bits: Sequence[int],
    partition: BlockPartition,
    train_set: Dataset,
    config: RetrainConfig,
    *,
    seed: int,
    device: torch.device,
    init_fn: InitFn | None = None,
) -> RetrainResult:
    """:func:`retrain` without the argument checks (for callers that checked once)."""
    start = time.perf_counter()
    bits = tuple(int(b) for b in bits)
    net = partition.decode(model, bits, init_fn=init_fn, seed=seed)
    with seeded_rng(seed, [device]):
        net = net.to(device)
        net.train()
        named = dict(net.named_parameters())
        groups: list[dict[str, Any]] = []
        summary: list[dict[str, Any]] = []
        for role, bit, lr in (("kept", 1, config.eta0), ("reinitialised", 0, config.eta1)):
            blocks = [b for b, k in zip(partition.names, bits, strict=True) if k == bit]
            names = [p for b in blocks for p in partition.parameters(b) if named[p].requires_grad]
            if not names:
                continue
            groups.append({"params": [named[p] for p in names], "lr": lr, "base_lr": lr})
            numel = sum(int(named[p].numel()) for p in names)
            summary.append(
                {"role": role, "lr": lr, "blocks": blocks, "params": names, "numel": numel}
            )
        if not groups:
            raise ValueError(
                "`model` has no trainable parameter (all have requires_grad=False); nothing "
                "to retrain."
            )
        opt = torch.optim.SGD(
            groups, lr=groups[0]["lr"], momentum=config.momentum, weight_decay=config.weight_decay
        )
        with torch.enable_grad():  # also when called under no_grad (EvoTorch's step is)
            history = _train(net, opt, train_set, config, seed=seed, device=device)
    net.eval()
    return RetrainResult(
        model=net,
        loss_history=history,
        param_groups=summary,
        code=bits,
        seed=seed,
        seconds=time.perf_counter() - start,
        config=config.as_dict(),
    )


def _train(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    train_set: Dataset,
    config: RetrainConfig,
    *,
    seed: int,
    device: torch.device,
) -> list[float]:
    history = train_epochs(
        net, opt, train_set, epochs=config.epochs, batch_size=config.batch_size,
        generator=torch.Generator().manual_seed(seed), device=device,
        rate=lambda epoch, step, total: _lr_factor(config.schedule, step, total),
    )
    for mean in history:
        if not math.isfinite(mean):
            raise FloatingPointError(
                f"The retraining loss became {mean} (diverged); lower the rates (eta0="
                f"{config.eta0}, eta1={config.eta1})."
            )
    return history


def train_epochs(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_set: Dataset,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    device: str | torch.device = "cpu",
    rate: Callable[[int, int, int], float] | None = None,
) -> list[float]:
    r"""Train ``net`` for ``epochs`` passes over ``train_set`` with ``optimizer`` and the
    cross-entropy loss; the one training loop of NE-SGD's retraining, the Lamarckian
    evaluations and the training of their checkpoints to completion.

    Every epoch visits the samples in a new order, ``torch.randperm`` from ``generator``,
    in mini-batches of ``batch_size`` (the last one smaller); on a network with BatchNorm a
    last mini-batch of one sample is skipped (BatchNorm cannot train on it). With ``rate``,
    before every step each parameter group's learning rate is set to its rate at the start
    times ``rate(epoch, step, total_steps)`` (steps counted from 0 over the whole run), e.g.
    :math:`\tfrac12(1 + \cos(\pi t / T))` for a cosine schedule, or the rate itself for an
    optimizer made with ``lr=1``. ``net`` is left in eval mode.

    Args:
        net: The network, on ``device``.
        optimizer: Its optimizer (a fresh one, or one carried over).
        train_set: Labelled map-style data set.
        epochs: Passes over ``train_set`` (>= 1).
        batch_size: Mini-batch size (>= 1).
        generator: Source of the data orders (seed it for a reproducible run).
        device: Where the mini-batches go.
        rate: Optional schedule ``(epoch, step, total_steps) -> multiplier``.

    Returns:
        The mean training loss of every epoch (per sample, accumulated in float64).

    Raises:
        ValueError: When BatchNorm leaves no mini-batch to train on (a single sample).
    """
    _check_int("epochs", epochs, minimum=1)
    _check_int("batch_size", batch_size, minimum=1)
    n = len(train_set)  # type: ignore[arg-type]
    skip_single = _has_batchnorm(net)
    tail = n % batch_size
    per_epoch = n // batch_size + (1 if tail > (1 if skip_single else 0) else 0)
    if per_epoch == 0:
        raise ValueError(
            "`train_set` holds a single sample and the network has BatchNorm, which cannot "
            "train on a batch of one; give more training data."
        )
    total = epochs * per_epoch
    bases = [group["lr"] for group in optimizer.param_groups]
    history: list[float] = []
    step = 0
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=generator)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        count = 0
        for begin in range(0, n, batch_size):
            idx = perm[begin : begin + batch_size]
            if skip_single and idx.numel() < 2:
                continue
            if rate is not None:
                factor = rate(epoch, step, total)
                for group, base in zip(optimizer.param_groups, bases, strict=True):
                    group["lr"] = base * factor
            x, y = fetch_samples(train_set, idx)
            x = x.to(device, non_blocking=True)
            y = torch.as_tensor(y).to(device=device, dtype=torch.long, non_blocking=True)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().to(torch.float64) * idx.numel()
            count += idx.numel()
            step += 1
        history.append(float(loss_sum.item()) / count)
    net.eval()
    return history


# ---------------------------------------------------------------------- scoring
def score(
    model: nn.Module,
    data: Dataset,
    *,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy of ``model`` on ``data`` (in order, eval mode,
    under :func:`torch.inference_mode`; the model's modes are restored).

    Args:
        model: A classifier returning ``(batch, C)`` logits.
        data: A labelled map-style data set (the held-out split, never the test set during
            a search).
        batch_size: Samples per forward pass.
        device: Where to run; ``None``: the device of the model's first parameter.

    Returns:
        ``(accuracy, loss)`` as Python floats; accuracy is ``correct / len(data)``.
    """
    n = check_dataset(data, name="data")
    _check_int("batch_size", batch_size, minimum=1)
    if device is None:
        param = next(iter(model.parameters()), None)
        dev = param.device if param is not None else torch.device("cpu")
    else:
        dev = resolve_device(device)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    correct = 0
    loss_sum = torch.zeros((), dtype=torch.float64)
    try:
        with torch.inference_mode():
            for begin in range(0, n, batch_size):
                idx = torch.arange(begin, min(begin + batch_size, n))
                x, y = fetch_samples(data, idx)
                x = x.to(dev)
                y = torch.as_tensor(y).to(device=dev, dtype=torch.long)
                out = model(x).float()
                loss_sum += F.cross_entropy(out, y, reduction="sum").to("cpu", torch.float64)
                correct += int((out.argmax(-1) == y).sum().item())
    finally:
        for module, training in modes:
            module.train(training)
    return correct / n, float(loss_sum.item()) / n
