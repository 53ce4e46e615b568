"""Adaptation rules updated on constructed success/failure data, checked by hand."""

import math

import pytest
import torch

from neuro_de.adaptation import (
    Archive,
    MedianCRMemory,
    StrategyLearner,
    SuccessHistoryMemory,
    cauchy_regenerate,
    normal_clipped,
    sinusoidal_decreasing,
    sinusoidal_increasing,
    weighted_mean,
)


def test_strategy_learner_sade_rule():
    learner = StrategyLearner(3, learning_period=2, epsilon=0.01)
    ids = torch.tensor([0, 0, 1, 1, 2, 2])
    # generation 1: strategy 0 succeeds twice, 1 once, 2 never
    learner.record(ids, torch.tensor([True, True, True, False, False, False]))
    assert torch.allclose(learner.probabilities, torch.full((3,), 1 / 3, dtype=torch.float64))
    # generation 2: strategy 0 once, 1 twice, 2 never
    learner.record(ids, torch.tensor([True, False, True, True, False, False]))
    s = torch.tensor([3 / 4 + 0.01, 3 / 4 + 0.01, 0 / 4 + 0.01], dtype=torch.float64)
    assert torch.allclose(learner.probabilities, s / s.sum())
    # generation 3 slides the window: generation 1 is forgotten
    learner.record(ids, torch.tensor([False, False, False, False, True, True]))
    s = torch.tensor([1 / 4 + 0.01, 2 / 4 + 0.01, 2 / 4 + 0.01], dtype=torch.float64)
    assert torch.allclose(learner.probabilities, s / s.sum())


def test_strategy_learner_unused_strategy_gets_epsilon_and_no_adapt_switch():
    learner = StrategyLearner(2, learning_period=1, epsilon=0.5)
    learner.record(torch.tensor([0, 0]), torch.tensor([True, False]))
    s = torch.tensor([0.5 + 0.5, 0.5], dtype=torch.float64)
    assert torch.allclose(learner.probabilities, s / s.sum())
    fixed = StrategyLearner(2, learning_period=1, adapt=False)
    fixed.record(torch.tensor([0, 0]), torch.tensor([True, True]))
    assert torch.allclose(fixed.probabilities, torch.full((2,), 0.5, dtype=torch.float64))


def test_sus_sampling_matches_probabilities():
    learner = StrategyLearner(4, learning_period=1)
    learner.probabilities = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    ids = learner.sample(100, generator=g)
    # SUS: each strategy gets floor or ceil of its expected count, here exactly 10/20/30/40
    assert torch.equal(torch.bincount(ids, minlength=4), torch.tensor([10, 20, 30, 40]))
    # and the assignment to individuals is shuffled
    assert not torch.equal(ids, ids.sort().values)


def test_median_cr_memory():
    mem = MedianCRMemory(2, 4, learning_period=2, init=0.5)
    ids = torch.tensor([0, 0, 1, 1])
    mem.record(ids, torch.tensor([0.1, 0.2, 0.7, 0.9]), torch.tensor([True, True, False, False]))
    assert torch.allclose(mem.means, torch.tensor([0.5, 0.5]))  # fixed during first LP
    mem.record(ids, torch.tensor([0.6, 0.3, 0.8, 0.4]), torch.tensor([True, False, True, False]))
    # strategy 0 successes in window: 0.1, 0.2, 0.6 -> median 0.2; strategy 1: 0.8
    assert torch.allclose(mem.means, torch.tensor([0.2, 0.8]))
    mem.record(ids, torch.tensor([0.0, 0.0, 0.0, 0.0]), torch.zeros(4, dtype=torch.bool))
    # window = gens 2,3: strategy 0 has 0.6 only; strategy 1 has 0.8
    assert torch.allclose(mem.means, torch.tensor([0.6, 0.8]))
    mem.record(ids, torch.tensor([0.0, 0.0, 0.0, 0.0]), torch.zeros(4, dtype=torch.bool))
    # no success left in the window: keep previous means
    assert torch.allclose(mem.means, torch.tensor([0.6, 0.8]))


