"""OnePlusOneEA: Prellberg & Kramer (2018)'s (1+1)-EA with niching (Algorithm 1) under an
epoch budget (spec B.12 tests 4 and 5), checkpoints, reproducibility and resume.

Selection semantics use a stub problem (fitness from a table keyed by arch, cost 1 per
evaluation) and a scripted mutation, so every decision is known in advance; the budget,
Lamarckian and resume tests use the real ArchitectureProblem with tiny 1-D nets.
"""

from __future__ import annotations

import math

import pytest
import torch
from evotorch import Problem
from test_architecture_problem import HELDOUT, TRAIN, build, tiny_mutate

from neuro_de.algorithms.one_plus_one import OnePlusOneEA
from neuro_de.problems.architecture import ArchitectureProblem, BudgetExceeded, plain_value
from neuro_de.runner import evolve


# ----------------------------------------------------------------- stub problem
class StubProblem(Problem):
    """Object-dtype problem: fitness of ``{"arch": ((id, 1, 1),)}`` is ``table[id]``, each
    evaluation costs one epoch."""

    def __init__(self, table: dict[int, float], budget: int):
        super().__init__(objective_sense="max", dtype=object, device="cpu", seed=0)
        self.table = dict(table)
        self.budget = budget
        self.epochs_used = 0
        self.evaluated: list[int] = []

    def can_afford(self, n: int = 1) -> bool:
        return self.epochs_used + n <= self.budget

    def _evaluate_batch(self, batch):
        fits = []
        for value in batch.values:
            ident = int(value["arch"][0][0])
            if not self.can_afford(1):
                raise BudgetExceeded("over budget")
            self.epochs_used += 1
            self.evaluated.append(ident)
            fits.append(self.table[ident])
        batch.set_evals(torch.tensor(fits, dtype=torch.float64))


class Script:
    """A mutation that returns the next scripted id and records which parent it got."""

    def __init__(self, ids):
        self.ids = list(ids)
        self.parents: list[int] = []

    def __call__(self, parent, generator):
        assert type(parent) is dict and isinstance(generator, torch.Generator)
        self.parents.append(int(parent["arch"][0][0]))
        ident = self.ids.pop(0)
        return {"arch": ((ident, 1, 1),), "inherited_fraction": ident / 100}


def value(ident: int) -> dict:
    return {"arch": ((ident, 1, 1),)}


def parent_id(ea: OnePlusOneEA) -> int:
    return int(ea.parent_value()["arch"][0][0])


def stub_ea(table, children, *, budget=100, **kw):
    problem = StubProblem(table, budget)
    script = Script(children)
    ea = OnePlusOneEA(problem, mutate=script, initial=lambda g: value(1), **kw)
    return ea, problem, script


# ----------------------------------------------------------------- B.12.5 selection
def test_ties_keep_the_parent():
    ea, problem, script = stub_ea({1: 0.5, 2: 0.5, 3: 0.5, 4: 0.5}, [2, 3, 4], p_niche=0.0)
    for _ in range(4):
        ea.step()
    assert parent_id(ea) == 1 and ea.parent_fitness == 0.5
    assert script.parents == [1, 1, 1]
    assert ea.status["replaced"] == 0.0


def test_p_niche_zero_is_a_pure_greedy_one_plus_one():
    table = {1: 0.5, 2: 0.4, 3: 0.6, 4: 0.55, 5: 0.7, 6: 0.1}
    ea, problem, script = stub_ea(table, [2, 3, 4, 5, 6], p_niche=0.0)
    trace = []
    for _ in range(6):
        ea.step()
        trace.append((parent_id(ea), ea.status["niching"], ea.status["best_val"]))
    assert script.parents == [1, 1, 3, 3, 5]
    assert [t[0] for t in trace] == [1, 1, 3, 3, 5, 5]
    assert all(t[1] == 0.0 for t in trace)
    assert problem.evaluated == [1, 2, 3, 4, 5, 6] and ea.evaluations == 6
    assert ea.status["episodes"] == 0.0 and ea.status["inherited_fraction"] == 0.06
    assert ea.status["n_blocks"] == 1.0 and ea.status["epochs_used"] == 6.0


def test_p_niche_one_starts_a_k_step_episode_on_every_failure_and_never_nests():
    table = {1: 0.5, 2: 0.3, 3: 0.2, 4: 0.4, 5: 0.9, 6: 0.1, 7: 0.95, 8: 0.2}
    ea, problem, script = stub_ea(table, [2, 3, 4, 5, 6, 7, 8], p_niche=1.0, niche_steps=2)
    ea.step()  # initial
    ea.step()  # 2 fails -> episode from 2: 3 fails (no nested episode), 4 > 2; c=4 < a=1
    assert script.parents == [1, 2, 2]
    assert parent_id(ea) == 1 and ea.status["niching"] == 1.0
    assert ea.status["replaced"] == 0.0 and ea.status["episodes"] == 1.0
    ea.step()  # 5 > 1: replaced, no episode
    assert parent_id(ea) == 5 and ea.status["niching"] == 0.0
    ea.step()  # 6 fails -> episode from 6: 7 > 6, then 8 from 7 fails; c = 7 > 5
    assert script.parents == [1, 2, 2, 1, 5, 6, 7]
    assert parent_id(ea) == 7 and ea.status["replaced"] == 1.0
    assert ea.status["episodes"] == 2.0
    assert problem.evaluated == [1, 2, 3, 4, 5, 6, 7, 8]


