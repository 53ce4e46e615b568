"""Backpropagation training that keeps the last epoch snapshots (Algorithm 1, stage 1).

The seed paper trains a network with backpropagation and takes the parameters after the
last ``m`` consecutive epochs as the initial population of differential evolution (Sec. 3,
Algorithm 1, ``GETS(θ, m)``). :func:`train_snapshots` does exactly that on a *copy* of the
user's network, reproducibly from one seed, optionally with mixup and label smoothing (the
Init-HP tricks of Sec. 3.3).

References:
    H. Zhang, M. Cisse, Y. N. Dauphin, D. Lopez-Paz. *mixup: Beyond Empirical Risk
    Minimization.* ICLR 2018.
    C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna. *Rethinking the Inception
    Architecture for Computer Vision.* CVPR 2016 (label smoothing).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from tqdm.auto import tqdm

from ..problems.checks import (
    check_class_labels,
    first_item,
    resolve_device,
    run_on_one_sample,
)
from ..problems.parameter_view import ParameterView
from .result import SnapshotResult

__all__ = ["OPTIMIZERS", "TrainConfig", "mixup_batch", "train_snapshots"]

#: Optimisers known by name. ``"adam"`` uses coupled L2 weight decay (``torch.optim.Adam``),
#: ``"adamw"`` decoupled weight decay (Loshchilov & Hutter 2019), ``"sgd"`` heavy-ball momentum.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

#: Learning rate used when ``lr=None``.
DEFAULT_LR: dict[str, float] = {"adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2}


@dataclass(frozen=True)
class TrainConfig:
    """The hyper-parameters of one backpropagation run (validated on construction).

    Attributes:
        epochs: Number of passes over the training set (> 0).
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (case-insensitive).
        lr: Learning rate (> 0); ``None`` picks :data:`DEFAULT_LR` for the optimiser.
        weight_decay: L2 penalty (>= 0) passed to the optimiser.
        momentum: SGD momentum in ``[0, 1)``; ignored by Adam/AdamW.
        batch_size: Minibatch size (> 0).
        label_smoothing: Label smoothing ``ε`` in ``[0, 1)`` (Szegedy et al. 2016).
        mixup_alpha: Mixup ``α >= 0``; ``0`` disables mixup (Zhang et al. 2018).
    """

    epochs: int
    optimizer: str = "adam"
    lr: float | None = None
    weight_decay: float = 0.0
    momentum: float = 0.9
    batch_size: int = 128
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("batch_size", self.batch_size, minimum=1)
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(
                f"Unknown `optimizer` {self.optimizer!r}; choose one of {sorted(OPTIMIZERS)}."
            )
        object.__setattr__(self, "optimizer", self.optimizer.lower())
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.optimizer])
        _check_float("lr", self.lr, "must be > 0 (e.g. lr=1e-3)", lambda v: v > 0)
        _check_float(
            "weight_decay", self.weight_decay, "must be >= 0 (0 disables it)", lambda v: v >= 0
        )
        _check_float("momentum", self.momentum, "must be in [0, 1)", lambda v: 0 <= v < 1)
        _check_float(
            "label_smoothing",
            self.label_smoothing,
            "must be in [0, 1) (0 disables it; 0.1 is usual)",
            lambda v: 0 <= v < 1,
        )
        _check_float(
            "mixup_alpha",
            self.mixup_alpha,
            "must be >= 0 (0 disables mixup; 0.2 is usual)",
            lambda v: v >= 0,
        )

    def as_dict(self) -> dict[str, Any]:
        """The configuration as a plain dict (what ends up in ``Population.meta``)."""
        return asdict(self)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")


def _check_float(name: str, value: Any, rule: str, ok) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"`{name}` must be a number, got {value!r}.")
    if not math.isfinite(float(value)) or not ok(float(value)):
        raise ValueError(f"`{name}` {rule}; got {value}.")


# ----------------------------------------------------------------------------- data
def _tensors_of(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(inputs, labels)`` if ``dataset`` is a (Subset of a) TensorDataset, else None."""
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) < 2:
            raise ValueError(
                "`train_set` is a TensorDataset with one tensor; it needs (inputs, labels)."
            )
        return dataset.tensors[0], dataset.tensors[1]
    if isinstance(dataset, Subset):
        inner = _tensors_of(dataset.dataset)
        if inner is None:
            return None
        idx = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        return inner[0][idx], inner[1][idx]
    return None


