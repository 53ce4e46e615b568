r"""Weight averaging (SWA-style) of a population, BatchNorm recalibration, SWA training.

The population is the one differential evolution starts from, given in any of these forms
(*population-like*):

* a :class:`~neuro_de.population.Population` (e.g. the
  :class:`~neuro_de.population.SnapshotResult` of :func:`~neuro_de.population.train_snapshots`,
  whose ``model`` is the default template), members rebuilt with their own buffers;
* an ``(m, d)`` tensor of flat genomes of a :class:`~neuro_de.problems.ParameterView`
  (``template`` required, ``view`` defaults to every parameter of the template); the
  parameters and buffers outside the genome are the template's, shared by all members;
* a sequence of ``nn.Module`` of one architecture;
* a sequence of ``state_dict`` mappings (``template`` required, to build the network).

The equal-weight average of :math:`m` members with parameters :math:`\theta_1..\theta_m` is

.. math::
    \bar\theta = \frac{1}{m} \sum_{i=1}^{m} \theta_i ,

computed entry by entry in float64 and cast back, so averaging identical members returns
them bit for bit. For genomes it is the mean of the rows of the ``(m, d)`` tensor, which is
the same as averaging the members' parameters (the entries outside the genome are shared).

The averaged weights come with averaged BatchNorm running statistics, which are *not* the
statistics of the averaged network's activations; SWA therefore recomputes them with one
pass over the training data (:func:`torch.optim.swa_utils.update_bn`; Izmailov et al.
2018, Sec. 3.2).

References:
    P. Izmailov, D. Podoprikhin, T. Garipov, D. Vetrov, A. G. Wilson, "Averaging Weights
    Leads to Wider Optima and Better Generalization", UAI 2018.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ..population.result import Population
from ..problems.evaluation import batchnorm_modules
from ..problems.parameter_view import ParameterView

__all__ = [
    "PopulationLike",
    "SWAResult",
    "as_modules",
    "average_state_dicts",
    "average_vectors",
    "has_batchnorm",
    "recalibrate_bn",
    "train_swa",
    "uniform_average",
    "weight_average",
]

#: Any of the accepted forms of a population (see the module docstring).
PopulationLike = (
    Population | torch.Tensor | Sequence[nn.Module] | Sequence[Mapping[str, torch.Tensor]]
)

_SWA_OPTIMIZERS = ("sgd", "adam")


# --------------------------------------------------------------------------- population
def as_modules(
    population: PopulationLike,
    *,
    template: nn.Module | None = None,
    view: ParameterView | None = None,
) -> list[nn.Module]:
    """The members of a population-like input as networks.

    Modules given directly are returned as they are (not copied); every other form is
    rebuilt into deep copies of ``template``, which is never modified.

    Args:
        population: A population-like input (see the module docstring).
        template: A network of the members' architecture. Required for genomes and
            state_dicts; for a :class:`~neuro_de.population.Population` it defaults to its
            ``model`` attribute (a :class:`~neuro_de.population.SnapshotResult` has one).
        view: The parameter view of the genomes (only for an ``(m, d)`` tensor; default:
            every parameter of ``template``). A ``Population`` carries its own view.

    Returns:
        A list of ``m >= 1`` modules.

    Raises:
        TypeError: For an unsupported input type or a ``template`` that is not a module.
        ValueError: For an empty population, a tensor that is not ``(m, d)`` with ``d``
            the view's length, a missing template, or a ``view`` given with a
            ``Population`` whose own view differs.
    """
    if template is not None and not isinstance(template, nn.Module):
        raise TypeError(f"`template` must be an nn.Module, got {type(template).__name__}.")
    if view is not None and not isinstance(view, ParameterView):
        raise TypeError(f"`view` must be a ParameterView, got {type(view).__name__}.")
    if isinstance(population, Population):
        if template is None:
            template = getattr(population, "model", None)
        if template is None:
            raise ValueError(
                "This Population has no `model`; pass `template=` (a network of its "
                "architecture) to rebuild its members."
            )
        if view is not None and population.view is not None and view.names != population.view.names:
            raise ValueError(
                "`view` differs from the Population's own view; leave `view` out, the "
                "Population knows which parameters its genomes hold."
            )
        return population.to_modules(template)
    if isinstance(population, torch.Tensor):
        vectors = _check_vectors(population)
        template, view = _template_and_view(template, view, vectors)
        modules = []
        for row in vectors:
            module = copy.deepcopy(template)
            view.load_into(module, row)
            modules.append(module)
        return modules
    if isinstance(population, (nn.Module, Mapping)) or not isinstance(population, Sequence):
        raise TypeError(
            "`population` must be a Population, an (m, d) tensor of genomes, or a list of "
            f"modules or state_dicts; got {type(population).__name__}."
        )
    members = list(population)
    if not members:
        raise ValueError("`population` is empty; give at least one member.")
    if all(isinstance(m, nn.Module) for m in members):
        return members
    if all(isinstance(m, Mapping) for m in members):
        if template is None:
            raise ValueError(
                "A list of state_dicts needs `template=` (a network of their architecture) "
                "to be turned into networks."
            )
        modules = []
        for sd in members:
            module = copy.deepcopy(template)
            module.load_state_dict(sd)
            modules.append(module)
        return modules
    kinds = sorted({type(m).__name__ for m in members})
    raise TypeError(
        f"`population` lists must hold only nn.Module or only state_dict mappings, got {kinds}."
    )


def _check_vectors(vectors: torch.Tensor) -> torch.Tensor:
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ValueError(
            "A tensor `population` must be 2-D (m, d) with m >= 1 genomes as rows, got shape "
            f"{tuple(vectors.shape)}."
        )
    if not vectors.is_floating_point():
        raise TypeError(f"Genomes must be floating point, got dtype {vectors.dtype}.")
    return vectors


def _template_and_view(
    template: nn.Module | None, view: ParameterView | None, vectors: torch.Tensor
) -> tuple[nn.Module, ParameterView]:
    if template is None:
        raise ValueError(
            "An (m, d) tensor of genomes needs `template=` (the network the genomes are "
            "loaded into) and, unless it holds every parameter, `view=`."
        )
    view = ParameterView(template) if view is None else view
    if vectors.shape[1] != view.numel:
        raise ValueError(
            f"The genomes have {vectors.shape[1]} values but the view holds {view.numel}; pass "
            "the ParameterView the population was built with as `view=`."
        )
    view.to_vector(template)  # raises a clear error if the template is another architecture
    return template, view


# ----------------------------------------------------------------------------- averaging
def average_vectors(vectors: torch.Tensor) -> torch.Tensor:
    r"""Row mean :math:`\frac{1}{m}\sum_i v_i` of an ``(m, d)`` tensor, accumulated in
    float64 and returned in the input dtype."""
    vectors = _check_vectors(vectors)
    return (vectors.sum(dim=0, dtype=torch.float64) / vectors.shape[0]).to(vectors.dtype)


@torch.no_grad()
def average_state_dicts(
    state_dicts: Sequence[Mapping[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    r"""Entry-wise equal-weight mean of state_dicts (Wortsman et al. 2022's uniform soup).

    Every floating-point entry -- parameters *and* floating buffers such as BatchNorm
    ``running_mean``/``running_var`` -- becomes :math:`\frac{1}{m}\sum_i s_i[k]`, summed in
    float64 and cast back to the entry's dtype (exact for identical inputs). Integer
    entries (BatchNorm ``num_batches_tracked``) cannot be averaged meaningfully and are
    taken from the first state_dict.

    Args:
        state_dicts: ``m >= 1`` mappings with the same keys and shapes.

    Returns:
        A new dict on the device of the first state_dict.

    Raises:
        ValueError: If the list is empty or the keys or shapes differ.
    """
    sds = list(state_dicts)
    if not sds:
        raise ValueError("`state_dicts` is empty; give at least one.")
    first = sds[0]
    for k, sd in enumerate(sds[1:], start=1):
        if set(sd) != set(first):
            diff = sorted(set(sd) ^ set(first))
            raise ValueError(
                f"state_dict {k} has different keys than state_dict 0 ({diff[:5]}); all "
                "members must share one architecture."
            )
    out: dict[str, torch.Tensor] = {}
    for key, ref in first.items():
        if not torch.is_floating_point(ref):
            out[key] = ref.detach().clone()
            continue
        acc = torch.zeros(ref.shape, dtype=torch.float64, device=ref.device)
        for k, sd in enumerate(sds):
            t = sd[key]
            if t.shape != ref.shape:
                raise ValueError(
                    f"Entry {key!r} has shape {tuple(t.shape)} in state_dict {k} but "
                    f"{tuple(ref.shape)} in state_dict 0; all members must share one "
                    "architecture."
                )
            acc += t.detach().to(ref.device, torch.float64)
        out[key] = (acc / len(sds)).to(ref.dtype)
    return out


@torch.no_grad()
def uniform_average(
    population: PopulationLike,
    *,
    template: nn.Module | None = None,
    view: ParameterView | None = None,
) -> nn.Module:
    """A new network holding the equal-weight average of the population (no recalibration).

    For an ``(m, d)`` tensor the genomes are averaged (:func:`average_vectors`) and loaded
    into a copy of ``template``, whose other parameters and buffers are kept. For every
    other form the members' full state_dicts are averaged (:func:`average_state_dicts`:
    parameters and floating buffers, so BatchNorm running statistics are *averaged*, not
    recomputed) and loaded into a copy of the first member. Nothing given is modified. The
    result is in eval mode.

    Args:
        population: A population-like input (module docstring).
        template: See :func:`as_modules`.
        view: See :func:`as_modules`.
    """
    if isinstance(population, torch.Tensor):
        vectors = _check_vectors(population)
        template, view = _template_and_view(template, view, vectors)
        module = copy.deepcopy(template)
        view.load_into(module, average_vectors(vectors))
        return module.eval()
    members = as_modules(population, template=template, view=view)
    module = copy.deepcopy(members[0])
    module.load_state_dict(average_state_dicts([m.state_dict() for m in members]))
    return module.eval()


# ------------------------------------------------------------------------------- BatchNorm
def has_batchnorm(module: nn.Module) -> bool:
    """Whether ``module`` has a BatchNorm layer that keeps running statistics."""
    return any(bn.track_running_stats for bn in batchnorm_modules(module))


def _as_loader(data: Any, *, batch_size: int, name: str) -> Iterable[Any]:
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        if len(data) == 0:  # type: ignore[arg-type]
            raise ValueError(f"`{name}` is empty; pass the training data.")
        return DataLoader(data, batch_size=batch_size, shuffle=False)
    if isinstance(data, (torch.Tensor, str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(
            f"`{name}` must be a Dataset of (input, label) pairs or a DataLoader over one, got "
            f"{type(data).__name__}."
        )
    return data


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")


def recalibrate_bn(
    model: nn.Module,
    train_loader: Any,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> nn.Module:
    r"""Recompute BatchNorm running statistics with :func:`torch.optim.swa_utils.update_bn`.

    One pass over ``train_loader`` with the whole network in train mode and every BatchNorm
    momentum set to ``None``, so each layer stores the cumulative average of the per-batch
    statistics, :math:`\hat\mu = \frac{1}{B}\sum_b \mu_b` and
    :math:`\hat\sigma^2 = \frac{1}{B}\sum_b \sigma_b^2` (unbiased batch variances) over the
    :math:`B` batches (Izmailov et al. 2018). As in ``update_bn``, dropout is active during
    the pass (unlike :func:`~neuro_de.problems.evaluation.recalibrate_batchnorm_`, which
    keeps non-BN layers in eval mode). A network without BatchNorm is returned untouched:
    no data is read. Works in place; the model is left in eval mode.

    Args:
        model: The network (modified in place).
        train_loader: Training data: a ``Dataset`` (read in order in batches of
            ``batch_size``) or an iterable of ``(inputs, labels)`` batches or input tensors.
            Never the test set.
        batch_size: Batch size when ``train_loader`` is a ``Dataset``.
        device: Where inputs are sent (default: the model's device).

    Returns:
        ``model``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be an nn.Module, got {type(model).__name__}.")
    _check_batch_size(batch_size)
    if not has_batchnorm(model):
        return model.eval()
    loader = _as_loader(train_loader, batch_size=batch_size, name="train_loader")
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    update_bn(loader, model, device=torch.device(device))
    return model.eval()


def weight_average(
    population: PopulationLike,
    *,
    template: nn.Module | None = None,
    view: ParameterView | None = None,
    train_loader: Any = None,
    recalibrate: bool = True,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> nn.Module:
    r"""SWA-style weight average of a population: equal-weight mean, then BN recalibration.

    :math:`\bar\theta = \frac{1}{m}\sum_i \theta_i` (:func:`uniform_average`), followed,
    when the network has BatchNorm layers, by :func:`recalibrate_bn` on the training data
    (Izmailov et al. 2018): the averaged running statistics of the members are replaced by
    the statistics of the averaged network's activations. **Networks without BatchNorm
    skip the recalibration** (``train_loader`` may then be omitted and is not read).

    Args:
        population: A population-like input (module docstring), e.g. the
            ``SnapshotResult`` of :func:`~neuro_de.population.train_snapshots`.
        template: See :func:`as_modules`.
        view: See :func:`as_modules`.
        train_loader: Training data for the recalibration (``load_splits(...).train``
            or a ``DataLoader`` over it); required when the network has BatchNorm and
            ``recalibrate`` is true.
        recalibrate: Set ``False`` to keep the averaged running statistics.
        batch_size: Batch size when ``train_loader`` is a ``Dataset``.
        device: Move the averaged network there (default: where the members are).

    Returns:
        A new network in eval mode; the inputs are not modified.

    Raises:
        ValueError: If the network has BatchNorm, ``recalibrate`` is true and no
            ``train_loader`` is given; and see :func:`as_modules`.
    """
    _check_batch_size(batch_size)
    module = uniform_average(population, template=template, view=view)
    if device is not None:
        module = module.to(device)
    if recalibrate and has_batchnorm(module):
        if train_loader is None:
            raise ValueError(
                "The network has BatchNorm layers, whose averaged running statistics must be "
                "recomputed: pass `train_loader=` (the training data, e.g. "
                "load_splits(...).train), or recalibrate=False to keep the averaged ones."
            )
        recalibrate_bn(module, train_loader, batch_size=batch_size, device=device)
    return module.eval()


# ------------------------------------------------------------------------- SWA training
@dataclass
class SWAResult:
    """What :func:`train_swa` returns.

    Attributes:
        model: The SWA network: the average of the SWA-phase iterates with recalibrated
            BatchNorm statistics, in eval mode.
        base_model: The last SGD/Adam iterate (the network that was trained), eval mode.
        n_averaged: Number of iterates averaged (``epochs - swa_start``).
        lr_history: Learning rate of every epoch (the first parameter group's).
        loss_history: Mean training loss of every epoch.
    """

    model: nn.Module
    base_model: nn.Module
    n_averaged: int
    lr_history: list[float] = field(default_factory=list)
    loss_history: list[float] = field(default_factory=list)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.")
    return value


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number, got {value!r}.")
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not ok:
        raise ValueError(f"`{name}` must be {'>= 0' if allow_zero else '> 0'}, got {value}.")
    return value


def _training_loader(data: Any, *, batch_size: int, seed: int) -> Iterable[Any]:
    """A seeded shuffled DataLoader for a Dataset; any other iterable is used as is."""
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        if len(data) == 0:  # type: ignore[arg-type]
            raise ValueError("The training data set is empty.")
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator)
    if isinstance(data, (torch.Tensor, str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(
            "The training data must be a Dataset of (input, label) pairs or a DataLoader over "
            f"one, got {type(data).__name__}."
        )
    return data


def _make_optimizer(
    name: str, params: Iterable[torch.Tensor], *, lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    if not isinstance(name, str) or name.lower() not in _SWA_OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {_SWA_OPTIMIZERS}, got {name!r}.")
    if name.lower() == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _training_pair(batch: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, integer labels)`` of a training batch on ``device``, or a clear error."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError(
            "Training data must yield (inputs, labels) batches; got an item of type "
            f"{type(batch).__name__}."
        )
    x = torch.as_tensor(batch[0]).to(device)
    y = torch.as_tensor(batch[1]).to(device=device, dtype=torch.long)
    return x, y


def _train_batches(
    net: nn.Module,
    batches: Iterable[Any],
    opt: torch.optim.Optimizer,
    device: torch.device,
    skip_single: bool,
) -> float:
    """One pass of cross-entropy training; returns the mean loss over the samples seen."""
    net.train()
    total, count = 0.0, 0
    for batch in batches:
        x, y = _training_pair(batch, device)
        if skip_single and x.shape[0] < 2:
            continue
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * int(x.shape[0])
        count += int(x.shape[0])
    if count == 0:
        raise ValueError("The training data yielded no usable batch in an epoch.")
    mean = total / count
    if not math.isfinite(mean):
        raise FloatingPointError(f"The training loss became {mean} (diverged); lower the lr.")
    return mean


def train_swa(
    model: nn.Module,
    loader: Any,
    *,
    epochs: int,
    swa_start: int,
    swa_lr: float,
    lr: float,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    anneal_epochs: int = 1,
    anneal_strategy: str = "cos",
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
    bn_loader: Any = None,
) -> SWAResult:
    r"""Train a copy of ``model`` with Stochastic Weight Averaging (Izmailov et al. 2018).

    Schedule, with epochs numbered :math:`1..E` (``E = epochs``, ``s = swa_start``):

    * epochs :math:`1..s`: ordinary training at the constant learning rate ``lr``;
    * epochs :math:`s+1..E` (the SWA phase): :class:`torch.optim.swa_utils.SWALR` moves the
      learning rate from ``lr`` to ``swa_lr`` over the first ``anneal_epochs`` SWA epochs
      (``"cos"`` or ``"linear"``; the scheduler steps at the start of each SWA epoch, so
      with ``anneal_epochs=1`` every SWA epoch runs at ``swa_lr``), and at the end of every
      SWA epoch the weights are folded into the running equal-weight average of
      :class:`~torch.optim.swa_utils.AveragedModel`,
      :math:`\theta_{\text{SWA}} \leftarrow \frac{n\,\theta_{\text{SWA}} + \theta}{n+1}`;
    * finally :func:`~torch.optim.swa_utils.update_bn` recomputes the averaged network's
      BatchNorm statistics on ``bn_loader`` (default: the training data, in order); skipped
      for networks without BatchNorm.

    The loss is the mean cross-entropy. The user's ``model`` is not modified. The global
    torch RNG is seeded with ``seed`` inside :func:`torch.random.fork_rng` (dropout and the
    shuffling of a ``Dataset``), so the caller's RNG state is unchanged.

    Args:
        model: The network to train (possibly pretrained).
        loader: Training data: a ``Dataset`` of ``(input, label)`` pairs (shuffled each
            epoch, seeded, in batches of ``batch_size``) or a ``DataLoader``.
        epochs: Total epochs :math:`E \ge 1`.
        swa_start: Epochs of ordinary training before the SWA phase,
            :math:`0 \le s < E`.
        swa_lr: Learning rate of the SWA phase (> 0).
        lr: Learning rate before it (> 0).
        optimizer: ``"sgd"`` (heavy-ball ``momentum``) or ``"adam"``.
        momentum: SGD momentum (ignored by Adam).
        weight_decay: L2 penalty passed to the optimiser.
        anneal_epochs: SWALR annealing epochs (>= 0).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        batch_size: Batch size when ``loader`` is a ``Dataset``.
        seed: Seed of the run.
        device: Where to train.
        bn_loader: Data for the final BatchNorm recalibration (default: ``loader``; a
            ``Dataset`` is read in order).

    Returns:
        A :class:`SWAResult`.

    Raises:
        ValueError: For ``epochs < 1``, ``swa_start`` outside ``[0, epochs)``, non-positive
            learning rates, a negative ``weight_decay``/``anneal_epochs``, an unknown
            ``optimizer``/``anneal_strategy``.

    References:
        P. Izmailov et al., "Averaging Weights Leads to Wider Optima and Better
        Generalization", UAI 2018.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be an nn.Module, got {type(model).__name__}.")
    _check_int("epochs", epochs, 1)
    _check_int("swa_start", swa_start, 0)
    if swa_start >= epochs:
        raise ValueError(
            f"`swa_start` ({swa_start}) must be < `epochs` ({epochs}) so that at least one "
            "epoch is averaged."
        )
    swa_lr = _check_positive("swa_lr", swa_lr)
    lr = _check_positive("lr", lr)
    momentum = _check_positive("momentum", momentum, allow_zero=True)
    weight_decay = _check_positive("weight_decay", weight_decay, allow_zero=True)
    _check_int("anneal_epochs", anneal_epochs, 0)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"`anneal_strategy` must be 'cos' or 'linear', got {anneal_strategy!r}.")
    _check_batch_size(batch_size)
    _check_int("seed", seed, 0)
    device = torch.device(device)

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        batches = _training_loader(loader, batch_size=batch_size, seed=seed)
        net = copy.deepcopy(model).to(device)
        opt = _make_optimizer(
            optimizer, net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
        )
        averaged = AveragedModel(net)
        swa_scheduler = SWALR(
            opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=anneal_strategy
        )
        skip_single = has_batchnorm(net)
        lrs, losses = [], []
        for epoch in range(1, epochs + 1):
            in_swa = epoch > swa_start
            if in_swa:
                with warnings.catch_warnings():  # stepping before the epoch is intended here
                    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler")
                    swa_scheduler.step()
            lrs.append(float(opt.param_groups[0]["lr"]))
            losses.append(_train_batches(net, batches, opt, device, skip_single))
            if in_swa:
                averaged.update_parameters(net)
    swa_net = averaged.module
    if has_batchnorm(swa_net):
        bn_data = loader if bn_loader is None else bn_loader
        recalibrate_bn(swa_net, bn_data, batch_size=batch_size, device=device)
    return SWAResult(
        model=swa_net.eval(),
        base_model=net.eval(),
        n_averaged=int(averaged.n_averaged.item()),
        lr_history=lrs,
        loss_history=losses,
    )
