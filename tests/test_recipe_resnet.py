"""recipes/resnet_imagenet.py runs end to end on a tiny image folder (CPU, seconds) and
rejects bad options early and clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from recipe_helpers import RECIPES, read_rows
from recipe_helpers import load_recipe as load_recipe_named

RECIPE = RECIPES / "resnet_imagenet.py"
CLASSES = ("ant", "bee", "cat")
PNG = b"\x89PNG\r\n\x1a\n"


def load_recipe():
    return load_recipe_named("resnet_imagenet")


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    """3 classes x 12 train and 6 val PNGs of 32x32: a colour per class plus noise."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    gen = torch.Generator().manual_seed(0)
    for split, n in (("train", 12), ("val", 6)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                base = torch.full((32, 32, 3), 40.0)
                base[..., c] = 200.0
                pixels = (base + 30 * torch.randn(32, 32, 3, generator=gen)).clamp(0, 255)
                Image.fromarray(pixels.to(torch.uint8).numpy()).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """A ResNet-18 state_dict with a 3-class head, as safetensors (the user's weights)."""
    from safetensors.torch import save_file

    from neuro_de.models import resnet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in resnet(18, num_classes=3).state_dict().items()},
              str(path))
    return path


def tiny(image_root: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-root", str(image_root), "--weights", str(weights), "--arch", "resnet18",
            "--image-size", "32", "--popsize", "6", "--generations", "3", "--batch-size", "16",
            "--generations-per-batch", "2", "--finetune-epochs", "6",
            "--finetune-batch-size", "8", "--heldout-fraction", "0.25", "--workers", "0",
            "--eval-batch-size", "32", "--device", "cpu", "--no-progress", "--out", str(out),
            *extra]


def test_tiny_run_writes_results_logs_plots_and_winners(image_root, weights_file, tmp_path,
                                                        capsys):
    out = tmp_path / "out"
    # a genome of conv1, bn1 and layer1 (157k values) keeps the DE operators cheap; the
    # noise test below evolves the default genome (all but fc: 11.2M values)
    argv = tiny(image_root, weights_file, out, "--methods", "SAShadeTriEnsin", "DE",
                "--exclude", "fc", "layer2", "layer3", "layer4")
    assert load_recipe().main(argv) == 0
    rows = read_rows(out / "results.csv")
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("pretrained", "0"), ("fine-tuned", "0"), ("SAShadeTriEnsin", "0"), ("DE", "0")]
    assert {"method", "seed", "top1", "top5", "val_loss"} <= set(rows[0])
    for r in rows:
        assert 0.0 <= float(r["top1"]) <= float(r["top5"]) <= 100.0
    for r in rows[2:]:
        assert 0 <= int(r["winner"]) < 6
    md = (out / "results.md").read_text()
    assert "paired against `fine-tuned`" in md and "top-3 (fewer than 5 classes)" in md
    for method in ("SAShadeTriEnsin", "DE"):
        log = read_rows(out / f"log_{method}_seed0.csv")
        assert len(log) == 3 and "pop_best_eval" in log[0]
        for suffix in ("safetensors", "json"):
            assert (out / "winners" / f"{method}_seed0.{suffix}").stat().st_size > 0
    pngs = sorted((out / "plots").glob("*.png"))
    names = {p.name for p in pngs}
    for expected in ("SAShadeTriEnsin_seed0_loss_accuracy.png",
                     "SAShadeTriEnsin_seed0_strategy_dynamics.png",
                     "DE_seed0_loss_accuracy.png", "all_seed0_loss_accuracy.png"):
        assert expected in names
    for p in pngs:
        assert p.read_bytes()[:8] == PNG and p.stat().st_size > 1000
    assert "seed 0: val top-1 pretrained" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert (config["arch"], config["weights"], config["random_init"]) == (
        "resnet18", str(weights_file), False)
    assert config["device"] == "cpu" and config["resize_size"] == 37  # resolved
    assert config["provenance"]["recipe"] == "resnet_imagenet"