def test_weighted_means_by_hand():
    v = torch.tensor([0.2, 0.6, 0.5])
    w = torch.tensor([1.0, 3.0, 2.0])
    g = torch.tensor([0, 0, 1])
    lehmer, has = weighted_mean(v, w, g, 3, kind="lehmer")
    assert torch.allclose(lehmer[0], torch.tensor((1 * 0.04 + 3 * 0.36) / (1 * 0.2 + 3 * 0.6)))
    assert torch.allclose(lehmer[1], torch.tensor(0.5))
    assert has.tolist() == [True, True, False]
    arith, _ = weighted_mean(v, w, g, 3, kind="arithmetic")
    assert torch.allclose(arith[0], torch.tensor((0.2 + 3 * 0.6) / 4))


def test_success_history_memory_update_and_no_update():
    mem = SuccessHistoryMemory(
        2, 3, params={"F": (0.5, "lehmer"), "CR": (0.4, "arithmetic")}
    )
    ids = torch.tensor([0, 0])
    mem.update(
        ids, {"F": torch.tensor([0.2, 0.6]), "CR": torch.tensor([0.1, 0.9])},
        torch.tensor([1.0, 3.0]),
    )
    expected_f = (0.04 + 3 * 0.36) / (0.2 + 1.8)
    expected_cr = (0.1 + 3 * 0.9) / 4
    assert torch.allclose(mem["F"][0], torch.tensor([expected_f, 0.5, 0.5]))
    assert torch.allclose(mem["CR"][0], torch.tensor([expected_cr, 0.4, 0.4]))
    assert torch.allclose(mem["F"][1], torch.full((3,), 0.5))  # strategy 1: no success
    assert mem.position.tolist() == [1, 0]
    empty = torch.empty(0)
    mem.update(torch.empty(0, dtype=torch.int64), {"F": empty, "CR": empty}, empty)
    assert mem.position.tolist() == [1, 0]  # a generation without success changes nothing
    for _ in range(2):
        one = torch.tensor([0.9])
        mem.update(ids[:1], {"F": one, "CR": one}, torch.tensor([1.0]))
    assert mem.position.tolist() == [0, 0]  # circular
    assert torch.allclose(mem["F"][0], torch.tensor([expected_f, 0.9, 0.9]))
    with pytest.raises(ValueError, match="Mean of 'F'"):
        SuccessHistoryMemory(1, 3, params={"F": (0.5, "geometric")})
    g = torch.Generator().manual_seed(0)
    slots = mem.sample_slots(1000, generator=g)
    assert int(slots.min()) == 0 and int(slots.max()) == 2


def test_shade_draws():
    g = torch.Generator().manual_seed(0)
    loc = torch.full((20000,), 0.5)
    F = cauchy_regenerate(loc, 0.1, generator=g)
    assert bool((F > 0).all()) and bool((F <= 1).all())
    assert float((F == 1).double().mean()) > 0.05  # Cauchy tail truncated to 1
    # redrawing F <= 0 conditions on F > 0: median m solves P(F < m) = P(F<=0) + P(F>0)/2
    p0 = 0.5 + math.atan(-0.5 / 0.1) / math.pi
    m = 0.5 + 0.1 * math.tan(math.pi * (p0 + (1 - p0) / 2 - 0.5))
    assert abs(float(F.median()) - m) < 0.005
    CR = normal_clipped(torch.full((20000,), 0.95), 0.1, generator=g)
    assert float(CR.max()) == 1.0 and float(CR.min()) >= 0.0
    assert abs(float(CR.std()) - 0.1) < 0.05


def test_archive_random_eviction():
    g = torch.Generator().manual_seed(0)
    arc = Archive(4, 2)
    arc.add(torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), generator=g)
    assert arc.count == 3
    arc.add(torch.tensor([[4.0, 4.0], [5.0, 5.0]]), generator=g)
    assert arc.count == 4
    kept = set(arc.members[:, 0].tolist())
    assert len(kept) == 4 and kept <= {1.0, 2.0, 3.0, 4.0, 5.0}
    state = arc.state_dict()
    other = Archive(4, 2)
    other.load_state_dict(state)
    assert torch.equal(other.members, arc.members)
    with pytest.raises(ValueError, match="capacity"):
        Archive(-1, 2)


