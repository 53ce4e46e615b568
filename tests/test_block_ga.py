"""NE-SGD's genetic algorithm over binary block codes (Zhang et al. 2020, Algorithm 1; spec
A.4, A.6, A.12.4, A.12.6, A.12.7) and its binary operators, on toy bit-string problems."""

import functools

import pytest
import torch
from evotorch import Problem, SolutionBatch

from neuro_de.algorithms.block_ga import BlockCodeGA
from neuro_de.operators.binary import (
    BitFlipMutation,
    OnePointCrossOverWithProb,
    PerBitFlipMutation,
    RouletteSelection,
    TournamentSelection,
    TruncationSelection,
    UniformCrossOverWithProb,
    distinct_parent_pairs,
    keep_elite,
    tournament_winners,
)
from neuro_de.operators.suppression import suppress


class CodeProblem(Problem):
    """Bit strings scored by their matches with a target code (OneMax for the all-ones
    target), plus a small deterministic per-code term that breaks most ties. It counts every
    evaluation and caches fitness by code, exposing ``counters`` as NE-SGD's retraining
    problem does."""

    def __init__(self, n=12, *, sense="max", seed=0, target=None, tie_break=True):
        super().__init__(sense, solution_length=n, dtype=torch.int64, bounds=(0, 1), seed=seed)
        if target is None:
            target = torch.ones(n, dtype=torch.int64)
        self.target = torch.as_tensor(target, dtype=torch.int64)
        self.tie_break = tie_break
        self.calls = 0
        self.cache: dict[bytes, float] = {}
        self.hits = 0
        self.log: list[tuple[tuple, float]] = []

    @property
    def counters(self):
        return {"cache_hits": self.hits, "retrainings": len(self.cache)}

    def fitness(self, x: torch.Tensor) -> torch.Tensor:
        matches = (x == self.target).sum(-1).to(torch.float32)
        if self.tie_break:
            weights = torch.arange(1, x.shape[-1] + 1)
            matches = matches + 0.01 * ((x * weights).sum(-1) % 7).to(torch.float32) / 7
        return matches if self.senses[0] == "max" else -matches

    def _evaluate_batch(self, batch: SolutionBatch):
        x = batch.values.as_subclass(torch.Tensor)
        f = self.fitness(x)
        for row, value in zip(x, f.tolist(), strict=True):
            key = row.numpy().tobytes()
            if key in self.cache:
                self.hits += 1
            else:
                self.cache[key] = value
            self.log.append((tuple(row.tolist()), value))
        self.calls += int(x.shape[0])
        batch.set_evals(f)

    def state_dict(self):
        return {"calls": self.calls, "hits": self.hits,
                "cache": [[list(k), v] for k, v in self.cache.items()]}

    def load_state_dict(self, state):
        self.calls, self.hits = state["calls"], state["hits"]
        self.cache = {bytes(k): v for k, v in state["cache"]}


def evaluated_batch(problem, n):
    batch = problem.generate_batch(n)
    problem.evaluate(batch)
    return batch


# ---------------------------------------------------------------------------- operators
def test_crossover_probability_is_realised():
    problem = CodeProblem(16, seed=1)
    batch = evaluated_batch(problem, 40)
    cx = OnePointCrossOverWithProb(problem, probability=0.9, num_children=20_000)
    children = cx(batch)
    assert len(children) == 20_000
    crossed = cx.last_crossed
    assert crossed.shape == (10_000,)
    assert abs(float(crossed.double().mean()) - 0.9) < 0.01
    values = batch.values.as_subclass(torch.Tensor)
    p1, p2 = values[cx.last_parents[:, 0]], values[cx.last_parents[:, 1]]
    c = children.values.as_subclass(torch.Tensor)
    c1, c2 = c[:10_000], c[10_000:]
    # pairs not crossed: the children are exact copies of the parents
    assert torch.equal(c1[~crossed], p1[~crossed]) and torch.equal(c2[~crossed], p2[~crossed])
    # crossed pairs: one cut point, child 1 = head of parent 1 + tail of parent 2
    assert torch.equal(c1 + c2, p1 + p2)
    took_p2 = (c1 != p1)  # positions where child 1 shows parent 2's (different) gene
    first = torch.where(took_p2.any(1), took_p2.int().argmax(1), 16)
    tail = torch.arange(16)[None, :] >= first[:, None]
    assert torch.equal(torch.where(tail, p2, p1), c1)
    # Sun's convention: two different parents per pair
    assert bool((cx.last_parents[:, 0] != cx.last_parents[:, 1]).all())


