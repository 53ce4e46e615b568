"""SupervisedNetProblem for a network user: no cross-batch "best" status, the adaptive
``evaluate_vector`` top-k default, custom per-sample losses (regression), and the warning
for models that already output probabilities."""

from __future__ import annotations

import functools
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F
from evotorch.algorithms import SNES
from evotorch.logging import PandasLogger
from torch import nn
from torch.utils.data import TensorDataset

from neuro_de.algorithms import DE
from neuro_de.problems import DistributedSupervisedNetProblem, SupervisedNetProblem
from neuro_de.runner import select_on_heldout


def classification(n: int = 40, classes: int = 3, seed: int = 0) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    y[0] = classes - 1
    return TensorDataset(x, y)


def regression(n: int = 48, seed: int = 0) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen)
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 1.5]])
    y = x @ w + 0.05 * torch.randn(n, 2, generator=gen)
    return TensorDataset(x, y)


def mlp(inputs: int = 6, outputs: int = 3, seed: int = 0, tail: nn.Module | None = None):
    torch.manual_seed(seed)
    layers = [nn.Linear(inputs, 8), nn.Tanh(), nn.Linear(8, outputs)]
    return nn.Sequential(*layers, *([tail] if tail is not None else []))


MSE = nn.MSELoss(reduction="none")


# --------------------------------------------------------------------------------------
# 1. no "best" network across minibatches
# --------------------------------------------------------------------------------------
def test_minibatch_problem_has_no_best_status():
    problem = SupervisedNetProblem(mlp(), classification(), batch_size=8, seed=0)
    assert problem.stores_solution_stats is False
    batch = problem.generate_batch(6)
    problem.evaluate(batch)
    assert not {"best", "worst", "best_eval", "worst_eval"} & set(problem.status)

    searcher = DE(problem, popsize=6, F=0.1, CR=0.1)
    logger = PandasLogger(searcher)
    searcher.run(25)  # 3 minibatch changes
    assert problem.fitness_epoch >= 2
    assert "best" not in searcher.status and "best_eval" not in searcher.status
    assert "best_eval" not in logger.to_dataframe().columns
    assert "pop_best_eval" in logger.to_dataframe().columns  # the population's own best stays


def test_evotorch_searcher_on_minibatches_has_no_best_either():
    problem = SupervisedNetProblem(mlp(), classification(), batch_size=8, seed=0)
    searcher = SNES(problem, popsize=6, stdev_init=0.01)
    problem.attach(searcher)
    searcher.run(12)
    assert problem.fitness_epoch == 1
    assert "best" not in searcher.status


def test_full_data_fitness_keeps_evotorchs_best_tracking():
    data = classification(n=24)
    problem = SupervisedNetProblem(mlp(), data, batch_size=len(data), seed=0)
    batch = problem.generate_batch(5)
    problem.evaluate(batch)
    assert problem.stores_solution_stats is True
    assert problem.status["best_eval"] == pytest.approx(float(batch.evals[:, 0].min()))
    # the user may still turn it off
    off = SupervisedNetProblem(mlp(), data, batch_size=len(data), store_solution_stats=False)
    off.evaluate(off.generate_batch(3))
    assert "best" not in off.status


def test_asking_for_best_tracking_on_minibatches_is_refused():
    with pytest.raises(ValueError, match="store_solution_stats=True.*select_on_heldout"):
        SupervisedNetProblem(mlp(), classification(), batch_size=8, store_solution_stats=True)


def test_distributed_problem_inherits_the_policy():
    problem = DistributedSupervisedNetProblem(mlp(), classification(), batch_size=8, seed=0)
    problem.evaluate(problem.generate_batch(4))
    assert problem.stores_solution_stats is False
    assert "best" not in problem.status


