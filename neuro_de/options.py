"""The recipes' command-line options, light enough for a fast ``--help``.

This module imports only the standard library, so a recipe builds and prints its parser
without loading torch or EvoTorch (they are imported after parsing). It holds:

- :func:`recipe_parser`: a parser whose help names the seed paper, shows every option's
  default once and ends with usage examples (:class:`RecipeHelpFormatter`);
- :func:`add_common_arguments` / :func:`check_common_arguments`: the options every recipe
  shares, and their early checks;
- :func:`parse_args`: parsing with ``--config FILE`` (a ``config.json`` an earlier run
  wrote: its options become the defaults, the command line overrides them);
- :func:`write_config` / :func:`read_config`: that file, written atomically;
- :func:`quiet_evotorch`: silences what EvoTorch prints that a recipe user cannot act on.

``neuro_de.experiment`` re-exports the option helpers for compatibility.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import os
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "BASELINES",
    "CONFIG_NAME",
    "SEARCHERS",
    "SEED_PAPER",
    "RecipeHelpFormatter",
    "add_common_arguments",
    "add_fge_arguments",
    "add_run_arguments",
    "check_common_arguments",
    "check_fge_arguments",
    "check_resume",
    "check_run_options",
    "check_writable_folders",
    "checkpoint_files",
    "nonnegative_int",
    "parse_args",
    "positive_int",
    "quiet_evotorch",
    "read_config",
    "recipe_parser",
    "warn_large_lr",
    "writable_folder_problem",
    "write_config",
]

#: The paper the recipes reproduce, as the recipes' ``--help`` names it.
SEED_PAPER = ('"Evolving Deep Neural Network\'s Weights at ImageNet Scale", anonymous authors, '
              "paper under double-blind review (its references run to 2023)")

#: The method names :func:`neuro_de.experiment.searcher_factory` knows.
SEARCHERS = ("DE", "PSO", "SAShadeTriEnsin")

#: The file every recipe writes into ``--out`` with its resolved options.
CONFIG_NAME = "config.json"

#: The key of the facts about a run in ``config.json`` (ignored on input).
PROVENANCE = "provenance"

#: Learning rates above this get a warning (Adam and SGD diverge there).
LR_WARN_ABOVE = 1.0


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """``argparse`` type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


# --------------------------------------------------------------------------- help


class RecipeHelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                          argparse.RawDescriptionHelpFormatter):
    """Shows each option's default once and keeps the description's and epilog's lines.

    ``ArgumentDefaultsHelpFormatter`` appends ``(default: X)`` to every option's help; an
    option whose help already says ``(default: ...)`` in words (e.g. "(default: no
    checkpoints)" for a ``None`` default) keeps its own. The description and the epilog
    (usage examples) are printed as written (``RawDescriptionHelpFormatter``).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        if "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def recipe_parser(doc: str, *, examples: str, paper: str = "") -> argparse.ArgumentParser:
    """The parser of a recipe: its description is the first paragraph of ``doc`` and the
    name of the paper it follows, its epilog the usage ``examples``.

    Args:
        doc: The recipe's module docstring.
        examples: Command lines, one per line (``#`` comments allowed), printed under
            "examples:" after the options.
        paper: The paper the recipe follows (default: the seed paper, :data:`SEED_PAPER`).

    Returns:
        An ``argparse.ArgumentParser`` with :class:`RecipeHelpFormatter`.
    """
    description = (doc.strip().split("\n\n")[0] + "\n\n"
                   + textwrap.fill(f"Paper: {paper}." if paper else f"Seed paper: {SEED_PAPER}.",
                                   width=90))
    epilog = ("examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  ")
              + "\n\n" + textwrap.fill(f"Every run writes OUT/{CONFIG_NAME} (its options and "
                                       f"provenance); --config OUT/{CONFIG_NAME} runs it "
                                       "again.", width=90))
    return argparse.ArgumentParser(description=description, epilog=epilog,
                                   formatter_class=RecipeHelpFormatter)


# --------------------------------------------------------------------------- the options


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
    """Add the options every recipe takes (data, training, evolution, output, checkpoints,
    loggers, ``--config``) with the given defaults.

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
                            "mnist: the real MNIST bundled with the package (or --data-root); "
                            "fashion-mnist: needs --data-root")
        p.add_argument("--data-root", metavar="DIR", default=None,
                       help="folder holding MNIST/raw or FashionMNIST/raw (default: "
                            "$NEURO_DE_DATA if set, else for mnist the bundled copy)")
        p.add_argument("--download", action="store_true",
                       help="let torchvision download the data set into --data-root (needs "
                            "internet)")
        p.add_argument("--model", choices=["lenet1", "lenet5"], default=model,
                       help="the network Adam trains and evolution improves")
    p.add_argument("--seeds", type=positive_int, default=seeds, help="number of seeds (0..N-1)")
    if data_and_pretraining:
        p.add_argument("--epochs", type=positive_int, default=epochs,
                       help="Adam epochs (>= popsize)")
        p.add_argument("--lr", type=float, default=1e-3,
                       help=f"Adam learning rate (a warning above {LR_WARN_ABOVE:g}: Adam "
                            "diverges there)")
        p.add_argument("--train-batch-size", type=positive_int, default=128,
                       help="Adam mini-batch")
    p.add_argument("--popsize", type=positive_int, default=popsize,
                   help="population = snapshots of the last POPSIZE epochs")
    p.add_argument("--generations", type=positive_int, default=generations,
                   help="generations of each evolution run")
    p.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help="mini-batch of the fitness (paper: 2048 on ImageNet)")
    p.add_argument("--generations-per-batch", type=positive_int, default=10,
                   help="generations each fitness mini-batch serves (paper: 10); a value "
                        "above --generations is allowed and means one mini-batch for the "
                        "whole run")
    p.add_argument("--de-F", type=float, default=0.1, help="DE (rand/1/bin) scale factor")
    p.add_argument("--de-CR", type=float, default=0.1, help="DE (rand/1/bin) crossover rate")
    p.add_argument("--F-range", type=float, nargs=2, default=(0.0, 0.2), metavar=("LOW", "HIGH"),
                   help="SA-SHADE-tri-ensin F range (Table S3)")
    p.add_argument("--CR-range", type=float, nargs=2, default=(0.0, 0.3),
                   metavar=("LOW", "HIGH"), help="SA-SHADE-tri-ensin CR range (Table S3)")
    if data_and_pretraining:
        p.add_argument("--train-limit", type=positive_int, default=None, metavar="N",
                       help="use only the first N samples of the (shuffled) training split "
                            "for quick runs (default: the whole split)")
    p.add_argument("--heldout-fraction", type=float, default=heldout_fraction,
                   help="share of the training data held out to choose each run's winner")
    add_run_arguments(
        p, out=out, device=device, checkpoint_every=10,
        checkpoint_help="save populations and evolution state here",
        plots_help="write evolution-dynamics plots of the first seed to OUT/plots",
    )
    p.add_argument("--log-every", type=int, default=0, metavar="N",
                   help="print every status item every N generations (EvoTorch StdOutLogger; "
                        "0: off)")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="write every numeric status item per generation as a TensorBoard "
                        "scalar to DIR/seed<k>/<method>; needs `pip install "
                        "'neuro_de[tensorboard]'` (default: off)")
    p.add_argument("--distributed", choices=["population", "batch"], default=None,
                   help="under torchrun: replicated population, evaluation split over ranks "
                        "by population or by mini-batch, docs/scaling.md (default: one process)")
    p.add_argument("--mlflow", action="store_true",
                   help="also log status items to MLflow (needs `pip install mlflow`)")
    return p