def test_crossover_probability_extremes_and_uniform_variant():
    problem = CodeProblem(10, seed=2)
    batch = evaluated_batch(problem, 12)
    never = OnePointCrossOverWithProb(problem, probability=0.0, num_children=200)
    children = never(batch).values.as_subclass(torch.Tensor)
    values = batch.values.as_subclass(torch.Tensor)
    pairs = never.last_parents
    assert not bool(never.last_crossed.any())
    assert torch.equal(children, torch.cat([values[pairs[:, 0]], values[pairs[:, 1]]]))
    always = OnePointCrossOverWithProb(problem, probability=1.0, num_children=200)
    always(batch)
    assert bool(always.last_crossed.all())
    uni = UniformCrossOverWithProb(problem, probability=1.0, num_children=4000)
    c = uni(batch).values.as_subclass(torch.Tensor)
    p1, p2 = values[uni.last_parents[:, 0]], values[uni.last_parents[:, 1]]
    assert torch.equal(c[:2000] + c[2000:], p1 + p2)
    differ = p1 != p2
    swapped = (c[:2000] != p1) & differ
    assert abs(float(swapped.sum() / differ.sum()) - 0.5) < 0.03


def test_parents_are_binary_tournament_winners():
    problem = CodeProblem(8, seed=3)
    n = 10
    fitness = torch.arange(n, dtype=torch.float64)  # individual 0 is the worst
    winners = tournament_winners(fitness, 50_000, problem=problem)
    freq = torch.bincount(winners, minlength=n).double() / 50_000
    # between two different individuals, rank r (0 = worst) wins with prob 2r / (n(n-1))
    law = 2 * torch.arange(n, dtype=torch.float64) / (n * (n - 1))
    assert float((freq - law).abs().max()) < 0.01
    assert int(freq[0]) == 0  # the worst never wins: no self-tournament
    pairs = distinct_parent_pairs(fitness, 5000, problem=problem)
    assert bool((pairs[:, 0] != pairs[:, 1]).all())
    assert not bool((pairs == 0).any())
    # two individuals with distinct fitness: the best wins every tournament, so the second
    # parent must come from the fallback tournament without the first one
    pairs = distinct_parent_pairs(torch.tensor([1.0, 2.0]), 50, problem=problem)
    assert sorted(pairs[0].tolist()) == [0, 1] and bool((pairs[:, 0] == 1).all())
    # minimisation: the crossover's tournaments read the sense
    pmin = CodeProblem(8, seed=3, sense="min")
    batch = evaluated_batch(pmin, 10)
    cx = OnePointCrossOverWithProb(pmin, num_children=4000)
    cx(batch)
    worst = int(batch.evals[:, 0].argmax())  # the largest value is the worst for "min"
    assert not bool((cx.last_parents == worst).any())


def test_bit_flip_mutations():
    problem = CodeProblem(12, seed=4)
    batch = evaluated_batch(problem, 10_000)
    values = batch.values.as_subclass(torch.Tensor)
    mut = BitFlipMutation(problem, probability=0.1)
    out = mut(batch)
    new = out.values.as_subclass(torch.Tensor)
    flips = (new != values).sum(1)
    assert torch.equal(flips > 0, mut.last_mutated)
    assert set(flips.unique().tolist()) == {0, 1}  # one bit per mutated child
    assert abs(float(mut.last_mutated.double().mean()) - 0.1) < 0.01
    assert bool(((new == 0) | (new == 1)).all()) and new.dtype == torch.int64
    # a mutated child is not evaluated; an untouched copy keeps its evaluation
    evals = out.evals[:, 0]
    assert bool(evals[mut.last_mutated].isnan().all())
    assert torch.equal(evals[~mut.last_mutated], batch.evals[:, 0][~mut.last_mutated])
    assert torch.equal(batch.values.as_subclass(torch.Tensor), values)  # input untouched
    per_bit = PerBitFlipMutation(problem, probability=0.2)
    rate = float((per_bit(batch).values != batch.values).double().mean())
    assert abs(rate - 0.2) < 0.01
    default = PerBitFlipMutation(problem)  # 1/n per bit
    rate = float((default(batch).values != batch.values).double().mean())
    assert abs(rate - 1 / 12) < 0.01


