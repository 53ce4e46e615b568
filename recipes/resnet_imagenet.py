#!/usr/bin/env python
"""Headline setting of the seed paper: evolve pretrained ResNet-18/34/50/101 on ImageNet.

For each seed: load the user's pretrained network (``--weights PATH``, a local state_dict
read safely, or ``--torchvision-weights NAME`` from torchvision's cache), fine-tune it with
SGD and keep the snapshots of the last ``popsize`` epochs as the first population
(Algorithm 1, stage 1; or ``--population noise``: Gaussian noise around the pretrained
network, Table S9), evolve the weights with SA-SHADE-tri-ensin (and optionally DE) on
mini-batch cross-entropy -- fitness batch 2048, 10 generations per batch, F in (0, 0.2),
CR in (0, 0.3) (Table S3), the fc layer exempt from the genome, BatchNorm normalising each
fitness batch with its own statistics while its running mean/variance are never updated
(``--bn batch``, Sec. 4) -- choose each run's winner on a held-out split carved from the
training images, and report validation top-1/top-5 of the pretrained network, the
fine-tuned parent and the evolved winners.

Data: ``--data-root DIR`` with ``DIR/train/<class>/<image>`` and ``DIR/val/<class>/<image>``
(ImageNet with the validation images sorted into class folders, or any image folder); the
ImageNet evaluation transform (resize, center crop ``--image-size``, normalise) is used
throughout, with no augmentation (the paper uses no extra tricks).

Writes to ``--out``: config.json (every resolved option and its provenance; ``--config``
reads it back), results.csv (method, seed, top1, top5, ...), results.md, per run the
EvoTorch logger data (``log_<method>_seed<k>.csv``), evolution-dynamics plots
(``plots/<method>_seed<k>_*.png``) and each winner as safetensors plus a JSON of its
provenance (``winners/<method>_seed<k>.*``).

Long runs: ``--checkpoint-dir DIR`` saves each seed's fine-tuned population once and each
evolution every ``--checkpoint-every`` generations and on SIGINT/SIGTERM (atomically);
``--resume`` continues exactly where a stopped run left off.

Example (one H100, ResNet-50, bf16 forward passes)::

    python recipes/resnet_imagenet.py --arch resnet50 --weights resnet50.safetensors \\
        --data-root /data/imagenet --autocast bf16 --workers 16 \\
        --checkpoint-dir ckpt/r50 --out runs/r50
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

# Only light imports up here, so that --help is fast: torch, torchvision and EvoTorch load
# after parsing (inside the functions that use them).
from neuro_de.options import (
    add_common_arguments,
    check_common_arguments,
    nonnegative_int,
    parse_args,
    positive_int,
    quiet_evotorch,
    recipe_parser,
    warn_large_lr,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from neuro_de.experiment import SeedRun

RECIPE = "resnet_imagenet"
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")
#: Residual blocks per stage and block type of each architecture (to name the architecture
#: a weights file belongs to).
ARCH_BLOCKS = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet34": ((3, 4, 6, 3), False),
    "resnet50": ((3, 4, 6, 3), True),
    "resnet101": ((3, 4, 23, 3), True),
}
METHODS = ("SAShadeTriEnsin", "DE")
#: ``--autocast`` choices: the name of the torch dtype (``None``: no autocast).
AUTOCAST = {"none": None, "bf16": "bfloat16", "fp16": "float16"}
MIN_IMAGE_SIZE = 32  # five stride-2 stages: 32 px is the smallest input a ResNet reads

EXAMPLES = """
# one H100, ResNet-50, bf16 forward passes
python recipes/resnet_imagenet.py --arch resnet50 --weights resnet50.safetensors \\
    --data-root /data/imagenet --autocast bf16 --workers 16 \\
    --checkpoint-dir ckpt/r50 --out runs/r50
# torchvision's weights from the torch hub cache, Gaussian-noise population (Table S9)
python recipes/resnet_imagenet.py --arch resnet18 --torchvision-weights IMAGENET1K_V1 \\
    --data-root /data/imagenet --population noise