def add_run_arguments(
    p: argparse.ArgumentParser,
    *,
    out: str,
    checkpoint_help: str,
    device: str = "cpu",
    checkpoint_every: int | None = None,
    plots_help: str = "write the plots to OUT/plots",
) -> argparse.ArgumentParser:
    """Add the options of how a recipe runs: ``--device``, ``--threads``, ``--out``,
    ``--config``, ``--checkpoint-dir`` (and ``--checkpoint-every`` when
    ``checkpoint_every`` is given), ``--resume``, ``--resume-if-present``,
    ``--no-progress`` and ``--plots``; :func:`check_resume` and
    :func:`check_writable_folders` check them.

    Args:
        p: The recipe's parser.
        out: Default of ``--out``.
        checkpoint_help: What ``--checkpoint-dir`` saves (its help, without the default).
        device: Default of ``--device``.
        checkpoint_every: Default of ``--checkpoint-every`` (generations between
            checkpoints); ``None`` leaves the option out (a recipe that saves after every
            step).
        plots_help: Help of ``--plots``.

    Returns:
        ``p``.
    """
    p.add_argument("--device", default=device,
                   help="torch device: cpu, cuda, cuda:1, ...; auto: cuda when available, "
                        "else cpu")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (one is fastest for small networks on a few cores: "
                        "two ran a LeNet-5 step ~12x slower on a 2-core machine)")
    p.add_argument("--out", default=out,
                   help=f"output folder (results, logs, plots, {CONFIG_NAME})")
    p.add_argument("--config", metavar="FILE", default=None,
                   help=f"the {CONFIG_NAME} of an earlier run: its options become the "
                        "defaults, options on the command line override them (default: none)")
    p.add_argument("--checkpoint-dir", metavar="DIR", default=None,
                   help=f"{checkpoint_help} (default: no checkpoints)")
    if checkpoint_every is not None:
        p.add_argument("--checkpoint-every", type=positive_int, default=checkpoint_every,
                       help="generations between evolution checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoints in --checkpoint-dir (an error when it "
                        "holds none: a mistyped folder would silently start over)")
    p.add_argument("--resume-if-present", action="store_true",
                   help="like --resume, but start from scratch where --checkpoint-dir holds "
                        "no checkpoint yet (for jobs that may run for the first time)")
    p.add_argument("--no-progress", action="store_true",
                   help="hide progress bars (they are off anyway when stderr is not a terminal)")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True,
                   help=plots_help)
    return p


#: The baselines :meth:`neuro_de.experiment.SeedRun.baseline` builds from the snapshots.
BASELINES = ("best-individual", "WA", "FGE", "uniform-soup", "greedy-soup")


def add_fge_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of the FGE baseline (Garipov et al. 2018): ``--fge-cycle-epochs``,
    ``--fge-lr-max``, ``--fge-lr-min`` (:func:`check_fge_arguments` checks them).

    Returns:
        ``p``.
    """
    p.add_argument("--fge-cycle-epochs", type=positive_int, default=1,
                   help="FGE cycle length in epochs of the training split")
    p.add_argument("--fge-lr-max", type=float, default=0.01,
                   help="FGE largest learning rate alpha_1 (SGD with momentum 0.9)")
    p.add_argument("--fge-lr-min", type=float, default=1e-4,
                   help="FGE smallest learning rate alpha_2")
    return p


def check_fge_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse FGE rates outside ``0 < --fge-lr-min <= --fge-lr-max``."""
    if not 0 < args.fge_lr_min <= args.fge_lr_max:
        parser.error("FGE needs 0 < --fge-lr-min <= --fge-lr-max, got "
                     f"{args.fge_lr_min} and {args.fge_lr_max}")


def check_common_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Reject inconsistent options early, naming the option and the fix.

    The checks of the data set and Adam options apply only where the parser has them
    (see ``data_and_pretraining`` of :func:`add_common_arguments`). ``--mlflow`` and
    ``--tensorboard`` are refused when their package cannot be imported. ``--device auto``
    is resolved here, to ``cuda`` when CUDA is available and ``cpu`` otherwise.
    ``--F-range`` / ``--CR-range`` need ``0 <= LOW < HIGH <= 2`` (``1`` for CR), the rule
    SA-SHADE-tri-ensin applies; ``--resume`` needs a ``--checkpoint-dir`` holding a
    checkpoint (:func:`check_resume`); an ``--lr`` above :data:`LR_WARN_ABOVE` prints a
    warning. The checks that need torch or write to disk (the device, writable folders,
    mini-batches against the training split) are
    :func:`neuro_de.experiment.check_run_arguments`, which the recipes run next.
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
    if "lr" in args:
        warn_large_lr("--lr", args.lr)
    for name, top, example in (("F_range", 2, "0.0 0.2"), ("CR_range", 1, "0.0 0.3")):
        lo, hi = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if not 0 <= lo < hi <= top:  # the rule SA-SHADE-tri-ensin's adaptation checks
            parser.error(f"{flag} needs 0 <= LOW <= HIGH <= {top} and LOW < HIGH (the "
                         f"adaptation draws values between them), got {lo} {hi}; e.g. "
                         f"{flag} {example} (Table S3)")
    if args.log_every < 0:
        parser.error(f"--log-every must be >= 0, got {args.log_every}")
    if args.mlflow:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            parser.error("--mlflow needs the mlflow package: pip install 'neuro_de[mlflow]'")
    if args.tensorboard is not None:
        try:
            import torch.utils.tensorboard  # noqa: F401  (imports torch: only with the option)
        except ImportError:
            parser.error("--tensorboard needs the tensorboard package: "
                         "pip install 'neuro_de[tensorboard]'")
    check_run_options(args, parser)
    if ("dataset" in args and args.dataset == "fashion-mnist" and args.data_root is None
            and not os.environ.get("NEURO_DE_DATA")):
        parser.error(f"--dataset {args.dataset} needs --data-root DIR (DIR/FashionMNIST/raw "
                     "with the idx files) or NEURO_DE_DATA; add --download to fetch it with "
                     "internet")


