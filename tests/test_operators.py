"""Hand-computed steps of every mutation strategy, crossover, bounds and index sampling."""

import pytest
import torch

from neuro_de.operators import (
    MutationContext,
    available_strategies,
    binomial_crossover,
    binomial_mask,
    get_strategy,
    register_strategy,
    repair_bounds,
    sample_distinct,
    trigonometric_weights,
)
from neuro_de.operators.strategies import STRATEGIES

X = torch.tensor(
    [[0.0, 1.0], [2.0, 3.0], [4.0, 7.0], [-1.0, 5.0], [3.0, -2.0], [6.0, 6.0], [1.0, 1.0]]
)
FIT = torch.tensor([5.0, 1.0, 3.0, 0.5, 2.0, 4.0, 6.0], dtype=torch.float64)


def ctx(rows, r, F=0.5, **kw):
    rows = torch.tensor(rows)
    return MutationContext(
        population=X,
        fitness=FIT,
        rows=rows,
        F=torch.full((len(rows), 1), F),
        r=torch.tensor(r),
        **kw,
    )


def test_rand_1_hand_computed():
    v = get_strategy("rand/1")(ctx([0], [[1, 2, 3]]))
    # x1 + 0.5 (x2 - x3) = [2,3] + 0.5 [5, 2]
    assert torch.equal(v, torch.tensor([[4.5, 4.0]]))


def test_rand_2_hand_computed():
    v = get_strategy("rand/2")(ctx([0], [[1, 2, 3, 4, 5]]))
    # x1 + .5(x2-x3) + .5(x4-x5) = [2,3] + .5[5,2] + .5[-3,-8]
    assert torch.allclose(v, torch.tensor([[3.0, 0.0]]))


def test_best_1_hand_computed():
    v = get_strategy("best/1")(ctx([0], [[1, 2]], best_index=torch.tensor(3)))
    # x_best(3) + .5(x1 - x2) = [-1,5] + .5[-2,-4]
    assert torch.allclose(v, torch.tensor([[-2.0, 3.0]]))


def test_current_to_best_2_is_sades_form():
    v = get_strategy("current-to-best/2")(ctx([0], [[1, 2, 4, 5]], best_index=torch.tensor(3)))
    # x0 + .5(xb - x0) + .5(x1 - x2) + .5(x4 - x5) = [0,1]+.5[-1,4]+.5[-2,-4]+.5[-3,-8]
    assert torch.allclose(v, torch.tensor([[-3.0, -3.0]]))
    assert get_strategy("rand-to-best/2") is get_strategy("current-to-best/2")


def test_paper_s2_current_to_best_1():
    v = get_strategy("S2")(ctx([0], [[1, 2]], best_index=torch.tensor(3)))
    # x0 + .5(xb - x0) + .5(x1 - x2) = [0,1] + .5[-1,4] + .5[-2,-4]
    assert torch.allclose(v, torch.tensor([[-1.5, 1.0]]))


def test_current_to_rand_1_uses_K_and_no_crossover():
    s = get_strategy("current-to-rand/1")
    assert not s.crossover and "K" in s.needs
    v = s(ctx([0], [[1, 2, 3]], K=torch.tensor([[0.25]])))
    # x0 + .25(x1 - x0) + .5(x2 - x3) = [0,1] + .25[2,2] + .5[5,2]
    assert torch.allclose(v, torch.tensor([[3.0, 2.5]]))
    assert get_strategy("S4") is s


def test_current_to_pbest_1_with_archive():
    archive = torch.tensor([[10.0, 10.0], [20.0, -20.0]])
    c = ctx([0, 1], [[2, 8], [3, 4]], pbest=torch.tensor([3, 3]), archive=archive)
    v = get_strategy("current-to-pbest/1")(c)
    # row 0: x0 + .5(x3 - x0) + .5(x2 - A[1]) = [0,1]+.5[-1,4]+.5[-16,27]
    # row 1: x1 + .5(x3 - x1) + .5(x3 - x4)  = [2,3]+.5[-3,2]+.5[-4,7]
    assert torch.allclose(v, torch.tensor([[-8.5, 16.5], [-1.5, 7.5]]))


