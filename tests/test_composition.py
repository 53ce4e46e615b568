"""DE composed from public components: a user's jDE in a few lines, the shipped jDE, JADE
and L-SHADE, each checked on its defining behaviour, and the components' contracts."""

from __future__ import annotations

import math

import pytest
import torch
from evotorch import Problem

import neuro_de.algorithms.differential_evolution as de_loop
from neuro_de.adaptation import (
    FixedParameters,
    Generation,
    Outcome,
    ParameterRule,
    StrategyLearner,
    SuccessHistoryParameters,
)
from neuro_de.algorithms import (
    JADE,
    JDE,
    LSHADE,
    DifferentialEvolution,
    JADEParameters,
    LinearPopulationReduction,
)


def sphere_problem(seed=0, d=10, dtype=torch.float64):
    return Problem("min", lambda x: (x * x).sum(-1), solution_length=d,
                   initial_bounds=(-5.0, 5.0), vectorized=True, seed=seed, dtype=dtype)


# --- a user's jDE, written with the public API only (the "done when": < 30 lines)
class MyJDE(ParameterRule):
    def __init__(self, tau=0.1):
        super().__init__(F_range=(0.1, 1.0), CR_range=(0.0, 1.0))
        self.tau, self.F, self.CR = tau, None, None

    def sample(self, g: Generation):
        if self.F is None:
            self.F = torch.full((g.popsize,), 0.5, dtype=torch.float64, device=g.device)
            self.CR = torch.full((g.popsize,), 0.9, dtype=torch.float64, device=g.device)
        u = g.uniform(4, g.popsize)
        F = torch.where(u[0] < self.tau, 0.1 + 0.9 * u[1], self.F)
        CR = torch.where(u[2] < self.tau, u[3], self.CR)
        return F, CR

    def update(self, outcome: Outcome):
        self.F = torch.where(outcome.selected, outcome.F, self.F)
        self.CR = torch.where(outcome.selected, outcome.CR, self.CR)

    def state_dict(self):
        return {"F": self.F, "CR": self.CR}

    def load_state_dict(self, state):
        self.F, self.CR = state["F"], state["CR"]


def test_a_users_jde_runs_resumes_exactly_and_its_cr_reaches_the_crossover(monkeypatch):
    def make():
        return DifferentialEvolution(sphere_problem(), popsize=12, parameters=MyJDE())

    searcher = make()
    searcher.run(5)
    best5 = float(searcher.status["pop_best_eval"])
    state = searcher.state_dict()
    searcher.run(7)
    resumed = make()
    resumed.load_state_dict(state)
    resumed.run(7)
    assert torch.equal(resumed.population.values, searcher.population.values)
    assert torch.equal(resumed.parameters.CR, searcher.parameters.CR)
    assert float(searcher.status["pop_best_eval"]) < best5  # it makes progress

    # CR = 0: only the forced j_rand coordinate comes from the mutant
    seen = {}
    crossover = de_loop.binomial_crossover

    def spy(parents, mutants, CR, **kwargs):
        seen["CR"] = CR.clone()
        trials = crossover(parents, mutants, CR, **kwargs)
        seen["changed"] = (trials != parents).sum(1)
        return trials

    monkeypatch.setattr(de_loop, "binomial_crossover", spy)
    zero = MyJDE(tau=0.0)
    searcher = DifferentialEvolution(sphere_problem(d=30), popsize=12, parameters=zero)
    searcher.step()  # the first sample sets CR = 0.9; force 0 from then on
    zero.CR = torch.zeros(12, dtype=torch.float64)
    searcher.step()
    assert torch.equal(seen["CR"], torch.zeros(12, dtype=torch.float64))
    assert int(seen["changed"].max()) <= 1


def test_jde_keeps_new_parameters_only_for_selected_trials(monkeypatch):
    searcher = JDE(sphere_problem(seed=3), popsize=20)
    rule = searcher.parameters
    outcomes = []
    update = rule.update

    def record(outcome):
        before = (rule.F.clone(), rule.CR.clone())
        update(outcome)
        outcomes.append((outcome, before, (rule.F.clone(), rule.CR.clone())))

    monkeypatch.setattr(rule, "update", record)
    searcher.run(30)
    regenerated = kept = 0
    for outcome, (F0, CR0), (F1, CR1) in outcomes:
        sel = outcome.selected
        assert torch.equal(F1[sel], outcome.F[sel]) and torch.equal(CR1[sel], outcome.CR[sel])
        assert torch.equal(F1[~sel], F0[~sel]) and torch.equal(CR1[~sel], CR0[~sel])
        new = outcome.F != F0
        regenerated += int(new.sum())
        kept += int((new & sel).sum())
        assert bool(((outcome.F >= 0.1) & (outcome.F <= 1.0)).all())
    # about tau = 10 % of the draws regenerate F, and some of those survive
    assert 0.05 < regenerated / (30 * 20) < 0.16
    assert 0 < kept < regenerated