def test_episode_result_replaces_only_if_strictly_better():
    table = {1: 0.5, 2: 0.1, 3: 0.5, 4: 0.2}
    ea, _, script = stub_ea(table, [2, 3, 4], p_niche=1.0, niche_steps=2)
    ea.step()
    ea.step()  # 2 fails; episode: 3 (0.5 > 0.1) -> sub 3; 4 fails; c = 3 ties a = 1
    assert script.parents == [1, 2, 3]
    assert parent_id(ea) == 1 and ea.status["replaced"] == 0.0


def test_niching_rate_is_a_seeded_draw_per_failure():
    table = {i: (0.9 if i == 1 else 0.1) for i in range(1, 200)}

    def run(seed):
        ea, problem, script = stub_ea(table, range(2, 200), budget=60, p_niche=0.3,
                                      niche_steps=3, generator_seed=seed)
        while not ea.is_terminated:
            ea.step()
        return script.parents, ea.status["episodes"]

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c
    assert 0 < a[1] < 30  # some failures niche, not all


# ----------------------------------------------------------------- B.12.4 budget
def test_budget_stops_niching_early_and_is_never_overrun():
    ea, problem, script = stub_ea({1: 0.5, 2: 0.1, 3: 0.1, 4: 0.1}, [2, 3, 4],
                                  budget=3, p_niche=1.0, niche_steps=5, checkpoints=(2, 3))
    ea.step()
    ea.step()  # 2 fails -> episode cut after one evaluation (budget 3)
    assert problem.epochs_used == 3 and ea.evaluations == 3 and ea.is_terminated
    assert script.parents == [1, 2]
    with pytest.raises(BudgetExceeded, match="is_terminated"):
        ea.step()
    assert problem.epochs_used == 3
    assert set(ea.snapshots) == {2, 3, "end"}
    assert all(plain_value(s["value"]["arch"]) == ((1, 1, 1),) for s in ea.snapshots.values())


def test_real_budget_counts_every_training_epoch():
    problem = ArchitectureProblem(build, TRAIN, HELDOUT, epochs_per_evaluation=2, budget=12,
                                  lr=1e-2, batch_size=32, seed=0)
    steps = []
    problem.optimizer_hook.append(
        lambda opt, net: opt.register_step_post_hook(lambda *a: steps.append(1))
    )
    ea = OnePlusOneEA(problem, mutate=lambda p, g: tiny_mutate(p, g, history=problem.history),
                      initial=lambda g: {"arch": ((2, 3, 1),), "weights": None},
                      p_niche=1.0, niche_steps=2, generator_seed=0)
    ea.step()
    assert problem.epochs_used == 2  # the initial evaluation counts
    while not ea.is_terminated:
        ea.step()
    batches_per_epoch = math.ceil(len(TRAIN) / 32)
    assert len(steps) / batches_per_epoch == problem.epochs_used == 12  # = budget
    assert ea.evaluations == problem.evaluations == 12 // 2  # niching included
    assert len(problem.history) == 6  # forced novelty over the global history
    assert ea.status["episodes"] >= 1


# ----------------------------------------------------------------- Lamarckian EA
def make_real(seed=0, budget=6, checkpoints=(2, 4, 6)):
    problem = ArchitectureProblem(build, TRAIN, HELDOUT, epochs_per_evaluation=1, budget=budget,
                                  lr=1e-2, batch_size=32, seed=seed)
    received = []

    def mutate(parent, generator):
        received.append(parent)
        return tiny_mutate(parent, generator, history=problem.history)

    ea = OnePlusOneEA(problem, mutate=mutate,
                      initial=lambda g: {"arch": ((2, 3, 1),), "weights": None,
                                         "inherited_fraction": 0.0},
                      p_niche=0.5, niche_steps=2, checkpoints=checkpoints, generator_seed=seed)
    return ea, problem, received


def test_children_start_from_the_parents_trained_weights():
    ea, problem, received = make_real()
    ea.step()
    trained = ea.parent_value()["weights"]
    ea.step()
    given = received[0]["weights"]
    assert all(torch.equal(given[k], trained[k]) for k in trained)
    assert ea.status["inherited_fraction"] > 0