def test_trigonometric_hand_computed():
    v = get_strategy("trigonometric")(ctx([6], [[1, 2, 3]]))
    f1, f2, f3 = 1.0, 3.0, 0.5
    s = f1 + f2 + f3
    p1, p2, p3 = f1 / s, f2 / s, f3 / s
    x1, x2, x3 = X[1].double(), X[2].double(), X[3].double()
    expected = (x1 + x2 + x3) / 3 + (p2 - p1) * (x1 - x2) + (p3 - p2) * (x2 - x3) + (
        p1 - p3
    ) * (x3 - x1)
    assert torch.allclose(v[0].double(), expected, atol=1e-6)


def test_trigonometric_weights_guards():
    pop = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    w = trigonometric_weights(torch.zeros(1, 3, dtype=torch.float64), population_fitness=pop)
    assert torch.allclose(w, torch.full((1, 3), 1 / 3, dtype=torch.float64))
    # negative fitness (e.g. a maximised problem, negated): shifted by the population minimum,
    # so the best of the three (lowest f) still gets the smallest weight.
    pop = torch.tensor([-5.0, -3.0, -1.0], dtype=torch.float64)
    w = trigonometric_weights(pop.view(1, 3), population_fitness=pop)
    assert torch.allclose(w, torch.tensor([[0.0, 2 / 6, 4 / 6]], dtype=torch.float64))
    # a parent whose fitness is inf (NaN evaluations become inf) takes the whole weight
    pop = torch.tensor([float("inf"), 1.0, 2.0], dtype=torch.float64)
    w = trigonometric_weights(pop.view(1, 3), population_fitness=pop)
    assert torch.allclose(w, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))


def test_registry_user_strategy_and_errors():
    @register_strategy("test/centroid", num_random=2, overwrite=True)
    def centroid(c):
        return (c.x(0) + c.x(1)) / 2

    assert "test/centroid" in available_strategies()
    v = get_strategy("test/centroid")(ctx([0], [[1, 2]]))
    assert torch.equal(v, torch.tensor([[3.0, 5.0]]))
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("test/centroid", num_random=2)(centroid)
    with pytest.raises(ValueError, match="Unknown mutation strategy"):
        get_strategy("no/such")
    with pytest.raises(ValueError, match="num_random"):
        get_strategy(lambda c: c.target())
    with pytest.raises(ValueError, match="Unknown `needs`"):
        register_strategy("test/bad", num_random=1, needs=("gradient",))
    plain = get_strategy(lambda c: c.x(0), num_random=1)
    assert plain.num_random == 1 and plain.crossover
    del STRATEGIES["test/centroid"]


@pytest.mark.parametrize("pool,k", [(7, 5), (6, 5), (100, 5), (30, 3), (12, 1)])
def test_sample_distinct_constraints_and_uniformity(pool, k):
    g = torch.Generator().manual_seed(0)
    reps = 3000
    rows = torch.arange(pool).repeat(reps)
    r = sample_distinct(len(rows), pool, k, exclude=rows[:, None], generator=g)
    assert r.shape == (len(rows), k)
    assert bool((r != rows[:, None]).all()), "an index equals its own row"
    s = r.sort(dim=1).values
    assert bool((s[:, 1:] != s[:, :-1]).all()), "indices within a row repeat"
    assert int(r.min()) >= 0 and int(r.max()) < pool
    # uniform over the admissible values: each other index equally often in each column
    counts = torch.bincount(r[rows == 0][:, -1], minlength=pool).double()
    assert counts[0] == 0
    expected = reps / (pool - 1)
    assert float((counts[1:] - expected).abs().max()) < 6 * expected**0.5


