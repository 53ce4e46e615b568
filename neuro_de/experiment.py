"""What every recipe shares: options, data, the first population, evolution runs, results.

A recipe is a plain script: it builds its parser with :func:`add_common_arguments`, then for
each seed creates a :class:`SeedRun`, which trains (or loads from a checkpoint) the Adam
population of Algorithm 1 stage 1, hands out fresh :class:`SupervisedNetProblem` instances
on the same mini-batch stream, evolves with checkpoints, picks winners on the held-out
split and evaluates on the test set. :func:`run_recipe` loops over seeds, saves the logger
data, handles SIGINT/SIGTERM, and writes ``config.json`` (the resolved options and their
provenance, which ``--config`` reads back), ``results.csv`` and ``results.md``.
The options themselves live in the light :mod:`neuro_de.options` (re-exported here).

A recipe whose network, data or first population differ (``recipes/resnet_imagenet.py``:
pretrained torchvision ResNets fine-tuned on an image folder) keeps this spine: it leaves
out the LeNet data and Adam options (``add_common_arguments(..., data_and_pretraining=
False)``), hands :func:`run_recipe` its own ``data`` and a :class:`SeedRun` subclass, and
overrides the hooks :meth:`SeedRun.fresh_model`, :meth:`~SeedRun.pretraining`,
:meth:`~SeedRun.first_population`, :meth:`~SeedRun.problem_options`,
:meth:`~SeedRun.eval_data`, :meth:`~SeedRun.network` and :meth:`~SeedRun.provenance`.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Subset

from .algorithms import DE, PSO, SAShadeTriEnsin
from .checkpoint import RunInterrupted, SignalGuard, export_network
from .data import dataset_info, load_splits
from .distributed import broadcast_from_main, init_from_env, is_main_process, world_info
from .loggers import TensorBoardLogger
from .models import build_model

# The option helpers live in the light neuro_de.options (a recipe's --help imports no
# torch); they are re-exported here for code that imports them from this module.
from .options import (
    BASELINES,
    SEARCHERS,
    add_common_arguments,
    check_common_arguments,
    check_writable_folders,
    positive_int,
    quiet_evotorch,
    write_config,
)
from .problems import DistributedSupervisedNetProblem, SupervisedNetProblem
from .reporting import write_results
from .runner import evolve, pretrain_population, select_on_heldout

__all__ = [
    "BASELINES",
    "SeedRun",
    "add_common_arguments",
    "check_common_arguments",
    "check_device",
    "check_run_arguments",
    "check_training_size",
    "extra_loggers",
    "load_data",
    "positive_int",
    "record_run",
    "run_provenance",
    "SEARCHERS",
    "searcher_factory",
    "run_recipe",
    "write_plots",
]


def extra_loggers(args: argparse.Namespace, run_name: str | None = None) -> tuple:
    """Logger factories for :func:`~neuro_de.runner.evolve` from the recipe options.

    Args:
        args: The parsed options: ``--log-every`` (EvoTorch ``StdOutLogger``),
            ``--mlflow`` (EvoTorch ``MlflowLogger``) and ``--tensorboard DIR``
            (:class:`~neuro_de.loggers.TensorBoardLogger` into ``DIR/<run_name>``).
        run_name: The run's folder under ``--tensorboard`` (``seed<k>/<method>``);
            ``None`` writes no TensorBoard events (the ranks but 0 of a replicated run).

    Returns:
        A tuple of ``make(searcher) -> logger``.
    """
    factories = []
    if args.log_every:
        from evotorch.logging import StdOutLogger

        factories.append(lambda s: StdOutLogger(s, interval=args.log_every))
    if args.mlflow:
        from evotorch import logging as evo_logging

        if not hasattr(evo_logging, "MlflowLogger"):
            raise SystemExit("--mlflow needs the mlflow package: pip install 'neuro_de[mlflow]'")
        factories.append(lambda s: evo_logging.MlflowLogger(s))
    if getattr(args, "tensorboard", None) is not None and run_name is not None:
        log_dir = os.path.join(args.tensorboard, run_name)
        factories.append(lambda s: TensorBoardLogger(s, log_dir=log_dir, flush_every=10))
    return tuple(factories)


def searcher_factory(method: str, args: argparse.Namespace, **hybrid_flags: Any):
    """``make(problem, init)`` for the recipes' algorithms with the options in ``args``:

    - ``"DE"``: rand/1/bin with ``--de-F`` and ``--de-CR``;
    - ``"PSO"``: Clerc's constriction, global best, no velocity clamp;
    - ``"SAShadeTriEnsin"``: SA-SHADE-tri-ensin with ``--F-range``, ``--CR-range``, the
      sinusoidal horizon equal to ``--generations-per-batch``, and ``hybrid_flags`` (the
      ablation switches ``strategy_adaptation``, ``success_history``, ``trigonometric``,
      ``sinusoidal``).

    Raises:
        ValueError: For a method not in :data:`SEARCHERS`, or ``hybrid_flags`` with a method
            other than ``"SAShadeTriEnsin"``.
    """
    if method not in SEARCHERS:
        raise ValueError(f"unknown method {method!r} for searcher_factory; known: "
                         f"{', '.join(map(repr, SEARCHERS))}")
    if hybrid_flags and method != "SAShadeTriEnsin":
        raise ValueError(f"the switches {', '.join(sorted(hybrid_flags))} apply to "
                         f"'SAShadeTriEnsin' only, not to {method!r}")

    def make(problem, init):
        if method == "DE":
            return DE(problem, init_population=init, strategy="rand/1", F=args.de_F,
                      CR=args.de_CR)
        if method == "PSO":
            return PSO(problem, init_population=init)
        return SAShadeTriEnsin(problem, init_population=init, F_range=tuple(args.F_range),
                               CR_range=tuple(args.CR_range),
                               sin_horizon=args.generations_per_batch, **hybrid_flags)

    return make


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the git checkout the package runs from, or ``None``.

    ``git rev-parse`` runs in the package's source folder (``path``, default: this
    package's); the answer counts only when that folder is the checkout's ``neuro_de``
    folder (not, e.g., a ``site-packages`` inside some other repository). Never raises:
    no git, no checkout or any failure gives ``None``.
    """
    source = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        lines = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=source, capture_output=True,
            text=True, timeout=10, check=True,
        ).stdout.split()
        if len(lines) == 2 and Path(lines[0]).resolve() / source.name == source.resolve():
            return lines[1]
    except Exception:  # no git, not a checkout, a timeout: the commit is unknown
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_provenance(args: argparse.Namespace, *, recipe: str, command: str) -> dict[str, Any]:
    """The facts :func:`run_recipe` saves beside the options in ``config.json``.

    Returns:
        ``recipe``, ``command``, ``date_utc`` (ISO 8601), ``versions`` (neuro_de, torch,
        torchvision, evotorch, numpy, python), ``git_commit`` (``None`` outside a git
        checkout), ``device`` (and ``device_name`` on CUDA), ``torch_threads``,
        ``world_size`` and ``platform``.
    """
    import evotorch
    import numpy

    from . import __version__

    facts: dict[str, Any] = {
        "recipe": recipe,
        "command": command,
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"neuro_de": __version__, "torch": torch.__version__,
                     "torchvision": _version("torchvision"),
                     "evotorch": getattr(evotorch, "__version__", _version("evotorch")),
                     "numpy": numpy.__version__, "python": platform.python_version()},
        "git_commit": git_commit(),
        "device": str(args.device),
    }
    device = torch.device(args.device)
    if device.type == "cuda" and torch.cuda.is_available():
        facts["device_name"] = torch.cuda.get_device_name(device)
    facts["torch_threads"] = torch.get_num_threads()
    facts["world_size"] = world_info().world_size
    facts["platform"] = platform.platform()
    return facts