def _check_dataset(train_set: Dataset) -> int:
    if not isinstance(train_set, Dataset):
        raise TypeError(
            "`train_set` must be a torch Dataset of (input, label) pairs, e.g. "
            f"TensorDataset(x, y); got {type(train_set).__name__}."
        )
    try:
        n = len(train_set)  # type: ignore[arg-type]
    except TypeError as err:
        raise TypeError(
            "`train_set` must have a length (a map-style Dataset); iterable datasets are not "
            "supported."
        ) from err
    if n == 0:
        raise ValueError("`train_set` is empty; give a data set with at least one sample.")
    _check_labels(train_set)
    return n


def _check_labels(train_set: Dataset) -> None:
    """Refuse labels the cross-entropy cannot take (float, one-hot, negative) up front."""
    tensors = _tensors_of(train_set)
    if tensors is not None:
        labels, what = tensors[1], "`train_set`'s labels are"
    else:
        label = first_item(train_set, name="train_set")[1]
        labels, what = torch.as_tensor(label).reshape(1), "train_set[0]'s label is"
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"{what} {labels.dtype}, but training uses the cross-entropy of integer class "
            "indices; convert them with labels.long() (e.g. TensorDataset(x, y.long()))."
        )
    if labels.ndim != 1:
        raise ValueError(
            f"{what} of shape {tuple(labels.shape)}; training needs one integer class index "
            "per sample (not one-hot rows): use labels.argmax(1)."
        )
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(
            f"{what} as low as {int(labels.min())}; class indices must be >= 0 (drop "
            "unlabelled samples, e.g. label -1, before training)."
        )


def _check_model_fits(model: nn.Module, train_set: Dataset) -> None:
    """Run ``model`` (in eval mode, without gradients) on the first sample of ``train_set``
    and check the labels against its outputs, before any training step."""
    x0 = train_set[0][0]
    if not isinstance(x0, torch.Tensor):
        return  # the DataLoader's collation decides; nothing cheap to check here
    out = run_on_one_sample(model, x0, name="train_set")
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        return  # other output shapes: cross_entropy's own rules apply
    tensors = _tensors_of(train_set)
    labels = tensors[1] if tensors is not None else torch.as_tensor(train_set[0][1]).reshape(1)
    check_class_labels(labels, int(out.shape[1]), name="train_set")


class _Batches:
    """Seeded shuffled minibatches, fast for tensor data sets, a DataLoader otherwise."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,
        generator: torch.Generator,
        drop_last: bool,
        num_workers: int,
        pin_memory: bool,
    ):
        self.tensors = _tensors_of(dataset)
        self.batch_size = batch_size
        self.generator = generator
        self.drop_last = drop_last
        self.n = len(dataset)  # type: ignore[arg-type]
        self.loader = None
        if self.tensors is None:
            self.loader = DataLoader(
                dataset,
                batch_size=batch_size,
                shuffle=True,
                generator=generator,
                drop_last=drop_last,
                num_workers=num_workers,
                pin_memory=pin_memory,
            )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.loader is not None:
            for batch in self.loader:
                if not isinstance(batch, (list, tuple)) or len(batch) < 2:
                    raise ValueError(
                        "`train_set` items must be (input, label) pairs; the data loader gave "
                        f"a {type(batch).__name__}."
                    )
                yield batch[0], batch[1]
            return
        x, y = self.tensors  # type: ignore[misc]
        perm = torch.randperm(self.n, generator=self.generator)
        for start in range(0, self.n, self.batch_size):
            idx = perm[start : start + self.batch_size]
            if self.drop_last and idx.numel() < self.batch_size:
                break
            yield x[idx], y[idx]


# ---------------------------------------------------------------------------- mixup
def mixup_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float,
    generator: torch.Generator | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mix a minibatch with a permutation of itself (Zhang et al. 2018).

    ``λ ~ Beta(α, α)`` is drawn once for the batch (as in the authors' reference code),
    the partner of sample ``i`` is sample ``perm[i]`` of a random permutation, and the
    mixed input is ``λ x + (1 - λ) x[perm]``. The loss to minimise is then
    ``λ CE(f(x̃), y) + (1 - λ) CE(f(x̃), y[perm])``.

    Args:
        x: Floating-point inputs, batch first.
        y: Labels, batch first.
        alpha: Beta concentration ``α > 0``.
        generator: Torch CPU generator for the permutation (global RNG when ``None``).
        rng: NumPy generator for ``λ`` (torch's Beta sampler takes no generator);
            ``np.random.default_rng()`` when ``None``.

    Returns:
        ``(x_mixed, y, y[perm], λ)``.

    References:
        H. Zhang, M. Cisse, Y. N. Dauphin, D. Lopez-Paz. *mixup: Beyond Empirical Risk
        Minimization.* ICLR 2018.
    """
    if alpha <= 0:
        raise ValueError(f"`alpha` must be > 0 for mixup, got {alpha}.")
    if not torch.is_floating_point(x):
        raise TypeError(
            f"Mixup needs floating-point inputs, got dtype {x.dtype}; set mixup_alpha=0 for "
            "integer inputs such as token ids."
        )
    rng = rng if rng is not None else np.random.default_rng()
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    return lam * x + (1.0 - lam) * x[perm], y, y[perm], lam