def check_run_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Check the options of :func:`add_run_arguments`: ``--threads`` at least 1,
    ``--device auto`` resolved (``cuda`` when CUDA is available, else ``cpu``), and
    :func:`check_resume`."""
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.device == "auto":
        import torch  # only for this value, after parsing

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    check_resume(args, parser)


def warn_large_lr(flag: str, value: float, *, bound: float = LR_WARN_ABOVE) -> None:
    """Print a warning to stderr when a learning rate ``value`` is above ``bound``.

    Such a rate is allowed (it is not an error) but Adam and SGD diverge there, and the
    population of a diverged training run is not worth evolving.

    Args:
        flag: The option, e.g. ``"--lr"``.
        value: Its value.
        bound: The largest rate that passes silently.
    """
    if value > bound:
        print(f"warning: {flag} {value:g} is above {bound:g}: training usually diverges "
              f"there (typical: 1e-4 to 1e-2); lower {flag} unless this is intended",
              file=sys.stderr, flush=True)


def checkpoint_files(folder: str | os.PathLike) -> list[str]:
    """The recipe checkpoints in ``folder`` (``seed<k>/<name>.pt``), sorted; ``[]`` when the
    folder is missing or holds none."""
    root = os.path.expanduser(os.fspath(folder))
    found = []
    with contextlib.suppress(OSError):
        for entry in sorted(os.listdir(root)):
            seed_dir = os.path.join(root, entry)
            if entry.startswith("seed") and os.path.isdir(seed_dir):
                found += [os.path.join(seed_dir, f) for f in sorted(os.listdir(seed_dir))
                          if f.endswith(".pt")]
    return found


def check_resume(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--resume`` and ``--resume-if-present`` against ``--checkpoint-dir``.

    ``--resume`` needs a ``--checkpoint-dir`` that holds at least one checkpoint
    (``seed<k>/<name>.pt``): a missing, mistyped or empty folder is an error naming it,
    since resuming from nothing would silently train from scratch. ``--resume-if-present``
    sets ``--resume`` and accepts a folder with no checkpoint yet.

    Raises:
        SystemExit: Through ``parser.error`` (exit code 2).
    """
    present = getattr(args, "resume_if_present", False)
    if not (args.resume or present):
        return
    flag = "--resume-if-present" if present else "--resume"
    if args.checkpoint_dir is None:
        parser.error(f"{flag} needs --checkpoint-dir DIR (where the stopped run saved)")
    if present:
        args.resume = True
        return
    folder = args.checkpoint_dir
    if not os.path.isdir(os.path.expanduser(folder)):
        parser.error(f"--resume: --checkpoint-dir {folder!r} does not exist, so there is "
                     "nothing to resume; check the path (a typo?), or pass "
                     "--resume-if-present to start from scratch when nothing was saved yet")
    if not checkpoint_files(folder):
        parser.error(f"--resume: --checkpoint-dir {folder!r} holds no checkpoint "
                     "(seed<k>/<name>.pt), so there is nothing to resume; check the path, or "
                     "pass --resume-if-present to start from scratch when nothing was saved "
                     "yet")