def test_child_equals_parent_without_crossover_and_mutation():
    problem = CodeProblem(10, seed=5)
    batch = evaluated_batch(problem, 8)
    cx = OnePointCrossOverWithProb(problem, probability=0.5, num_children=2000)
    mut = BitFlipMutation(problem, probability=0.3)
    children = mut(cx(batch)).values.as_subclass(torch.Tensor)
    values = batch.values.as_subclass(torch.Tensor)
    parents = torch.cat([cx.last_parents[:, 0], cx.last_parents[:, 1]])
    untouched = ~torch.cat([cx.last_crossed, cx.last_crossed]) & ~mut.last_mutated
    assert int(untouched.sum()) > 100
    assert torch.equal(children[untouched], values[parents[untouched]])


def test_environmental_selections():
    problem = CodeProblem(4, seed=6)
    f = torch.tensor([3.0, 1.0, 4.0, 1.5, 9.0, 2.0], dtype=torch.float64)
    assert TruncationSelection()(f, f, 3, problem=problem).tolist() == [4, 2, 0]
    # the elite by TRUE fitness survives even when suppression made it look worst
    sel_f = f.clone()
    sel_f[4] = -100.0
    for selection in (TruncationSelection(), TournamentSelection(), RouletteSelection()):
        for _ in range(20):
            idx = selection(sel_f, f, 3, problem=problem)
            assert 4 in idx.tolist()
    assert 4 not in TruncationSelection(elitism=False)(sel_f, f, 3, problem=problem).tolist()
    # keep_elite replaces the worst selected (by the selection fitness), last on ties
    assert keep_elite(torch.tensor([1, 3, 1]), f, f).tolist() == [1, 3, 4]
    assert keep_elite(torch.tensor([4, 1]), f, f).tolist() == [4, 1]
    # roulette is fitness-proportional on non-negative utilities ...
    w = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    idx = RouletteSelection(elitism=False)(w, w, 40_000, problem=problem)
    freq = torch.bincount(idx, minlength=3).double() / 40_000
    torch.testing.assert_close(freq, torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64),
                               atol=0.01, rtol=0)
    # ... and windowed (minus the minimum) otherwise: the worst gets no weight
    idx = RouletteSelection(elitism=False)(w - 5, w - 5, 40_000, problem=problem)
    freq = torch.bincount(idx, minlength=3).double() / 40_000
    torch.testing.assert_close(freq, torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64),
                               atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="cannot keep"):
        TruncationSelection()(f, f, 7, problem=problem)


def test_operator_bad_input():
    problem = CodeProblem(6)
    for p in (-0.1, 1.1):
        with pytest.raises(ValueError, match="`probability`"):
            OnePointCrossOverWithProb(problem, probability=p)
        with pytest.raises(ValueError, match="`probability`"):
            BitFlipMutation(problem, probability=p)
    with pytest.raises(ValueError, match="swap_probability"):
        UniformCrossOverWithProb(problem, swap_probability=2.0)
    with pytest.raises(ValueError, match="num_children"):
        OnePointCrossOverWithProb(problem, num_children=3)
    real = Problem("max", lambda x: x.sum(), solution_length=4, initial_bounds=(0, 1))
    with pytest.raises(TypeError, match="dtype"):
        BitFlipMutation(real)
    with pytest.raises(ValueError, match="at least 2"):
        distinct_parent_pairs(torch.ones(1), 3, problem=problem)


# ---------------------------------------------------------------------------- the GA
SELECTIONS = {
    "tournament": TournamentSelection,
    "truncation": TruncationSelection,
    "roulette": RouletteSelection,
}


@pytest.mark.parametrize("popsize, num_children, expected_c", [(5, None, 6), (6, None, 6),
                                                               (5, 4, 4)])
def test_evaluation_count(popsize, num_children, expected_c):
    problem = CodeProblem(10, seed=0)
    ga = BlockCodeGA(problem, popsize=popsize, num_children=num_children)
    assert ga.re_evaluate is False
    assert ga.num_children == expected_c
    assert problem.calls == 0  # generation 0 is evaluated in the first step
    generations = 30
    for t in range(1, generations + 1):
        ga.step()
        assert problem.calls == popsize + t * expected_c  # parents never re-evaluated
    assert ga.evaluations == problem.calls == popsize + generations * expected_c
    assert ga.status["evaluations"] == float(problem.calls)
    # distinct codes and the problem's cache agree: #retrainings = #distinct codes
    assert ga.status["distinct_codes"] == float(len(problem.cache))
    assert ga.status["retrainings"] == float(len(problem.cache))
    assert ga.status["cache_hits"] + ga.status["retrainings"] == float(problem.calls)
    assert int(ga.distinct_codes.shape[0]) == len(problem.cache)


def test_paper_budget_is_185_evaluations():
    problem = CodeProblem(10, seed=0)
    ga = BlockCodeGA(problem, popsize=5)
    ga.run(30)
    assert problem.calls == 185


