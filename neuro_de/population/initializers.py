"""Init-RS and Init-HP: populations from several backpropagation runs (seed paper, Sec. 3.3).

Both make the initial population more diverse than consecutive epoch snapshots: Init-RS
repeats one training recipe with different random seeds, Init-HP trains with different
hyper-parameters (learning rate, weight decay, mixup, label smoothing). Each run contributes
its final network.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..problems.checks import resolve_device
from ..problems.parameter_view import ParameterView
from .backprop import (
    TrainConfig,
    _check_dataset,
    _check_int,
    _check_model_fits,
    _check_run_args,
    _resolve_view,
    _train_run,
)
from .result import Population

__all__ = ["HP_KEYS", "default_hp_configs", "init_hp", "init_rs"]

ModelSource = nn.Module | Callable[[int], nn.Module]

#: Keys an Init-HP configuration may set (the fields of :class:`TrainConfig`).
HP_KEYS: tuple[str, ...] = (
    "epochs",
    "optimizer",
    "lr",
    "weight_decay",
    "momentum",
    "batch_size",
    "label_smoothing",
    "mixup_alpha",
)


def default_hp_configs(m: int, *, lr: float, weight_decay: float = 0.0) -> list[dict[str, float]]:
    """The default Init-HP grid: ``m`` configurations, most distinct first.

    The grid is the full factorial of

    - ``lr``: ``lr``, ``lr / 2``, ``2 lr``;
    - ``weight_decay``: ``weight_decay`` and ``10 * weight_decay`` (``1e-4`` if it is 0);
    - ``mixup_alpha``: 0 (off) and 0.2 (Zhang et al. 2018);
    - ``label_smoothing``: 0 (off) and 0.1 (Szegedy et al. 2016);

    i.e. 24 configurations, ordered by how many settings differ from the base
    configuration (``lr``, ``weight_decay``, no mixup, no smoothing), ties in the order the
    factors and their values are listed. So the first is the base, the next five change one
    thing each (lr/2, 2lr, weight decay, mixup, smoothing), then the nine pairs (lr/2 with
    weight decay, 2lr with weight decay, lr/2 with mixup, ...), and so on. For ``m > 24``
    the list repeats (members then still differ by seed).

    Args:
        m: Number of configurations (>= 1).
        lr: Base learning rate (> 0).
        weight_decay: Base weight decay (>= 0).

    Returns:
        ``m`` dicts with keys ``lr``, ``weight_decay``, ``mixup_alpha``, ``label_smoothing``.
    """
    _check_int("m", m, minimum=1)
    TrainConfig(epochs=1, lr=lr, weight_decay=weight_decay)  # validates lr and weight_decay
    alt_wd = 10.0 * weight_decay if weight_decay > 0 else 1e-4
    levels = (
        (lr, lr / 2, lr * 2),
        (weight_decay, alt_wd),
        (0.0, 0.2),
        (0.0, 0.1),
    )
    keys = ("lr", "weight_decay", "mixup_alpha", "label_smoothing")
    configs = []
    for k in range(len(levels) + 1):  # number of settings that differ from the base
        for changed in itertools.combinations(range(len(levels)), k):
            alternatives = [levels[f][1:] for f in changed]
            for values in itertools.product(*alternatives):
                config = {key: levels[f][0] for f, key in enumerate(keys)}
                for f, value in zip(changed, values, strict=True):
                    config[keys[f]] = value
                configs.append(config)
    return [dict(configs[i % len(configs)]) for i in range(m)]


def _check_model_source(model: Any) -> None:
    if not (isinstance(model, nn.Module) or callable(model)):
        raise TypeError(
            "`model` must be an nn.Module (every run starts from it) or a callable "
            f"model_fn(seed) -> nn.Module (a fresh network per run), got {type(model).__name__}."
        )


def _build(model: ModelSource, seed: int) -> nn.Module:
    """The run's starting network: the module itself, or ``model_fn(seed)`` under that seed."""
    if isinstance(model, nn.Module):
        return model  # train_snapshots trains a deep copy
    with torch.random.fork_rng(devices=[]):
        # seeds the default initialisers even if model_fn ignores `seed`
        torch.random.default_generator.manual_seed(seed)
        net = model(seed)
    if not isinstance(net, nn.Module):
        raise TypeError(f"`model_fn(seed)` must return an nn.Module, got {type(net).__name__}.")
    return net


def _check_seeds(seeds: Sequence[int] | None, m: int, seed: int) -> list[int]:
    if seeds is None:
        _check_int("seed", seed, minimum=0)
        return [seed + i for i in range(m)]
    seeds = list(seeds)
    if len(seeds) != m:
        raise ValueError(f"`seeds` has {len(seeds)} entries but m={m}; give one seed per run.")
    for s in seeds:
        _check_int("seeds[i]", s, minimum=0)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must be distinct (got {seeds}); runs would be identical.")
    return seeds


