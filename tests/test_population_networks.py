"""population_from_networks: a first population from the user's own modules, state dicts and
checkpoint files (torch.save with weights_only loading, safetensors), with clear errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import TensorDataset

from neuro_de.algorithms import DE
from neuro_de.population import Population, population_from_networks
from neuro_de.problems import ParameterView, SupervisedNetProblem


def net(seed: int = 0) -> nn.Module:
    """A small BN network; seeds give different weights and BatchNorm statistics."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model[1].running_mean.normal_()
    model[1].running_var.uniform_(0.5, 2.0)
    model[1].num_batches_tracked.fill_(seed + 1)
    return model.eval()


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture
def members():
    return [net(s) for s in (1, 2, 3)]


def test_from_modules_rebuilds_every_member_exactly(members):
    model = net(0)
    pop = population_from_networks(members, model=model)
    assert isinstance(pop, Population) and pop.vectors.shape == (3, pop.view.numel)
    assert pop.vectors.dtype == torch.float32 and pop.vectors.device.type == "cpu"
    for i, m in enumerate(members):
        assert torch.equal(pop.vectors[i], pop.view.to_vector(m))
        assert_same_state(pop.to_module(model, i), m)
    assert pop.meta[0] == {"member": 0, "source": "module"}
    assert pop.info["method"] == "networks" and pop.excluded is None
    assert_same_state(model, net(0))  # the template is untouched


def test_from_state_dicts_and_files_agree(members, tmp_path):
    model = net(0)
    by_module = population_from_networks(members, model=model)
    sds = [m.state_dict() for m in members]
    paths = []
    for i, sd in enumerate(sds):
        paths.append(tmp_path / f"epoch_{i}.pt")
        torch.save(sd, paths[-1])
    by_sd = population_from_networks(sds, model=model)
    by_file = population_from_networks([str(p) for p in paths], model=model)
    for pop in (by_sd, by_file):
        assert torch.equal(pop.vectors, by_module.vectors)
        for i in range(3):
            assert_same_state(pop.to_module(model, i), members[i])
    assert by_file.meta[1]["source"] == str(paths[1])


def test_checkpoint_dicts_safetensors_and_wrapper_prefixes(members, tmp_path):
    model = net(0)
    expect = population_from_networks(members, model=model).vectors
    opt = torch.optim.Adam(members[0].parameters())
    # a training script's checkpoint: the state dict nested under a common key
    nested = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model_state_dict": members[0].state_dict(),
                "optimizer_state_dict": opt.state_dict()}, nested)
    # the same, under a key of the user's choosing
    custom = tmp_path / "custom.pth"
    torch.save({"ema": members[1].state_dict(), "step": 10}, custom)
    # safetensors (what neuro_de.checkpoint.export_network writes)
    safe = tmp_path / "winner.safetensors"
    save_file({k: v.contiguous() for k, v in members[2].state_dict().items()}, str(safe))
    pop = population_from_networks([nested, safe], model=model)
    assert torch.equal(pop.vectors, expect[[0, 2]])
    pop = population_from_networks([custom], model=model, key="ema")
    assert torch.equal(pop.vectors[0], expect[1])
    # DataParallel / DDP "module." prefix
    wrapped = {f"module.{k}": v for k, v in members[2].state_dict().items()}
    assert torch.equal(population_from_networks([wrapped], model=model).vectors[0], expect[2])


def test_problem_view_with_exclusions_feeds_an_algorithm(members):
    members = [*members, net(4)]  # DE needs popsize >= 4
    data = TensorDataset(torch.randn(24, 6), torch.randint(0, 3, (24,)))
    problem = SupervisedNetProblem(net(0), data, batch_size=8, exclude=["3"], seed=0)
    pop = population_from_networks(members, model=net(0), view=problem.view)
    assert pop.d == problem.solution_length
    assert set(pop.excluded[0]) == {"3.weight", "3.bias"}
    assert torch.equal(pop.excluded[1]["3.weight"], members[1][3].weight)
    searcher = DE(problem, popsize=pop.m, init_population=pop.vectors, F=0.1, CR=0.1)
    searcher.step()
    assert searcher.population.values.shape == (4, problem.solution_length)
    # exclude= builds the same view
    same = population_from_networks(members, model=net(0), exclude=["3"])
    assert torch.equal(same.vectors, pop.vectors)