def test_sinusoidal_formulas():
    G = 10
    for g in range(1, 6):
        expected = 0.5 * (math.sin(2 * math.pi * 0.5 * g + math.pi) * (G - g) / G + 1)
        assert sinusoidal_decreasing(g, G, freq=0.5) == pytest.approx(expected)
    # the published nu = 0.5 with an integer g gives F = 1/2 (documented quirk)
    assert sinusoidal_decreasing(3, G) == pytest.approx(0.5)
    assert sinusoidal_decreasing(3, G, freq=0.3) != pytest.approx(0.5)
    nu = torch.tensor([0.1, 0.25])
    F = sinusoidal_increasing(4, G, nu)
    assert torch.allclose(F, 0.5 * (torch.sin(2 * math.pi * nu * 4) * 0.4 + 1))


@pytest.mark.parametrize("draw", ["cauchy", "normal"])
@pytest.mark.parametrize("loc", [0.5, 0.05, -0.3, 0.9])
def test_truncated_draws_match_redraw_loop(draw, loc):
    """The inverse-CDF draws have the distribution of 'redraw while F <= 0, cap at 1'."""
    from neuro_de.adaptation import normal_regenerate

    g = torch.Generator().manual_seed(1)
    n = 200_000
    fn = cauchy_regenerate if draw == "cauchy" else normal_regenerate
    F = fn(torch.full((n,), loc, dtype=torch.float64), 0.1, generator=g)
    assert bool((F > 0).all()) and bool((F <= 1).all())
    ref = torch.empty(0, dtype=torch.float64)
    while ref.numel() < n:  # the redraw loop, as SHADE states it
        c = torch.empty(2 * n, dtype=torch.float64)
        c = (c.cauchy_(generator=g) if draw == "cauchy" else c.normal_(generator=g)) * 0.1 + loc
        ref = torch.cat([ref, c[c > 0]])
    ref = ref[:n].clamp(max=1.0)
    q = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64)
    assert torch.allclose(torch.quantile(F, q), torch.quantile(ref, q), atol=0.01)
    # far below the bound: still a valid F, never NaN or inf
    far = fn(torch.full((4,), -50.0), 0.1, generator=g, high=float("inf"))
    assert bool(torch.isfinite(far).all()) and bool((far > 0).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_median_cr_memory_matches_quantile_over_the_window(dtype):
    g = torch.Generator().manual_seed(2)
    K, pop, lp = 4, 30, 7
    mem = MedianCRMemory(K, pop, learning_period=lp, dtype=dtype)
    history = []
    for gen in range(20):
        ids = torch.randint(0, K, (pop,), generator=g)
        cr = torch.rand(pop, generator=g, dtype=dtype)
        cr = torch.where(cr < 0.2, torch.tensor(-0.0, dtype=dtype), cr)  # clipped zeros
        success = (torch.rand(pop, generator=g) < 0.25) & (ids != 3 if gen < 12 else True)
        before = mem.means.clone()
        mem.record(ids, cr, success)
        history.append((ids, cr, success))
        if gen + 1 < lp:
            assert torch.equal(mem.means, before)
            continue
        for k in range(K):
            vals = torch.cat([c[(i == k) & s] for i, c, s in history[-lp:]]).double()
            if vals.numel():
                assert float(mem.means[k]) == pytest.approx(float(vals.quantile(0.5)), abs=1e-7)
            else:  # no success of k in the window: CRm_k stays
                assert mem.means[k] == before[k]


@pytest.mark.parametrize("old", [4, 5])  # an archive with a free slot, and a full one
def test_archive_eviction_keeps_a_uniform_subset(old):
    g = torch.Generator().manual_seed(3)
    cap, new, trials = 5, 3, 6000
    survived = torch.zeros(old + new)
    for _ in range(trials):
        arc = Archive(cap, 1)
        arc.add(torch.arange(old, dtype=torch.float32).unsqueeze(1), generator=g)
        arc.add(torch.arange(old, old + new, dtype=torch.float32).unsqueeze(1), generator=g)
        members = arc.members[:, 0].long()
        assert arc.count == cap and len(set(members.tolist())) == cap
        survived[members] += 1
    # each of the old + new candidates survives with probability cap / (old + new)
    p = cap / (old + new)
    assert float((survived / trials - p).abs().max()) < 4 * (p * (1 - p) / trials) ** 0.5
    # newcomers given by index into a larger tensor are gathered lazily
    pop = torch.arange(10.0).unsqueeze(1)
    arc = Archive(3, 1)
    arc.add(pop, index=torch.tensor([7, 2]), generator=g)
    assert sorted(arc.members[:, 0].tolist()) == [2.0, 7.0]


def test_success_history_memory_single_strategy_path_and_infinite_weights():
    params = {"F": (0.5, "lehmer"), "CR": (0.5, "arithmetic")}
    one = SuccessHistoryMemory(1, 4, params=params, dtype=torch.float64)
    two = SuccessHistoryMemory(2, 4, params=params, dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    for _ in range(6):
        v = torch.rand(2, 5, generator=g, dtype=torch.float64)
        w = torch.rand(5, generator=g, dtype=torch.float64)
        one.update(None, v, w)
        two.update(torch.zeros(5, dtype=torch.int64), v, w)
    assert torch.allclose(one.values[:, 0], two.values[:, 0])
    assert torch.equal(one.position, two.position[:1])
    # a trial beating a NaN parent (|Δf| = inf) dominates its strategy's means
    mem = SuccessHistoryMemory(1, 2, params=params, dtype=torch.float64)
    mem.update(None, torch.tensor([[0.2, 0.9], [0.1, 0.7]], dtype=torch.float64),
               torch.tensor([1.0, float("inf")], dtype=torch.float64))
    assert torch.allclose(mem["F"][0, 0], torch.tensor(0.9, dtype=torch.float64))
    assert torch.allclose(mem["CR"][0, 0], torch.tensor(0.7, dtype=torch.float64))


def test_strategy_learner_running_totals_equal_the_window():
    g = torch.Generator().manual_seed(5)
    learner = StrategyLearner(3, learning_period=4)
    for _ in range(11):
        ids = torch.randint(0, 3, (20,), generator=g)
        learner.record(ids, torch.rand(20, generator=g) < 0.3)
        if learner.generations < learner.learning_period:
            continue
        ns, nf = learner.successes.sum(0).double(), learner.failures.sum(0).double()
        s = torch.where(ns + nf > 0, ns / (ns + nf).clamp(min=1), 0.0) + learner.epsilon
        assert torch.allclose(learner.probabilities, s / s.sum())
    other = StrategyLearner(3, learning_period=4)
    other.load_state_dict(learner.state_dict())
    ids = torch.randint(0, 3, (20,), generator=g)
    success = torch.rand(20, generator=g) < 0.3
    learner.record(ids, success)
    other.record(ids, success)
    assert torch.equal(learner.probabilities, other.probabilities)


@pytest.mark.parametrize("num_strategies", [1, 3])
def test_success_history_memory_whole_generation_equals_successes_alone(num_strategies):
    """Failures (weight 0) and NaN trials (weight NaN) in the update count for nothing: the
    memory ends as if only the successes had been passed."""
    params = {"F": (0.5, "lehmer"), "CR": (0.5, "arithmetic")}
    whole = SuccessHistoryMemory(num_strategies, 4, params=params, dtype=torch.float64)
    alone = SuccessHistoryMemory(num_strategies, 4, params=params, dtype=torch.float64)
    g = torch.Generator().manual_seed(11)
    for gen in range(7):
        n = 12
        v = torch.rand(2, n, generator=g, dtype=torch.float64)
        w = torch.rand(n, generator=g, dtype=torch.float64)
        ids = torch.randint(0, num_strategies, (n,), generator=g)
        success = torch.rand(n, generator=g) < (0.0 if gen == 3 else 0.4)
        w_whole = torch.where(success, w, 0.0)
        w_whole[~success & (torch.arange(n) % 3 == 0)] = float("nan")
        rows = success.nonzero().squeeze(1)
        sid = None if num_strategies == 1 else ids
        got = whole.update(sid, v, w_whole)
        want = alone.update(
            None if sid is None else ids[rows], v[:, rows], w[rows]
        )
        assert got == want and isinstance(got, tuple)
        assert torch.allclose(whole.values, alone.values, rtol=1e-12, atol=0)
        assert torch.equal(whole.position, alone.position)
    assert int(whole.position.sum()) > 0  # some generations did update