# --------------------------------------------------------------------------------------
# 2. evaluate_vector's default top-k
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("classes", "keys"), [(2, {"top1"}), (3, {"top1"}), (10, {"top1", "top5"})]
)
def test_default_topk_adapts_to_the_number_of_classes(classes, keys):
    data = classification(n=30, classes=classes)
    problem = SupervisedNetProblem(mlp(outputs=classes), data, batch_size=10, seed=0)
    v = problem.parameter_vector()
    got = problem.evaluate_vector(v, data)
    assert set(got) == keys | {"loss", "num_samples"}
    with torch.no_grad():
        logits = problem.to_module(v)(data.tensors[0])
    assert got["top1"] == pytest.approx(
        (logits.argmax(1) == data.tensors[1]).float().mean().item())
    if classes == 10:
        top5 = logits.topk(5, 1).indices.eq(data.tensors[1][:, None]).any(1).float().mean()
        assert got["top5"] == pytest.approx(top5.item())


def test_explicit_topk_above_the_classes_names_the_fix():
    data = classification(n=30, classes=3)
    problem = SupervisedNetProblem(mlp(), data, batch_size=10, seed=0)
    with pytest.raises(ValueError, match=r"`topk` values must lie in \[1, 3\].*leave `topk` out"):
        problem.evaluate_vector(problem.parameter_vector(), data, topk=(1, 5))


# --------------------------------------------------------------------------------------
# 3. a custom per-sample loss: MSE regression on a tiny MLP
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("eval_mode", ["loop", "vmap"])
def test_mse_fitness_equals_hand_computed_mse(eval_mode):
    data = regression()
    problem = SupervisedNetProblem(mlp(3, 2), data, batch_size=16, loss=MSE,
                                   eval_mode=eval_mode, seed=1)
    assert not problem.has_accuracy and problem.loss is MSE
    assert problem.eval_data_length == 0
    gen = torch.Generator().manual_seed(0)
    values = problem.parameter_vector() + 0.1 * torch.randn(4, problem.solution_length,
                                                            generator=gen)
    batch = problem.generate_batch(4)
    batch.set_values(values)
    problem.evaluate(batch)
    assert batch.evals.shape == (4, 1)
    assert "batch_accuracy_mean" not in problem.status
    x, y = problem.current_batch
    for i in range(4):
        with torch.no_grad():
            expect = F.mse_loss(problem.to_module(values[i])(x), y)  # nn.MSELoss()'s mean
        assert batch.evals[i, 0].item() == pytest.approx(expect.item(), rel=1e-5)
    loss, acc = problem.score(values)
    assert torch.isnan(acc).all() and torch.allclose(loss, batch.evals[:, 0])


def test_regression_evolves_and_selects_on_heldout():
    train, heldout = regression(64, seed=0), regression(32, seed=1)
    problem = SupervisedNetProblem(mlp(3, 2), train, batch_size=len(train), loss=MSE, seed=0,
                                   init_std=0.1)
    searcher = DE(problem, popsize=10)
    searcher.step()
    first = float(searcher.status["pop_best_eval"])
    searcher.run(60)
    assert float(searcher.status["pop_best_eval"]) < first
    values = searcher.population.values
    # the runner's held-out selection works unchanged (it asks for topk=(1,))
    winner = select_on_heldout(problem, values, heldout)
    metrics = problem.evaluate_vector(values[winner], heldout, topk=(1,))
    assert set(metrics) == {"loss", "num_samples"} and metrics["num_samples"] == 32
    with torch.no_grad():
        expect = F.mse_loss(problem.to_module(values[winner])(heldout.tensors[0]),
                            heldout.tensors[1])
    assert metrics["loss"] == pytest.approx(expect.item(), rel=1e-5)


def test_custom_loss_with_accuracy_on_classification():
    data = classification(n=30)
    smooth = functools.partial(F.cross_entropy, label_smoothing=0.1, reduction="none")
    problem = SupervisedNetProblem(mlp(), data, batch_size=10, loss=smooth, accuracy=True,
                                   seed=0)
    batch = problem.generate_batch(3)
    problem.evaluate(batch)
    x, y = problem.current_batch
    with torch.no_grad():
        logits = problem.to_module(batch.values[0])(x)
    assert batch.evals[0, 0].item() == pytest.approx(
        F.cross_entropy(logits, y, label_smoothing=0.1).item(), rel=1e-5)
    assert batch.evals[0, 1].item() == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert "top1" in problem.evaluate_vector(batch.values[0], data)