def test_config_round_trip_and_a_new_weights_choice(image_root, weights_file, tmp_path):
    """The saved options parse back to the same run; --random-init on the command line
    replaces the file's --weights (one of a required group)."""
    from neuro_de.options import parse_args, write_config

    recipe = load_recipe()
    args = parse_args(recipe.build_parser(), tiny(image_root, weights_file, tmp_path / "a"))
    path = write_config(tmp_path, vars(args), provenance={"ignored": True})
    again = parse_args(recipe.build_parser(), ["--config", path])
    assert {**vars(args), "config": path} == vars(again)
    other = parse_args(recipe.build_parser(), ["--config", path, "--random-init"])
    assert other.random_init is True and other.weights is None


def test_resume_reloads_population_and_evolution(image_root, weights_file, tmp_path):
    """A stopped-and-resumed run gives the same numbers; the genome is the fc layer only
    (everything else excluded), which keeps the checkpoints small."""
    ckpt = tmp_path / "ckpt"
    extra = ["--exclude", "conv1", "bn1", "layer1", "layer2", "layer3", "layer4",
             "--methods", "DE", "--no-plots", "--checkpoint-dir", str(ckpt)]
    recipe = load_recipe()
    assert recipe.main(tiny(image_root, weights_file, tmp_path / "a", *extra)) == 0
    assert (ckpt / "seed0" / "population.pt").is_file() and (ckpt / "seed0" / "DE.pt").is_file()
    assert recipe.main(tiny(image_root, weights_file, tmp_path / "b", *extra, "--resume")) == 0
    first, again = (read_rows(tmp_path / d / "results.csv") for d in "ab")
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in first]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in again]
    assert len(read_rows(tmp_path / "b" / "log_DE_seed0.csv")) == 3


def test_noise_population_needs_no_finetuning(image_root, weights_file, tmp_path):
    """--population noise with a given std: no fine-tuning; the winners' BatchNorm is
    recalibrated (--bn-recalibrate) before selection and validation."""
    import json

    out = tmp_path / "out"
    argv = tiny(image_root, weights_file, out, "--population", "noise", "--noise-std", "1e-3",
                "--methods", "DE", "--no-plots", "--bn-recalibrate", "1")
    assert load_recipe().main(argv) == 0
    rows = read_rows(out / "results.csv")
    assert [r["method"] for r in rows] == ["pretrained", "DE"]
    assert "paired against `pretrained`" in (out / "results.md").read_text()
    provenance = json.loads((out / "winners" / "DE_seed0.json").read_text())
    assert provenance["bn_recalibrate_batches"] == 1
    assert provenance["val_top1"] == pytest.approx(float(rows[1]["top1"]))


