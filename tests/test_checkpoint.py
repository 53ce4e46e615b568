"""Checkpoints are atomic, load safely, and a resumed run continues bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuro_de.algorithms import DE, PSO, SHADE, SaDE, SAShadeTriEnsin
from neuro_de.checkpoint import (
    CheckpointError,
    SignalGuard,
    export_network,
    load_checkpoint,
    save_checkpoint,
)
from neuro_de.problems import SupervisedNetProblem
from neuro_de.runner import evolve

ROOT = Path(__file__).resolve().parents[1]


def test_save_is_atomic_and_loads_back(tmp_path):
    path = tmp_path / "sub" / "ck.pt"
    state = {"x": torch.arange(5.0), "meta": {"seed": 1, "name": "a"}, "rows": [{"a": 1.0}]}
    save_checkpoint(state, path)
    back = load_checkpoint(path)
    assert torch.equal(back["x"], state["x"]) and back["meta"] == state["meta"]
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]  # no temporary left behind
    # a failing write leaves the previous checkpoint intact
    with pytest.raises(TypeError, match=r"state\['bad'\]\[1\] is a object"):
        save_checkpoint({"bad": [1, object()]}, path)
    assert torch.equal(load_checkpoint(path)["x"], state["x"])
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]


def test_truncated_and_corrupted_checkpoints_raise(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint({"x": torch.randn(1000)}, path)
    blob = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(tmp_path / "trunc.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"x": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="is not a neuro_de.checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


class Payload:
    """An arbitrary pickled object: weights_only loading must refuse it."""


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"format": "neuro_de.checkpoint/1", "state": {"evil": Payload()}},
               tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(tmp_path / "evil.pt")


def test_checkpoint_of_another_run_is_refused(tmp_path):
    save_checkpoint({"x": torch.zeros(2)}, tmp_path / "ck.pt",
                    meta={"model": "lenet5", "genome": 61706})
    with pytest.raises(CheckpointError, match="belongs to another run.*'model'"):
        load_checkpoint(tmp_path / "ck.pt", expect={"model": "lenet1", "genome": 3246})


def net_problem(seed=0):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 6, generator=g), torch.randint(0, 3, (96,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    return SupervisedNetProblem(model, TensorDataset(x, y), batch_size=16,
                                generations_per_batch=3, seed=seed)


FACTORIES = {
    "DE": lambda p: DE(p, popsize=8, F=0.3, CR=0.5),
    "SaDE": lambda p: SaDE(p, popsize=8, learning_period=3),
    "SHADE": lambda p: SHADE(p, popsize=8, memory_size=3),
    "SAShadeTriEnsin": lambda p: SAShadeTriEnsin(p, popsize=8, sin_horizon=3),
    "PSO": lambda p: PSO(p, popsize=8),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_resumed_run_equals_uninterrupted_run(name, tmp_path):
    make = FACTORIES[name]
    full = make(net_problem())
    frame_full = evolve(full, 14, progress=False)
    meta = {"algorithm": name}
    first = make(net_problem())
    evolve(first, 14, progress=False, checkpoint=tmp_path / "a.pt", checkpoint_every=4)
    # stop after 8 generations (the checkpoint of generation 8 is what a crash leaves)
    part = make(net_problem())
    evolve(part, 8, progress=False, checkpoint=tmp_path / "b.pt", meta=meta)
    resumed = make(net_problem())
    frame = evolve(resumed, 14, progress=False, checkpoint=tmp_path / "b.pt", resume=True,
                   meta=meta)
    assert torch.equal(resumed.population.values, full.population.values)
    assert torch.equal(resumed.population.evals, full.population.evals)
    assert frame.equals(frame_full[frame.columns]) and len(frame) == 14
    assert load_checkpoint(tmp_path / "b.pt")["generation"] == 14
    with pytest.raises(CheckpointError, match="another run"):
        evolve(make(net_problem()), 14, progress=False, checkpoint=tmp_path / "b.pt",
               resume=True, meta={"algorithm": "other"})


def test_export_network_writes_safetensors_and_provenance(tmp_path):
    from safetensors.torch import load_file

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    weights, meta = export_network(model, tmp_path / "win", provenance={"seed": 3, "top1": 99.1})
    loaded = load_file(weights)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded[k], v)
    assert json.loads(meta.read_text()) == {"seed": 3, "top1": 99.1}


def test_signal_guard_turns_sigterm_into_a_flag():
    previous = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert guard.requested and guard.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == previous


def run_recipe(out, ck, *extra, wait_for=None):
    argv = [sys.executable, str(ROOT / "recipes" / "lenet_mnist.py"), "--seeds", "1",
            "--epochs", "6", "--popsize", "6", "--generations", "300", "--batch-size", "64",
            "--generations-per-batch", "5", "--train-limit", "300", "--model", "lenet1",
            "--methods", "SAShadeTriEnsin", "--no-progress", "--threads", "1",
            "--out", str(out), "--checkpoint-dir", str(ck), "--checkpoint-every", "7", *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait_for is not None:
        deadline = time.monotonic() + 120
        while not wait_for.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
    out_text, err = proc.communicate(timeout=300)
    return proc.returncode, out_text, err


def test_sigterm_mid_run_then_resume_equals_uninterrupted_run(tmp_path):
    """A real SIGTERM to a real recipe process; the resumed run ends bit-identical."""
    code, _, err = run_recipe(tmp_path / "full", tmp_path / "ck_full")
    assert code == 0, err
    ck = tmp_path / "ck"
    code, _, err = run_recipe(tmp_path / "cut", ck,
                              wait_for=ck / "seed0" / "SAShadeTriEnsin.pt")
    assert code == 128 + signal.SIGTERM, err
    assert "--resume" in err
    stopped_at = load_checkpoint(ck / "seed0" / "SAShadeTriEnsin.pt")["generation"]
    assert 0 < stopped_at < 300
    code, _, err = run_recipe(tmp_path / "cut", ck, "--resume")
    assert code == 0, err
    a = load_checkpoint(tmp_path / "ck_full" / "seed0" / "SAShadeTriEnsin.pt")
    b = load_checkpoint(ck / "seed0" / "SAShadeTriEnsin.pt")
    assert a["generation"] == b["generation"] == 300
    assert torch.equal(a["algorithm"]["values"], b["algorithm"]["values"])
    assert torch.equal(a["algorithm"]["evals"], b["algorithm"]["evals"])
    import pandas as pd

    log_a, log_b = pd.DataFrame(a["log"]), pd.DataFrame(b["log"])
    assert sorted(log_a.columns) == sorted(log_b.columns)
    assert log_a.equals(log_b[log_a.columns])  # NaN-aware
    full_csv = (tmp_path / "full" / "results.csv").read_text()
    assert (tmp_path / "cut" / "results.csv").read_text().splitlines()[1:] != []
    rows = lambda text: [line.rsplit(",", 1)[0] for line in text.splitlines()]  # noqa: E731
    assert rows((tmp_path / "cut" / "results.csv").read_text()) == rows(full_csv)


def test_pretrained_population_reloads_with_an_exclusion(tmp_path):
    from torch.utils.data import TensorDataset as TD

    from neuro_de.runner import pretrain_population

    data = TD(torch.randn(64, 4), torch.randint(0, 3, (64,)))

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))

    kw = {"epochs": 3, "keep_last": 2, "exclude": ["2"], "progress": False}
    first = pretrain_population(build, data, checkpoint=tmp_path / "p.pt", **kw)
    again = pretrain_population(build, data, checkpoint=tmp_path / "p.pt", resume=True, **kw)
    assert first.vectors.shape == again.vectors.shape == (2, 25)  # last layer exempt
    assert torch.equal(first.vectors, again.vectors)
    assert again.view.numel == 25 and again.excluded is not None
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[name])


def test_collapsed_population_is_reported_not_silent():
    from evotorch import Problem

    from neuro_de.runner import PopulationCollapsedWarning, population_collapsed

    problem = Problem("min", lambda x: (x * x).sum(-1), solution_length=4,
                      initial_bounds=(-1, 1), vectorized=True, seed=0)
    same = torch.ones(6, 4)
    searcher = DE(problem, init_population=same)
    assert population_collapsed(searcher)
    with pytest.warns(PopulationCollapsedWarning, match="every individual is the same vector"):
        evolve(searcher, 10, progress=False, collapse_check_every=5)
    assert searcher.status["diversity"] == 0.0
    diverse = DE(problem, popsize=6)
    assert not population_collapsed(diverse)


def test_a_terminated_searcher_stops_the_run_and_resumes_as_stopped(tmp_path):
    """evolve() honours EvoTorch's is_terminated hook (a search that spent its budget):
    the run stops there, the checkpoint records the generation, a resume steps no more."""
    from evotorch import Problem

    class Stops(DE):
        @property
        def is_terminated(self) -> bool:
            return self.steps_count >= 3

    def sphere(x):
        return (x**2).sum(dim=-1)

    def make():
        problem = Problem("min", sphere, solution_length=4, initial_bounds=(-1, 1),
                          vectorized=True, seed=0)
        return Stops(problem, popsize=6)

    path = tmp_path / "run.pt"
    first = make()
    frame = evolve(first, 10, progress=False, checkpoint=path)
    assert len(frame) == 3 and first.steps_count == 3
    again = make()
    frame2 = evolve(again, 10, progress=False, checkpoint=path, resume=True)
    assert len(frame2) == 3 and again.steps_count == 3  # restored; nothing stepped
    assert torch.equal(again.population.values, first.population.values)