def test_sample_distinct_extra_exclusions_and_errors():
    g = torch.Generator().manual_seed(1)
    excl = torch.tensor([[0, 1, 1], [2, 2, 3]]).repeat(500, 1)
    r = sample_distinct(len(excl), 8, 4, exclude=excl, generator=g)
    for row, e in zip(r, excl, strict=True):
        assert not set(row.tolist()) & set(e.tolist())
    with pytest.raises(ValueError, match="increase the population size"):
        sample_distinct(3, 5, 5, exclude=torch.arange(3)[:, None], generator=g)


def test_binomial_mask_and_crossover():
    g = torch.Generator().manual_seed(0)
    n, d = 4, 20000
    cr = torch.tensor([0.0, 0.3, 0.9, 1.0])
    mask = binomial_mask(n, d, cr, generator=g)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert mask[0].sum() == 1  # CR = 0: only j_rand
    assert mask[3].sum() == d
    assert abs(float(mask[1].mean()) - 0.3) < 0.02
    assert abs(float(mask[2].mean()) - 0.9) < 0.02

    parents = torch.zeros(64, 5)
    mutants = torch.ones(64, 5)
    trials = binomial_crossover(parents, mutants, 0.0, generator=g)
    # forced j_rand: exactly one mutant coordinate per row, in a column that varies by row
    assert torch.equal(trials.sum(1), torch.ones(64))
    assert len(set(trials.argmax(1).tolist())) > 1
    # every coordinate is bit-identical to parent or mutant
    p, m = torch.randn(8, 7), torch.randn(8, 7)
    t = binomial_crossover(p, m, 0.5, generator=g)
    assert bool(((t == p) | (t == m)).all())
    with pytest.raises(ValueError, match="one shape"):
        binomial_crossover(torch.zeros(2, 3), torch.zeros(3, 2), 0.5)


