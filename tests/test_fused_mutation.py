"""The fused construction of a pool's mutants, the declared (linear) strategies, and the
loop-free index draw, checked against per-strategy evaluation and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from evotorch import Problem

import neuro_de.algorithms.engine as engine
from neuro_de.algorithms import DE, SHADE, SAShadeTriEnsin
from neuro_de.operators import (
    MutationContext,
    combine_terms,
    get_strategy,
    parse_coefficient,
    register_linear_strategy,
    sample_distinct_from_rows,
)
from neuro_de.operators.strategies import STRATEGIES

N, D = 8, 3


def problem(seed=0):
    return Problem(
        "min", lambda x: (x * x).sum(-1), solution_length=D, initial_bounds=(-5.0, 5.0),
        vectorized=True, seed=seed, dtype=torch.float64,
    )


def test_parse_coefficient():
    assert parse_coefficient("1") == (1.0, 0.0, 0.0)
    assert parse_coefficient("-F") == (0.0, -1.0, 0.0)
    assert parse_coefficient("1 - F") == (1.0, -1.0, 0.0)
    assert parse_coefficient("0.5*K + 2F - 3") == (-3.0, 2.0, 0.5)
    assert parse_coefficient(0.25) == (0.25, 0.0, 0.0)
    for bad in ("", "G", "1 -", "F**2", "*F", "2*"):
        with pytest.raises(ValueError, match="coefficient"):
            parse_coefficient(bad)
    with pytest.raises(TypeError):
        parse_coefficient(None)


def test_declared_strategy_hand_computed_and_checked():
    s = register_linear_strategy(
        "test/rand-to-best", {"r1": "1 - F", "best": "F", "r2": "F", "r3": "-F"},
        overwrite=True,
    )
    try:
        assert s.linear and s.num_random == 3 and s.needs == frozenset({"best"})
        pop = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 7.0], [-1.0, 5.0], [3.0, -2.0]])
        ctx = MutationContext(
            population=pop, fitness=torch.arange(5.0), rows=torch.tensor([0]),
            F=torch.tensor([[0.5]]), r=torch.tensor([[1, 2, 4]]), best_index=torch.tensor(3),
        )
        # x1 + .5 (x_best - x1) + .5 (x2 - x4) = [2,3] + .5[-3,2] + .5[1,9]
        assert torch.allclose(s(ctx), torch.tensor([[1.0, 8.5]]))
        assert get_strategy("test/rand-to-best") is s
    finally:
        del STRATEGIES["test/rand-to-best"]
    with pytest.raises(ValueError, match="distinct vectors"):
        register_linear_strategy("test/bad", {"r1": "1", "y": "F"})
    with pytest.raises(ValueError, match="map each vector"):
        register_linear_strategy("test/bad", ("r1", "r2"))
    with pytest.raises(ValueError, match="archive strategy"):
        register_linear_strategy("test/bad", {"x": "1"}, archive=True)
    assert "K" in get_strategy("current-to-rand/1").needs
    assert "archive" in get_strategy("current-to-pbest/1").needs


def test_combine_terms_chunked_equals_one_block(monkeypatch):
    import neuro_de.operators.strategies as strategies

    g = torch.Generator().manual_seed(0)
    source = torch.randn(10, 37, generator=g, dtype=torch.float64)
    index = torch.randint(0, 10, (6, 4), generator=g)
    coef = torch.randn(6, 4, generator=g, dtype=torch.float64)
    expected = (coef.unsqueeze(2) * source[index]).sum(1)
    assert torch.allclose(combine_terms(source, index, coef), expected)
    monkeypatch.setattr(strategies, "_CHUNK_ELEMENTS", 50)  # 8 columns per chunk
    assert torch.allclose(combine_terms(source, index, coef), expected)
    out = torch.full((6, 37), float("nan"), dtype=torch.float64)
    assert combine_terms(source, index, coef, out=out) is out
    assert torch.allclose(out, expected)


def test_mutants_built_in_the_trial_buffer_give_the_same_run(monkeypatch):
    def run():
        searcher = SAShadeTriEnsin(problem(), popsize=N)
        for _ in range(5):
            searcher.step()
        return searcher.population.values.clone()

    fresh = run()
    monkeypatch.setattr(engine, "_FRESH_MUTANTS_MAX", 0)  # every genome counts as huge
    assert torch.equal(run(), fresh)


@pytest.mark.parametrize("pools,k", [(7, 5), (6, 5), (100, 5), (12, 1), ([9, 20], 2), (8, 3)])
def test_sample_distinct_from_rows_constraints_and_uniformity(pools, k):
    g = torch.Generator().manual_seed(0)
    n = pools if isinstance(pools, int) else pools[0]
    reps = 3000
    counts = None
    for _ in range(reps // 10):
        r = torch.cat([sample_distinct_from_rows(pools, k, num_rows=n, generator=g)
                       for _ in range(10)])
        rows = torch.arange(n).repeat(10)
        assert bool((r != rows[:, None]).all()), "an index equals its own row"
        s = r.sort(dim=1).values
        assert bool((s[:, 1:] != s[:, :-1]).all()), "indices within a row repeat"
        last_pool = pools if isinstance(pools, int) else pools[-1]
        assert int(r.min()) >= 0 and int(r[:, -1].max()) < last_pool
        c = torch.bincount(r[rows == 0][:, -1], minlength=last_pool).double()
        counts = c if counts is None else counts + c
    # the last column of row 0 is uniform over everything but 0 and the earlier columns:
    # by symmetry uniform over 1 .. pool-1 (plain pools) or over the union's other values
    assert counts[0] == 0
    expected = reps / (last_pool - 1)
    assert float((counts[1:] - expected).abs().max()) < 6 * expected**0.5
    with pytest.raises(ValueError, match="increase the population"):
        sample_distinct_from_rows(5, 5, num_rows=5, generator=g)


@pytest.mark.parametrize("pools", [[4, 4, 4], [4, 4, 7]])
def test_sample_distinct_from_rows_ordered_tuples_are_equally_likely(pools):
    # every row's ordered k-tuple of admissible values is equally likely: the joint law of
    # sequential sampling without replacement (not only the marginals)
    g = torch.Generator().manual_seed(1)
    n, k = 4, len(pools)
    draws = torch.cat([sample_distinct_from_rows(pools, k, num_rows=n, generator=g)
                       for _ in range(6000)])
    rows = torch.arange(n).repeat(6000)
    code = draws[:, 0] * 49 + draws[:, 1] * 7 + draws[:, 2]
    for i in range(n):
        counts = torch.bincount(code[rows == i], minlength=7**3).double()
        seen = counts > 0
        # row i: 3 * 2 admissible pairs, then pools[-1] - 3 values for the last column
        assert int(seen.sum()) == 6 * (pools[-1] - 3)
        expected = 6000 / int(seen.sum())
        assert float((counts[seen] - expected).abs().max()) < 5 * expected**0.5
        first = draws[rows == i]
        assert bool((first != i).all())


def test_sample_distinct_from_rows_rejects_shrinking_pools():
    with pytest.raises(ValueError, match="must not decrease"):
        sample_distinct_from_rows([9, 8], 2, num_rows=8)


def _fixed_draws(monkeypatch, searcher, r_all, utility, seed=0):
    """Fix the engine's index draw to ``r_all``, its parents' utilities to ``utility`` and
    its block of uniforms to a seeded one (returned)."""

    def columns(pools, u, out):
        out[:] = r_all.numpy()

    monkeypatch.setattr(engine, "distinct_columns", columns)
    searcher._h_util[:] = utility.numpy()
    rng = np.random.default_rng(seed)
    searcher._u = rng.random((len(searcher._u_rows), N))
    return searcher._u


def _expected_rows(searcher, ids, F, utility, parents, r_all, K=None, pbest=None, union=None):
    """Each row's mutant from its own strategy, called on a one-row context."""
    rows = []
    for i in range(N):
        strategy = searcher.strategies[int(ids[i])]
        r = r_all[i : i + 1, : strategy.num_random]
        if "archive" in strategy.needs:
            r = torch.cat([r_all[i : i + 1, : strategy.num_random - 1], r_all[i : i + 1, -1:]], 1)
        ctx = MutationContext(
            population=parents, fitness=utility, rows=torch.tensor([i]), F=F[i : i + 1, None],
            r=r, best_index=torch.argmin(utility),
            pbest=None if pbest is None else pbest[i : i + 1],
            K=None if K is None else K[i : i + 1], union=union,
        )
        rows.append(strategy(ctx))
    return torch.cat(rows)


