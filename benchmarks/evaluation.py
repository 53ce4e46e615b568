"""Time one generation's fitness evaluation: our problem vs. a bare loop vs. SupervisedNE.

For a network and a population of ``popsize`` genomes, every row times the evaluation of
the whole population on one minibatch (median of ``--repeats`` runs after a warm-up):

* **bare loop** -- the floor a loop can reach: copy each vector into the network
  (``ParameterView.load_into``) and run ``model(x)`` under ``torch.inference_mode()``;
  no loss, no EvoTorch.
* **SupervisedNetProblem** -- ``problem.evaluate(batch)`` on an EvoTorch ``SolutionBatch``
  (loss + accuracy, EvoTorch bookkeeping included) in its evaluation paths: ``loop``
  (channels-last on and off), ``vmap``, and each with ``torch.compile`` (compile time is
  reported separately and excluded from the per-generation time).
* **EvoTorch SupervisedNE** -- ``problem.evaluate(batch)`` of
  ``evotorch.neuroevolution.SupervisedNE`` on the same network, data, popsize and
  ``minibatch_size`` (it draws a fresh minibatch through a ``DataLoader`` per evaluation).

Data: real MNIST when ``--data-root`` (default ``$NEURO_DE_DATA``) holds
``MNIST/raw/train-images-idx3-ubyte[.gz]``; otherwise scikit-learn's digits upsampled to
28x28; ``--model resnet18`` uses random 3-channel images of ``--image-size``.

Examples::

    python benchmarks/evaluation.py                      # LeNet-5, popsize 32, batch 1024
    python benchmarks/evaluation.py --device cuda --model resnet18 --batch-size 256 \\
        --autocast bf16
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuro_de.problems import ParameterView, SupervisedNetProblem  # noqa: E402
from neuro_de.problems.evaluation import choose_eval_mode  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=["lenet5", "resnet18"], default="lenet5")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    parser.add_argument("--popsize", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1024, help="images per minibatch")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    parser.add_argument(
        "--data-root",
        default=os.environ.get("NEURO_DE_DATA"),
        help="folder holding MNIST/raw (default: $NEURO_DE_DATA)",
    )
    parser.add_argument("--image-size", type=int, default=224, help="resnet18 input size")
    parser.add_argument(
        "--autocast", choices=["none", "bf16", "fp16"], default="none", help="forward autocast"
    )
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile rows")
    parser.add_argument(
        "--no-supervisedne", action="store_true", help="skip EvoTorch's SupervisedNE row"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------------------
# data and model
# --------------------------------------------------------------------------------------
def load_images(args: argparse.Namespace, n: int) -> tuple[TensorDataset, str]:
    """``n`` images (+ labels) for the chosen model, and a line saying where they came from."""
    gen = torch.Generator().manual_seed(args.seed)
    if args.model == "resnet18":
        x = torch.randn(n, 3, args.image_size, args.image_size, generator=gen)
        y = torch.randint(0, 10, (n,), generator=gen)
        return TensorDataset(x, y), f"random 3x{args.image_size}x{args.image_size} images"
    root = Path(args.data_root) if args.data_root else None
    raw = root / "MNIST" / "raw" if root else None
    if raw is not None and raw.is_dir():
        from neuro_de.data.idx import find_idx_file, read_idx

        images = find_idx_file(raw, "train-images-idx3-ubyte")
        labels = find_idx_file(raw, "train-labels-idx1-ubyte")
        if images is not None and labels is not None:
            x = read_idx(images)[:n].float().div_(255.0).sub_(0.1307).div_(0.3081)
            y = read_idx(labels)[:n].long()
            return TensorDataset(x.unsqueeze(1), y), f"real MNIST from {raw}"
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    reps = -(-n // len(x))
    x = x.repeat(reps, 1, 1, 1)[:n]
    y = torch.as_tensor(digits.target).repeat(reps)[:n].long()
    return TensorDataset((x - x.mean()) / x.std(), y), (
        "scikit-learn digits upsampled to 28x28 (no MNIST under --data-root / $NEURO_DE_DATA)"
    )


def build_model(args: argparse.Namespace) -> nn.Module:
    torch.manual_seed(args.seed)
    if args.model == "resnet18":
        try:
            from neuro_de.models import resnet

            return resnet(18, num_classes=10)
        except ImportError:
            import torchvision

            return torchvision.models.resnet18(num_classes=10)
    try:
        from neuro_de.models import LeNet5

        return LeNet5(num_classes=10)
    except ImportError:  # standard LeNet-5 (61,706 parameters on 28x28)
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, 10),
        )


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------
def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, float]:
    """(first call in ms, median of ``repeats`` further calls in ms)."""

    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - start) * 1e3

    first = once()
    return first, statistics.median(once() for _ in range(repeats))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    autocast = None if args.autocast == "none" else args.autocast
    data, source = load_images(args, args.batch_size)
    model = build_model(args).to(device).eval()
    view = ParameterView(model)
    gen = torch.Generator().manual_seed(args.seed)
    center = view.to_vector(model).cpu()
    pop = (center + 0.01 * torch.randn(args.popsize, view.numel, generator=gen)).to(device)
    rows: list[tuple[str, float, str]] = []

    # Bare loop: the floor.
    bare = copy.deepcopy(model)
    for p in bare.parameters():
        p.requires_grad_(False)
    x_dev = data.tensors[0].to(device)

    def bare_loop() -> None:
        with torch.inference_mode():
            for i in range(args.popsize):
                view.load_into(bare, pop[i])
                bare(x_dev)

    _, bare_ms = timed(bare_loop, device, args.repeats)
    rows.append(("bare loop: load_into + model(x), inference_mode", bare_ms, "the floor"))

    configs: list[tuple[str, dict]] = [
        ("SupervisedNetProblem loop (auto: channels_last)", {"eval_mode": "loop"}),
        (
            "SupervisedNetProblem loop, channels_last=False",
            {"eval_mode": "loop", "channels_last": False},
        ),
        ("SupervisedNetProblem vmap", {"eval_mode": "vmap", "chunk_size": args.popsize}),
    ]
    if not args.no_compile:
        configs += [
            ("SupervisedNetProblem loop + compile", {"eval_mode": "loop", "compile": True}),
            (
                "SupervisedNetProblem vmap + compile",
                {"eval_mode": "vmap", "compile": True, "chunk_size": args.popsize},
            ),
        ]
    auto_mode = choose_eval_mode(model)
    for name, kw in configs:
        problem = SupervisedNetProblem(
            model,
            data,
            batch_size=args.batch_size,
            device=device,
            seed=args.seed,
            autocast_dtype=autocast,
            store_solution_stats=False,
            **kw,
        )
        batch = problem.generate_batch(args.popsize)
        batch.set_values(pop)
        try:
            first, ms = timed(lambda p=problem, b=batch: p.evaluate(b), device, args.repeats)
        except Exception as err:  # report and go on (e.g. no C++ compiler for compile)
            rows.append((name, float("nan"), f"failed: {type(err).__name__}: {err}"[:120]))
            continue
        note = f"compile + first call {first / 1e3:.1f} s" if kw.get("compile") else ""
        rows.append((name, ms, note))

    if not args.no_supervisedne:
        rows.append(time_supervisedne(args, model, data, pop, device))

    print(
        f"# Fitness evaluation per generation: {args.model}, popsize {args.popsize}, "
        f"batch {args.batch_size}"
    )
    print()
    print(
        f"- device: {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + f", torch threads: {torch.get_num_threads()}, torch {torch.__version__}"
    )
    print(f"- data: {source}")
    print(
        f"- genome: {view.numel:,} parameters; eval_mode='auto' picks {auto_mode!r}; "
        f"autocast: {args.autocast}; median of {args.repeats} runs after a warm-up"
    )
    print()
    print("| method | ms / generation | x bare loop | notes |")
    print("| --- | ---: | ---: | --- |")
    for name, ms, note in rows:
        ratio = ms / bare_ms
        print(f"| {name} | {ms:,.1f} | {ratio:.2f} | {note} |")


def time_supervisedne(
    args: argparse.Namespace,
    model: nn.Module,
    data: TensorDataset,
    pop: torch.Tensor,
    device: torch.device,
) -> tuple[str, float, str]:
    name = "EvoTorch SupervisedNE (train-mode net, new minibatch per call)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from evotorch.neuroevolution import SupervisedNE
        problem = SupervisedNE(
            data,
            copy.deepcopy(model),
            F.cross_entropy,
            minibatch_size=args.batch_size,
            device=device,
        )
        batch = problem.generate_batch(args.popsize)
        batch.set_values(pop.to(batch.values.device))
        _, ms = timed(lambda: problem.evaluate(batch), device, args.repeats)
        return name, ms, "draws its minibatch through a DataLoader each call"
    except Exception as err:  # report, do not hide the rest of the table
        return name, float("nan"), f"failed: {type(err).__name__}: {err}"[:120]


if __name__ == "__main__":
    main()
