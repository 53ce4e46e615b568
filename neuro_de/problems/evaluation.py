"""Tensor helpers for scoring networks: losses, accuracies, BatchNorm handling, inspection.

These functions know nothing of EvoTorch; :class:`~neuro_de.problems.SupervisedNetProblem`
composes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

__all__ = [
    "cross_entropy_and_accuracy",
    "per_sample_loss",
    "output_is_probability",
    "topk_correct",
    "functional_forward",
    "batchnorm_modules",
    "strip_batchnorm_running_stats_",
    "recalibrate_batchnorm_",
    "has_module_type",
    "choose_eval_mode",
    "autocast_context",
    "iterate_batches",
    "VMAP_UNFRIENDLY",
]

#: Module types for which ``eval_mode="auto"`` picks the in-place loop: on CPU, vmapped
#: convolutions become grouped convolutions (measured 2-3x slower than a loop for LeNet-5),
#: and recurrent layers run a per-timestep loop whose batching rules are slow or missing.
VMAP_UNFRIENDLY: tuple[type[nn.Module], ...] = (_ConvNd, nn.RNNBase, nn.MultiheadAttention)


def cross_entropy_and_accuracy(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mean cross-entropy and top-1 accuracy of (a stack of) logits on one minibatch.

    For logits :math:`z \in \mathbb{R}^{\dots \times B \times C}` and labels
    :math:`y \in \{0..C-1\}^B`,

    .. math::
        \ell = \frac{1}{B} \sum_{b=1}^{B} \Big(-z_{b, y_b} + \log \sum_{c} e^{z_{b,c}}\Big),
        \qquad
        a = \frac{1}{B} \sum_{b=1}^{B} [\arg\max_c z_{b,c} = y_b],

    computed in float32 whatever the dtype of ``logits`` (so bf16 autocast only changes the
    forward pass), for every leading index.

    Returns:
        ``(loss, accuracy)``, each of shape ``logits.shape[:-2]`` (scalars for 2-D logits).
    """
    logits = logits.float()
    if logits.ndim == 2:
        return F.cross_entropy(logits, labels), (logits.argmax(-1) == labels).float().mean()
    lead = logits.shape[:-2]
    batch, classes = logits.shape[-2:]
    per_sample = F.cross_entropy(
        logits.reshape(-1, classes), labels.expand(*lead, batch).reshape(-1), reduction="none"
    )
    loss = per_sample.view(*lead, batch).mean(-1)
    acc = (logits.argmax(-1) == labels).float().mean(-1)
    return loss, acc


def per_sample_loss(loss: Any, outputs: torch.Tensor, targets: Any) -> torch.Tensor:
    """The per-sample losses of a user loss on one batch, as a float32 ``(B,)`` tensor.

    ``loss(outputs, targets)`` must return one loss per sample: a tensor whose first
    dimension is the batch ``B = outputs.shape[0]``; any further dimensions are averaged
    (so ``F.mse_loss(outputs, targets, reduction="none")``, of shape ``(B, D)``, gives each
    sample's mean squared error, and the batch mean equals ``nn.MSELoss()``'s).

    Raises:
        TypeError: If ``loss`` returns something that is not a tensor.
        ValueError: If the result is a single number (an already reduced mean or sum) or
            its first dimension is not the batch.
    """
    out = loss(outputs, targets)
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"`loss` must return a tensor of per-sample losses, got {type(out).__name__}."
        )
    batch = int(outputs.shape[0])
    if out.ndim == 0 or int(out.shape[0]) != batch:
        hint = (
            " It returned one number, an already reduced loss: return one loss per sample "
            "(reduction='none', e.g. nn.MSELoss(reduction='none') or "
            "F.mse_loss(outputs, targets, reduction='none')); neuro_de averages them itself."
            if out.ndim == 0 else ""
        )
        raise ValueError(
            f"`loss` must return per-sample losses, a tensor of shape ({batch}, ...) for a "
            f"batch of {batch}; got shape {tuple(out.shape)}.{hint}"
        )
    return out.float().reshape(batch, -1).mean(1)