@pytest.mark.parametrize("selection", list(SELECTIONS))
@pytest.mark.parametrize("sense", ["max", "min"])
def test_elite_is_never_lost(selection, sense):
    problem = CodeProblem(8, seed=11, sense=sense, target=[1, 0, 1, 0, 1, 1, 0, 0])
    ga = BlockCodeGA(problem, popsize=6, environmental_selection=SELECTIONS[selection](),
                     mutation_probability=0.5)
    better = max if sense == "max" else min
    suppressed_total = 0
    for _ in range(25):
        ga.step()
        best_ever = better(v for _, v in problem.log)
        evals = ga.population.evals[:, 0]
        pop_best = float(evals.max() if sense == "max" else evals.min())
        assert pop_best == best_ever
        assert ga.status["best_eval"] == pytest.approx(best_ever)
        suppressed_total += int(ga.status["suppressed"])
        # the stored evaluations are the true fitness (suppression works on a copy)
        values = ga.population.values.as_subclass(torch.Tensor)
        torch.testing.assert_close(evals.as_subclass(torch.Tensor), problem.fitness(values))
    assert suppressed_total > 0


def test_status_items():
    problem = CodeProblem(10, seed=1)
    ga = BlockCodeGA(problem, popsize=6)
    ga.step()
    status = dict(ga.status)
    for key in ("best_eval", "mean_eval", "spread", "distinct_codes", "cache_hits",
                "retrainings", "suppressed", "evaluations", "pop_best_eval"):
        assert isinstance(status[key], float), key
    assert "pop_best" in status and "best" in status
    evals = ga.population.evals[:, 0]
    assert status["spread"] == pytest.approx(float(evals.max() - evals.min()))
    assert status["pop_best_eval"] == pytest.approx(float(evals.max()))
    # a problem without counters has no such status items
    plain = Problem("max", lambda x: x.sum().float(), solution_length=6, dtype=torch.int64,
                    bounds=(0, 1), seed=0)
    ga = BlockCodeGA(plain, popsize=4)
    ga.step()
    assert "cache_hits" not in ga.status and "spread" in ga.status


def run_history(seed, steps=8, **kwargs):
    problem = CodeProblem(12, seed=seed)
    ga = BlockCodeGA(problem, popsize=6, **kwargs)
    ga.run(steps)
    return problem.log, ga.population.values.clone(), ga.population.evals.clone()


@pytest.mark.parametrize("selection", list(SELECTIONS))
def test_seeded_runs_repeat_exactly(selection):
    a = run_history(7, environmental_selection=SELECTIONS[selection]())
    b = run_history(7, environmental_selection=SELECTIONS[selection]())
    assert a[0] == b[0]
    assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    c = run_history(8, environmental_selection=SELECTIONS[selection]())
    assert a[0] != c[0]


def test_state_dict_resumes_exactly(tmp_path):
    problem = CodeProblem(12, seed=3)
    ga = BlockCodeGA(problem, popsize=6)
    ga.run(4)
    torch.save(ga.state_dict(), tmp_path / "ga.pt")
    ga.run(5)
    reference = (ga.population.values.clone(), ga.population.evals.clone(), dict(ga.status))

    fresh_problem = CodeProblem(12, seed=99)
    fresh = BlockCodeGA(fresh_problem, popsize=6)
    fresh.load_state_dict(torch.load(tmp_path / "ga.pt", weights_only=True))
    assert fresh.steps_count == 4 and fresh.evaluations == 6 + 4 * 6
    fresh.run(5)
    assert torch.equal(fresh.population.values, reference[0])
    assert torch.equal(fresh.population.evals, reference[1])
    for key in ("evaluations", "distinct_codes", "cache_hits", "retrainings", "spread",
                "best_eval", "iter"):
        assert fresh.status[key] == reference[2][key], key
    with pytest.raises(ValueError, match="popsize"):
        BlockCodeGA(CodeProblem(12), popsize=5).load_state_dict(ga.state_dict())
    with pytest.raises(ValueError, match="not a neuro_de"):
        fresh.load_state_dict({"foo": 1})


def test_onemax_reaches_the_optimum():
    """OneMax, n = 20, the paper's operators (mu = 0.9, one-bit mutation with nu = 0.1,
    binary tournaments, suppression): 10 + 100 x 10 = 1010 evaluations reach the optimum
    on every seed (it took 13-77 generations on seeds 0-9), where random search with the
    same budget finds it with probability ~1e-3."""
    for seed in range(3):
        problem = CodeProblem(20, seed=seed, tie_break=False)
        ga = BlockCodeGA(problem, popsize=10)
        ga.run(100)
        assert ga.status["best_eval"] == 20.0, seed
        assert ga.status["pop_best_eval"] == 20.0
        assert problem.calls == 1010