def test_fused_pool_equals_each_strategy_on_its_rows(monkeypatch):
    pool = ["rand/1", "best/2", "current-to-best/1", "current-to-rand/1", "trigonometric"]
    searcher = DE(problem(), popsize=N, strategy=pool)
    searcher.step()
    assert searcher._fused is not None
    parents = searcher.population.values.clone()
    utility = searcher.utility(searcher.population)
    ids = np.array([0, 1, 2, 3, 4, 0, 3, 4])
    F = np.linspace(0.2, 0.9, N)
    r_all = torch.stack([(torch.arange(N) + s) % N for s in (1, 2, 3, 5)], dim=1)
    _fixed_draws(monkeypatch, searcher, r_all, utility)
    out = torch.empty(N, D, dtype=torch.float64)
    out = searcher._fused_mutants(ids, F, parents, out)
    K = torch.from_numpy(searcher._uniforms("K")).unsqueeze(1)  # K ~ U(0, 1) per individual
    expected = _expected_rows(
        searcher, torch.from_numpy(ids), torch.from_numpy(F), utility, parents, r_all, K=K
    )
    assert torch.allclose(out, expected, atol=1e-12)


def test_fused_coefficient_function_runs_after_the_host_tables(monkeypatch):
    """A strategy whose coefficients a torch function computes (not the built-in
    trigonometric rule) gets them added on its rows after the host kernel."""
    trig = STRATEGIES["trigonometric"]
    custom = register_linear_strategy(
        "test/trig-copy", ("r1", "r2", "r3"), coefficients=lambda ctx: trig.coef_fn(ctx),
        overwrite=True,
    )
    try:
        searcher = DE(problem(), popsize=N, strategy=["rand/1", custom.name])
        searcher.step()
        assert searcher._fused.coef_kind.tolist() == [0, 2]
        parents = searcher.population.values.clone()
        utility = searcher.utility(searcher.population)
        ids = np.array([0, 1, 1, 0, 1, 0, 0, 1])
        F = np.full(N, 0.7)
        r_all = torch.stack([(torch.arange(N) + s) % N for s in (1, 2, 3)], dim=1)
        _fixed_draws(monkeypatch, searcher, r_all, utility)
        out = searcher._fused_mutants(ids, F, parents, torch.empty(N, D, dtype=torch.float64))
        expected = _expected_rows(
            searcher, torch.from_numpy(ids), torch.from_numpy(F), utility, parents, r_all
        )
        assert torch.allclose(out, expected, atol=1e-12)
    finally:
        STRATEGIES.pop("test/trig-copy", None)