def test_custom_loss_problem_pickles():
    problem = SupervisedNetProblem(mlp(3, 2), regression(), batch_size=16, loss=MSE, seed=0)
    clone = pickle.loads(pickle.dumps(problem))
    v = problem.parameter_vector().unsqueeze(0)
    assert torch.equal(clone.score(v)[0], problem.score(v)[0])


@pytest.mark.parametrize(
    ("loss", "error", "match"),
    [
        ("mse", TypeError, "`loss` must be None .* or a callable"),
        (nn.MSELoss(), ValueError, r"returned one number.*reduction='none'"),
        (lambda o, t: F.mse_loss(o, t, reduction="none").flatten(), ValueError,
         r"per-sample losses, a tensor of shape \(2, \.\.\.\)"),
        (lambda o, t: "small", TypeError, "must return a tensor of per-sample losses"),
        (lambda o, t: o[:, 5] - t[:, 0], ValueError, "`loss` failed on the model's output"),
        (lambda o, t: (o - t).square().sum(1) / 0.0, ValueError, "non-finite"),
    ],
)
def test_bad_losses_fail_early_with_the_fix(loss, error, match):
    with pytest.raises(error, match=match):
        SupervisedNetProblem(mlp(3, 2), regression(), batch_size=16, loss=loss)


def test_float_targets_without_a_loss_point_to_the_loss_argument():
    with pytest.raises(ValueError, match="integer class label.*pass a per-sample `loss`"):
        SupervisedNetProblem(mlp(3, 2), regression(), batch_size=16)


def test_accuracy_argument_is_validated():
    with pytest.raises(ValueError, match="`accuracy` must be True, False or None"):
        SupervisedNetProblem(mlp(), classification(), batch_size=8, accuracy="yes")


# --------------------------------------------------------------------------------------
# 5. models that already output probabilities
# --------------------------------------------------------------------------------------
class FunctionalSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return F.softmax(self.net(x), dim=1)


@pytest.mark.parametrize("make", [lambda: mlp(tail=nn.Softmax(dim=1)), FunctionalSoftmax])
def test_softmax_output_warns_with_the_fix(make):
    with pytest.warns(UserWarning, match="Remove the final Softmax"):
        SupervisedNetProblem(make(), classification(), batch_size=8)


def test_log_softmax_output_is_accepted_and_scores_like_logits():
    data = classification()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logsm = SupervisedNetProblem(mlp(tail=nn.LogSoftmax(dim=1)), data, batch_size=8, seed=0)
        plain = SupervisedNetProblem(mlp(), data, batch_size=8, seed=0)
        # a custom loss on probabilities is the user's choice: no warning either
        SupervisedNetProblem(
            mlp(tail=nn.Softmax(dim=1)), data, batch_size=8, accuracy=True,
            loss=lambda p, y: F.nll_loss(p.clamp_min(1e-12).log(), y, reduction="none"))
    v = plain.parameter_vector().unsqueeze(0)
    torch.testing.assert_close(logsm.score(v)[0], plain.score(v)[0])


def test_select_on_heldout_never_picks_a_non_finite_network():
    class Scored:
        has_accuracy = True

        def __init__(self, losses):
            self.losses = losses

        def evaluate_vector(self, vector, data, **kwargs):
            return {"loss": self.losses[int(vector[0])], "top1": 0.5}

    values = torch.arange(4.0).reshape(4, 1)
    nan, inf = float("nan"), float("inf")
    assert select_on_heldout(Scored([nan, 0.3, inf, 0.2]), values, None) == 3
    assert select_on_heldout(Scored([0.1, nan, 0.3, 0.2]), values, None) == 0
    with pytest.raises(ValueError, match="non-finite held-out loss"):
        select_on_heldout(Scored([nan, nan, inf, nan]), values, None)
    with pytest.raises(ValueError, match="`key` must be 'loss' or 'top1'"):
        select_on_heldout(Scored([0.1] * 4), values, None, key="acc")
    no_accuracy = Scored([0.1] * 4)
    no_accuracy.has_accuracy = False
    with pytest.raises(ValueError, match="key='top1' needs a problem that measures accuracy"):
        select_on_heldout(no_accuracy, values, None, key="top1")
