"""Bad recipe options fail early and clearly: before any data is loaded or network trained
(the recipe rows of the user test, docs: usertest_2026-12-06 section 6, issue 24).

Every test here blocks the expensive steps (:func:`no_compute`): a check that happened
after training would fail the test with "... was called" instead of the expected error.
"""

from __future__ import annotations

import pytest
import torch
from recipe_helpers import load_recipe

LENET = ("lenet_mnist", "compare", "ablation", "sweeps", "robustness")
ALL = (*LENET, "resnet_imagenet")


class Blocked(Exception):
    """A training or data-loading step was reached."""


@pytest.fixture
def no_compute(monkeypatch):
    """Make data loading, backpropagation and evolution raise :class:`Blocked`."""
    import neuro_de.experiment
    import neuro_de.population
    import neuro_de.runner

    def blocked(name):
        def call(*args, **kwargs):
            raise Blocked(f"{name} was called before the bad option was refused")

        return call

    for module, name in ((neuro_de.experiment, "load_data"),
                         (neuro_de.experiment, "pretrain_population"),
                         (neuro_de.experiment, "evolve"),
                         (neuro_de.runner, "pretrain_population"),
                         (neuro_de.runner, "evolve"),
                         (neuro_de.population, "train_snapshots"),
                         (neuro_de.population, "init_rs"),
                         (neuro_de.population, "init_hp")):
        monkeypatch.setattr(module, name, blocked(f"{module.__name__}.{name}"))


def argv_for(name: str, tmp_path, *extra: str) -> list[str]:
    """A small run's command line: digits for the LeNet recipes; a random ResNet-18 (no
    data root: the checks under test come before the data root's) for resnet_imagenet."""
    base = ["--seeds", "1", "--no-progress", "--out", str(tmp_path / "out")]
    if name == "resnet_imagenet":
        base += ["--random-init", "--arch", "resnet18", "--device", "cpu"]
    else:
        base += ["--dataset", "digits", "--epochs", "6", "--popsize", "6", "--model", "lenet1",
                 "--batch-size", "64"]
        if name == "sweeps":
            base += ["--popsizes", "6", "--batch-sizes", "32"]  # defaults: 20 epochs, 1024
    return [*base, *extra]


def refused(name: str, argv: list[str], capsys) -> str:
    """Run recipe ``name`` expecting a parse error (exit code 2); return its stderr."""
    with pytest.raises(SystemExit) as exc:
        load_recipe(name).main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


# --------------------------------------------------------------------------- R10, R11


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    "flag, low, high",
    [
        ("--F-range", "0.1", "0.1"),  # R10: LOW == HIGH passed the old check
        ("--F-range", "0", "0"),
        ("--F-range", "0.3", "0.1"),
        ("--F-range", "-0.1", "0.2"),
        ("--F-range", "0", "2.5"),
        ("--CR-range", "0.2", "0.2"),
        ("--CR-range", "0.5", "0.1"),
        ("--CR-range", "0", "1.5"),
    ],
)
def test_adaptation_ranges_need_low_below_high(name, flag, low, high, tmp_path, capsys,
                                               no_compute):
    err = refused(name, argv_for(name, tmp_path, flag, low, high), capsys)
    assert f"{flag} needs 0 <= LOW <= HIGH" in err and "LOW < HIGH" in err
    assert f"got {float(low)} {float(high)}" in err


@pytest.mark.parametrize("name", LENET)
def test_a_valid_narrow_range_is_accepted(name, tmp_path, no_compute):
    argv = argv_for(name, tmp_path, "--F-range", "0.1", "0.10001", "--train-limit", "300")
    with pytest.raises(Blocked):  # got past every check, to the data
        load_recipe(name).main(argv)


# --------------------------------------------------------------------------- R12, R26, R30


@pytest.mark.parametrize("name", LENET)
@pytest.mark.parametrize(
    "extra, message",
    [
        # R12: --train-limit under the default fitness batch
        (["--train-limit", "100", "--batch-size", "256"],
         "--batch-size 256 is larger than the 100 training samples (--train-limit 100)"),
        (["--train-limit", "63"], "--batch-size 64 is larger than the 63 training samples"),
        # R26: the held-out part leaves 13 of digits' 1346 training samples
        (["--heldout-fraction", "0.99", "--batch-size", "256"],
         "--batch-size 256 is larger than the 13 training samples (1346 of --dataset digits "
         "less --heldout-fraction 0.99)"),
        (["--batch-size", "5000"], "--batch-size 5000 is larger than the 1211 training"),
        (["--heldout-fraction", "0.9999"], "--heldout-fraction 0.9999 does not split"),
        (["--heldout-fraction", "0.0001"], "leaves an empty held-out part"),
    ],
)
def test_fitness_batches_must_fit_the_training_split(name, extra, message, tmp_path, capsys,
                                                     no_compute):
    err = refused(name, argv_for(name, tmp_path, *extra), capsys)
    assert message in err