def output_is_probability(outputs: torch.Tensor, *, atol: float = 1e-4) -> bool:
    """Whether ``(B, C)`` outputs (``C >= 2``) look like probabilities, as ``nn.Softmax``
    gives: all entries in ``[0, 1]``, every row summing to 1 within ``atol``, and not all
    of them exactly 0 or 1 (one-hot rows are as likely to be logits)."""
    if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2 or outputs.shape[1] < 2:
        return False
    out = outputs.detach().float()
    if not bool(torch.isfinite(out).all()):
        return False
    in_range = bool(((out >= 0) & (out <= 1)).all())
    soft = bool(((out > 0) & (out < 1)).any())
    return in_range and soft and bool((out.sum(-1) - 1).abs().max() <= atol)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Iterable[int]) -> dict[int, int]:
    """Number of samples whose label is among the ``k`` largest logits, for each ``k``."""
    ks = list(ks)
    kmax = max(ks)
    top = logits.topk(kmax, dim=-1).indices  # (B, kmax), sorted by decreasing logit
    hit = top == labels.unsqueeze(-1)
    return {k: int(hit[:, :k].any(-1).sum()) for k in ks}


def functional_forward(
    module: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """``module(x)`` with the tensors in ``params`` in place of the module's own.

    A thin wrapper around :func:`torch.func.functional_call`, meant to be ``vmap``-ed over
    the leading (population) dimension of ``params``; unnamed tensors (excluded parameters
    and buffers) are taken from ``module`` itself and shared by all individuals.
    """
    return functional_call(module, dict(params), (x,))


def batchnorm_modules(module: nn.Module) -> list[_BatchNorm]:
    """All BatchNorm layers (1d/2d/3d, lazy and sync variants) of ``module``."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def strip_batchnorm_running_stats_(module: nn.Module) -> nn.Module:
    """Make every BatchNorm of ``module`` normalise with batch statistics, statelessly.

    Sets ``running_mean``, ``running_var`` and ``num_batches_tracked`` to ``None`` and
    ``track_running_stats`` to ``False``: PyTorch then normalises with the statistics of the
    current batch even in eval mode and has no buffer it could update (this is the trick of
    :func:`torch.func.replace_all_batch_norm_modules_`, which also makes BatchNorm usable
    under ``vmap``). Works in place on ``module``, which should be a private copy.
    """
    for bn in batchnorm_modules(module):
        bn.running_mean = None
        bn.running_var = None
        bn.num_batches_tracked = None
        bn.track_running_stats = False
    return module


@torch.no_grad()
def recalibrate_batchnorm_(
    module: nn.Module,
    batches: Iterable[torch.Tensor],
) -> nn.Module:
    r"""Recompute the running statistics of every BatchNorm of ``module`` (in place).

    As :func:`torch.optim.swa_utils.update_bn` (Izmailov et al., 2018, "Averaging Weights
    Leads to Wider Optima and Better Generalization"): statistics are reset, momentum is set
    to ``None`` (a cumulative average, :math:`\hat\mu = \frac{1}{N}\sum_j \mu_j` over the
    ``N`` batches), and the inputs are passed forward. Unlike ``update_bn``, only the
    BatchNorm layers are put in train mode (dropout and the rest stay in eval mode, so the
    statistics are those the eval-mode network will see). The module is left in eval mode.

    Args:
        module: The network to recalibrate; modified in place.
        batches: Input tensors (already on the module's device).

    Returns:
        ``module``.
    """
    bns = [bn for bn in batchnorm_modules(module) if bn.track_running_stats]
    module.eval()
    if not bns:
        return module
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    try:
        for x in batches:
            module(x)
    finally:
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
        module.eval()
    return module


def has_module_type(module: nn.Module, types: tuple[type[nn.Module], ...]) -> bool:
    """Whether any submodule of ``module`` (itself included) is an instance of ``types``."""
    return any(isinstance(m, types) for m in module.modules())


def choose_eval_mode(module: nn.Module) -> str:
    """The rule behind ``eval_mode="auto"``: ``"loop"`` for networks with convolutional,
    recurrent or attention layers (:data:`VMAP_UNFRIENDLY`), ``"vmap"`` otherwise (MLPs)."""
    return "loop" if has_module_type(module, VMAP_UNFRIENDLY) else "vmap"


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` on ``device`` with ``dtype``, or a no-op context when ``dtype`` is
    ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def iterate_batches(data: Any, *, batch_size: int) -> Iterator[tuple[Any, Any]]:
    """Yield ``(inputs, labels)`` minibatches from a ``Dataset`` (in order, not shuffled)
    or from any iterable of ``(inputs, labels, ...)`` batches such as a ``DataLoader``."""
    from torch.utils.data import DataLoader, Dataset

    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        data = DataLoader(data, batch_size=batch_size, shuffle=False)
    for batch in data:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                "Evaluation data must yield (inputs, labels) batches; got an item of type "
                f"{type(batch).__name__}. Pass a Dataset of (input, label) pairs or a DataLoader "
                "over one."
            )
        yield batch[0], batch[1]