# the same run again from its saved options
python recipes/resnet_imagenet.py --config runs/r50/config.json --out runs/r50-again
"""


def build_parser() -> argparse.ArgumentParser:
    """The shared options of :func:`~neuro_de.options.add_common_arguments` (with this
    recipe's defaults; no LeNet data set or Adam options) and the ResNet recipe's own."""
    p = recipe_parser(__doc__, examples=EXAMPLES)
    add_common_arguments(p, out="runs/resnet_imagenet", seeds=1, popsize=10, generations=200,
                         batch_size=2048, heldout_fraction=0.01, device="auto",
                         data_and_pretraining=False)
    m = p.add_argument_group("network")
    m.add_argument("--arch", choices=ARCHS, default="resnet50", help="torchvision ResNet")
    src = m.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", metavar="PATH", default=None,
                     help="pretrained state_dict of --arch: a .safetensors file, or a file "
                          "torch.load(weights_only=True) reads (.pth/.pt); a wrapping "
                          "{'state_dict': ...} and DataParallel 'module.' prefixes are accepted "
                          "(default: none; one of --weights, --torchvision-weights and "
                          "--random-init is required)")
    src.add_argument("--torchvision-weights", metavar="NAME", default=None,
                     help="torchvision weights of --arch by name (e.g. IMAGENET1K_V1, DEFAULT), "
                          "read from the torch hub cache ($TORCH_HOME/hub/checkpoints) "
                          "(default: none)")
    src.add_argument("--random-init", action="store_true",
                     help="start from a randomly initialised network (smoke tests only)")
    m.add_argument("--allow-download", action="store_true",
                   help="let torchvision download --torchvision-weights missing from the cache "
                        "(needs internet)")
    m.add_argument("--exclude", nargs="*", default=["fc"], metavar="PREFIX",
                   help="parameter names/prefixes kept out of the genome (paper: the fc layer; "
                        "give --exclude with nothing to evolve every parameter)")
    m.add_argument("--bn", choices=("batch", "frozen"), default="batch",
                   help="BatchNorm in the fitness: 'batch' normalises each fitness batch with "
                        "its own statistics and never updates the running mean/variance (the "
                        "paper); 'frozen' uses the stored running statistics")
    m.add_argument("--bn-recalibrate", type=nonnegative_int, default=0, metavar="N",
                   help="recompute the BatchNorm running statistics of each evolved individual "
                        "on N training batches (of --batch-size) before held-out selection and "
                        "validation (0: keep the parent's statistics, as the paper)")

    d = p.add_argument_group("data")
    d.add_argument("--data-root", metavar="DIR", default=None,
                   help="folder with train/ and val/, one sub-folder per class (ImageNet "
                        "layout) (default: none; required)")
    d.add_argument("--image-size", type=positive_int, default=224, help="center-crop side")
    d.add_argument("--resize-size", type=positive_int, default=None,
                   help="shorter side before the crop (default: image size x 256/224)")
    d.add_argument("--train-limit", type=positive_int, default=None, metavar="N",
                   help="use a seeded random subset of N training images for quick runs "
                        "(default: all)")
    d.add_argument("--val-limit", type=positive_int, default=None, metavar="N",
                   help="report on a seeded random subset of N validation images for quick "
                        "runs (default: all)")
    d.add_argument("--workers", type=nonnegative_int, default=min(8, os.cpu_count() or 1),
                   help="data-loading worker processes (fine-tuning, fitness batches, "
                        "evaluation)")

    g = p.add_argument_group("first population")
    g.add_argument("--population", choices=("finetune", "noise"), default="finetune",
                   help="'finetune': the last POPSIZE epochs of SGD fine-tuning (the paper); "
                        "'noise': the pretrained network plus Gaussian noise (Table S9)")
    g.add_argument("--finetune-epochs", type=positive_int, default=10,
                   help="SGD fine-tuning epochs (>= popsize)")
    g.add_argument("--finetune-lr", type=float, default=1e-3, help="SGD learning rate")
    g.add_argument("--finetune-momentum", type=float, default=0.9, help="SGD momentum")
    g.add_argument("--finetune-weight-decay", type=float, default=1e-4, help="SGD weight decay")
    g.add_argument("--finetune-batch-size", type=positive_int, default=256,
                   help="SGD mini-batch")
    g.add_argument("--freeze-excluded", action="store_true",
                   help="do not fine-tune the --exclude parameters (all members then share the "
                        "pretrained fc)")
    g.add_argument("--noise-std", type=float, default=None,
                   help="--population noise: the noise std (default: the per-coordinate std "
                        "of the fine-tuned population, as Table S9; fine-tunes first)")

    e = p.add_argument_group("evolution and evaluation")
    e.add_argument("--methods", nargs="+", choices=METHODS, default=["SAShadeTriEnsin"],
                   help="evolution algorithms run from the first population")
    e.add_argument("--autocast", choices=tuple(AUTOCAST), default="none",
                   help="forward-pass autocast dtype of fitness and evaluation (bf16: GPUs)")
    e.add_argument("--eval-batch-size", type=positive_int, default=256,
                   help="batch of held-out and validation passes")
    return p


# --------------------------------------------------------------------------- checks


def class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def check_data_root(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The class names; errors unless --data-root holds train/ and val/ with equal classes."""
    if args.data_root is None:
        parser.error("--data-root DIR is required: a folder with train/ and val/, each holding "
                     "one sub-folder of images per class (the ImageNet layout)")
    root = Path(args.data_root).expanduser()
    if not root.is_dir():
        parser.error(f"--data-root {str(root)!r} does not exist (expected a folder with train/ "
                     "and val/, one sub-folder per class)")
    for split in ("train", "val"):
        if not (root / split).is_dir():
            parser.error(f"--data-root {str(root)!r} has no {split}/ folder: expected "
                         f"{root}/train/<class>/<image> and {root}/val/<class>/<image>")
    train, val = class_folders(root / "train"), class_folders(root / "val")
    if not train:
        parser.error(f"{root / 'train'} holds no class folders")
    if train != val:
        only_t = sorted(set(train) - set(val))[:5]
        only_v = sorted(set(val) - set(train))[:5]
        parser.error(f"train/ and val/ of {root} must have the same class folders (labels are "
                     f"their sorted order); only in train/: {only_t}, only in val/: {only_v}")
    return train


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Reject inconsistent options early, naming the option and the fix (no data is read
    beyond listing the class folders): the shared checks, then this recipe's."""
    check_common_arguments(args, parser)
    if args.distributed == "batch" and args.bn == "batch":
        parser.error("--distributed batch needs --bn frozen: with --bn batch every rank would "
                     "normalise its shard with its own statistics")
    if fine_tunes(args) and args.finetune_epochs < args.popsize:
        parser.error(f"--finetune-epochs ({args.finetune_epochs}) must be >= --popsize "
                     f"({args.popsize}): the population is the snapshots of the last POPSIZE "
                     "epochs")
    if args.noise_std is not None:
        if args.population != "noise":
            parser.error("--noise-std applies to --population noise only")
        if not args.noise_std >= 0:
            parser.error(f"--noise-std must be >= 0, got {args.noise_std}")
    if args.image_size < MIN_IMAGE_SIZE:
        parser.error(f"--image-size must be >= {MIN_IMAGE_SIZE} for a ResNet, got "
                     f"{args.image_size}")
    if args.resize_size is None:
        args.resize_size = round(args.image_size * 256 / 224)
    if args.resize_size < args.image_size:
        parser.error(f"--resize-size ({args.resize_size}) must be >= --image-size "
                     f"({args.image_size})")
    if not args.finetune_lr > 0:
        parser.error(f"--finetune-lr must be > 0, got {args.finetune_lr}")
    warn_large_lr("--finetune-lr", args.finetune_lr)
    if not 0 <= args.finetune_momentum < 1:
        parser.error(f"--finetune-momentum must be in [0, 1), got {args.finetune_momentum}")
    if not args.finetune_weight_decay >= 0:
        parser.error(f"--finetune-weight-decay must be >= 0, got {args.finetune_weight_decay}")
    from neuro_de.experiment import check_run_arguments

    check_run_arguments(args, parser)  # --device, writable --out/--checkpoint-dir
    if args.weights is not None and not Path(args.weights).expanduser().is_file():
        parser.error(f"--weights {args.weights!r} is not a file")
    args.exclude = list(dict.fromkeys(args.exclude))  # drop repeats


def fine_tunes(args: argparse.Namespace) -> bool:
    """Whether the run fine-tunes: for the population, or for the noise std of Table S9."""
    return args.population == "finetune" or args.noise_std is None


# --------------------------------------------------------------------------- the network


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state_dict from a safetensors file or a ``torch.load(weights_only=True)`` file.

    Raises:
        ValueError: When the file cannot be read safely or holds no tensors by name.
    """
    import torch

    path = Path(path).expanduser()
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(
                f"{path} cannot be read with torch.load(weights_only=True): {err}. Only "
                "state_dicts (tensors by name) are read, never pickled objects: save "
                "`model.state_dict()` (or convert the file to safetensors)."
            ) from err
    for key in ("state_dict", "model_state_dict", "model_state", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path} does not hold a state_dict (parameter name -> tensor).")
    if all(k.startswith("module.") for k in state):  # saved from DataParallel/DDP
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def guess_arch(state: dict[str, torch.Tensor]) -> str | None:
    """The ResNet of :data:`ARCHS` whose layout matches a state_dict's keys, if any."""
    blocks: dict[int, int] = {}
    for key in state:
        match = re.match(r"layer(\d)\.(\d+)\.", key)
        if match:
            stage, index = int(match[1]), int(match[2])
            blocks[stage] = max(blocks.get(stage, 0), index + 1)
    counts = tuple(blocks.get(s, 0) for s in (1, 2, 3, 4))
    bottleneck = any(".conv3." in key for key in state)
    for name, (layout, is_bottleneck) in ARCH_BLOCKS.items():
        if layout == counts and is_bottleneck == bottleneck:
            return name
    return None


def state_dict_mismatch(own: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str:
    """A short account of how ``given`` differs from ``own`` ("" when it fits)."""

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")

    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    shapes = [f"{k} {tuple(given[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in given and given[k].shape != own[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing from the file ({some(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unknown to the network ({some(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} of another shape, file vs network ({some(shapes)})")
    return "; ".join(parts)


def _new_head(model: nn.Module, num_classes: int) -> None:
    from torch import nn

    old = model.fc
    model.fc = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)


def build_start_model(args: argparse.Namespace, num_classes: int) -> tuple[nn.Module, str, bool]:
    """The pretrained network for ``num_classes`` classes, a description of its weights and
    whether its fc layer is new (the weights had another number of classes).

    Raises:
        ValueError: On a weights file of another architecture, an unknown torchvision
            weights name, or torchvision weights missing from the cache.
    """
    import torch

    from neuro_de.models import resnet

    depth = int(args.arch.removeprefix("resnet"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a new head is initialised reproducibly
        if args.random_init:
            return resnet(depth, num_classes=num_classes), "random initialisation", False
        if args.torchvision_weights is not None:
            import torchvision

            enum = getattr(torchvision.models, f"ResNet{depth}_Weights")
            try:
                weights = enum[args.torchvision_weights]
            except KeyError:
                names = ", ".join(enum.__members__)
                raise ValueError(f"--torchvision-weights {args.torchvision_weights!r} is not a "
                                 f"weights name of {args.arch}; valid: {names}") from None
            cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
            if not cached.is_file() and not args.allow_download:
                raise ValueError(
                    f"--torchvision-weights {weights} is not in the torch hub cache ({cached}); "
                    "copy the file there, pass --allow-download (needs internet), or give the "
                    "state_dict file with --weights PATH")
            classes = len(weights.meta["categories"])
            model = resnet(depth, weights=weights, num_classes=num_classes)
            return model, f"torchvision {weights}", classes != num_classes
        state = read_state_dict(args.weights)
        fc = state.get("fc.weight")
        classes = int(fc.shape[0]) if fc is not None and fc.ndim == 2 else num_classes
        model = resnet(depth, num_classes=classes)
        problems = state_dict_mismatch(model.state_dict(), state)
        if problems:
            guess = guess_arch(state)
            hint = (f" The file looks like a {guess} state_dict: pass --arch {guess}."
                    if guess and guess != args.arch else "")
            raise ValueError(f"--weights {args.weights} does not fit --arch {args.arch}: "
                             f"{problems}.{hint}")
        model.load_state_dict(state)
        if classes != num_classes:
            _new_head(model, num_classes)
        return model, f"{args.weights}", classes != num_classes


# --------------------------------------------------------------------------- data


def seeded_subset(dataset, n: int | None, seed: int = 0):
    """A seeded random subset of ``n`` items (in their original order), or ``dataset``."""
    if n is None or n >= len(dataset):
        return dataset
    import torch
    from torch.utils.data import Subset

    gen = torch.Generator().manual_seed(seed)
    keep = torch.sort(torch.randperm(len(dataset), generator=gen)[:n]).values.tolist()
    return Subset(dataset, keep)


def load_data(args: argparse.Namespace):
    """Train / held-out / val splits of the image folder, honouring --train-limit and
    --val-limit (``val/`` is the reported split, the ``test`` of the splits)."""
    from neuro_de.data import load_splits

    splits = load_splits("imagefolder", heldout_fraction=args.heldout_fraction, seed=0,
                         root=args.data_root, image_size=args.image_size,
                         resize_size=args.resize_size)
    return splits._replace(train=seeded_subset(splits.train, args.train_limit),
                           test=seeded_subset(splits.test, args.val_limit))


# --------------------------------------------------------------------------- one seed


@functools.cache
def image_folder_run() -> type[SeedRun]:
    """This recipe's :class:`~neuro_de.experiment.SeedRun` subclass, ``ImageFolderRun``.

    It is defined on the first call rather than at import, so that loading this script (for
    ``--help``, or to read its parser) does not import torch and EvoTorch.
    """
    import copy

    import torch
    from torch.utils.data import DataLoader

    from neuro_de.experiment import SeedRun
    from neuro_de.problems import ParameterView, SupervisedNetProblem

    class ImageFolderRun(SeedRun):
        """One seed on the image folder: :class:`~neuro_de.experiment.SeedRun` with the
        pretrained network fine-tuned by SGD (or noise around it) as the first population,
        the ResNet problem options, data loaders for held-out and val/ passes, and BatchNorm
        recalibration of the evolved networks with ``--bn-recalibrate``.

        Args:
            *positional: As :class:`~neuro_de.experiment.SeedRun`.
            start: The pretrained network (shared by every seed, never modified).
            **kwargs: As :class:`~neuro_de.experiment.SeedRun` (``meta`` included).
        """

        split = "val"
        winner_column = True

        def __init__(self, *positional, start: nn.Module, **kwargs):
            super().__init__(*positional, **kwargs)
            self.start = start

        def fresh_model(self) -> nn.Module:
            return copy.deepcopy(self.start)

        def pretraining(self) -> dict:
            a = self.args
            return {"epochs": a.finetune_epochs, "keep_last": a.popsize, "optimizer": "sgd",
                    "lr": a.finetune_lr, "momentum": a.finetune_momentum,
                    "weight_decay": a.finetune_weight_decay, "batch_size": a.finetune_batch_size,
                    "exclude": a.exclude or None, "freeze_excluded": a.freeze_excluded,
                    "num_workers": a.workers}

        def first_population(self) -> tuple[torch.Tensor, nn.Module]:
            """The fine-tuned snapshots, or (``--population noise``) the pretrained network
            plus Gaussian noise of ``--noise-std`` or of the fine-tuned population's
            per-coordinate std (Table S9)."""
            a = self.args
            if a.population == "finetune":
                return super().first_population()
            from neuro_de.population import noise_population

            parent = self.start.to(a.device)
            center = ParameterView(parent, exclude=a.exclude or None).to_vector(parent).cpu()
            reference = None if a.noise_std is not None else self.snapshots.vectors
            noise = noise_population(center, a.popsize, std=a.noise_std, reference=reference,
                                     generator=self.seed)
            return noise.vectors, parent

        def problem_options(self) -> dict:
            a = self.args
            dtype = AUTOCAST[a.autocast]
            return {"exclude": a.exclude or None, "bn": a.bn,
                    "autocast_dtype": None if dtype is None else getattr(torch, dtype),
                    "num_workers": a.workers}

        def eval_data(self, dataset) -> DataLoader:
            a = self.args
            return DataLoader(dataset, batch_size=a.eval_batch_size, shuffle=False,
                              num_workers=a.workers,
                              pin_memory=torch.device(a.device).type == "cuda")

        def network(self, problem: SupervisedNetProblem, vector: torch.Tensor) -> nn.Module:
            """The network of a genome, BatchNorm recalibrated when --bn-recalibrate asks."""
            n = self.args.bn_recalibrate
            if n:
                return problem.recalibrate_bn(vector, self.splits.train, num_batches=n,
                                              batch_size=self.args.batch_size, seed=self.seed)
            return problem.to_module(vector)

        def provenance(self) -> dict:
            return {"bn_recalibrate_batches": self.args.bn_recalibrate}

    return ImageFolderRun


def run_seed(run: SeedRun, start_name: str, cache: dict) -> tuple[list[dict], dict]:
    """Rows and logger frames of one seed: the pretrained network (scored once, kept in
    ``cache`` for the other seeds), the fine-tuned parent and the evolved winners."""
    a = run.args
    problem = run.problem()
    if "start" not in cache:
        cache["start"] = run.score(problem, run.start.to(a.device).eval())
    rows = [run.test_row(start_name, cache["start"])]
    if fine_tunes(a):
        rows.append(run.test_row("fine-tuned", run.score(problem, run.snapshots.model.eval())))
    from neuro_de.experiment import searcher_factory

    logs = {}
    for method in a.methods:
        row, logs[method] = run.evolve(method, searcher_factory(method, a))
        rows.append(row)
    return rows, logs


def main(argv: list[str] | None = None) -> int:
    quiet_evotorch()  # before EvoTorch is imported
    parser = build_parser()
    args = parse_args(parser, argv)
    check_args(args, parser)
    classes = check_data_root(args, parser)
    from neuro_de.experiment import run_recipe
    from neuro_de.problems import ParameterView

    try:
        start, source, new_head = build_start_model(args, len(classes))
    except ValueError as err:
        parser.error(str(err))
    if new_head:
        if args.population == "noise":
            parser.error(f"the weights ({source}) have another number of classes than the "
                         f"{len(classes)} class folders, so the fc layer is new and untrained; "
                         "--population noise centres on that network: fine-tune "
                         "(--population finetune) or give weights for these classes")
        print(f"note: the weights ({source}) have another number of classes than the "
              f"{len(classes)} class folders: a new fc layer is trained by the fine-tuning",
              file=sys.stderr)
    try:
        ParameterView(start, exclude=args.exclude or None)
    except ValueError as err:
        parser.error(f"--exclude {' '.join(args.exclude)}: {err}")
    splits = load_data(args)
    if args.batch_size > len(splits.train):
        parser.error(f"--batch-size ({args.batch_size}) exceeds the {len(splits.train)} "
                     "training images left after the held-out split")

    meta = {"arch": args.arch, "weights": source, "exclude": ",".join(args.exclude),
            "bn": args.bn, "image_size": args.image_size, "num_classes": len(classes),
            "population": args.population, "noise_std": args.noise_std,
            "popsize": args.popsize, "finetune_epochs": args.finetune_epochs,
            "finetune_lr": args.finetune_lr, "finetune_batch_size": args.finetune_batch_size,
            "freeze_excluded": args.freeze_excluded, "train_size": len(splits.train)}
    start_name = "random-init" if args.random_init else "pretrained"
    baseline = "fine-tuned" if args.population == "finetune" else start_name
    top5 = "top-5" if len(classes) >= 5 else f"top-{len(classes)} (fewer than 5 classes)"
    population = (
        f"the last {args.popsize} of {args.finetune_epochs} SGD fine-tuning epochs "
        f"(lr {args.finetune_lr}, batch {args.finetune_batch_size})"
        if args.population == "finetune" else
        f"the {start_name} network plus Gaussian noise of std "
        + (f"{args.noise_std}" if args.noise_std is not None else
           f"the per-coordinate std of the last {args.popsize} of {args.finetune_epochs} SGD "
           "fine-tuning epochs (Table S9)")
    )
    return run_recipe(
        args, argv, functools.partial(run_seed, start_name=start_name, cache={}),
        recipe=RECIPE, data=(splits, None), plots_per_seed=True,
        seed_run=functools.partial(image_folder_run(), start=start, meta=meta),
        title=f"{args.arch} ({source}) on {args.data_root}: evolved vs parent",
        baseline=baseline,
        notes=(f"Population: {population}. {', '.join(args.methods)}: {args.generations} "
               f"generations, fitness batch {args.batch_size} x {args.generations_per_batch} "
               f"generations, popsize {args.popsize}, excluded from the genome: "
               f"{', '.join(args.exclude) or 'nothing'}, BatchNorm '{args.bn}'"
               + (f", winners' BatchNorm recalibrated on {args.bn_recalibrate} batches"
                  if args.bn_recalibrate else "")
               + f". Winners chosen on a held-out {args.heldout_fraction:g} of the training "
               f"images; top1/top5 ({top5}) in % on val/"
               + (f" (a seeded subset of {len(splits.test)} images)" if args.val_limit else "")
               + "; val/ is used only for the reported numbers."),
    )


if __name__ == "__main__":
    sys.exit(main())