def writable_folder_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be used as an output folder, or ``None`` when it can.

    The folder (and its missing parents) is created, a probe file written in it and
    removed, and the folders this created are removed again: nothing is left behind.

    Args:
        path: The folder a run will write to.

    Returns:
        ``None``, or a short reason (e.g. "Permission denied", "it is a file").
    """
    folder = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if os.path.exists(folder) and not os.path.isdir(folder):
        return "it is a file, not a folder"
    created: list[str] = []
    probe = folder
    while not os.path.lexists(probe):
        created.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".neuro_de-write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        return err.strerror or str(err)
    finally:
        for made in created:  # deepest first
            with contextlib.suppress(OSError):
                os.rmdir(made)
    return None


def check_writable_folders(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--checkpoint-dir`` and ``--tensorboard`` must be folders the run can
    write to: checked before any data is loaded or network trained, naming the user's
    path (not the first temporary file a late save would have tried). Under ``torchrun``
    only rank 0 checks (it alone writes; two ranks probing one new folder would race).

    Raises:
        SystemExit: Through ``parser.error`` (exit code 2).
    """
    if os.environ.get("RANK", "0") != "0":
        return
    for flag, dest in (("--out", "out"), ("--checkpoint-dir", "checkpoint_dir"),
                       ("--tensorboard", "tensorboard")):
        path = getattr(args, dest, None)
        if path is None:
            continue
        problem = writable_folder_problem(path)
        if problem is not None:
            parser.error(f"{flag} {path!r} is not a folder this run can write to "
                         f"({problem}); give a writable folder")


# --------------------------------------------------------------------------- --config


def parse_args(parser: argparse.ArgumentParser,
               argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with ``--config FILE`` read first when given.

    The options in FILE (a :data:`CONFIG_NAME` a run wrote; see :func:`read_config`) become
    the defaults, and those given on the command line override them: a run repeated with
    ``--config OUT/config.json --out OTHER`` resolves to the same options but ``--out``.
    The file's values pass through the parser's own types and choices (an error names the
    file); its ``provenance`` block is ignored. Giving one option of a mutually exclusive
    group on the command line (e.g. ``--random-init``) replaces the file's choice in that
    group (e.g. ``--weights``).

    Args:
        parser: The recipe's parser (with a ``--config`` option, as
            :func:`add_common_arguments` adds).
        argv: The arguments (``None``: ``sys.argv[1:]``).

    Returns:
        The parsed options.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if not any(arg.startswith("--co") for arg in argv):  # no --config (nor --conf, ...)
        return parser.parse_args(argv)
    given = _given_on_command_line(parser, argv)
    path = given.get("config")
    if path is None:
        return parser.parse_args(argv)
    options = read_config(path, parser)
    skip = {"config"}
    for group in parser._mutually_exclusive_groups:
        dests = {a.dest for a in group._group_actions}
        if dests & given.keys():
            skip |= dests
    tokens: list[str] = []
    preset: dict[str, Any] = {}
    with _errors_prefixed(parser, f"--config {path}: "):
        for action in parser._actions:
            if action.dest not in options or action.dest in skip:
                continue
            value = options[action.dest]
            if _plain(value) == _plain(action.default):
                continue
            if value is None:
                preset[action.dest] = None
            else:
                tokens += _tokens(parser, action, value)
        with _nothing_required(parser):  # the file's values alone, so errors name the file
            parser.parse_known_args(tokens)
    return parser.parse_args([*tokens, *argv], namespace=argparse.Namespace(**preset))


def read_config(path: str | os.PathLike, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The options of a :data:`CONFIG_NAME` file, checked against ``parser``.

    The file is a JSON object of option names as ``argparse`` stores them (``train_batch_size``
    for ``--train-batch-size``) and an optional ``provenance`` block, which is dropped.

    Raises:
        SystemExit: Through ``parser.error`` (exit code 2) when the file cannot be read, is
            not a JSON object, or holds keys that are not options of this parser (the
            message names them and the nearest option names).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as err:
        parser.error(f"--config {path}: cannot read it ({err.strerror or err})")
    except ValueError as err:  # not JSON, or not UTF-8
        parser.error(f"--config {path} is not valid JSON ({err}); give the {CONFIG_NAME} a "
                     "run wrote into its --out folder")
    if not isinstance(data, dict):
        parser.error(f"--config {path} must hold a JSON object of options, got "
                     f"{type(data).__name__}")
    data.pop(PROVENANCE, None)
    known = [a.dest for a in parser._actions if a.dest != "help" and a.option_strings]
    unknown = [key for key in data if key not in known]
    if unknown:
        hints = []
        for key in unknown:
            near = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        parser.error(f"--config {path} has keys that are not options of this recipe: "
                     f"{', '.join(hints)}; remove them (keys are option names with '_' for "
                     "'-', e.g. train_batch_size)")
    return data


def write_config(out: str | os.PathLike, options: Mapping[str, Any], *,
                 provenance: Mapping[str, Any]) -> str:
    """Write ``OUT/config.json`` atomically (a temporary file in ``out``, then
    ``os.replace``): the ``options`` sorted by name, then the ``provenance`` block.

    Args:
        out: The output folder (created).
        options: The resolved options (option name -> value; tuples are written as lists,
            other non-JSON values as strings).
        provenance: Facts about the run (versions, commit, device, command, date).

    Returns:
        The path of the file.
    """
    if PROVENANCE in options:
        raise ValueError(f"`options` must not hold a {PROVENANCE!r} key.")
    payload = {key: _plain(options[key]) for key in sorted(options)}
    payload[PROVENANCE] = _plain(dict(provenance))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, CONFIG_NAME)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{CONFIG_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _plain(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples as lists), for writing and comparing."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _given_on_command_line(parser: argparse.ArgumentParser,
                           argv: Sequence[str]) -> dict[str, Any]:
    """The options ``argv`` sets (dest -> value), parsed with nothing required."""
    unset = object()
    namespace = argparse.Namespace(**{a.dest: unset for a in parser._actions
                                      if a.dest != argparse.SUPPRESS})
    with _nothing_required(parser):
        parsed, _ = parser.parse_known_args(argv, namespace)
    return {dest: value for dest, value in vars(parsed).items() if value is not unset}