# ------------------------------------------------------------------------- training
@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the global torch RNG (CPU, and ``device`` if CUDA) and restore it on exit.

    Stochastic layers (dropout) and default initialisers draw from the global RNG; seeding
    it inside :func:`torch.random.fork_rng` makes a run reproducible without changing the
    caller's RNG state.
    """
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


def _snapshot(module: nn.Module, view: ParameterView) -> tuple[torch.Tensor, dict, dict]:
    vector = view.to_vector(module).to("cpu", torch.float32).clone()
    buffers = {n: b.detach().to("cpu").clone() for n, b in module.named_buffers()}
    viewed = set(view.names)
    excluded = {
        n: p.detach().to("cpu").clone() for n, p in module.named_parameters() if n not in viewed
    }
    return vector, buffers, excluded


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _resolve_view(
    model: nn.Module, view: ParameterView | None, exclude: Iterable[str | type] | None
) -> ParameterView:
    if view is not None and exclude is not None:
        raise ValueError(
            "Give either `view` or `exclude`, not both: `exclude` only builds a view, and "
            "`view` already fixes the excluded parameters."
        )
    if view is None:
        return ParameterView(model, exclude=exclude)
    if not isinstance(view, ParameterView):
        raise TypeError(f"`view` must be a ParameterView, got {type(view).__name__}.")
    view.to_vector(model)  # raises a clear error if the architecture does not match
    return view


def train_snapshots(
    model: nn.Module,
    train_set: Dataset,
    *,
    epochs: int,
    keep_last: int,
    optimizer: str = "adam",
    lr: float | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    batch_size: int = 128,
    label_smoothing: float = 0.0,
    mixup_alpha: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    view: ParameterView | None = None,
    exclude: Iterable[str | type] | None = None,
    freeze_excluded: bool = False,
    drop_last: bool = False,
    num_workers: int = 0,
    run: int = 0,
) -> SnapshotResult:
    """Train a copy of ``model`` with backpropagation and keep the last epoch snapshots.

    This is stage 1 of Algorithm 1 of the seed paper (Sec. 3): the parameters after each of
    the last ``keep_last`` epochs form the initial population of DE. The user's ``model`` is
    never modified: a deep copy is trained.

    Training minimises the mean cross-entropy of each minibatch
    (``F.cross_entropy(..., label_smoothing=label_smoothing)``) with Adam, AdamW or SGD,
    optionally on mixup batches (:func:`mixup_batch`). Every trainable parameter of the
    network is trained (also those the view excludes, unless ``freeze_excluded``).

    Reproducibility: one ``seed`` fixes everything. A ``torch.Generator`` seeded with it
    shuffles the data and draws the mixup permutations, a ``numpy`` generator seeded with it
    draws mixup's ``λ``, and the global torch RNG (for dropout and other stochastic layers)
    is seeded with it inside :func:`torch.random.fork_rng`, so the caller's global RNG state
    is the same after the call as before. On the CPU the same seed gives bitwise identical
    snapshots; CUDA kernels may not be deterministic.

    Args:
        model: The network to train (not modified). It may already be trained: then this
            is fine-tuning, as the paper does for ImageNet.
        train_set: Map-style dataset of ``(input, label)`` pairs. ``TensorDataset`` (or a
            ``Subset`` of one) is batched by direct indexing (fast); anything else goes
            through a ``DataLoader``.
        epochs: Number of epochs (> 0).
        keep_last: Number of final epochs whose snapshots are kept (``1 <= keep_last <=
            epochs``); it is the population size ``m`` of the paper.
        optimizer: ``"adam"`` (default, as the paper's LeNet runs), ``"adamw"`` or ``"sgd"``.
        lr: Learning rate; ``None`` means 1e-3 for Adam/AdamW and 1e-2 for SGD.
        weight_decay: Weight decay (L2 penalty, coupled for Adam/SGD, decoupled for AdamW).
        momentum: SGD momentum (ignored by Adam/AdamW).
        batch_size: Minibatch size.
        label_smoothing: Label smoothing ``ε`` in ``[0, 1)`` (Szegedy et al. 2016).
        mixup_alpha: Mixup ``α``; 0 disables mixup (Zhang et al. 2018).
        seed: The run's seed.
        device: Where to train. Snapshots are stored on the CPU as float32.
        progress: Show a tqdm progress bar over the epochs.
        view: Parameter view defining the genome (default: every parameter, or the view
            built with ``exclude``). Use the same view as the EvoTorch problem.
        exclude: Parameters to leave out of the genome (see ``ParameterView``); not
            together with ``view``.
        freeze_excluded: Do not train the parameters outside the view, so every snapshot
            shares them with ``model`` and any member combines correctly with ``model``'s
            excluded layers. By default they are trained too, and each snapshot's excluded
            parameters are recorded in ``result.excluded``.
        drop_last: Drop the last incomplete minibatch of every epoch. Independently of
            this, a batch of a single sample is skipped when the network has BatchNorm
            layers (batch statistics of one sample are undefined).
        num_workers: ``DataLoader`` workers for non-tensor data sets.
        run: Run index recorded in ``meta`` (used by :func:`init_rs`/:func:`init_hp`).

    Returns:
        A :class:`SnapshotResult`: ``vectors`` of shape ``(keep_last, d)`` (row ``j`` after
        epoch ``epochs - keep_last + 1 + j``), the snapshots' ``buffers`` and ``excluded``
        parameters, ``meta`` per snapshot (``run``, ``seed``, ``epoch``, ``loss`` and the
        hyper-parameters), the trained ``model`` and the per-epoch ``loss_history``.

    Raises:
        ValueError: For a non-positive ``epochs``/``keep_last``/``batch_size``, ``keep_last
            > epochs``, an unknown optimiser, ``lr <= 0``, a negative weight decay,
            ``mixup_alpha < 0``, ``label_smoothing`` outside ``[0, 1)``, an empty data set,
            or a ``view`` of another architecture; for labels that are not integer class
            indices (float, one-hot or negative) or exceed the model's outputs; for a model
            that fails on the first sample (run once, in eval mode and without gradients,
            before any training step; the message names a dtype mismatch or a missing
            channel dimension); for a ``device`` that is not a device or is missing on this
            machine (e.g. ``"gpu"``, or ``"cuda"`` without a GPU).
        TypeError: For a ``model`` that is not an ``nn.Module`` or a bad ``train_set``.

    References:
        Seed paper, Sec. 3 and Algorithm 1 (population from the last BP epochs).
        H. Zhang et al. *mixup: Beyond Empirical Risk Minimization.* ICLR 2018.
        C. Szegedy et al. *Rethinking the Inception Architecture for Computer Vision.*
        CVPR 2016.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}.")
    config = TrainConfig(
        epochs=epochs,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        batch_size=batch_size,
        label_smoothing=label_smoothing,
        mixup_alpha=mixup_alpha,
    )
    _check_run_args(keep_last=keep_last, epochs=config.epochs, seed=seed, num_workers=num_workers)
    device = resolve_device(device)
    _check_dataset(train_set)
    view = _resolve_view(model, view, exclude)
    _check_model_fits(model, train_set)
    return _train_run(
        model,
        train_set,
        config,
        keep_last=keep_last,
        seed=seed,
        device=device,
        progress=progress,
        view=view,
        freeze_excluded=freeze_excluded,
        drop_last=drop_last,
        num_workers=num_workers,
        run=run,
    )