def check_device(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--device`` must name a torch device this machine has (``cpu``, ``cuda``,
    ``cuda:N``; ``auto`` is resolved at parsing).

    Raises:
        SystemExit: Through ``parser.error`` (exit code 2), naming ``--device``, the value
            and the valid values.
    """
    valid = "cpu, cuda, cuda:N (GPU number N) or auto (cuda when available, else cpu)"
    try:
        device = torch.device(args.device)
    except (RuntimeError, TypeError, ValueError):
        parser.error(f"--device {args.device!r} is not a torch device; use {valid}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error(f"--device {args.device} but CUDA is not available here (no GPU, or "
                         "a torch built without CUDA); use --device cpu, or --device auto to "
                         "take a GPU where there is one")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            parser.error(f"--device {args.device} but this machine has {count} GPU(s): use "
                         f"cuda:0 to cuda:{count - 1}")


def check_training_size(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    *,
    batch_sizes: Sequence[tuple[str, int]] = (),
) -> int | None:
    """Every fitness mini-batch must fit the training split, checked from the data set's
    known size (:func:`~neuro_de.data.dataset_info`, nothing loaded) before any training.

    The training split is the data set's training samples less the held-out
    ``--heldout-fraction`` (as :func:`~neuro_de.data.split_sizes` carves it), cut to
    ``--train-limit`` when that is smaller.

    Args:
        args: The parsed options (``--dataset``, ``--heldout-fraction``, ``--train-limit``,
            ``--batch-size``); without ``--dataset`` nothing is checked.
        parser: The recipe's parser (for the error).
        batch_sizes: More ``(option, size)`` pairs to check, e.g. each of ``--batch-sizes``.

    Returns:
        The number of training samples, or ``None`` when the data set's size is not known.

    Raises:
        SystemExit: Through ``parser.error`` (exit code 2), naming the option, its value,
            the number of training samples and the fix.
    """
    from .data import split_sizes

    if "dataset" not in args:
        return None
    total = dataset_info(args.dataset).train_size
    if total is None:
        return None
    try:
        n_train, _ = split_sizes(total, args.heldout_fraction)
    except ValueError as err:
        parser.error(f"--heldout-fraction {args.heldout_fraction} does not split the "
                     f"{total} training samples of --dataset {args.dataset}: {err}")
    how = f"{total} of --dataset {args.dataset} less --heldout-fraction {args.heldout_fraction:g}"
    limit = getattr(args, "train_limit", None)
    if limit is not None and limit < n_train:
        n_train, how = limit, f"--train-limit {limit}"
    for flag, size in (("--batch-size", args.batch_size), *batch_sizes):
        if size > n_train:
            parser.error(f"{flag} {size} is larger than the {n_train} training samples "
                         f"({how}): a fitness mini-batch must fit the training split; use "
                         f"{flag} {n_train} or less, or more training samples (a larger "
                         "--train-limit, a smaller --heldout-fraction)")
    return n_train


def check_run_arguments(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    *,
    batch_sizes: Sequence[tuple[str, int]] = (),
) -> None:
    """The checks after parsing that need torch or the file system, run by every recipe
    right after its parse-time checks, before any data is loaded or network trained:
    :func:`check_device`, :func:`~neuro_de.options.check_writable_folders` (``--out``,
    ``--checkpoint-dir``, ``--tensorboard``) and :func:`check_training_size`.

    Raises:
        SystemExit: Through ``parser.error`` (exit code 2).
    """
    check_device(args, parser)
    check_writable_folders(args, parser)
    check_training_size(args, parser, batch_sizes=batch_sizes)


def _check_meta(value: Any, where: str) -> None:
    """Refuse checkpoint facts a checkpoint cannot hold, at the start of a run rather than
    at its first save."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_meta(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_meta(item, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}; checkpoint facts must be strings, "
                    "numbers, None or lists/dicts of them (pass e.g. its name).")