def test_files_are_loaded_with_weights_only(members, tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    torch.save(members[0].state_dict(), path)
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    population_from_networks([path], model=net(0))
    assert seen == [True]


def test_shape_mismatch_names_the_file_and_the_tensor(tmp_path):
    torch.manual_seed(0)
    other = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 5))
    path = tmp_path / "wide.pt"
    torch.save(other.state_dict(), path)
    with pytest.raises(ValueError, match=r"wide\.pt.*'3\.weight' has shape \(5, 8\), the "
                       r"model's has \(3, 8\)"):
        population_from_networks([path], model=net(0))


def test_missing_and_unknown_keys_name_the_member(members, tmp_path):
    sd = members[0].state_dict()
    no_head = {k: v for k, v in sd.items() if not k.startswith("3.")}
    path = tmp_path / "no_head.pt"
    torch.save(no_head, path)
    with pytest.raises(ValueError, match=r"members\[0\] \('.*no_head\.pt'\).*missing 2 "
                       r"tensor\(s\).*'3\.weight'"):
        population_from_networks([path], model=net(0))
    extra = {**sd, "aux.weight": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"members\[1\] \(state dict\).*'aux\.weight'"):
        population_from_networks([sd, extra], model=net(0))
    assert population_from_networks([sd, extra], model=net(0), strict=False).m == 2


def test_non_strict_keeps_the_models_buffers(members):
    model = net(0)
    params_only = {k: v for k, v in members[1].state_dict().items() if not k.startswith("1.r")
                   and "num_batches" not in k}
    with pytest.raises(ValueError, match="running_mean.*strict=False"):
        population_from_networks([params_only], model=model)
    pop = population_from_networks([params_only], model=model, strict=False)
    rebuilt = pop.to_module(model, 0)
    assert torch.equal(rebuilt[1].running_mean, model[1].running_mean)
    assert torch.equal(rebuilt[0].weight, members[1][0].weight)


def test_a_pickled_whole_model_is_refused_with_the_fix(members, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(members[0], path)  # a pickled module: code, not only tensors
    with pytest.raises(ValueError, match=r"whole\.pt.*weights_only=True.*state_dict\(\)"):
        population_from_networks([path], model=net(0))


@pytest.mark.parametrize(
    ("members", "kwargs", "error", "match"),
    [
        ("ckpt.pt", {}, TypeError, "got a single str; wrap it in a list"),
        (iter([{}]), {}, TypeError, "must be a list or tuple, got list_iterator"),
        ([], {}, ValueError, "`members` is empty"),
        ([3], {}, TypeError, r"members\[0\] must be an nn.Module, a state dict or a file path"),
        (["/nonexistent/ckpt.pt"], {}, FileNotFoundError, r"members\[0\].*no such file"),
        ([{"step": 3}], {}, ValueError, r"not a state dict.*Pass `key=`"),
        ([{"a": {"b": 1}}], {"key": "model"}, ValueError, r"no entry 'model'.*\['a'\]"),
        ([{}], {"view": "x", "exclude": ["3"]}, ValueError, "either `view` or `exclude`"),
    ],
)
def test_bad_arguments_fail_early(members, kwargs, error, match):
    with pytest.raises(error, match=match):
        population_from_networks(members, model=net(0), **kwargs)


def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="`model` must be an nn.Module"):
        population_from_networks([net(1)], model=net(0).state_dict())


def test_view_of_another_architecture_is_refused(members):
    view = ParameterView(nn.Linear(6, 3))
    with pytest.raises(ValueError, match="not the architecture"):
        population_from_networks(members, model=net(0), view=view)