def test_fused_shade_reads_the_archive_through_the_union(monkeypatch):
    searcher = SHADE(problem(), popsize=N, memory_size=3)
    for _ in range(6):
        searcher.step()
    count = searcher._archive.count
    assert count > 0
    parents = searcher.population.values.clone()
    utility = searcher.utility(searcher.population)
    union = torch.cat([parents, searcher._archive.members])
    # r1 from the population, r2 from the union (several into the archive)
    r_all = torch.stack([(torch.arange(N) + 1) % N, N + torch.arange(N) % count], dim=1)
    _fixed_draws(monkeypatch, searcher, r_all, utility)
    pbest = np.arange(N)[::-1].copy()
    monkeypatch.setattr(searcher, "_p_best_picks", lambda rows=None: pbest)
    ids = np.zeros(N, dtype=np.int64)
    F = np.full(N, 0.5)
    out = torch.empty(N, D, dtype=torch.float64)
    out = searcher._fused_mutants(ids, F, parents, out)
    expected = _expected_rows(
        searcher, torch.from_numpy(ids), torch.from_numpy(F), utility, parents, r_all,
        pbest=torch.from_numpy(pbest), union=union,
    )
    assert torch.allclose(out, expected, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda p: DE(p, popsize=N, strategy=["rand/1", "current-to-rand/1"], CR=0.2),
    lambda p: SAShadeTriEnsin(p, popsize=N),
])
def test_strategies_without_crossover_get_cr_one(make, monkeypatch):
    """current-to-rand/1 skips crossover: its rows reach the crossover with CR = 1, the
    other rows with their own CR (a fixed one included)."""
    searcher = make(problem())
    seen = {}
    crossover = engine.binomial_crossover

    def spy(parents, mutants, CR, **kwargs):
        seen["CR"] = torch.as_tensor(CR).clone()
        return crossover(parents, mutants, CR, **kwargs)

    monkeypatch.setattr(engine, "binomial_crossover", spy)
    for _ in range(3):
        searcher.step()
        ids = torch.from_numpy(searcher._h_ids.copy())
        no_crossover = ids == searcher.strategies.index(get_strategy("current-to-rand/1"))
        own = torch.from_numpy(searcher._h_CR.copy()).to(seen["CR"].dtype)
        assert seen["CR"].shape == (N,)
        assert torch.equal(seen["CR"], torch.where(no_crossover, 1.0, own))
    if isinstance(searcher, DE) and searcher._scheme == "fixed":
        assert bool((searcher._h_CR == 0.2).all())  # the fixed CR, float64 problem