def _check_run_args(*, keep_last: int, epochs: int, seed: int, num_workers: int) -> None:
    _check_int("keep_last", keep_last, minimum=1)
    if keep_last > epochs:
        raise ValueError(
            f"`keep_last` ({keep_last}) must not exceed `epochs` ({epochs}): only one "
            "snapshot is taken per epoch. Train longer or keep fewer."
        )
    _check_int("seed", seed, minimum=0)
    _check_int("num_workers", num_workers, minimum=0)


def _train_run(
    model: nn.Module,
    train_set: Dataset,
    config: TrainConfig,
    *,
    keep_last: int,
    seed: int,
    device: torch.device,
    progress: bool,
    view: ParameterView,
    freeze_excluded: bool,
    drop_last: bool,
    num_workers: int,
    run: int,
) -> SnapshotResult:
    """One validated training run (no argument checks here; see :func:`train_snapshots`)."""
    with _seeded(seed, device):
        net = copy.deepcopy(model).to(device)
        net.train()
        viewed = set(view.names)
        params = [
            p
            for n, p in net.named_parameters()
            if p.requires_grad and (n in viewed or not freeze_excluded)
        ]
        if not params:
            raise ValueError(
                "`model` has no trainable parameter (all have requires_grad=False or are "
                "frozen by `freeze_excluded`)."
            )
        opt_cls = OPTIMIZERS[config.optimizer]
        opt_kwargs: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
        if config.optimizer == "sgd":
            opt_kwargs["momentum"] = config.momentum
        opt = opt_cls(params, **opt_kwargs)

        generator = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        batches = _Batches(
            train_set,
            batch_size=config.batch_size,
            generator=generator,
            drop_last=drop_last,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
        )
        skip_single = _has_batchnorm(net)
        first_kept = config.epochs - keep_last + 1
        vectors, buffers, excluded, meta, history = [], [], [], [], []
        base_meta = {"run": run, "seed": seed, **config.as_dict()}

        bar = tqdm(
            range(1, config.epochs + 1),
            desc=f"BP run {run} (seed {seed})",
            unit="epoch",
            disable=None if progress else True,  # None: off when stderr is not a terminal
            leave=False,
        )
        for epoch in bar:
            loss = _train_epoch(net, batches, opt, config, generator, rng, device, skip_single)
            history.append(loss)
            bar.set_postfix(loss=f"{loss:.4f}")
            if epoch >= first_kept:
                v, b, e = _snapshot(net, view)
                vectors.append(v)
                buffers.append(b)
                excluded.append(e)
                meta.append({**base_meta, "epoch": epoch, "loss": loss})
        bar.close()
    net.eval()
    return SnapshotResult(
        vectors=torch.stack(vectors),
        view=view,
        buffers=buffers,
        excluded=excluded if view.excluded else None,
        meta=meta,
        info={"method": "snapshots", "epochs": config.epochs, "keep_last": keep_last},
        model=net,
        loss_history=history,
    )