def test_checkpoints_seeded_repeat_and_status():
    a, pa, _ = make_real()
    frame = evolve(a, 100, progress=False, collapse_check_every=0)
    assert len(frame) == a.step_count < 100  # stopped by the budget
    assert a.is_terminated and pa.epochs_used == 6
    assert set(a.snapshots) == {2, 4, 6, "end"}
    for point in (2, 4, 6):
        snap = a.snapshots[point]
        assert snap["epochs_used"] >= point and snap["fitness"] == snap["evals"][0]
    fits = [a.snapshots[p]["fitness"] for p in (2, 4, 6)]
    assert fits == sorted(fits)  # the parent only improves
    # with strict greedy sub-runs the parent is the best of every evaluation (B.9 #12)
    best = max(r["accuracy"] for r in pa.records())
    assert a.snapshots["end"]["fitness"] == a.parent_fitness == pytest.approx(best)
    for key in ("epochs_used", "n_blocks", "niching", "inherited_fraction", "best_val",
                "evaluations"):
        assert key in frame.columns
    assert list(frame["epochs_used"])[-1] == 6.0

    b, pb, _ = make_real()
    evolve(b, 100, progress=False, collapse_check_every=0)
    va, vb = a.parent_value(), b.parent_value()
    assert va["arch"] == vb["arch"] and a.parent_fitness == b.parent_fitness
    assert all(torch.equal(va["weights"][k], vb["weights"][k]) for k in va["weights"])
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in pa.records()]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in pb.records()]


def test_resume_through_state_dict_ends_identically(tmp_path):
    full, pfull, _ = make_real(budget=8, checkpoints=(3, 8))
    whole = evolve(full, 100, progress=False, collapse_check_every=0)

    path = tmp_path / "run.pt"
    first, _, _ = make_real(budget=8, checkpoints=(3, 8))
    evolve(first, 3, progress=False, checkpoint=path, collapse_check_every=0)
    resumed, presumed, _ = make_real(budget=8, checkpoints=(3, 8))
    frame = evolve(resumed, 100, progress=False, checkpoint=path, resume=True,
                   collapse_check_every=0)
    assert resumed.is_terminated and presumed.epochs_used == pfull.epochs_used
    assert presumed.history == pfull.history
    va, vb = full.parent_value(), resumed.parent_value()
    assert va["arch"] == vb["arch"] and full.parent_fitness == resumed.parent_fitness
    assert all(torch.equal(va["weights"][k], vb["weights"][k]) for k in va["weights"])
    assert set(full.snapshots) == set(resumed.snapshots)
    for key in full.snapshots:
        assert full.snapshots[key]["fitness"] == resumed.snapshots[key]["fitness"]
        assert full.snapshots[key]["value"]["arch"] == resumed.snapshots[key]["value"]["arch"]
    columns = ["epochs_used", "n_blocks", "niching", "inherited_fraction", "best_val",
               "evaluations", "episodes", "replaced", "best_eval", "pop_best_eval"]
    assert frame[columns].equals(whole[columns])  # the logged curve too
    assert resumed.step_count == full.step_count


def test_initial_individual_from_the_problem_when_no_initial_callable():
    class Drawing(StubProblem):
        def _fill(self, values):
            for i in range(len(values)):
                values[i] = value(int(torch.randint(1, 3, (1,), generator=self.generator)))

    problem = Drawing({1: 0.5, 2: 0.5, 3: 0.7}, budget=5)
    ea = OnePlusOneEA(problem, mutate=Script([3]), p_niche=0.0)
    ea.step()
    assert parent_id(ea) in (1, 2) and problem.epochs_used == 1
    ea.step()
    assert parent_id(ea) == 3 and ea.status["pop_best_eval"] == pytest.approx(0.7)


# ----------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_p_niche_outside_unit_interval(p):
    with pytest.raises(ValueError, match="p_niche"):
        stub_ea({1: 0.5}, [], p_niche=p)


def test_bad_arguments():
    with pytest.raises(ValueError, match="niche_steps"):
        stub_ea({1: 0.5}, [], niche_steps=0)
    with pytest.raises(TypeError, match="mutate"):
        OnePlusOneEA(StubProblem({}, 3), mutate=None)
    with pytest.raises(ValueError, match="beyond the budget"):
        stub_ea({1: 0.5}, [], budget=3, checkpoints=(4,))
    with pytest.raises(ValueError, match="checkpoints"):
        stub_ea({1: 0.5}, [], checkpoints=(0,))
    numeric = Problem("max", lambda x: x.sum(), solution_length=2, initial_bounds=(0, 1))
    with pytest.raises(TypeError, match="object"):
        OnePlusOneEA(numeric, mutate=lambda p, g: p)
    ea, _, _ = stub_ea({1: 0.5}, [])
    ea._mutate = lambda p, g: [1, 2]
    ea.step()
    with pytest.raises(TypeError, match="value dict"):
        ea.step()


def test_corrupted_genome_from_mutation_is_refused():
    ea, problem, _ = make_real()
    ea.step()
    ea._mutate = lambda p, g: {"arch": ((4, -3, 1),), "weights": None}
    with pytest.raises(ValueError, match="corrupted genome"):
        ea.step()
    assert problem.epochs_used == 1