def test_shared_options_come_from_the_experiment_spine():
    """The recipe declares only its own options: the shared ones (and their help) are
    add_common_arguments' without the LeNet data set and Adam options; each seed is a
    SeedRun."""
    import argparse

    from neuro_de.experiment import SeedRun, add_common_arguments

    recipe = load_recipe()
    shared = add_common_arguments(argparse.ArgumentParser(), out="x",
                                  data_and_pretraining=False)
    own = {a.dest: a for a in recipe.build_parser()._actions}
    for action in shared._actions:
        if action.dest != "help":
            assert own[action.dest].option_strings == action.option_strings
            assert own[action.dest].help == action.help
    for lenet_only in ("dataset", "download", "model", "epochs", "lr", "train_batch_size"):
        assert lenet_only not in own
    defaults = recipe.build_parser().parse_args(["--random-init"])
    assert (defaults.seeds, defaults.generations, defaults.batch_size,
            defaults.heldout_fraction) == (1, 200, 2048, 0.01)
    assert issubclass(recipe.image_folder_run(), SeedRun)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--popsize", "4"], "--popsize must be >= 6"),
        (["--finetune-epochs", "5"], "--finetune-epochs (5) must be >= --popsize (6)"),
        (["--noise-std", "0.1"], "--noise-std applies to --population noise only"),
        (["--image-size", "16"], "--image-size must be >= 32"),
        (["--F-range", "0.3", "0.1"], "--F-range needs 0 <= LOW <= HIGH"),
        (["--resume"], "--resume needs --checkpoint-dir"),
        (["--arch", "resnet34"], "does not fit --arch resnet34: 96 tensors missing from the file"),
        (["--arch", "resnet34"], "looks like a resnet18 state_dict: pass --arch resnet18"),
        (["--exclude", "head"], "--exclude head"),
        (["--batch-size", "64"], "--batch-size (64) exceeds the 27 training images"),
        (["--autocast", "fp8"], "invalid choice"),
    ],
)
def test_rejects_bad_options(image_root, weights_file, tmp_path, extra, message, capsys):
    with pytest.raises(SystemExit) as exc:
        load_recipe().main(tiny(image_root, weights_file, tmp_path, *extra))
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_needs_a_data_root_with_train_and_val(image_root, weights_file, tmp_path, capsys):
    recipe = load_recipe()
    argv = tiny(image_root, weights_file, tmp_path)
    i = argv.index("--data-root")
    cases = [
        (argv[:i] + argv[i + 2:], "--data-root DIR is required"),
        (argv[:i + 1] + [str(tmp_path / "nowhere")] + argv[i + 2:], "does not exist"),
        (argv[:i + 1] + [str(image_root / "train")] + argv[i + 2:], "has no train/ folder"),
    ]
    odd = tmp_path / "odd"
    for split, names in (("train", ("a", "b")), ("val", ("a", "c"))):
        for name in names:
            (odd / split / name).mkdir(parents=True)
    cases.append((argv[:i + 1] + [str(odd)] + argv[i + 2:],
                  "must have the same class folders"))
    for bad, message in cases:
        with pytest.raises(SystemExit) as exc:
            recipe.main(bad)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_needs_pretrained_weights_or_an_explicit_random_init(image_root, tmp_path, capsys):
    recipe = load_recipe()
    argv = tiny(image_root, tmp_path / "w.pt", tmp_path)
    i = argv.index("--weights")
    with pytest.raises(SystemExit):
        recipe.main(argv[:i] + argv[i + 2:])
    assert "one of the arguments --weights --torchvision-weights --random-init is required" \
        in capsys.readouterr().err
    with pytest.raises(SystemExit):
        recipe.main(argv)  # the file does not exist
    assert "is not a file" in capsys.readouterr().err


def test_weights_file_with_pickled_objects_is_refused(image_root, tmp_path, capsys):
    path = tmp_path / "model.pt"
    torch.save({"net": torch.nn.Linear(2, 2)}, path)  # a pickled module, not a state_dict
    with pytest.raises(SystemExit):
        load_recipe().main(tiny(image_root, path, tmp_path))
    assert "weights_only=True" in capsys.readouterr().err


def test_state_dict_reader_unwraps_and_strips_module_prefix(tmp_path):
    recipe = load_recipe()
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"module.fc.weight": torch.ones(2, 3)}, "epoch": 3}, path)
    assert list(recipe.read_state_dict(path)) == ["fc.weight"]


def test_replicated_run_under_torchrun_matches_single_process(image_root, weights_file,
                                                              tmp_path):
    """The headline setting's multi-GPU mode, on 2 gloo CPU ranks: --distributed batch
    (frozen BN) gives the single-process results; rank 0 alone writes."""
    import subprocess
    import sys

    script = str(Path(__file__).resolve().parents[1] / "recipes" / "resnet_imagenet.py")
    extra = ["--methods", "SAShadeTriEnsin", "--exclude", "fc", "layer2", "layer3", "layer4",
             "--bn", "frozen", "--no-plots", "--threads", "1"]
    one = subprocess.run([sys.executable, script,
                          *tiny(image_root, weights_file, tmp_path / "one", *extra)],
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         script, *tiny(image_root, weights_file, tmp_path / "two", *extra),
         "--distributed", "batch"],
        capture_output=True, text=True, timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("seed 0: val top-1") == 1
    a, b = read_rows(tmp_path / "one" / "results.csv"), read_rows(tmp_path / "two" / "results.csv")
    assert [r["method"] for r in a] == [r["method"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert float(ra["top1"]) == pytest.approx(float(rb["top1"]))
        assert float(ra["val_loss"]) == pytest.approx(float(rb["val_loss"]), rel=1e-4)


def test_distributed_batch_split_refuses_batch_bn(image_root, weights_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_recipe().main(tiny(image_root, weights_file, tmp_path, "--distributed", "batch"))
    assert "--distributed batch needs --bn frozen" in capsys.readouterr().err