def _train_epoch(
    net: nn.Module,
    batches: _Batches,
    opt: torch.optim.Optimizer,
    config: TrainConfig,
    generator: torch.Generator,
    rng: np.random.Generator,
    device: torch.device,
    skip_single: bool,
) -> float:
    net.train()
    sums: list[torch.Tensor] = []  # per-batch loss sums, summed once per epoch (one sync)
    count = 0
    ls = config.label_smoothing
    for x, y in batches:
        n = int(x.shape[0])
        if skip_single and n < 2:
            continue
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if config.mixup_alpha > 0:
            x, y_a, y_b, lam = mixup_batch(
                x, y, alpha=config.mixup_alpha, generator=generator, rng=rng
            )
            out = net(x)
            loss = lam * F.cross_entropy(out, y_a, label_smoothing=ls) + (
                1.0 - lam
            ) * F.cross_entropy(out, y_b, label_smoothing=ls)
        else:
            loss = F.cross_entropy(net(x), y, label_smoothing=ls)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums.append(loss.detach() * n)
        count += n
    if count == 0:
        raise ValueError(
            "No minibatch was trained in an epoch: the data set is smaller than `batch_size` "
            "with drop_last=True, or it holds a single sample and the network has BatchNorm."
        )
    mean = float(torch.stack(sums).to("cpu", torch.float64).sum().item() / count)
    if not math.isfinite(mean):
        raise FloatingPointError(
            f"The training loss became {mean} (diverged); lower `lr` (now {config.lr})."
        )
    return mean