def _run_all(
    model: ModelSource,
    train_set: Dataset,
    configs: list[TrainConfig],
    seeds: list[int],
    *,
    method: str,
    device: str | torch.device,
    progress: bool,
    view: ParameterView | None,
    exclude: Iterable[str | type] | None,
    freeze_excluded: bool,
    drop_last: bool,
    num_workers: int,
) -> Population:
    dev = resolve_device(device)
    vectors, buffers, excluded, meta = [], [], [], []
    first = _build(model, seeds[0])
    view = _resolve_view(first, view, exclude)
    _check_model_fits(first, train_set)
    if not isinstance(model, nn.Module) and view.excluded:
        warnings.warn(
            f"{method} with a model_fn and a view that excludes {list(view.excluded)}: each run "
            "has its own (differently initialised) excluded parameters, so a genome only "
            "matches its own run's excluded layers. They are kept in `Population.excluded` "
            "(used by to_modules); an EvoTorch problem built on one template uses that "
            "template's instead.",
            UserWarning,
            stacklevel=3,
        )
    bar = tqdm(total=len(seeds), desc=method, unit="run",
               disable=None if progress else True)  # None: off when stderr is not a terminal
    for run, (config, seed) in enumerate(zip(configs, seeds, strict=True)):
        net = first if run == 0 else _build(model, seed)
        result = _train_run(
            net,
            train_set,
            config,
            keep_last=1,
            seed=seed,
            device=dev,
            progress=progress,
            view=view,
            freeze_excluded=freeze_excluded,
            drop_last=drop_last,
            num_workers=num_workers,
            run=run,
        )
        vectors.append(result.vectors[-1])
        buffers.append(result.buffers[-1])  # type: ignore[index]
        if result.excluded is not None:
            excluded.append(result.excluded[-1])
        meta.append({**result.meta[-1], "loss_history": list(result.loss_history)})
        bar.update(1)
        bar.set_postfix(loss=f"{result.loss_history[-1]:.4f}")
    bar.close()
    return Population(
        vectors=torch.stack(vectors),
        view=view,
        buffers=buffers,
        excluded=excluded or None,
        meta=meta,
        info={"method": method, "seeds": list(seeds), "configs": [c.as_dict() for c in configs]},
    )


def init_rs(
    model: ModelSource,
    train_set: Dataset,
    *,
    m: int,
    epochs: int,
    seeds: Sequence[int] | None = None,
    seed: int = 0,
    optimizer: str = "adam",
    lr: float | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    batch_size: int = 128,
    label_smoothing: float = 0.0,
    mixup_alpha: float = 0.0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    view: ParameterView | None = None,
    exclude: Iterable[str | type] | None = None,
    freeze_excluded: bool = False,
    drop_last: bool = False,
    num_workers: int = 0,
) -> Population:
    """Init-RS: ``m`` backpropagation runs that differ only by their random seed.

    Seed paper, Sec. 3.3 ("different random seeds (Init-RS)"). Each run trains with the
    same recipe (see :func:`~neuro_de.population.train_snapshots`, whose options these
    are) and contributes its final network. Two ways to start a run:

    - ``model`` is an ``nn.Module`` (e.g. a pre-trained network): every run fine-tunes a
      copy of it; the seed changes the data order, mixup draws and dropout masks;
    - ``model`` is a callable ``model_fn(seed) -> nn.Module``: every run trains a freshly
      initialised network; ``model_fn`` is called with the run's seed and with the global
      torch RNG seeded by it, so default initialisers are reproducible too.

    Args:
        model: The starting module, or ``model_fn(seed)``.
        train_set: Dataset of ``(input, label)`` pairs.
        m: Number of runs = population size (>= 1).
        epochs: Epochs per run.
        seeds: One distinct seed per run; default ``seed, seed + 1, ..., seed + m - 1``.
        seed: First seed when ``seeds`` is not given.
        optimizer, lr, weight_decay, momentum, batch_size, label_smoothing: As in
            :func:`~neuro_de.population.train_snapshots`.
        mixup_alpha, device, progress, view, exclude, freeze_excluded, drop_last: As there.
        num_workers: As there.

    Returns:
        A :class:`Population` of shape ``(m, d)``; ``meta[i]`` holds the run's ``seed``,
        hyper-parameters, final ``loss`` and ``loss_history``.

    Raises:
        ValueError: For ``m < 1``, ``seeds`` of the wrong length or repeated, or any bad
            training option (see :func:`~neuro_de.population.train_snapshots`).

    References:
        Seed paper, Sec. 3.3 (Init-RS) and Table 2.
    """
    _check_int("m", m, minimum=1)
    _check_model_source(model)
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
    seeds = _check_seeds(seeds, m, seed)
    _check_run_args(keep_last=1, epochs=config.epochs, seed=seeds[0], num_workers=num_workers)
    _check_dataset(train_set)
    return _run_all(
        model,
        train_set,
        [config] * m,
        seeds,
        method="init-rs",
        device=device,
        progress=progress,
        view=view,
        exclude=exclude,
        freeze_excluded=freeze_excluded,
        drop_last=drop_last,
        num_workers=num_workers,
    )


