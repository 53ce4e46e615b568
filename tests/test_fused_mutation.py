"""The strategy pool's fused construction of the mutants and the declared (linear)
strategies, checked against per-strategy evaluation and by hand."""

from __future__ import annotations

import pytest
import torch
from evotorch import Problem

import neuro_de.algorithms.differential_evolution as de_loop
from neuro_de.algorithms import DE, SHADE, SAShadeTriEnsin
from neuro_de.operators import (
    Combination,
    MutationContext,
    StrategyPool,
    binomial_crossover,
    combine_terms,
    get_strategy,
    parse_coefficient,
    register_linear_strategy,
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
    monkeypatch.setattr(strategies, "_FRESH_ELEMENTS", 50)  # a new result is chunked too
    assert torch.allclose(combine_terms(source, index, coef), expected)
    out = torch.full((6, 37), float("nan"), dtype=torch.float64)
    assert combine_terms(source, index, coef, out=out) is out
    assert torch.allclose(out, expected)


def test_unbuilt_mutants_give_the_same_run_as_built_ones(monkeypatch):
    """The loop hands a linear pool's mutants to the crossover unbuilt (a Combination built
    block by block); a run with them built first is bit-identical."""

    def run():
        searcher = SAShadeTriEnsin(problem(), popsize=N)
        for _ in range(5):
            searcher.step()
        return searcher.population.values.clone()

    unbuilt = run()
    built = StrategyPool.mutants
    monkeypatch.setattr(StrategyPool, "lazy_mutants",
                        lambda self, ctx, ids, buffer=None: built(self, ctx, ids, out=buffer))
    assert torch.equal(run(), unbuilt)


@pytest.mark.parametrize("chunks", [False, True])
def test_crossover_of_a_combination_equals_crossover_of_its_tensor(monkeypatch, chunks):
    import neuro_de.operators.crossover as crossover

    g = torch.Generator().manual_seed(1)
    source = torch.randn(9, 53, generator=g)
    index = torch.randint(0, 9, (7, 3), generator=g)
    coef = torch.randn(7, 3, generator=g)
    parents = torch.randn(7, 53, generator=g)
    CR = torch.rand(7, generator=g)
    lazy = Combination(source, index, coef)
    assert lazy.shape == (7, 53)
    assert torch.equal(lazy.columns(10, 20), lazy.materialize()[:, 10:20])
    monkeypatch.setattr(crossover, "_BLOCK_ELEMENTS", 30)  # 4 columns per block
    if chunks:
        monkeypatch.setattr(crossover, "_CHUNK_ELEMENTS", 100)  # 14 columns per draw chunk
    trials = [binomial_crossover(parents, m, CR, generator=torch.Generator().manual_seed(5))
              for m in (lazy, lazy.materialize())]
    assert torch.equal(trials[0], trials[1])
    differs = trials[0] != parents
    assert differs.any(1).all() and not differs.all()  # j_rand forced, CR < 1 keeps some
    with pytest.raises(TypeError, match="column source"):
        binomial_crossover(parents, [1, 2], 0.5)
    with pytest.raises(ValueError, match="one shape"):
        binomial_crossover(parents[:, :5], lazy, 0.5)


def _pool_context(pool, parents, utility, *, seed=0, archive=None):
    """A pool-wide context with seeded random vectors, p-best picks and K."""
    g = torch.Generator().manual_seed(seed)
    count = 0 if archive is None else archive.shape[0]
    r = pool.draw_indices(N, archive_count=count, generator=g)
    return MutationContext(
        population=parents, fitness=utility, rows=torch.arange(N),
        F=torch.linspace(0.2, 0.9, N, dtype=torch.float64).unsqueeze(1), r=r,
        best_index=torch.argmin(utility), pbest=torch.randint(0, N, (N,), generator=g),
        K=torch.rand(N, 1, generator=g, dtype=torch.float64), archive=archive,
        union=None if archive is None else torch.cat([parents, archive]),
    )


def _expected_rows(pool, ctx, ids):
    """Each row's mutant from its own strategy, called on a one-row context (built here,
    independently of the pool's own per-strategy path)."""
    rows = []
    for i in range(N):
        strategy = pool.strategies[int(ids[i])]
        r = ctx.r[i : i + 1, : strategy.num_random]
        if "archive" in strategy.needs:
            r = torch.cat([ctx.r[i : i + 1, : strategy.num_random - 1], ctx.r[i : i + 1, -1:]], 1)
        one = MutationContext(
            population=ctx.population, fitness=ctx.fitness, rows=torch.tensor([i]),
            F=ctx.F[i : i + 1], r=r, best_index=ctx.best_index, pbest=ctx.pbest[i : i + 1],
            K=ctx.K[i : i + 1], archive=ctx.archive, union=ctx.union,
        )
        rows.append(strategy(one))
    return torch.cat(rows)


@pytest.mark.parametrize("names", [
    ["rand/1", "best/2", "current-to-best/1", "current-to-rand/1", "trigonometric"],
    ["trigonometric"],
    ["rand/1", "current-to-pbest/1"],
])
def test_fused_pool_equals_each_strategy_on_its_rows(names):
    pool = StrategyPool(names)
    assert pool._fused is not None
    g = torch.Generator().manual_seed(1)
    parents = torch.randn(N, D, generator=g, dtype=torch.float64)
    utility = torch.rand(N, generator=g, dtype=torch.float64)
    archive = torch.randn(3, D, generator=g, dtype=torch.float64) if pool.uses_archive else None
    ctx = _pool_context(pool, parents, utility, archive=archive)
    ids = torch.arange(N) % len(pool)
    fused = pool.mutants(ctx, ids)
    assert torch.allclose(fused, _expected_rows(pool, ctx, ids), atol=1e-12)
    assert torch.allclose(fused, pool.mutants_by_strategy(ctx, ids), atol=1e-12)
    out = torch.full((N, D), float("nan"), dtype=torch.float64)
    assert pool.mutants(ctx, ids, out=out) is out and torch.allclose(out, fused)


def test_fused_coefficient_function_of_a_user_strategy():
    """A strategy whose coefficients a function computes (not the built-in trigonometric
    one) gets them on its rows, the others keep their declared ones."""
    trig = STRATEGIES["trigonometric"]
    custom = register_linear_strategy(
        "test/trig-copy", ("r1", "r2", "r3"), coefficients=lambda ctx: trig.coef_fn(ctx),
        overwrite=True,
    )
    try:
        pool = StrategyPool(["rand/1", custom.name])
        g = torch.Generator().manual_seed(2)
        parents = torch.randn(N, D, generator=g, dtype=torch.float64)
        utility = torch.rand(N, generator=g, dtype=torch.float64)
        ctx = _pool_context(pool, parents, utility)
        ids = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
        assert torch.allclose(pool.mutants(ctx, ids), _expected_rows(pool, ctx, ids),
                              atol=1e-12)
    finally:
        STRATEGIES.pop("test/trig-copy", None)


def test_index_draw_of_a_pool_with_an_archive():
    """Plain columns distinct from each other and from the row; the union column in
    population ∪ archive and distinct from the row and the archive strategy's picks."""
    pool = StrategyPool(["current-to-pbest/1"])
    g = torch.Generator().manual_seed(3)
    seen_archive = False
    for _ in range(200):
        r = pool.draw_indices(N, archive_count=5, generator=g)
        assert r.shape == (N, 2)
        rows = torch.arange(N)
        assert bool((r[:, 0] < N).all()) and bool((r[:, 1] < N + 5).all())
        assert bool((r[:, 0] != rows).all() and (r[:, 1] != rows).all())
        assert bool((r[:, 0] != r[:, 1]).all())
        seen_archive |= bool((r[:, 1] >= N).any())
    assert seen_archive
    with pytest.raises(ValueError, match="same number of random"):
        register_linear_strategy("test/arch3", {"x": "1", "r1": "F", "r2": "F", "r3": "-F"},
                                 archive=True, overwrite=True)
        try:
            StrategyPool(["current-to-pbest/1", "test/arch3"])
        finally:
            STRATEGIES.pop("test/arch3", None)


@pytest.mark.parametrize("make", [
    lambda p: DE(p, popsize=N, strategy=["rand/1", "current-to-rand/1"], CR=0.2),
    lambda p: SAShadeTriEnsin(p, popsize=N),
])
def test_strategies_without_crossover_get_cr_one(make, monkeypatch):
    """current-to-rand/1 skips crossover: its rows reach the crossover with CR = 1, the
    other rows with their own CR (a fixed one included)."""
    searcher = make(problem())
    seen = {}
    crossover = de_loop.binomial_crossover

    def spy(parents, mutants, CR, **kwargs):
        seen["CR"] = torch.as_tensor(CR).clone()
        return crossover(parents, mutants, CR, **kwargs)

    update = searcher.parameters.update

    def record(outcome):
        seen["outcome"] = outcome
        update(outcome)

    monkeypatch.setattr(de_loop, "binomial_crossover", spy)
    monkeypatch.setattr(searcher.parameters, "update", record)
    no_crossover_id = searcher.strategies.index(get_strategy("current-to-rand/1"))
    for _ in range(3):
        searcher.step()
        outcome = seen["outcome"]
        no_crossover = outcome.strategy_ids == no_crossover_id
        assert seen["CR"].shape == (N,)
        assert torch.equal(seen["CR"], torch.where(no_crossover, 1.0, outcome.CR))
        if isinstance(searcher, DE):
            assert bool((outcome.CR == 0.2).all())  # the fixed CR


def test_mutant_function_pool_uses_the_per_strategy_path():
    def centroid(ctx):
        return (ctx.x(0) + ctx.x(1)) / 2

    centroid.num_random = 2
    searcher = DE(problem(), popsize=N, strategy=[centroid, "rand/1"])
    assert searcher.pool._fused is None
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


def test_the_loop_hands_linear_mutants_to_the_crossover_unbuilt(monkeypatch):
    """A pool of linear strategies reaches the crossover as a Combination (no (N, d) mutant
    tensor is made); a pool with a strategy that returns mutants reaches it built, in the
    trial buffer."""
    seen = []
    crossover = de_loop.binomial_crossover

    def spy(parents, mutants, CR, **kwargs):
        seen.append((mutants, kwargs["out"]))
        return crossover(parents, mutants, CR, **kwargs)

    monkeypatch.setattr(de_loop, "binomial_crossover", spy)
    DE(problem(), popsize=N).step()
    assert isinstance(seen[-1][0], Combination)

    def halfway(ctx):
        return 0.5 * (ctx.population[ctx.rows] + ctx.population[ctx.r[:, 0]])

    halfway.num_random = 1
    DE(problem(), popsize=N, strategy=halfway).step()
    mutants, out = seen[-1]
    assert isinstance(mutants, torch.Tensor) and mutants.data_ptr() == out.data_ptr()


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_unbuilt_mutants_are_built_in_cache_blocks_on_the_cpu_only(device):
    """On the CPU the crossover asks for blocks of 2**16 elements (they stay in cache);
    on any other device (here `meta`, shapes only) for one block per chunk of draws."""
    n, d = 5, 300_000
    calls = []

    class Counting(Combination):
        def columns(self, start, stop):
            calls.append(stop - start)
            return super().columns(start, stop)

    source = torch.zeros(n, d, device=device)
    lazy = Counting(source, torch.zeros(n, 3, dtype=torch.int64, device=device),
                    torch.ones(n, 3, device=device))
    out = binomial_crossover(source, lazy, 0.5)
    assert out.shape == (n, d) and sum(calls) == d
    chunks = [(1 << 20) // n, d - (1 << 20) // n]  # the draws' chunks
    if device == "cpu":
        block = (1 << 16) // n
        assert max(calls) == block
        assert len(calls) == sum(-(-c // block) for c in chunks)
    else:
        assert calls == chunks