@contextlib.contextmanager
def _nothing_required(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Turn off required options and groups for a while (to read a partial command line)."""
    actions = [(a, a.required) for a in parser._actions]
    groups = [(g, g.required) for g in parser._mutually_exclusive_groups]
    try:
        for item, _ in actions + groups:
            item.required = False
        yield
    finally:
        for item, required in actions + groups:
            item.required = required


@contextlib.contextmanager
def _errors_prefixed(parser: argparse.ArgumentParser, prefix: str) -> Iterator[None]:
    """Prefix ``parser.error`` messages (with the config file's name) for a while."""
    own = vars(parser).get("error")  # an error method set on this parser, if any
    error = parser.error
    parser.error = lambda message: error(prefix + message)
    try:
        yield
    finally:
        if own is None:
            del parser.error  # back to the class's method
        else:
            parser.error = own


def _tokens(parser: argparse.ArgumentParser, action: argparse.Action, value: Any) -> list[str]:
    """The command-line words that set ``action`` to ``value`` (a config file's value)."""
    flags = action.option_strings
    flag = next((f for f in flags if f.startswith("--")), flags[0])
    key = action.dest
    if isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            parser.error(f"{key!r} must be true or false, got {json.dumps(value)}")
        return [flag if value else next(f for f in flags if f.startswith("--no-"))]
    if action.nargs == 0:  # store_true / store_false / store_const
        if value == action.const:
            return [flag]
        parser.error(f"{key!r} must be {json.dumps(action.const)} or "
                     f"{json.dumps(action.default)}, got {json.dumps(value)}")
    if isinstance(value, (list, tuple)):
        if action.nargs in (None, "?"):
            parser.error(f"{key!r} takes one value, got the list {json.dumps(value)}")
        if any(isinstance(v, (list, dict)) for v in value):
            parser.error(f"{key!r} must be a list of plain values, got {json.dumps(value)}")
        return [flag, *map(str, value)]
    if isinstance(value, dict) or action.nargs not in (None, "?"):
        parser.error(f"{key!r} must be a list of values, got {json.dumps(value)}")
    return [f"{flag}={value}"]


# --------------------------------------------------------------------------- noise


def quiet_evotorch() -> None:
    """Silence what EvoTorch prints that a recipe user cannot act on.

    - the ``FutureWarning: torch.jit.script is deprecated`` that importing EvoTorch 0.6
      triggers in torch (a warnings filter: call this before EvoTorch is imported);
    - pandas' deprecation of ``set_index(..., inplace=True)``, which EvoTorch's
      ``PandasLogger`` calls (a FutureWarning or a DeprecationWarning, by pandas version);
    - EvoTorch's INFO lines (several for every ``Problem`` built): the ``evotorch`` logger
      is set to WARNING. Importing EvoTorch sets that logger's level itself, so call this
      again after the import (``neuro_de.experiment.run_recipe`` does).

    Library users can do the same with two lines (see docs/recipes.md).
    """
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                            category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*\binplace\b", module=r"evotorch(\.|$)")
    logging.getLogger("evotorch").setLevel(logging.WARNING)