def init_hp(
    model: ModelSource,
    train_set: Dataset,
    *,
    epochs: int,
    configs: Sequence[Mapping[str, Any]] | None = None,
    m: int | None = None,
    seeds: Sequence[int] | None = None,
    seed: int = 0,
    optimizer: str = "adam",
    lr: float | None = None,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    batch_size: int = 128,
    label_smoothing: float = 0.0,
    mixup_alpha: float = 0.0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    view: ParameterView | None = None,
    exclude: Iterable[str | type] | None = None,
    freeze_excluded: bool = False,
    drop_last: bool = False,
    num_workers: int = 0,
) -> Population:
    """Init-HP: ``m`` backpropagation runs with different hyper-parameters.

    Seed paper, Sec. 3.3: the population comes from runs with distinct learning rates and
    weight decays, with and without mixup (Zhang et al. 2018) and label smoothing
    (Szegedy et al. 2016). Each run contributes its final network. Run ``i`` uses the
    keyword defaults of this function overridden by ``configs[i]`` and seed ``seeds[i]``
    (default ``seed + i``), and starts like in :func:`init_rs` (fine-tunes a copy of a
    module, or trains ``model_fn(seed)``).

    Args:
        model: The starting module, or ``model_fn(seed)``.
        train_set: Dataset of ``(input, label)`` pairs.
        epochs: Epochs per run (a config may override it).
        configs: One mapping per run with any of :data:`HP_KEYS` (``lr``,
            ``weight_decay``, ``mixup_alpha``, ``label_smoothing``, ``optimizer``,
            ``momentum``, ``batch_size``, ``epochs``). ``None``: the first ``m`` entries of
            :func:`default_hp_configs` around ``lr`` and ``weight_decay``.
        m: Population size; required when ``configs`` is None, otherwise it must equal
            ``len(configs)`` if given.
        seeds: One distinct seed per run; default ``seed + i``.
        seed: First seed when ``seeds`` is not given.
        optimizer, lr, weight_decay, momentum, batch_size, label_smoothing, mixup_alpha:
            Defaults of every run (``lr=None``: the optimiser's default, see
            :data:`~neuro_de.population.backprop.DEFAULT_LR`).
        device, progress, view, exclude, freeze_excluded, drop_last, num_workers: As in
            :func:`~neuro_de.population.train_snapshots`.

    Returns:
        A :class:`Population` of shape ``(m, d)``. ``meta[i]`` holds run ``i``'s resolved
        hyper-parameters (``lr``, ``weight_decay``, ``mixup_alpha``, ``label_smoothing``,
        ...), ``seed``, final ``loss`` and ``loss_history``; ``info["configs"]`` the list of
        resolved configurations used.

    Raises:
        ValueError: For neither ``configs`` nor ``m``, ``m`` not matching ``configs``, an
            empty ``configs``, an unknown config key, or a bad value in any configuration.

    References:
        Seed paper, Sec. 3.3 (Init-HP) and Tables 2-3.
    """
    _check_model_source(model)
    base = TrainConfig(
        epochs=epochs,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        batch_size=batch_size,
        label_smoothing=label_smoothing,
        mixup_alpha=mixup_alpha,
    )
    if configs is None:
        if m is None:
            raise ValueError(
                "Give `m` (the population size) to use the default Init-HP grid, or "
                "`configs` (one dict per run)."
            )
        _check_int("m", m, minimum=1)
        configs = default_hp_configs(m, lr=base.lr, weight_decay=base.weight_decay)  # type: ignore[arg-type]
    else:
        configs = list(configs)
        if not configs:
            raise ValueError("`configs` is empty; give one dict per run, or None for the grid.")
        if m is not None and m != len(configs):
            raise ValueError(
                f"`m` ({m}) differs from len(configs) ({len(configs)}); drop `m` or give "
                "one config per member."
            )
        m = len(configs)
    resolved = []
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, Mapping):
            raise TypeError(f"`configs[{i}]` must be a dict, got {type(cfg).__name__}.")
        unknown = sorted(set(cfg) - set(HP_KEYS))
        if unknown:
            raise ValueError(
                f"`configs[{i}]` has unknown keys {unknown}; allowed keys are {list(HP_KEYS)}."
            )
        fields = base.as_dict()
        if "optimizer" in cfg and "lr" not in cfg and lr is None:
            fields["lr"] = None  # the new optimiser's default learning rate
        fields.update(cfg)
        try:
            resolved.append(TrainConfig(**fields))
        except (TypeError, ValueError) as err:
            raise type(err)(f"In `configs[{i}]`: {err}") from err
    seeds = _check_seeds(seeds, m, seed)
    _check_run_args(
        keep_last=1,
        epochs=min(c.epochs for c in resolved),
        seed=seeds[0],
        num_workers=num_workers,
    )
    _check_dataset(train_set)
    return _run_all(
        model,
        train_set,
        resolved,
        seeds,
        method="init-hp",
        device=device,
        progress=progress,
        view=view,
        exclude=exclude,
        freeze_excluded=freeze_excluded,
        drop_last=drop_last,
        num_workers=num_workers,
    )