def test_suppression_options():
    calls = []

    def recording(codes, utilities, *, n_clusters, higher_is_better):
        calls.append((codes.shape, n_clusters, higher_is_better))
        return suppress(codes, utilities, n_clusters=n_clusters, min_size=1,
                        higher_is_better=higher_is_better)

    ga = BlockCodeGA(CodeProblem(10, seed=2), popsize=5, suppression=recording)
    ga.run(2)
    assert calls == [((11, 10), 5, True)] * 2

    def tensor_only(codes, utilities, *, n_clusters, higher_is_better):
        return utilities - 1.0

    ga = BlockCodeGA(CodeProblem(10, seed=2), popsize=5, suppression=tensor_only)
    ga.step()
    assert ga.status["suppressed"] == 11.0
    for off in (False, None):
        ga = BlockCodeGA(CodeProblem(10, seed=2), popsize=5, suppression=off)
        ga.run(3)
        assert ga.status["suppressed"] == 0.0
    ga = BlockCodeGA(CodeProblem(10, seed=2), popsize=5, linkage="single", metric="euclidean",
                     suppression=True)
    ga.run(3)
    partial = functools.partial(suppress, min_size=2)
    BlockCodeGA(CodeProblem(10, seed=2), popsize=5, suppression=partial).run(2)
    # operators as objects: uniform crossover, per-bit mutation
    problem = CodeProblem(10, seed=2)
    ga = BlockCodeGA(problem, popsize=5,
                     crossover=UniformCrossOverWithProb(problem, num_children=8),
                     mutation=PerBitFlipMutation(problem, probability=0.05))
    ga.run(3)
    assert problem.calls == 5 + 3 * 8 and ga.num_children == 8


def test_bad_input():
    problem = CodeProblem(8)
    for popsize in (1, 0, -3):
        with pytest.raises(ValueError, match="popsize >= 2"):
            BlockCodeGA(problem, popsize=popsize)
    with pytest.raises(TypeError, match="popsize"):
        BlockCodeGA(problem, popsize=4.0)
    for p in (-0.01, 1.01):
        with pytest.raises(ValueError, match="crossover_probability"):
            BlockCodeGA(problem, popsize=4, crossover_probability=p)
        with pytest.raises(ValueError, match="mutation_probability"):
            BlockCodeGA(problem, popsize=4, mutation_probability=p)
    real = Problem("max", lambda x: x.sum(), solution_length=4, initial_bounds=(0, 1))
    with pytest.raises(TypeError, match="dtype"):
        BlockCodeGA(real, popsize=4)
    wide = Problem("max", lambda x: x.sum().float(), solution_length=4, dtype=torch.int64,
                   bounds=(0, 3))
    with pytest.raises(ValueError, match="bounds"):
        BlockCodeGA(wide, popsize=4)
    multi = Problem(["max", "min"], lambda x: x.sum().float(), solution_length=4,
                    dtype=torch.int64, bounds=(0, 1))
    with pytest.raises(ValueError, match="single objective"):
        BlockCodeGA(multi, popsize=4)
    with pytest.raises(ValueError, match="num_children"):
        BlockCodeGA(problem, popsize=4, num_children=5)
    cx = OnePointCrossOverWithProb(problem)
    with pytest.raises(ValueError, match="crossover_probability"):
        BlockCodeGA(problem, popsize=4, crossover=cx, crossover_probability=0.5)
    with pytest.raises(ValueError, match="mutation_probability"):
        BlockCodeGA(problem, popsize=4, mutation=BitFlipMutation(problem),
                    mutation_probability=0.5)
    with pytest.raises(ValueError, match="linkage"):
        BlockCodeGA(problem, popsize=4, linkage="ward")
    with pytest.raises(ValueError, match="metric"):
        BlockCodeGA(problem, popsize=4, metric="cosine")
    with pytest.raises(ValueError, match="default suppression"):
        BlockCodeGA(problem, popsize=4, suppression=False, linkage="single")
    with pytest.raises(TypeError, match="suppression"):
        BlockCodeGA(problem, popsize=4, suppression="yes")
    with pytest.raises(TypeError, match="environmental_selection"):
        BlockCodeGA(problem, popsize=4, environmental_selection="roulette")
    with pytest.raises(TypeError, match="CrossOver"):
        BlockCodeGA(problem, popsize=4, crossover=lambda x: x)
