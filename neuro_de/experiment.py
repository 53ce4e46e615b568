"""What every recipe shares: options, data, the first population, evolution runs, results.

A recipe is a plain script: it builds its parser with :func:`add_common_arguments`, then for
each seed creates a :class:`SeedRun`, which trains (or loads from a checkpoint) the Adam
population of Algorithm 1 stage 1, hands out fresh :class:`SupervisedNetProblem` instances
on the same mini-batch stream, evolves with checkpoints, picks winners on the held-out
split and evaluates on the test set. :func:`run_recipe` loops over seeds, saves the logger
data, handles SIGINT/SIGTERM, and writes ``results.csv`` / ``results.md``.

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
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Subset

from .algorithms import DE, PSO, SAShadeTriEnsin
from .checkpoint import RunInterrupted, SignalGuard, export_network
from .data import dataset_info, load_splits
from .distributed import broadcast_from_main, init_from_env, is_main_process
from .models import build_model
from .problems import DistributedSupervisedNetProblem, SupervisedNetProblem
from .reporting import write_results
from .runner import evolve, pretrain_population, select_on_heldout

__all__ = [
    "SeedRun",
    "add_common_arguments",
    "check_common_arguments",
    "load_data",
    "positive_int",
    "SEARCHERS",
    "searcher_factory",
    "run_recipe",
    "write_plots",
]


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def add_common_arguments(
    p: argparse.ArgumentParser,
    *,
    out: str,
    dataset: str = "digits",
    seeds: int = 3,
    epochs: int = 20,
    popsize: int = 10,
    generations: int = 100,
    model: str = "lenet5",
    batch_size: int = 256,
    heldout_fraction: float = 0.1,
    device: str = "cpu",
    data_and_pretraining: bool = True,
) -> argparse.ArgumentParser:
    """Add the options every recipe takes (data, training, evolution, output, checkpoints)
    with the given defaults.

    Args:
        p: The recipe's parser.
        out: Default of ``--out``.
        dataset: Default of ``--dataset`` (``"mnist"`` reads the copy bundled with the
            package when neither ``--data-root`` nor ``NEURO_DE_DATA`` is given).
        seeds: Default of ``--seeds``.
        epochs: Default of ``--epochs``.
        popsize: Default of ``--popsize``.
        generations: Default of ``--generations``.
        model: Default of ``--model``.
        batch_size: Default of ``--batch-size`` (the fitness mini-batch).
        heldout_fraction: Default of ``--heldout-fraction``.
        device: Default of ``--device``.
        data_and_pretraining: Add the LeNet recipes' data set and Adam options
            (``--dataset``, ``--data-root``, ``--download``, ``--model``, ``--epochs``,
            ``--lr``, ``--train-batch-size``, ``--train-limit``); ``False`` for a recipe
            that brings its own data and first population and declares its own options.

    Returns:
        ``p``.
    """
    if data_and_pretraining:
        p.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist"],
                       default=dataset,
                       help="digits: scikit-learn's 1,797 digits (a one-minute smoke run); "
                            "mnist: the real MNIST bundled with the package (or --data-root)")
        p.add_argument("--data-root", default=None,
                       help="folder holding MNIST/raw or FashionMNIST/raw; if not given, "
                            "$NEURO_DE_DATA, else for mnist the bundled copy")
        p.add_argument("--download", action="store_true",
                       help="let torchvision download the data set into --data-root (needs "
                            "internet)")
        p.add_argument("--model", choices=["lenet1", "lenet5"], default=model)
    p.add_argument("--seeds", type=positive_int, default=seeds, help="number of seeds (0..N-1)")
    if data_and_pretraining:
        p.add_argument("--epochs", type=positive_int, default=epochs,
                       help="Adam epochs (>= popsize)")
        p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
        p.add_argument("--train-batch-size", type=positive_int, default=128)
    p.add_argument("--popsize", type=positive_int, default=popsize,
                   help="population = snapshots of the last POPSIZE epochs")
    p.add_argument("--generations", type=positive_int, default=generations)
    p.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help="mini-batch of the fitness (paper: 2048 on ImageNet)")
    p.add_argument("--generations-per-batch", type=positive_int, default=10,
                   help="generations each fitness mini-batch serves (paper: 10)")
    p.add_argument("--de-F", type=float, default=0.1, help="DE (rand/1/bin) scale factor")
    p.add_argument("--de-CR", type=float, default=0.1, help="DE (rand/1/bin) crossover rate")
    p.add_argument("--F-range", type=float, nargs=2, default=(0.0, 0.2),
                   help="SA-SHADE-tri-ensin F range (Table S3)")
    p.add_argument("--CR-range", type=float, nargs=2, default=(0.0, 0.3),
                   help="SA-SHADE-tri-ensin CR range (Table S3)")
    if data_and_pretraining:
        p.add_argument("--train-limit", type=positive_int, default=None,
                       help="use only the first N samples of the (shuffled) training split: "
                            "quick runs")
    p.add_argument("--heldout-fraction", type=float, default=heldout_fraction,
                   help="share of the training data held out to choose each run's winner")
    p.add_argument("--device", default=device)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (one is fastest for small networks on a few cores: "
                        "two ran a LeNet-5 step ~12x slower on a 2-core machine)")
    p.add_argument("--out", default=out, help="output folder")
    p.add_argument("--checkpoint-dir", default=None,
                   help="save populations and evolution state here (default: no checkpoints)")
    p.add_argument("--checkpoint-every", type=positive_int, default=10,
                   help="generations between evolution checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoints in --checkpoint-dir")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True,
                   help="write evolution-dynamics plots of the first seed to OUT/plots")
    p.add_argument("--log-every", type=int, default=0,
                   help="print every status item every N generations (EvoTorch StdOutLogger; "
                        "0: off)")
    p.add_argument("--distributed", choices=["population", "batch"], default=None,
                   help="under torchrun: replicated population, evaluation split over ranks "
                        "by population or by mini-batch (docs/scaling.md)")
    p.add_argument("--mlflow", action="store_true",
                   help="also log status items to MLflow (needs `pip install mlflow`)")
    return p


def extra_loggers(args: argparse.Namespace) -> tuple:
    """Logger factories for :func:`~neuro_de.runner.evolve` from --log-every / --mlflow."""
    factories = []
    if args.log_every:
        from evotorch.logging import StdOutLogger

        factories.append(lambda s: StdOutLogger(s, interval=args.log_every))
    if args.mlflow:
        from evotorch import logging as evo_logging

        if not hasattr(evo_logging, "MlflowLogger"):
            raise SystemExit("--mlflow needs the mlflow package: pip install 'neuro_de[mlflow]'")
        factories.append(lambda s: evo_logging.MlflowLogger(s))
    return tuple(factories)


def check_common_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Reject inconsistent options early, naming the option and the fix.

    The checks of the data set and Adam options apply only where the parser has them
    (see ``data_and_pretraining`` of :func:`add_common_arguments`).
    """
    if args.popsize < 6:
        parser.error("--popsize must be >= 6 (rand/2 in SA-SHADE-tri-ensin's pool needs 6)")
    if "epochs" in args and args.epochs < args.popsize:
        parser.error(f"--epochs ({args.epochs}) must be >= --popsize ({args.popsize}): the "
                     "population is the snapshots of the last POPSIZE epochs")
    if not 0 < args.de_F <= 2:
        parser.error(f"--de-F must be in (0, 2], got {args.de_F}")
    if not 0 <= args.de_CR <= 1:
        parser.error(f"--de-CR must be in [0, 1], got {args.de_CR}")
    if not 0 < args.heldout_fraction < 1:
        parser.error(f"--heldout-fraction must be in (0, 1), got {args.heldout_fraction}")
    if "lr" in args and args.lr <= 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    for name in ("F_range", "CR_range"):
        lo, hi = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if not 0 <= lo <= hi <= (2 if name == "F_range" else 1):
            parser.error(f"{flag} needs 0 <= LOW <= HIGH <= {2 if name == 'F_range' else 1}, "
                         f"got {lo} {hi}")
    if args.log_every < 0:
        parser.error(f"--log-every must be >= 0, got {args.log_every}")
    if args.mlflow:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            parser.error("--mlflow needs the mlflow package: pip install 'neuro_de[mlflow]'")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.resume and args.checkpoint_dir is None:
        parser.error("--resume needs --checkpoint-dir DIR (where the stopped run saved)")
    if ("dataset" in args and args.dataset == "fashion-mnist" and args.data_root is None
            and not os.environ.get("NEURO_DE_DATA")):
        parser.error(f"--dataset {args.dataset} needs --data-root DIR (DIR/FashionMNIST/raw "
                     "with the idx files) or NEURO_DE_DATA; add --download to fetch it with "
                     "internet")