def test_jade_parameter_update_by_hand():
    rule = JADEParameters(c=0.1)
    rule.setup(popsize=4, num_strategies=1, device="cpu")
    gen = Generation(index=0, popsize=4, num_strategies=1, utility=torch.zeros(4),
                     generator=None, device=torch.device("cpu"))
    F = torch.tensor([0.2, 0.6, 0.9, 0.4], dtype=torch.float64)
    CR = torch.tensor([0.1, 0.5, 0.3, 0.7], dtype=torch.float64)
    improved = torch.tensor([True, True, False, False])
    outcome = Outcome(gen, torch.zeros(4, dtype=torch.int64), F, CR, improved, improved,
                      torch.where(improved, 1.0, 0.0).double(), 0)
    rule.update(outcome)
    lehmer = (0.04 + 0.36) / (0.2 + 0.6)
    assert float(rule.mu[0]) == pytest.approx(0.9 * 0.5 + 0.1 * lehmer)
    assert float(rule.mu[1]) == pytest.approx(0.9 * 0.5 + 0.1 * 0.3)
    before = rule.mu.clone()
    none = torch.zeros(4, dtype=torch.bool)
    rule.update(Outcome(gen, torch.zeros(4, dtype=torch.int64), F, CR, none, none,
                        torch.zeros(4, dtype=torch.float64), 0))
    assert torch.equal(rule.mu, before)  # no success: no change


def test_jade_solves_sphere_and_uses_its_archive():
    searcher = JADE(sphere_problem(seed=1), popsize=30)
    searcher.run(300)
    assert searcher.status["pop_best_eval"] < 1e-8
    assert searcher.archive.count == 30
    assert JADE(sphere_problem(), popsize=30, archive=False).archive is None


def test_lshade_population_follows_the_linear_schedule_to_its_minimum():
    budget = 3000
    searcher = LSHADE(sphere_problem(seed=2), max_evaluations=budget, popsize=60)
    sizes, archive = [], []
    while searcher.evaluations < budget:
        searcher.step()
        sizes.append(searcher.popsize)
        archive.append((searcher.archive.count, searcher.archive.capacity))
        expected = max(4, round((4 - 60) / budget * searcher.evaluations + 60))
        assert searcher.popsize == min(expected, sizes[-2] if len(sizes) > 1 else 60)
        assert searcher.population.values.shape == (searcher.popsize, 10)
    assert sizes[-1] == 4 and sizes == sorted(sizes, reverse=True)
    assert all(count <= cap == round(2.6 * n) for (count, cap), n in zip(archive, sizes,
                                                                       strict=True))
    assert archive[-1][1] == round(2.6 * 4)
    # the survivors of a reduction are the best: the population's evals stay sorted-best
    assert searcher.status["pop_best_eval"] < 1e-2


def test_lshade_resumes_exactly_after_the_population_shrank():
    def make():
        return LSHADE(sphere_problem(seed=4), max_evaluations=2000, popsize=40)

    searcher = make()
    searcher.run(15)
    assert searcher.popsize < 40
    state = searcher.state_dict()
    searcher.run(10)
    resumed = make()
    resumed.load_state_dict(state)
    resumed.run(10)
    assert resumed.popsize == searcher.popsize
    assert torch.equal(resumed.population.values, searcher.population.values)
    assert torch.equal(resumed.archive.members, searcher.archive.members)