@pytest.mark.parametrize("cr", [0.0, 0.3, 0.5, 0.9, 1.0, 0.123456789])
def test_crossover_with_a_number_cr_equals_a_per_row_tensor(cr):
    """A number CR takes cached thresholds: the same trials as the same CR given per row."""
    from neuro_de.operators.crossover import crossover_thresholds

    assert torch.equal(crossover_thresholds(cr, 6), crossover_thresholds(torch.full((6,), cr), 6))
    p, m = torch.randn(6, 300), torch.randn(6, 300)
    a = binomial_crossover(p, m, cr, generator=torch.Generator().manual_seed(1))
    b = binomial_crossover(p, m, torch.full((6,), cr), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_crossover_chunked_equals_masking(monkeypatch):
    import neuro_de.operators.crossover as cx

    monkeypatch.setattr(cx, "_CHUNK_ELEMENTS", 8)  # force many column chunks
    g = torch.Generator().manual_seed(3)
    p, m = torch.zeros(4, 50), torch.ones(4, 50)
    t = cx.binomial_crossover(p, m, 0.0, generator=g)
    assert torch.equal(t.sum(1), torch.ones(4))  # j_rand forced once across chunks


def test_repair_bounds():
    parents = torch.tensor([[0.0, 0.5]])
    trials = torch.tensor([[-3.0, 2.0]])
    out = repair_bounds(trials.clone(), parents, -1.0, 1.0, method="midpoint")
    assert torch.allclose(out, torch.tensor([[-0.5, 0.75]]))
    out = repair_bounds(trials.clone(), parents, -1.0, 1.0, method="clip")
    assert torch.equal(out, torch.tensor([[-1.0, 1.0]]))
    assert torch.equal(repair_bounds(trials.clone(), parents, -1, 1, method="none"), trials)
    with pytest.raises(ValueError, match="bounds_handling"):
        repair_bounds(trials, parents, -1, 1, method="reflect")


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("tensor_bounds", [False, True])
def test_midpoint_repair_equals_the_dense_rule(tensor_bounds, chunked, monkeypatch):
    from neuro_de.operators import bounds

    if chunked:  # blocks of 7 columns (the last one shorter)
        monkeypatch.setattr(bounds, "_CHUNK_ELEMENTS", 7 * 40)
    g = torch.Generator().manual_seed(6)
    n, d = 40, 300
    parents = torch.rand(n, d, generator=g) * 2 - 1
    trials = parents + 0.3 * torch.randn(n, d, generator=g)
    trials[3, 7] = float("nan")
    trials[8, 11], trials[9, 2] = float("inf"), float("-inf")  # repaired like any violation
    trials[5] = parents[5]  # a row with nothing to repair
    lo, hi = (-1.0, 1.0) if not tensor_bounds else (
        torch.full((d,), -1.0) - 0.01 * torch.arange(d) / d, torch.full((d,), 1.0)
    )
    lo_t, hi_t = torch.as_tensor(lo), torch.as_tensor(hi)
    expected = torch.where(trials < lo_t, (parents + lo_t) * 0.5, trials)
    expected = torch.where(expected > hi_t, (parents + hi_t) * 0.5, expected)
    out = repair_bounds(trials.clone(), parents, lo, hi, method="midpoint")
    assert int(((trials < lo_t) | (trials > hi_t)).sum()) > 10
    assert torch.equal(out.nan_to_num(7.0), expected.nan_to_num(7.0))  # bit for bit
    assert torch.isnan(out[3, 7]) and torch.equal(out[5], parents[5])
    assert torch.isfinite(out[8]).all() and torch.isfinite(out[9]).all()
    # one parent row for all trials (broadcast), as the dense rule allows
    one = repair_bounds(trials.clone(), parents[0], lo, hi, method="midpoint")
    dense_one = torch.where(trials < lo_t, (parents[0] + lo_t) * 0.5, trials)
    dense_one = torch.where(dense_one > hi_t, (parents[0] + hi_t) * 0.5, dense_one)
    assert torch.equal(one.nan_to_num(7.0), dense_one.nan_to_num(7.0))
    only_low = repair_bounds(trials.clone(), parents, lo, None, method="midpoint")
    assert torch.equal(
        only_low.nan_to_num(7.0),
        torch.where(trials < lo_t, (parents + lo_t) * 0.5, trials).nan_to_num(7.0),
    )


@pytest.mark.parametrize("chunked", [False, True])
def test_inside_bounds_finds_a_violation_or_nan_in_any_column_block(chunked, monkeypatch):
    from neuro_de.operators import bounds

    if chunked:  # blocks of 7 columns: the violations below sit in the last block only
        monkeypatch.setattr(bounds, "_CHUNK_ELEMENTS", 7 * 5)
    x = torch.zeros(5, 30)
    lo, hi = torch.full((30,), -1.0), torch.full((30,), 1.0)
    for lower, upper in ((lo, hi), (-1.0, 1.0), (lo, None), (None, hi)):
        assert bounds.inside_bounds(x, lower, upper)
        for value in (2.0, -2.0, float("nan")):
            y = x.clone()
            y[4, 29] = value
            outside = value != value or (value > 1 and upper is not None) or (
                value < -1 and lower is not None)
            assert bounds.inside_bounds(y, lower, upper) is (not outside)
    assert bounds.inside_bounds(torch.empty(0, 3), -1.0, 1.0)


def test_random_int16_into_a_reused_buffer_draws_the_same():
    from neuro_de.operators import random_int16

    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    fresh = [random_int16((3, 7), generator=g).clone() for _ in range(2)]
    g.set_state(state)
    words = torch.empty(8, dtype=torch.int64)  # room for 32 draws
    reused = [random_int16((3, 7), generator=g, words=words).clone() for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(fresh, reused, strict=True))
    assert random_int16((2, 5), generator=g, words=words).data_ptr() == words.data_ptr()