def test_mutant_function_pool_uses_the_grouped_path():
    def centroid(ctx):
        return (ctx.x(0) + ctx.x(1)) / 2

    centroid.num_random = 2
    searcher = DE(problem(), popsize=N, strategy=[centroid, "rand/1"])
    assert searcher._fused is None
    searcher.run(5)
    assert torch.isfinite(searcher.population.evals).all()


@pytest.mark.parametrize("make", [DE, SHADE, SAShadeTriEnsin])
def test_users_never_receive_inference_tensors(make):
    searcher = make(problem(), popsize=N)
    searcher.run(4)
    best = searcher.status["best"]
    assert not torch.is_inference(best.values)
    assert not torch.is_inference(searcher.population.values)
    state = searcher.state_dict()
    assert not any(torch.is_inference(v) for v in state.values() if isinstance(v, torch.Tensor))
    # a solution can seed a trainable parameter, and the state loads back outside the step
    torch.nn.Parameter(best.values.clone()).sum().backward()
    other = make(problem(), popsize=N)
    other.load_state_dict(state)
    other.step()
    searcher.load_state_dict(state)
    searcher.step()


def test_shade_repairs_in_the_crossover_only_for_parents_inside():
    def bounded(seed=0):
        return Problem("min", lambda x: x.pow(2).sum(-1), solution_length=40,
                       bounds=(-1.0, 1.0), vectorized=True, seed=seed)

    fused, plain = SHADE(bounded(), popsize=20), SHADE(bounded(), popsize=20)
    plain._midpoint_bounds = None  # the crossover, then the repair of the trials
    for _ in range(15):
        fused.step()
        plain.step()
        a, b = fused._values, plain._values
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
        assert bool((a.abs() <= 1.0).all())
    assert fused._parents_inside is True
    fused.population  # noqa: B018 - handing out the population asks for a new check
    assert fused._parents_inside is None
    # parents outside the bounds (a user's initial population): the plain path repairs them
    init = torch.full((20, 40), 3.0)
    searcher = SHADE(bounded(), popsize=20, init_population=init)
    searcher.step()
    assert searcher._parents_inside is None  # outside at this step: checked again next one
    # the plain path repaired the coordinates taken from the parents too (3 -> (3 + 1) / 2),
    # and every such trial beats its parent, so no 3.0 is left
    assert not bool((searcher._values == 3.0).any())
    searcher._parents_inside = False
    searcher._u = np.random.default_rng(0).random((len(searcher._u_rows), 20))
    searcher._build_trials(
        np.zeros(20, dtype=np.int64), np.full(20, 0.5, np.float32), np.full(20, 0.9, np.float32)
    )
    assert searcher._parents_inside is None


def test_check_backoff_skips_after_failures_and_resets_on_a_pass():
    from neuro_de.algorithms.engine import _CheckBackoff

    check, seen = _CheckBackoff(), []
    for passed in [False, False, False, True, False]:
        while not check.due():
            seen.append("skip")
        seen.append("check")
        check.record(passed)
    # 1 skip after one failure, 3 after two, 7 after three; a pass resets the count
    assert seen == (["check", "skip", "check"] + ["skip"] * 3 + ["check"] + ["skip"] * 7
                    + ["check", "check"])
    for _ in range(10):
        check.record(False)
    assert check.skip == 31  # capped


def test_shade_trials_do_not_depend_on_when_the_midpoint_check_runs():
    """The back-off only decides whether the repair's passes are skipped; with the check on
    every generation, or never, the run is bit for bit the same."""
    def bounded():
        return Problem("min", lambda x: x.pow(2).sum(-1), solution_length=30,
                       bounds=(-1.0, 1.0), vectorized=True, seed=3)

    runs = [SHADE(bounded(), popsize=16) for _ in range(3)]
    runs[1]._midpoint_checks.due = lambda: True  # always check
    runs[2]._midpoint_checks.due = lambda: False  # never check: always repair
    for _ in range(30):
        for searcher in runs:
            searcher.step()
        assert torch.equal(runs[0]._values, runs[1]._values)
        assert torch.equal(runs[0]._values, runs[2]._values)
