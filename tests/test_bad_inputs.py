"""Bad input is rejected early, with an error naming the argument and the fix.

One table of distinct mistakes across the public API and the recipes: wrong types,
non-positive sizes, F/CR out of range, popsizes too small for a strategy, mismatched vector
lengths, damaged or foreign checkpoints, missing data roots. Each case asserts the specific
exception type and message.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from evotorch import Problem
from torch import nn
from torch.utils.data import TensorDataset

from neuro_de.algorithms import DE, PSO, SHADE, SaDE, SAShadeTriEnsin
from neuro_de.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from neuro_de.data import load_dataset, load_splits
from neuro_de.models import build_model
from neuro_de.population import noise_population, train_snapshots
from neuro_de.problems import SupervisedNetProblem
from neuro_de.reporting import paired_test
from neuro_de.runner import evolve

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def problem():
    return Problem("min", lambda x: (x * x).sum(-1), solution_length=5, initial_bounds=(-1, 1),
                   vectorized=True, seed=0)


DATA = TensorDataset(torch.randn(20, 4), torch.randint(0, 3, (20,)))


def mlp():
    return nn.Sequential(nn.Linear(4, 3))


def net_problem(**kw):
    return SupervisedNetProblem(mlp(), DATA, batch_size=4, **kw)


CASES = {
    # algorithms
    "popsize of wrong type": (lambda: DE(problem(), popsize="10"), TypeError,
                              "`popsize` must be an int"),
    "popsize zero": (lambda: DE(problem(), popsize=0), ValueError, "needs popsize >= 4"),
    "popsize too small for rand/2": (lambda: DE(problem(), popsize=5, strategy="rand/2"),
                                     ValueError, "needs popsize >= 6"),
    "negative F": (lambda: DE(problem(), popsize=10, F=-0.5), ValueError,
                   r"`F` must be a number in \(0, 2\]"),
    "F above 2": (lambda: DE(problem(), popsize=10, F=3.0), ValueError,
                  r"`F` must be a number in \(0, 2\]"),
    "CR above 1": (lambda: DE(problem(), popsize=10, CR=1.5), ValueError,
                   r"`CR` must be a number in \[0, 1\]"),
    "unknown strategy": (lambda: DE(problem(), popsize=10, strategy="rand/7"), ValueError,
                         "Unknown mutation strategy 'rand/7'. Registered"),
    "init population of wrong length": (
        lambda: DE(problem(), popsize=10, init_population=torch.zeros(10, 4)), ValueError,
        "`init_population` has 4 columns but the problem's solution_length is 5"),
    "empty init population": (
        lambda: DE(problem(), popsize=0, init_population=torch.zeros(0, 5)), ValueError,
        "`init_population` is empty"),
    "SaDE learning period zero": (lambda: SaDE(problem(), popsize=10, learning_period=0),
                                  ValueError, "`learning_period` must be >= 1"),
    "SHADE memory size zero": (lambda: SHADE(problem(), popsize=10, memory_size=0),
                               ValueError, "Memory size `H` must be >= 1"),
    "SHADE unknown CR mean": (lambda: SHADE(problem(), popsize=10, cr_mean="geometric"),
                              ValueError, "must be one of \\('lehmer', 'arithmetic'\\)"),
    "hybrid F range reversed": (
        lambda: SAShadeTriEnsin(problem(), popsize=10, F_range=(0.5, 0.1)), ValueError,
        "`F_range` must satisfy 0.0 <= low < high <= 2.0"),
    "hybrid CR range above 1": (
        lambda: SAShadeTriEnsin(problem(), popsize=10, CR_range=(0.0, 1.5)), ValueError,
        "`CR_range` must satisfy 0.0 <= low < high <= 1.0"),
    "PSO unknown mode": (lambda: PSO(problem(), popsize=10, mode="chaos"), ValueError,
                         "`mode` must be 'inertia' or 'constriction'"),
    "PSO unknown topology": (lambda: PSO(problem(), popsize=10, topology="star"), ValueError,
                             "`topology` must be one of"),
    "PSO negative velocity clamp": (lambda: PSO(problem(), popsize=10, v_max=-1), ValueError,
                                    "`v_max` must be > 0"),
    # the network problem
    "model is not a module": (lambda: SupervisedNetProblem("net", DATA, batch_size=4),
                              TypeError, "`model` must be a torch.nn.Module"),
    "dataset without pairs": (lambda: SupervisedNetProblem(mlp(), [1, 2, 3], batch_size=4),
                              ValueError, r"`dataset` must yield \(input, label\) pairs"),
    "batch size zero": (lambda: SupervisedNetProblem(mlp(), DATA, batch_size=0), ValueError,
                        "`batch_size` must be a positive integer"),
    "batch larger than the data": (lambda: SupervisedNetProblem(mlp(), DATA, batch_size=100),
                                   ValueError, r"`batch_size` \(100\) is larger than the data"),
    "unknown BN policy": (lambda: net_problem(bn="train"), ValueError,
                          "`bn` must be one of \\('frozen', 'batch'\\)"),
    "too few classes in the model": (
        lambda: SupervisedNetProblem(nn.Linear(4, 2), DATA, batch_size=4), ValueError,
        "`model` outputs only 2 logits"),
    "input shape mismatch": (
        lambda: SupervisedNetProblem(nn.Linear(5, 3), DATA, batch_size=4), ValueError,
        "`model` failed on one input of `dataset`"),
    "negative weight penalty": (lambda: net_problem(alpha=-1), ValueError,
                                "`alpha` must be a number >= 0"),
    "vector of wrong length": (lambda: net_problem().to_module(torch.zeros(7)), ValueError,
                               "`vector` must be a 1-D tensor of length 15"),
    # models, data, population
    "unknown model": (lambda: build_model("vgg"), ValueError, "unknown model 'vgg'"),
    "missing data root": (lambda: load_splits("mnist", root="/nonexistent/neuro_de",
                                              heldout_fraction=0.1),
                          FileNotFoundError, "`root` '/nonexistent/neuro_de' does not exist"),
    "held-out fraction above 1": (lambda: load_splits("digits", heldout_fraction=1.5),
                                  ValueError, r"`heldout_fraction` must be in \(0, 1\)"),
    "unknown data set": (lambda: load_dataset("svhn"), ValueError, "unknown data set 'svhn'"),
    "more snapshots than epochs": (
        lambda: train_snapshots(mlp(), DATA, epochs=2, keep_last=5, progress=False),
        ValueError, r"`keep_last` \(5\) must not exceed `epochs` \(2\)"),
    "noise population of size zero": (lambda: noise_population(torch.zeros(5), 0, std=1.0),
                                      ValueError, r"`m` \(the population size\) must be"),
    # runs and results
    "negative generations": (lambda: evolve(DE(problem(), popsize=6), -1, progress=False),
                             ValueError, "`generations` must be an integer >= 0"),
    "resume without a checkpoint path": (
        lambda: evolve(DE(problem(), popsize=6), 3, progress=False, resume=True), ValueError,
        "`resume=True` needs a `checkpoint` path"),
    "unpaired samples": (lambda: paired_test([1.0, 2.0], [1.0]), ValueError,
                         "Paired samples differ in length"),
    "unsavable checkpoint value": (lambda: save_checkpoint({"f": print}, "/tmp/never.pt"),
                                   TypeError, "a checkpoint holds only tensors"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_a_clear_error(case):
    make, exc, match = CASES[case]
    with pytest.raises(exc, match=match):
        make()


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint({"x": torch.randn(4096)}, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(path)


def test_checkpoint_of_another_model_is_refused_on_resume(tmp_path):
    """Resuming a LeNet-1 checkpoint directory with --model lenet5 fails before training."""
    spec = importlib.util.spec_from_file_location("recipe_lenet", RECIPES / "lenet_mnist.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    base = ["--seeds", "1", "--epochs", "6", "--popsize", "6", "--generations", "2",
            "--batch-size", "32", "--train-limit", "200", "--no-progress", "--methods", "DE",
            "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "out")]
    assert recipe.main([*base, "--model", "lenet1"]) == 0
    with pytest.raises(CheckpointError, match="belongs to another run: its 'model' is 'lenet1'"):
        recipe.main([*base, "--model", "lenet5", "--resume"])


def test_algorithm_state_of_another_problem_is_refused():
    state = DE(problem(), popsize=6).state_dict()
    other = Problem("min", lambda x: (x * x).sum(-1), solution_length=7,
                    initial_bounds=(-1, 1), vectorized=True, seed=0)
    with pytest.raises(ValueError, match="another problem or popsize"):
        DE(other, popsize=6).load_state_dict(state)
    with pytest.raises(ValueError, match="saved by 'DE', not SHADE"):
        SHADE(problem(), popsize=6).load_state_dict(state)