#: The method names :func:`searcher_factory` knows.
SEARCHERS = ("DE", "PSO", "SAShadeTriEnsin")


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
        self._snaps = None

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
        t0 = time.perf_counter()
        frame = evolve(
            searcher, generations, progress=self.progress, desc=f"seed {self.seed} {method}",
            loggers=extra_loggers(a),
            checkpoint=self.checkpoint(method), checkpoint_every=a.checkpoint_every,
            resume=a.resume,
            meta={**self.meta, "method": method, "genome": problem.solution_length,
                  "batch_size": batch_size or a.batch_size,
                  "generations_per_batch": a.generations_per_batch},
            guard=self.guard, write_checkpoints=self.is_main,
        )
        seconds = time.perf_counter() - t0
        values = searcher.population.values
        winner = select_on_heldout(problem, values, self.eval_data(self.splits.heldout),
                                   network=lambda vector: self.network(problem, vector))
        network = self.network(problem, values[winner])
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
) -> int:
    """Run ``per_seed`` for every seed, save logs and results; return the exit code.

    ``per_seed(run)`` returns the seed's result rows and ``{method: logger frame}``. A
    SIGINT/SIGTERM stops the run after saving its checkpoint; the exit code is then
    ``128 + signal`` and ``--resume`` continues it.

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
    """
    logging.getLogger("evotorch").setLevel(logging.WARNING)  # one INFO line per Problem
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.distributed:
        world = init_from_env()
        if world.world_size == 1:
            print("--distributed: no torchrun environment found; running as one process",
                  file=sys.stderr)
    main = is_main_process()
    splits, info = load_data(args) if data is None else data
    if main:
        os.makedirs(args.out, exist_ok=True)
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
    given = list(argv) if argv is not None else sys.argv[1:]
    command = f"python recipes/{recipe}.py " + " ".join(shlex.quote(a) for a in given)
    text = write_results(rows, args.out, title=title, command=command.strip(),
                         baseline=baseline, notes=notes)
    print(text)
    return 0