@pytest.mark.parametrize(
    "extra, message",
    [
        # R30
        (["--batch-sizes", "32", "5000"], "--batch-sizes 5000 is larger than the 1211"),
        (["--batch-sizes", "32", "301", "--train-limit", "300"],
         "--batch-sizes 301 is larger than the 300 training samples (--train-limit 300)"),
        (["--batch-sizes", "2000", "--heldout-fraction", "0.5"],
         "--batch-sizes 2000 is larger than the 673 training samples"),
    ],
)
def test_sweeps_batch_sizes_must_fit_the_training_split(extra, message, tmp_path, capsys,
                                                        no_compute):
    err = refused("sweeps", argv_for("sweeps", tmp_path, "--sweeps", "batch", *extra), capsys)
    assert message in err


def test_sweeps_batch_sizes_are_not_checked_without_the_batch_sweep(tmp_path, no_compute):
    argv = argv_for("sweeps", tmp_path, "--sweeps", "init", "--batch-sizes", "5000",
                    "--train-limit", "300")
    with pytest.raises(Blocked):
        load_recipe("sweeps").main(argv)


@pytest.mark.parametrize("name", LENET)
def test_a_batch_that_exactly_fits_is_accepted(name, tmp_path, no_compute):
    argv = argv_for(name, tmp_path, "--train-limit", "64")
    with pytest.raises(Blocked):
        load_recipe(name).main(argv)


# --------------------------------------------------------------------------- R14, R15

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    "device, message",
    [
        ("gpu", "--device 'gpu' is not a torch device; use cpu, cuda, cuda:N"),  # R14
        ("tpu0", "--device 'tpu0' is not a torch device"),
        ("cuda:x", "--device 'cuda:x' is not a torch device"),
        pytest.param("cuda", "--device cuda but CUDA is not available here", marks=NO_CUDA),
        pytest.param("cuda:0", "--device cuda:0 but CUDA is not available here",
                     marks=NO_CUDA),  # R15
        ("cuda:99", "--device cuda:99 but "),
    ],
)
def test_device_is_checked_before_any_data(name, device, message, tmp_path, capsys,
                                           no_compute):
    err = refused(name, argv_for(name, tmp_path, "--device", device), capsys)
    assert message in err
    assert "--device cpu" in err or "use cpu" in err or "cuda:0 to" in err


# --------------------------------------------------------------------------- R18, R19


def _unwritable(kind: str, tmp_path) -> str:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    return {"under-a-file": str(afile / "sub"), "a-file": str(afile),
            "proc": "/proc/neuro_de_no_such_folder/ck"}[kind]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("flag", ["--out", "--checkpoint-dir"])
@pytest.mark.parametrize("kind", ["under-a-file", "a-file", "proc"])
def test_output_folders_must_be_writable_at_start(name, flag, kind, tmp_path, capsys,
                                                  no_compute):
    path = _unwritable(kind, tmp_path)
    err = refused(name, argv_for(name, tmp_path, flag, path), capsys)
    assert f"{flag} {path!r} is not a folder this run can write to" in err
    assert ".tmp" not in err  # the user's path, not a hidden temporary file


def test_the_write_probe_leaves_nothing_behind(tmp_path):
    from neuro_de.options import writable_folder_problem

    assert writable_folder_problem(tmp_path / "a" / "b" / "c") is None
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    assert writable_folder_problem(tmp_path / "kept") is None
    assert list((tmp_path / "kept").iterdir()) == []


# --------------------------------------------------------------------------- R21


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("state", ["missing", "empty", "other-files"])
def test_resume_without_checkpoints_is_an_error_naming_the_folder(name, state, tmp_path,
                                                                  capsys, no_compute):
    folder = tmp_path / "ckpt-typo"
    if state != "missing":
        folder.mkdir()
    if state == "other-files":
        (folder / "notes.txt").write_text("x")
        (folder / "seed0").mkdir()
        (folder / "seed0" / "population.pt.tmp").write_text("x")
    err = refused(name, argv_for(name, tmp_path, "--resume", "--checkpoint-dir", str(folder)),
                  capsys)
    assert f"--checkpoint-dir {str(folder)!r}" in err
    assert ("does not exist" if state == "missing" else "holds no checkpoint") in err
    assert "--resume-if-present" in err