def test_lshade_terminal_cr():
    rule = LSHADE(sphere_problem(), max_evaluations=100, popsize=8).parameters
    gen = Generation(index=0, popsize=4, num_strategies=1, utility=torch.zeros(4),
                     generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    gen.strategy_ids = torch.zeros(4, dtype=torch.int64)
    ids = torch.zeros(4, dtype=torch.int64)
    improved = torch.tensor([True, True, False, False])
    outcome = Outcome(gen, ids, torch.full((4,), 0.5, dtype=torch.float64),
                      torch.tensor([0.0, 0.0, 0.9, 0.9], dtype=torch.float64), improved,
                      improved, torch.tensor([1.0, 2.0, 0.0, 0.0], dtype=torch.float64), 0)
    rule.update(outcome)  # every successful CR was 0: the cell becomes terminal
    assert rule.terminal[0].tolist() == [True] + [False] * 5
    rule.memory.values[1, 0, 1:] = 0.9  # the other cells draw CR around 0.9
    draws = [rule.sample(gen)[1] for _ in range(200)]
    zeros = torch.cat(draws) == 0
    assert 0.05 < float(zeros.double().mean()) < 0.35  # the terminal cell: 1 slot in 6


def test_linear_population_reduction_formula_and_errors():
    s = LinearPopulationReduction(100, 4, 1000)
    assert s.size(0, 100) == 100 and s.size(500, 100) == 52 and s.size(1000, 100) == 4
    assert s.size(5000, 10) == 4
    with pytest.raises(ValueError, match="minimum"):
        LinearPopulationReduction(3, 4, 10)
    with pytest.raises(ValueError, match="LSHADE needs `max_evaluations`"):
        LSHADE(sphere_problem())


def test_shade_can_be_told_what_a_trained_network_needs():
    """Small F and CR ranges: the memories start at their middles and every draw stays in."""
    searcher = DifferentialEvolution(
        sphere_problem(), popsize=10, strategies="current-to-pbest/1",
        parameters=SuccessHistoryParameters(F_range=(0.0, 0.2), CR_range=(0.0, 0.3)),
    )
    mem = searcher.parameters.memory
    assert torch.allclose(mem["F"], torch.tensor(0.1, dtype=torch.float64))
    assert torch.allclose(mem["CR"], torch.tensor(0.15, dtype=torch.float64))
    for _ in range(20):
        searcher.step()
        st = searcher.status
        assert 0 < st["mean_F"] <= 0.2 and 0 <= st["mean_CR"] <= 0.3


def test_component_errors_are_clear():
    with pytest.raises(TypeError, match="`parameters` must be a ParameterRule"):
        DifferentialEvolution(sphere_problem(), popsize=10, parameters=0.5)
    with pytest.raises(TypeError, match="`selector` must be a StrategySelector"):
        DifferentialEvolution(sphere_problem(), popsize=10, selector="sus")
    with pytest.raises(ValueError, match="not both"):
        DifferentialEvolution(sphere_problem(), popsize=10, strategies={"rand/1": 1.0},
                              selector=StrategyLearner())
    with pytest.raises(ValueError, match="built for 3 strategies"):
        DifferentialEvolution(sphere_problem(), popsize=10, strategies=["rand/1", "best/1"],
                              selector=StrategyLearner(3))
    with pytest.raises(ValueError, match="F_range"):
        FixedParameters(F=0.5, F_range=(0.3, 0.1))
    with pytest.raises(ValueError, match="outside `F_range`"):
        FixedParameters(F=0.5, F_range=(0.0, 0.2))

    class Bad(ParameterRule):
        def sample(self, g):
            return torch.zeros(3), torch.zeros(g.popsize)

    with pytest.raises(ValueError, match=r"must return \(F, CR\) as \(10,\) tensors"):
        DifferentialEvolution(sphere_problem(), popsize=10, parameters=Bad()).step()


def test_outcome_counts_non_finite_trials():
    def objective(x):
        f = (x * x).sum(-1)
        return torch.where(x[:, 0] > -0.72, math.nan, f)

    problem = Problem("min", objective, solution_length=3, initial_bounds=(-1.0, -0.7),
                      vectorized=True, seed=0)
    rule = MyJDE()
    seen = []
    update = rule.update
    rule.update = lambda o: (seen.append(o), update(o))
    searcher = DifferentialEvolution(problem, popsize=10, parameters=rule)
    searcher.run(10)
    for o in seen:  # a NaN trial is neither selected nor a success
        assert int(o.selected.sum()) + o.nonfinite <= 10
        assert not bool((o.improved & ~o.selected).any())
    assert sum(o.nonfinite for o in seen) > 0
    assert sum(o.nonfinite for o in seen) == searcher.status["nonfinite_total"]


def test_a_strategy_draws_from_the_problems_generator():
    """MutationContext.generator is the problem's: a random strategy is reproducible."""
    from neuro_de.operators import STRATEGIES, register_strategy

    seen = []

    @register_strategy("test/jitter", num_random=1, overwrite=True)
    def jitter(ctx):
        seen.append(ctx.generator)
        noise = torch.randn(ctx.x(0).shape, generator=ctx.generator,
                            device=ctx.population.device, dtype=ctx.population.dtype)
        return ctx.x(0) + 0.1 * noise

    try:
        def run():
            problem = sphere_problem(seed=5)
            searcher = DifferentialEvolution(problem, popsize=8, strategies="test/jitter")
            searcher.run(5)
            assert seen[-1] is problem.generator
            return searcher.population.values.clone()

        assert torch.equal(run(), run())
    finally:
        STRATEGIES.pop("test/jitter", None)