def load_data(args: argparse.Namespace):
    """Train / held-out / test splits and the data set's facts, honouring --train-limit."""
    root = args.data_root or os.environ.get("NEURO_DE_DATA")
    splits = load_splits(args.dataset, heldout_fraction=args.heldout_fraction, seed=0,
                         root=None if args.dataset == "digits" else root,
                         download=args.download)
    if args.train_limit is not None and args.train_limit < len(splits.train):
        splits = splits._replace(train=Subset(splits.train, range(args.train_limit)))
    return splits, dataset_info(args.dataset)


class SeedRun:
    """One seed of a recipe: the first population and everything evolved from it.

    The defaults are the LeNet recipes' steps (Adam snapshots, test-set rows); a recipe
    with another network, data or first population subclasses and overrides the hooks:
    :meth:`fresh_model` and :meth:`pretraining` (what backpropagation trains),
    :meth:`first_population` (the genomes and their network), :meth:`problem_options`
    (more :class:`SupervisedNetProblem` arguments), :meth:`eval_data` (how held-out and
    reported splits are read), :meth:`network` (the network scored for a genome) and
    :meth:`provenance` (facts exported with each winner).

    Args:
        args: The parsed recipe options (see :func:`add_common_arguments`).
        seed: The seed of this run (training, mini-batch stream, algorithms).
        splits: ``DataSplits(train, heldout, test)``.
        info: The data set's facts (``dataset_info``), or ``None`` when :meth:`fresh_model`
            does not need them.
        guard: The recipe's :class:`~neuro_de.checkpoint.SignalGuard`.
        recipe: The recipe's name (checkpoints of another recipe are refused).
        meta: The facts checkpoints of this run must match (besides the recipe and the
            seed); default: the data set, model, popsize and Adam epochs.

    Raises:
        TypeError: When ``meta`` holds a value a checkpoint cannot (e.g. a module): at
            construction, not at the first save after training.
    """

    #: The split the result rows report: the ``<split>_loss`` column, the winners'
    #: ``<split>_top1`` provenance and the per-seed line (``"val"`` in the ResNet recipe).
    split: ClassVar[str] = "test"
    #: Add each evolved winner's population index to its row as a ``winner`` column.
    winner_column: ClassVar[bool] = False

    def __init__(self, args, seed: int, splits, info, guard: SignalGuard, *, recipe: str,
                 meta: dict[str, Any] | None = None):
        self.args, self.seed, self.splits, self.info, self.guard = args, seed, splits, info, guard
        self.is_main = is_main_process()  # rank 0 of a replicated run writes; others compute
        self.progress = not args.no_progress and self.is_main
        if meta is None:
            meta = {"dataset": args.dataset, "model": args.model, "popsize": args.popsize,
                    "epochs": args.epochs}
        self.meta = {"recipe": recipe, **meta, "seed": seed}
        _check_meta(self.meta, "meta")  # now, not at the first checkpoint save
        self._snaps = None
        #: The winner network of each method :meth:`evolve` ran, by method name.
        self.winners: dict[str, nn.Module] = {}

    def checkpoint(self, name: str) -> str | None:
        """Checkpoint file ``<dir>/seed<k>/<name>.pt``, or ``None`` without --checkpoint-dir."""
        if self.args.checkpoint_dir is None:
            return None
        return os.path.join(self.args.checkpoint_dir, f"seed{self.seed}", f"{name}.pt")

    # ------------------------------------------------------------------ the first population

    def fresh_model(self) -> nn.Module:
        """Hook: the network backpropagation starts from (default: ``--model``, seeded)."""
        torch.manual_seed(self.seed)
        return build_model(self.args.model, **self.info.model_kwargs())

    def pretraining(self) -> dict[str, Any]:
        """Hook: the options of :func:`~neuro_de.population.train_snapshots` besides the
        seed, device and progress bar (default: Adam, ``--epochs``, ``--lr``,
        ``--train-batch-size``, keeping the last ``--popsize`` epochs)."""
        a = self.args
        return {"epochs": a.epochs, "keep_last": a.popsize, "optimizer": "adam", "lr": a.lr,
                "batch_size": a.train_batch_size}

    @property
    def snapshots(self):
        """The backpropagation snapshots of the last ``popsize`` epochs (trained once, or
        loaded from the checkpoint on --resume, then cached)."""
        if self._snaps is None:
            a = self.args
            self._snaps = pretrain_population(
                self.fresh_model, self.splits.train, checkpoint=self.checkpoint("population"),
                resume=a.resume, meta=self.meta, seed=self.seed, device=a.device,
                progress=self.progress, write_checkpoints=self.is_main, **self.pretraining(),
            )
            if a.distributed:  # every rank starts from rank 0's networks
                broadcast_from_main([self._snaps.vectors,
                                     *self._snaps.model.state_dict().values()])
        return self._snaps

    def first_population(self) -> tuple[torch.Tensor, nn.Module]:
        """Hook: the first population ``(popsize, d)`` and the network whose parameters the
        genomes are (the problems' model); default: the snapshots and the trained network."""
        return self.snapshots.vectors, self.snapshots.model

    @functools.cached_property
    def _first(self) -> tuple[torch.Tensor, nn.Module]:
        return self.first_population()

    @property
    def population(self) -> torch.Tensor:
        """The ``(popsize, d)`` genomes on the run's device."""
        return self._first[0].to(self.args.device)

    @property
    def parent(self) -> nn.Module:
        """The network the genomes are parameters of."""
        return self._first[1]

    # ------------------------------------------------------------------ problems and scores

    def problem_options(self) -> dict[str, Any]:
        """Hook: more :class:`SupervisedNetProblem` arguments (e.g. ``exclude``, ``bn``);
        default none."""
        return {}

    def problem(self, *, batch_size: int | None = None) -> SupervisedNetProblem:
        """A fresh problem over :attr:`parent`; every fresh problem of a seed sees the same
        mini-batch stream, so methods are compared on the same data."""
        a = self.args
        kwargs = {"batch_size": batch_size or a.batch_size,
                  "generations_per_batch": a.generations_per_batch, "device": a.device,
                  "seed": self.seed, **self.problem_options()}
        if a.distributed:
            return DistributedSupervisedNetProblem(self.parent, self.splits.train,
                                                   split=a.distributed, **kwargs)
        return SupervisedNetProblem(self.parent, self.splits.train, **kwargs)

    def eval_data(self, dataset) -> Any:
        """Hook: what held-out selection and scoring read for ``dataset`` (default: the
        data set itself, read in order in batches of 1024)."""
        return dataset

    def network(self, problem: SupervisedNetProblem, vector: torch.Tensor) -> nn.Module:
        """Hook: the network of a genome as it is selected, scored and exported (default:
        ``problem.to_module(vector)``)."""
        return problem.to_module(vector)

    def score(self, problem: SupervisedNetProblem, network: nn.Module) -> dict[str, float]:
        """Top-1, top-5 (top-k for k classes when fewer than 5) and loss of ``network`` on
        the reported split, as fractions (the ``metrics`` of :meth:`test_row`)."""
        k = min(5, problem.num_classes)
        metrics = problem.evaluate_vector(None, self.eval_data(self.splits.test),
                                          topk=(1, k), module=network)
        return {**metrics, "top5": metrics[f"top{k}"]}

    def test_row(self, method: str, metrics: dict, **extra: Any) -> dict:
        """A results row: top-1/top-5 in percent and the loss on the reported split, plus
        extra columns."""
        return {"method": method, "seed": self.seed, "top1": 100 * metrics["top1"],
                "top5": 100 * metrics["top5"], f"{self.split}_loss": metrics["loss"], **extra}

    def parent_row(self) -> dict:
        """The results row of the Adam parent: the last snapshot, on the test set."""
        problem = self.problem()
        return self.test_row("adam", self.score(problem, problem.to_module(
            self.snapshots.vectors[-1])))

    def provenance(self) -> dict[str, Any]:
        """Hook: facts saved beside every exported winner besides the run's ``meta``, the
        method, the selection and the scores (default none)."""
        return {}

    # ------------------------------------------------------------------ baselines

    def baseline(self, method: str) -> dict:
        """The results row of a baseline built from the backpropagation snapshots, its
        network (an ensemble for FGE) kept in :attr:`winners` like an evolved winner.

        ``method`` is one of :data:`BASELINES`: ``"best-individual"`` (the snapshot with
        the lowest held-out loss), ``"WA"`` (their weight average, BatchNorm statistics
        recomputed on the training split), ``"uniform-soup"``, ``"greedy-soup"``
        (ingredients added in order of held-out accuracy while it does not drop) and
        ``"FGE"`` (``popsize`` cycles of ``--fge-cycle-epochs`` from the trained network,
        rates ``--fge-lr-max`` to ``--fge-lr-min``; :func:`add_fge_arguments`). Every choice
        reads the held-out split; the test split only for the row.
        """
        builders = {"best-individual": self._best_individual, "WA": self._weight_average,
                    "uniform-soup": self._uniform_soup, "greedy-soup": self._greedy_soup,
                    "FGE": self._fge}
        if method not in builders:
            raise ValueError(f"Unknown baseline {method!r}; choose from {BASELINES}.")
        row, self.winners[method] = builders[method]()
        return row

    def _best_individual(self):
        problem, snaps = self.problem(), self.snapshots
        best = select_on_heldout(problem, snaps.vectors, self.splits.heldout)
        metrics = problem.evaluate_vector(snaps.vectors[best], self.splits.test)
        row = self.test_row("best-individual", metrics, member=best)
        return row, problem.to_module(snaps.vectors[best])

    def _weight_average(self):
        from .baselines import evaluate_classifier, weight_average

        model = weight_average(self.snapshots, train_loader=self.splits.train,
                               device=self.args.device)
        return self.test_row("WA", evaluate_classifier(model, self.splits.test)), model

    def _uniform_soup(self):
        from .baselines import evaluate_classifier, uniform_soup

        model = uniform_soup(self.snapshots, bn_loader=None, device=self.args.device)
        return self.test_row("uniform-soup", evaluate_classifier(model, self.splits.test)), model

    def _greedy_soup(self):
        from .baselines import evaluate_classifier, greedy_soup

        soup = greedy_soup(self.snapshots, self.splits.heldout, device=self.args.device)
        row = self.test_row("greedy-soup", evaluate_classifier(soup.model, self.splits.test),
                            ingredients=len(soup.ingredients))
        return row, soup.model

    def _fge(self):
        from .baselines import train_fge

        a, train = self.args, self.splits.train
        iters = -(-len(train) // a.train_batch_size)  # batches per epoch
        cycle = 2 * ((iters * a.fge_cycle_epochs + 1) // 2)  # FGE needs an even c
        fge = train_fge(self.snapshots.model, train, cycles=a.popsize, cycle_length=cycle,
                        alpha_1=a.fge_lr_max, alpha_2=a.fge_lr_min,
                        batch_size=a.train_batch_size, seed=self.seed, device=a.device)
        return self.test_row("FGE", fge.evaluate(self.splits.test)), fge.ensemble()

    # ------------------------------------------------------------------ evolution

    def evolve(
        self,
        method: str,
        make_searcher: Callable[[SupervisedNetProblem, torch.Tensor], Any],
        *,
        generations: int | None = None,
        init: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> tuple[dict, Any]:
        """Evolve from the population with ``make_searcher(problem, init)``; pick the winner
        on held-out data, export it, and return its row and the logger frame."""
        a = self.args
        generations = generations or a.generations
        problem = self.problem(batch_size=batch_size)
        init = self.population if init is None else init
        searcher = make_searcher(problem, init)
        made: list = []  # the loggers the factories make, to close them at the end

        def keep(factory):
            def make(searcher):
                logger = factory(searcher)
                made.append(logger)
                return logger

            return make

        factories = extra_loggers(a, f"seed{self.seed}/{method}" if self.is_main else None)
        t0 = time.perf_counter()
        try:
            frame = evolve(
                searcher, generations, progress=self.progress,
                desc=f"seed {self.seed} {method}", loggers=tuple(map(keep, factories)),
                checkpoint=self.checkpoint(method), checkpoint_every=a.checkpoint_every,
                resume="if-present" if a.resume else False,  # a later method may not have
                # started: the recipes check up front that the checkpoint folder has a run
                meta={**self.meta, "method": method, "genome": problem.solution_length,
                      "batch_size": batch_size or a.batch_size,
                      "generations_per_batch": a.generations_per_batch},
                guard=self.guard, write_checkpoints=self.is_main,
            )
        finally:  # evolve() never calls searcher.run(): write out the last generations
            for logger in made:
                if isinstance(logger, TensorBoardLogger):
                    logger.close()
        seconds = time.perf_counter() - t0
        values = searcher.population.values
        winner = select_on_heldout(problem, values, self.eval_data(self.splits.heldout),
                                   network=lambda vector: self.network(problem, vector))
        network = self.network(problem, values[winner])
        self.winners[method] = network
        extra = {"winner": winner} if self.winner_column else {}
        row = self.test_row(method, self.score(problem, network), **extra, seconds=seconds)
        if not self.is_main:
            return row, frame
        export_network(
            network, os.path.join(a.out, "winners", f"{method}_seed{self.seed}"),
            provenance={**self.meta, "method": method, "generations": generations,
                        "winner_index": winner, "selected_on": "held-out loss",
                        **self.provenance(), f"{self.split}_top1": row["top1"],
                        f"{self.split}_top5": row["top5"]},
        )
        return row, frame


def write_plots(logs: dict[str, Any], out_dir: str, *, tag: str = "") -> list:
    """Every dynamics plot of each run (``<method><tag>_<plot>.png``) and, for several runs,
    the overlays (``all<tag>_<plot>.png``)."""
    from .dynamics import plot_all

    paths = []
    for method, frame in logs.items():
        paths += plot_all(frame, out_dir, prefix=f"{method}{tag}_")
    if len(logs) > 1:
        paths += plot_all(logs, out_dir, prefix=f"all{tag}_")
    return paths


def record_run(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    *,
    recipe: str,
    options: Mapping[str, Any] | None = None,
    write: bool = True,
) -> str:
    """The run's command line (``python recipes/<recipe>.py`` and ``argv``, quoted for a
    shell), and, when ``write``, ``OUT/config.json``: the ``options`` (default: every
    attribute of ``args``) and their provenance (:func:`run_provenance`), which the
    recipe's ``--config`` reads back.

    Args:
        args: The parsed options.
        argv: The command line given to the recipe (``None``: ``sys.argv[1:]``).
        recipe: The recipe's name.
        options: The resolved options to save (see :func:`run_recipe`).
        write: Create ``--out`` and write the file (``False`` on the non-main ranks of a
            distributed run).

    Returns:
        The command line.
    """
    given = list(argv) if argv is not None else sys.argv[1:]
    command = (f"python recipes/{recipe}.py "
               + " ".join(shlex.quote(str(a)) for a in given)).strip()
    if write:
        os.makedirs(args.out, exist_ok=True)
        write_config(args.out, vars(args) if options is None else options,
                     provenance=run_provenance(args, recipe=recipe, command=command))
    return command


def run_recipe(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    per_seed: Callable[[SeedRun], tuple[list[dict], dict[str, Any]]],
    *,
    recipe: str,
    title: str,
    baseline: str,
    notes: str = "",
    data: tuple[Any, Any] | None = None,
    seed_run: Callable[..., SeedRun] = SeedRun,
    plots_per_seed: bool = False,
    options: Mapping[str, Any] | None = None,
) -> int:
    """Run ``per_seed`` for every seed, save logs and results; return the exit code.

    ``per_seed(run)`` returns the seed's result rows and ``{method: logger frame}``. A
    SIGINT/SIGTERM stops the run after saving its checkpoint; the exit code is then
    ``128 + signal`` and ``--resume`` continues it. First of all, the main process writes
    ``OUT/config.json``: the ``options`` and their provenance (:func:`run_provenance`),
    which the recipe's ``--config`` reads back.

    Args:
        args: The parsed options.
        argv: The command line given to the recipe (``None``: ``sys.argv[1:]``).
        per_seed: One seed's rows and logger frames.
        recipe: The recipe's name (checkpoints, the command in ``results.md``).
        title: Title of ``results.md``.
        baseline: The method the paired tests compare against.
        notes: A paragraph for ``results.md``.
        data: ``(splits, info)`` when the recipe loads its own data (default:
            :func:`load_data` of ``args``).
        seed_run: Makes each seed's run, called as
            ``seed_run(args, seed, splits, info, guard, recipe=recipe)``: a :class:`SeedRun`
            subclass, or a ``functools.partial`` of one with its own arguments.
        plots_per_seed: Write the plots of every seed (``<method>_seed<k>_<plot>.png``)
            instead of the first seed's only (``<method>_<plot>.png``).
        options: The resolved options saved in ``config.json`` (default: every attribute
            of ``args``); a recipe that rewrites options after parsing passes them as
            parsed, so that ``--config`` reproduces the run.
    """
    quiet_evotorch()  # EvoTorch's INFO lines (its import reset the logger's level)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.distributed:
        world = init_from_env()
        if world.world_size == 1:
            print("--distributed: no torchrun environment found; running as one process",
                  file=sys.stderr)
    main = is_main_process()
    command = record_run(args, argv, recipe=recipe, options=options, write=main)
    splits, info = load_data(args) if data is None else data
    rows: list[dict] = []
    with SignalGuard() as guard:
        for seed in range(args.seeds):
            run = seed_run(args, seed, splits, info, guard, recipe=recipe)
            try:
                seed_rows, logs = per_seed(run)
            except RunInterrupted as stop:
                if main:
                    print(stop, file=sys.stderr, flush=True)
                return 128 + stop.signum
            rows += seed_rows
            if not main:
                continue
            for method, frame in logs.items():
                frame.to_csv(os.path.join(args.out, f"log_{method}_seed{seed}.csv"))
            if args.plots and logs and (plots_per_seed or seed == 0):
                write_plots(logs, os.path.join(args.out, "plots"),
                            tag=f"_seed{seed}" if plots_per_seed else "")
            line = ", ".join(f"{r['method']} {r['top1']:.2f}%" for r in seed_rows)
            print(f"seed {seed}: {run.split} top-1 {line}", flush=True)
    if not main:
        return 0
    text = write_results(rows, args.out, title=title, command=command,
                         baseline=baseline, notes=notes)
    print(text)
    return 0
