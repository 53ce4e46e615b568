r"""Prediction ensembles that average probabilities, and top-k evaluation of classifiers.

An ensemble of :math:`M` classifiers with logits :math:`z_j(x)` predicts the average of the
members' predictive distributions (Lakshminarayanan et al. 2017; Garipov et al. 2018,
Sec. 5),

.. math::
    \bar p(y \mid x) = \frac{1}{M} \sum_{j=1}^{M} \operatorname{softmax}(z_j(x))_y ,

which is *not* :math:`\operatorname{softmax}\big(\frac{1}{M}\sum_j z_j(x)\big)` (the softmax
of the mean logits): the two differ whenever the members disagree.

References:
    B. Lakshminarayanan, A. Pritzel, C. Blundell, "Simple and Scalable Predictive
    Uncertainty Estimation using Deep Ensembles", NeurIPS 2017.
    T. Garipov, P. Izmailov, D. Podoprikhin, D. Vetrov, A. G. Wilson, "Loss Surfaces, Mode
    Connectivity, and Fast Ensembling of DNNs", NeurIPS 2018.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..problems.evaluation import iterate_batches, topk_correct

__all__ = ["ProbabilityEnsemble", "evaluate_classifier", "evaluate_ensemble"]


class ProbabilityEnsemble(nn.Module):
    r"""An ensemble whose prediction is the mean of its members' softmax probabilities.

    :meth:`predict_proba` returns :math:`\bar p(\cdot \mid x)` (see the module docstring).
    :meth:`forward` returns :math:`\log \bar p(\cdot \mid x)`, computed stably as
    :math:`\operatorname{logsumexp}_j \log\operatorname{softmax}(z_j(x)) - \log M`. These
    log-probabilities can be used wherever logits are expected: since they already
    normalise, :math:`\log\operatorname{softmax}(\log \bar p) = \log \bar p`, so
    ``F.cross_entropy(ensemble(x), y)`` is the negative log-likelihood of the averaged
    distribution and ``argmax``/``topk`` rank classes by :math:`\bar p`.

    The members are kept as they are (not copied); the ensemble runs them in whatever mode
    they are in (call ``.eval()`` on the ensemble to put all of them in eval mode).

    Args:
        members: The classifiers, each mapping a batch to ``(batch, C)`` logits with one
            common ``C``.

    Raises:
        TypeError: If a member is not an ``nn.Module``.
        ValueError: If ``members`` is empty.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("`members` is empty; an ensemble needs at least one network.")
        for k, m in enumerate(members):
            if not isinstance(m, nn.Module):
                raise TypeError(
                    f"`members[{k}]` must be an nn.Module, got {type(m).__name__}; build the "
                    "networks first (e.g. Population.to_modules(template))."
                )
        self.members = nn.ModuleList(members)

    def __len__(self) -> int:
        return len(self.members)

    def member_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """``(M, batch, C)`` float32 log-softmax outputs of the members."""
        outs = []
        for k, member in enumerate(self.members):
            z = member(x)
            if z.ndim != 2:
                raise ValueError(
                    f"Member {k} returned shape {tuple(z.shape)}; ensemble members must return "
                    "(batch, num_classes) logits."
                )
            outs.append(F.log_softmax(z.float(), dim=-1))
        widths = {o.shape[-1] for o in outs}
        if len(widths) != 1:
            raise ValueError(f"Members disagree on the number of classes: {sorted(widths)}.")
        return torch.stack(outs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r"""Log of the mean member probability, :math:`\log \bar p(\cdot \mid x)`."""
        return torch.logsumexp(self.member_log_probs(x), dim=0) - math.log(len(self.members))

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        r"""Mean member probability :math:`\bar p(\cdot \mid x)`, shape ``(batch, C)``."""
        return self.member_log_probs(x).exp().mean(dim=0)


def _module_device(module: nn.Module) -> torch.device:
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def evaluate_classifier(
    module: nn.Module,
    data: Any,
    *,
    topk: Iterable[int] = (1, 5),
    batch_size: int = 1024,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    r"""Top-k accuracies and mean cross-entropy of a classifier on a whole data set.

    One pass over ``data`` under :func:`torch.inference_mode`, with ``module`` in eval mode
    (its mode is restored afterwards). Same quantities and keys as
    :meth:`~neuro_de.problems.SupervisedNetProblem.evaluate_vector`:

    .. math::
        \text{top-}k = \frac{1}{N}\sum_{n=1}^{N}[\,y_n \in \operatorname{top}_k(z(x_n))\,],
        \qquad
        \text{loss} = \frac{1}{N}\sum_{n=1}^{N} -\log\operatorname{softmax}(z(x_n))_{y_n}.

    Args:
        module: A network returning ``(batch, C)`` logits (or log-probabilities, e.g. a
            :class:`ProbabilityEnsemble`).
        data: A ``Dataset`` of ``(input, label)`` pairs (read in order) or any iterable of
            ``(inputs, labels)`` batches such as a ``DataLoader``.
        topk: The ``k`` values to report, each in ``[1, C]``.
        batch_size: Batch size when ``data`` is a ``Dataset``.
        device: Where inputs are sent (default: the device of the module's parameters).

    Returns:
        ``{"top1": ..., "top5": ..., "loss": ..., "num_samples": N}``, accuracies in
        ``[0, 1]``, one ``"top{k}"`` key per ``k``.

    Raises:
        ValueError: For an empty ``topk``, a ``k < 1`` or ``> C``, a non-positive
            ``batch_size`` or data that yields no samples.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be an nn.Module, got {type(module).__name__}.")
    ks = sorted({int(k) for k in topk})
    if not ks or ks[0] < 1:
        raise ValueError(f"`topk` must hold integers >= 1, got {tuple(topk)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    device = _module_device(module) if device is None else torch.device(device)
    was_training = module.training
    module.eval()
    correct = dict.fromkeys(ks, 0)
    total_loss, total = 0.0, 0
    try:
        with torch.inference_mode():
            for x, y in iterate_batches(data, batch_size=batch_size):
                x = torch.as_tensor(x).to(device)
                y = torch.as_tensor(y).to(device=device, dtype=torch.long)
                logits = module(x).float()
                if ks[-1] > logits.shape[-1]:
                    raise ValueError(
                        f"`topk` values must lie in [1, {logits.shape[-1]}] (the number of "
                        f"classes), got {tuple(topk)}."
                    )
                total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
                for k, c in topk_correct(logits, y, ks).items():
                    correct[k] += c
                total += int(y.numel())
    finally:
        module.train(was_training)
    if total == 0:
        raise ValueError("`data` yielded no samples; pass a non-empty data set or loader.")
    out: dict[str, float] = {f"top{k}": correct[k] / total for k in ks}
    out["loss"] = total_loss / total
    out["num_samples"] = total
    return out


def evaluate_ensemble(
    members: Sequence[nn.Module] | ProbabilityEnsemble,
    data: Any,
    *,
    topk: Iterable[int] = (1, 5),
    batch_size: int = 1024,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    r"""Top-k accuracies and NLL of the probability-averaging ensemble of ``members``.

    Ranks classes by :math:`\bar p(\cdot\mid x) = \frac{1}{M}\sum_j
    \operatorname{softmax}(z_j(x))` and reports :math:`\text{loss} = \frac{1}{N}\sum_n
    -\log \bar p(y_n \mid x_n)`; see :class:`ProbabilityEnsemble` and
    :func:`evaluate_classifier` (same arguments and keys).
    """
    ensemble = members if isinstance(members, ProbabilityEnsemble) else ProbabilityEnsemble(members)
    return evaluate_classifier(ensemble, data, topk=topk, batch_size=batch_size, device=device)