@pytest.mark.parametrize("name", LENET)
@pytest.mark.parametrize("state", ["missing", "empty"])
def test_resume_if_present_starts_from_scratch(name, state, tmp_path, no_compute):
    folder = tmp_path / "ckpt"
    if state == "empty":
        folder.mkdir()
    argv = argv_for(name, tmp_path, "--resume-if-present", "--checkpoint-dir", str(folder),
                    "--train-limit", "300")
    with pytest.raises(Blocked):  # past the checks: it would train
        load_recipe(name).main(argv)


@pytest.mark.parametrize("name", ALL)
def test_resume_if_present_needs_a_checkpoint_dir(name, tmp_path, capsys, no_compute):
    err = refused(name, argv_for(name, tmp_path, "--resume-if-present"), capsys)
    assert "--resume-if-present needs --checkpoint-dir" in err


@pytest.mark.parametrize("name", ALL)
def test_resume_with_a_checkpoint_passes_the_check(name, tmp_path):
    from neuro_de.options import check_resume

    folder = tmp_path / "ckpt"
    (folder / "seed0").mkdir(parents=True)
    (folder / "seed0" / "population.pt").write_bytes(b"")
    parser = load_recipe(name).build_parser()
    args = parser.parse_args(argv_for(name, tmp_path, "--resume", "--checkpoint-dir",
                                      str(folder)))
    check_resume(args, parser)
    assert args.resume is True
    present = parser.parse_args(argv_for(name, tmp_path, "--resume-if-present",
                                         "--checkpoint-dir", str(folder)))
    check_resume(present, parser)
    assert present.resume is True  # --resume-if-present resumes what is there


# --------------------------------------------------------------------------- R22, R25


@pytest.mark.parametrize("name", ALL)
def test_generations_per_batch_above_generations_is_documented(name):
    parser = load_recipe(name).build_parser()
    (action,) = [a for a in parser._actions if a.dest == "generations_per_batch"]
    assert "above --generations" in action.help and "one mini-batch" in action.help


@pytest.mark.parametrize("name", LENET)
@pytest.mark.parametrize("lr", ["1e9", "2"])
def test_a_huge_learning_rate_warns_before_training(name, lr, tmp_path, capsys, no_compute):
    argv = argv_for(name, tmp_path, "--lr", lr, "--train-limit", "300")
    with pytest.raises(Blocked):
        load_recipe(name).main(argv)
    err = capsys.readouterr().err
    assert f"warning: --lr {float(lr):g} is above 1" in err


@pytest.mark.parametrize("name", LENET)
def test_a_usual_learning_rate_does_not_warn(name, tmp_path, capsys, no_compute):
    with pytest.raises(Blocked):
        load_recipe(name).main(argv_for(name, tmp_path, "--lr", "0.01", "--train-limit", "300"))
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ablation", "resnet_imagenet"])
def test_a_huge_finetune_learning_rate_warns(name, tmp_path, capsys, no_compute):
    argv = argv_for(name, tmp_path, "--finetune-lr", "50")
    if name == "ablation":
        with pytest.raises(Blocked):
            load_recipe(name).main([*argv, "--train-limit", "300"])
        err = capsys.readouterr().err
    else:  # warned at parse time, before the missing --data-root stops it
        err = refused(name, argv, capsys)
    assert "warning: --finetune-lr 50 is above 1" in err


# --------------------------------------------------------------------------- metadata


def test_checkpoint_metadata_is_checked_when_the_seed_starts(tmp_path):
    """A fact a checkpoint cannot hold is refused when the seed's run is made, not at the
    first save after training."""
    from torch import nn

    from neuro_de.experiment import SeedRun

    args = load_recipe("lenet_mnist").build_parser().parse_args(argv_for("lenet_mnist",
                                                                         tmp_path))
    with pytest.raises(TypeError, match=r"meta\['model'\] is a Linear"):
        SeedRun(args, 0, None, None, None, recipe="x", meta={"model": nn.Linear(2, 2)})
    run = SeedRun(args, 0, None, None, None, recipe="x", meta={"sizes": [1, 2], "n": None})
    assert run.meta["sizes"] == [1, 2]


def test_seed_run_refuses_an_unknown_baseline(tmp_path):
    from neuro_de.experiment import BASELINES, SeedRun

    args = load_recipe("compare").build_parser().parse_args(argv_for("compare", tmp_path))
    run = SeedRun(args, 0, None, None, None, recipe="x")
    with pytest.raises(ValueError, match="Unknown baseline 'SWA'; choose from"):
        run.baseline("SWA")
    assert "FGE" in BASELINES and "greedy-soup" in BASELINES
