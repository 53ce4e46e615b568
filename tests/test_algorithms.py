"""Behaviour of every search algorithm as an EvoTorch SearchAlgorithm.

Each algorithm configuration (DE with several strategies, SaDE, SHADE, every row of the
SA-SHADE-tri-ensin ablation, PSO in both modes and topologies) is checked for: bit-exact
seeding, exact resumption from ``state_dict()``, minimisation and maximisation, vectorised and
non-vectorised problems, the initial population, NaN/inf trials, one-to-one selection,
logger status items, and the fitness-epoch protocol of mini-batch problems.
"""

from __future__ import annotations

import io
import math

import pytest
import torch
from evotorch import Problem, SolutionBatch
from evotorch.logging import PandasLogger

from neuro_de.algorithms import (
    DE,
    PSO,
    SHADE,
    SaDE,
    SAShadeTriEnsin,
    mean_pairwise_distance,
)
from neuro_de.algorithms.base import RESERVED_STATUS_KEYS

D = 6
POP = 12  # >= 6 so that rand/2 and the SaDE/paper pools fit

# --------------------------------------------------------------------------------------
# The configurations under test. Each factory takes (problem, **kwargs) and returns a
# searcher; kwargs carries popsize / init_population.
# --------------------------------------------------------------------------------------

HYBRID_ROWS = {
    "hybrid-full": {},
    "hybrid-no-strategy-adaptation": {"strategy_adaptation": False},
    "hybrid-no-success-history": {"success_history": False},
    "hybrid-no-trigonometric": {"trigonometric": False},
    "hybrid-no-sinusoidal": {"sinusoidal": False},
    "hybrid-net-ranges": {"F_range": (0.0, 0.2), "CR_range": (0.0, 0.3)},
}

FACTORIES = {
    "de-rand1": lambda p, **kw: DE(p, strategy="rand/1", **kw),
    "de-rand2": lambda p, **kw: DE(p, strategy="rand/2", F=0.6, CR=0.5, **kw),
    "de-best1": lambda p, **kw: DE(p, strategy="best/1", **kw),
    "de-ctb2": lambda p, **kw: DE(p, strategy="current-to-best/2", **kw),
    "de-ctr1": lambda p, **kw: DE(p, strategy="current-to-rand/1", **kw),
    "de-ctpbest1": lambda p, **kw: DE(p, strategy="current-to-pbest/1", **kw),
    "de-trig": lambda p, **kw: DE(p, strategy="trigonometric", **kw),
    "de-tde-mix": lambda p, **kw: DE(
        p, strategy={"trigonometric": 0.3, "rand/1": 0.7}, F=(0.4, 0.9), **kw
    ),
    "sade": lambda p, **kw: SaDE(p, learning_period=4, **kw),
    "shade-arith": lambda p, **kw: SHADE(p, memory_size=5, cr_mean="arithmetic", **kw),
    "shade-lehmer": lambda p, **kw: SHADE(p, memory_size=5, cr_mean="lehmer", **kw),
    **{
        name: (lambda p, _cfg=cfg, **kw: SAShadeTriEnsin(p, **_cfg, **kw))
        for name, cfg in HYBRID_ROWS.items()
    },
    "pso-constriction-global": lambda p, **kw: PSO(p, mode="constriction", **kw),
    "pso-constriction-ring": lambda p, **kw: PSO(
        p, mode="constriction", topology="ring", v_max=2.0, **kw
    ),
    "pso-inertia-global": lambda p, **kw: PSO(p, mode="inertia", max_generations=40, **kw),
    "pso-inertia-ring": lambda p, **kw: PSO(
        p, mode="inertia", topology="ring", max_generations=40, init_velocity="uniform", **kw
    ),
}
ALGOS = sorted(FACTORIES)
DE_FAMILY = [a for a in ALGOS if not a.startswith("pso")]
PSO_ALGOS = [a for a in ALGOS if a.startswith("pso")]

SHIFT = torch.linspace(-1.5, 1.5, D, dtype=torch.float64)


def sphere(x: torch.Tensor) -> torch.Tensor:
    """Shifted sphere, vectorised over the leading dimension (works for one vector too)."""
    return ((x - SHIFT.to(x)) ** 2).sum(dim=-1)


def make_problem(sense="min", *, seed=0, objective=None, vectorized=True, dtype=torch.float32):
    if objective is None:
        objective = sphere if sense == "min" else (lambda x: -sphere(x))
    return Problem(
        sense,
        objective,
        solution_length=D,
        initial_bounds=(-5.0, 5.0),
        bounds=(-10.0, 10.0),
        vectorized=vectorized,
        seed=seed,
        dtype=dtype,
    )


def build(name, problem, **kw):
    kw.setdefault("popsize", POP)
    return FACTORIES[name](problem, **kw)


def parents(searcher) -> SolutionBatch:
    """What selection protects: the DE population, or PSO's personal bests."""
    return searcher.personal_best if isinstance(searcher, PSO) else searcher.population


def snapshot(searcher) -> tuple[torch.Tensor, torch.Tensor]:
    pop = searcher.population
    return pop.values.clone(), pop.evals.clone()


# --------------------------------------------------------------------------------------
# Reproducibility and resumption
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALGOS)
def test_seeded_runs_repeat_bit_for_bit(name):
    runs = []
    for global_seed in (1, 2):  # the global torch RNG must play no part
        torch.manual_seed(global_seed)
        searcher = build(name, make_problem(seed=7))
        searcher.run(12)
        runs.append(snapshot(searcher) + (searcher.status["diversity"],))
    (v1, e1, d1), (v2, e2, d2) = runs
    assert torch.equal(v1, v2)
    assert torch.equal(e1, e2)
    assert d1 == d2
    other = build(name, make_problem(seed=8))
    other.run(12)
    assert not torch.equal(other.population.values, v1), "the seed must matter"


@pytest.mark.parametrize("name", ALGOS)
def test_state_dict_round_trip_continues_identically(name):
    k, m = 7, 9  # crosses a sinusoidal cycle (10) and the learning periods (4, 5)
    searcher = build(name, make_problem(seed=3))
    searcher.run(k)
    state = searcher.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    searcher.run(m)
    expected_values, expected_evals = snapshot(searcher)

    for saved in (state, loaded):  # the in-memory state must not have been mutated by run()
        fresh = build(name, make_problem(seed=3))
        fresh.load_state_dict(saved)
        assert fresh.generation == k and fresh.step_count == k
        fresh.run(m)
        assert torch.equal(fresh.population.values, expected_values)
        assert torch.equal(fresh.population.evals, expected_evals)
        if isinstance(searcher, PSO):
            assert torch.equal(fresh.personal_best.values, searcher.personal_best.values)
            assert torch.equal(fresh.velocity, searcher.velocity)

    # A fresh searcher that does NOT load the state diverges: the test above is not vacuous.
    unloaded = build(name, make_problem(seed=3))
    unloaded.run(m)
    assert not torch.equal(unloaded.population.values, expected_values)


def test_load_state_dict_rejects_foreign_states():
    de = build("de-rand1", make_problem())
    de.run(2)
    with pytest.raises(ValueError, match="saved by 'DE'"):
        build("shade-arith", make_problem()).load_state_dict(de.state_dict())
    with pytest.raises(ValueError, match="expected"):
        build("de-rand1", make_problem(), popsize=POP + 1).load_state_dict(de.state_dict())
    with pytest.raises(ValueError, match="not a neuro_de algorithm state_dict"):
        build("de-rand1", make_problem()).load_state_dict({"foo": 1})


# --------------------------------------------------------------------------------------
# Problem kinds
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALGOS)
def test_maximisation_climbs_toward_zero(name):
    problem = make_problem("max", seed=5)
    searcher = build(name, problem)
    searcher.step()
    first = float(parents(searcher).evals.max())
    prev = parents(searcher).evals[:, 0].clone()
    for _ in range(39):
        searcher.step()
        now = parents(searcher).evals[:, 0]
        assert bool((now >= prev).all()), "a parent got worse under maximisation"
        prev = now.clone()
    last = float(parents(searcher).evals.max())
    assert last <= 0.0
    assert last > first + 0.5 * abs(first), f"no progress: {first} -> {last}"
    # EvoTorch's own reporter reads the sense from the problem: the best is the maximum.
    assert searcher.status["pop_best_eval"] == pytest.approx(
        float(searcher.population.evals[:, 0].max())
    )


@pytest.mark.parametrize("name", ALGOS)
def test_non_vectorised_problem(name):
    calls = []

    def one(x):
        assert x.ndim == 1  # EvoTorch calls us once per solution
        calls.append(1)
        return sphere(x)

    problem = make_problem(objective=one, vectorized=False, seed=2)
    searcher = build(name, problem)
    searcher.run(25)  # (a ring swarm with inertia 0.9 may need more than 15 to improve)
    pop = parents(searcher)
    assert len(calls) >= POP * 26
    expected = sphere(pop.values.to(torch.float64)).to(pop.evals.dtype)
    torch.testing.assert_close(pop.evals[:, 0], expected)
    start = sphere(make_problem(seed=2).generate_batch(POP).values.to(torch.float64))
    assert float(pop.evals.min()) < float(start.min())


@pytest.mark.parametrize("name", ["de-rand1", "shade-arith", "hybrid-full", "pso-inertia-ring"])
def test_vectorised_and_non_vectorised_agree(name):
    a = build(name, make_problem(seed=4, dtype=torch.float64))
    b = build(name, make_problem(seed=4, dtype=torch.float64, objective=sphere, vectorized=False))
    a.run(6)
    b.run(6)
    torch.testing.assert_close(a.population.values, b.population.values, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# The initial population
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALGOS)
def test_init_population_used_as_given(name):
    g = torch.Generator().manual_seed(11)
    given = torch.randn(POP, D, generator=g, dtype=torch.float64)
    keep = given.clone()
    searcher = FACTORIES[name](make_problem(seed=1), init_population=given)  # popsize inferred
    assert searcher.popsize == POP
    assert torch.equal(searcher.population.values, given.to(torch.float32))
    searcher.step()
    assert torch.equal(given, keep), "the user's tensor must not be modified"
    if not isinstance(searcher, PSO):  # parents can only improve on what was given
        assert float(searcher.population.evals.min()) <= float(sphere(given.float()).min())


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"init_population": torch.zeros(POP * D)}, ValueError, "must be 2-D"),
        ({"init_population": torch.zeros(POP, D + 1)}, ValueError, "columns"),
        ({"init_population": torch.zeros(0, D)}, ValueError, "is empty"),
        ({"init_population": torch.zeros(POP, D), "popsize": POP + 2}, ValueError, "rows"),
        ({"init_population": [[0.0] * D] * POP}, TypeError, "torch.Tensor"),
        ({"popsize": None}, ValueError, "needs `popsize`"),
    ],
)
@pytest.mark.parametrize("name", ["de-rand1", "shade-arith", "hybrid-full", "pso-inertia-ring"])
def test_init_population_errors(name, kwargs, exc, match):
    kwargs = dict(kwargs)
    popsize = kwargs.pop("popsize", None)
    with pytest.raises(exc, match=match):
        FACTORIES[name](make_problem(), popsize=popsize, **kwargs)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_init_population_nonfinite_rows_raise(bad):
    given = torch.zeros(POP, D)
    given[3, 1] = bad
    for name in ("de-rand1", "sade", "pso-constriction-global"):
        with pytest.raises(ValueError, match="NaN or inf"):
            FACTORIES[name](make_problem(), init_population=given)


@pytest.mark.parametrize(
    "make, popsize, match",
    [
        (lambda p, n: DE(p, popsize=n, strategy="rand/2"), 5, "popsize >= 6"),
        (lambda p, n: DE(p, popsize=n, strategy="rand/1"), 3, "popsize >= 4"),
        (lambda p, n: DE(p, popsize=n, strategy={"rand/1": 0.5, "rand/2": 0.5}), 5, ">= 6"),
        (lambda p, n: SaDE(p, popsize=n), 5, "popsize >= 6"),
        (lambda p, n: SAShadeTriEnsin(p, popsize=n), 5, "popsize >= 6"),
        (lambda p, n: SHADE(p, popsize=n), 2, "popsize >= 3"),
        (lambda p, n: PSO(p, popsize=n, topology="ring"), 2, "popsize >= 3"),
    ],
)
def test_popsize_too_small_for_strategy(make, popsize, match):
    with pytest.raises(ValueError, match=match):
        make(make_problem(), popsize)
    make(make_problem(), popsize + 1).run(2)  # the smallest admissible size works


# --------------------------------------------------------------------------------------
# Selection and non-finite trials
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALGOS)
def test_selection_never_worsens_a_parent_and_evals_match_values(name):
    searcher = build(name, make_problem(seed=9, dtype=torch.float64))
    searcher.step()
    replaced_total = 0
    for _ in range(20):
        before_v = parents(searcher).values.clone()
        before_e = parents(searcher).evals[:, 0].clone()
        searcher.step()
        after_v, after_e = parents(searcher).values, parents(searcher).evals[:, 0]
        assert bool((after_e <= before_e).all())
        # every parent's eval belongs to its values (selection moved them together)
        torch.testing.assert_close(after_e, sphere(after_v), rtol=1e-12, atol=1e-12)
        changed = (after_v != before_v).any(dim=1)
        strictly = after_e < before_e
        replaced_total += int(changed.sum())
        # a strictly better trial always replaces; an unchanged row kept its eval
        assert torch.equal(after_e[~changed], before_e[~changed])
        assert int(strictly.sum()) == round(searcher.status["success_rate"] * POP)
    assert replaced_total > 0


@pytest.mark.parametrize("name", ALGOS)
def test_ties_replace_the_parent_but_are_not_successes(name):
    """On a flat objective every trial ties with its parent: f(trial) <= f(parent) replaces
    it, yet a success needs strict improvement."""
    problem = make_problem(objective=lambda x: torch.zeros(x.shape[:-1]), seed=6)
    searcher = build(name, problem)
    searcher.step()
    before = parents(searcher).values.clone()
    searcher.step()
    assert searcher.status["success_rate"] == 0.0
    after = parents(searcher).values
    if isinstance(searcher, PSO):
        # a tie moves the personal best to where the particle is now (a particle sitting
        # still on the global best, with zero velocity, legitimately does not move)
        assert torch.equal(after, searcher.population.values)
        assert bool((after != before).any(dim=1).sum() >= POP - 1)
    else:
        assert bool((after != before).any(dim=1).all()), "every tie must replace its parent"


class NonFinite:
    """Sphere, but NaN where x0 > 1 and -inf where x0 < -1 (a -inf would win a naive
    ``<=`` comparison). Counts the non-finite values it returns per call."""

    def __init__(self):
        self.nonfinite_per_call: list[int] = []

    def __call__(self, x):
        f = sphere(x)
        f = torch.where(x[:, 0] > 1.0, torch.full_like(f, float("nan")), f)
        f = torch.where(x[:, 0] < -1.0, torch.full_like(f, -float("inf")), f)
        self.nonfinite_per_call.append(int((~torch.isfinite(f)).sum()))
        return f


@pytest.mark.parametrize("name", ALGOS)
def test_nonfinite_trials_never_replace_parents(name):
    objective = NonFinite()
    problem = make_problem(objective=objective, seed=4)
    g = torch.Generator().manual_seed(0)
    start = torch.rand(POP, D, generator=g) * 1.6 - 0.8
    start[:, 0] = torch.tensor([0.95, -0.95]).repeat(POP // 2)  # finite, near both edges
    searcher = FACTORIES[name](problem, init_population=start)
    seen = 0
    for _ in range(25):
        searcher.step()
        assert bool(torch.isfinite(parents(searcher).evals).all())
        assert searcher.status["nonfinite_trials"] == float(objective.nonfinite_per_call[-1])
        seen += objective.nonfinite_per_call[-1]
    assert seen > 0, "the test must actually produce non-finite trials"
    assert searcher.status["nonfinite_total"] == float(seen)
    assert sum(objective.nonfinite_per_call) == seen  # no extra evaluations were spent


# --------------------------------------------------------------------------------------
# Status items for EvoTorch loggers
# --------------------------------------------------------------------------------------

COMMON_KEYS = {"diversity", "nonfinite_trials", "nonfinite_total", "success_rate"}
DE_KEYS = {"mean_F", "mean_CR", "archive_size"}
PSO_KEYS = {"swarm_best_eval", "inertia", "mean_speed", "spread"}
EVOTORCH_KEYS = {"iter", "pop_best_eval", "mean_eval", "median_eval", "best_eval", "worst_eval"}


def strategy_keys(searcher) -> list[str]:
    return [s.key for s in searcher.strategies]


@pytest.mark.parametrize("name", ALGOS)
def test_pandas_logger_records_float_status(name):
    problem = make_problem(seed=12, dtype=torch.float64)
    searcher = build(name, problem)
    logger = PandasLogger(searcher)
    expected_rows = []
    for _ in range(6):
        searcher.step()
        evals = searcher.population.evals[:, 0]
        expected_rows.append(
            {
                "pop_best_eval": float(evals.min()),
                "mean_eval": float(evals.mean()),
                "best_eval": float(problem.status["best_eval"]),
            }
        )
    df = logger.to_dataframe()
    assert list(df.index) == list(range(1, 7))  # "iter" is EvoTorch's, untouched

    ours = set(COMMON_KEYS)
    if isinstance(searcher, PSO):
        ours |= PSO_KEYS
    else:
        ours |= DE_KEYS | set(searcher.parameters.status_keys())  # e.g. sinusoidal_phase
        keys = strategy_keys(searcher)
        for prefix in ("p", "success", "F", "CR"):
            ours |= {f"{prefix}/{k}" for k in keys}
    assert not ours & RESERVED_STATUS_KEYS
    missing = (ours | EVOTORCH_KEYS - {"iter"}) - set(df.columns)
    assert not missing, f"not logged: {sorted(missing)}"
    for row in logger._data:  # what the logger got: plain Python floats
        for key in ours:
            assert type(row[key]) is float, (key, type(row[key]))
    for key in ours:
        assert df[key].dtype == "float64"

    for i, exp in enumerate(expected_rows):
        for key, value in exp.items():
            assert df[key].iloc[i] == pytest.approx(value), key
    assert bool(((df["success_rate"] >= 0) & (df["success_rate"] <= 1)).all())
    assert bool((df["diversity"] > 0).all())
    assert bool((df["nonfinite_trials"] == 0).all())

    if not isinstance(searcher, PSO):
        keys = strategy_keys(searcher)
        probs = df[[f"p/{k}" for k in keys]]
        assert probs.sum(axis=1).to_numpy() == pytest.approx(1.0)
        success = df[[f"success/{k}" for k in keys]].to_numpy()
        finite = success[~(success != success)]  # NaN where a strategy was not used
        assert ((finite >= 0) & (finite <= 1)).all()


def test_status_values_of_classic_de():
    searcher = DE(make_problem(seed=1), popsize=POP, strategy="rand/1", F=0.7, CR=0.3)
    searcher.run(3)
    st = searcher.status
    assert st["mean_F"] == pytest.approx(0.7) and st["F/rand1"] == pytest.approx(0.7)
    assert st["mean_CR"] == pytest.approx(0.3) and st["CR/rand1"] == pytest.approx(0.3)
    assert st["p/rand1"] == 1.0
    assert st["success/rand1"] == st["success_rate"]
    assert st["archive_size"] == 0.0 and "sinusoidal_phase" not in st


def test_tde_mix_probabilities_are_fixed_and_used():
    searcher = DE(
        make_problem(seed=2), popsize=200, strategy={"trigonometric": 1.0, "rand/1": 3.0}
    )
    logger = PandasLogger(searcher)
    searcher.run(10)
    df = logger.to_dataframe()
    assert (df["p/trig"] == 0.25).all() and (df["p/rand1"] == 0.75).all()


@pytest.mark.parametrize("name", ["de-rand1", "sade", "pso-inertia-global"])
def test_diversity_is_mean_pairwise_distance(name):
    searcher = build(name, make_problem(seed=3, dtype=torch.float64), popsize=7)
    searcher.run(3)
    x = searcher.population.values
    dist = torch.cdist(x, x)
    iu = torch.triu_indices(7, 7, offset=1)
    brute = float(dist[iu[0], iu[1]].mean())
    assert searcher.status["diversity"] == pytest.approx(brute, rel=1e-10)


def test_mean_pairwise_distance_chunked_and_float32():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 50, generator=g) * 3 + 100.0  # a large common offset: centring matters
    ref = torch.pdist(x.double()).mean().item()
    assert mean_pairwise_distance(x) == pytest.approx(ref, rel=1e-9)
    assert mean_pairwise_distance(x, chunk_elements=9 * 7) == pytest.approx(ref, rel=1e-9)
    assert mean_pairwise_distance(x[:1]) == 0.0


# --------------------------------------------------------------------------------------
# Problems whose objective changes (mini-batch fitness)
# --------------------------------------------------------------------------------------


class DriftingSphere(Problem):
    """A toy mini-batch problem: the objective's data change every ``period`` generations
    (``fitness_epoch`` increments): the optimum moves and the level rises by 10."""

    def __init__(self, *, period=3, seed=0):
        super().__init__(
            "min", solution_length=D, initial_bounds=(-2.0, 2.0), dtype=torch.float64,
            seed=seed,
        )
        self.period = period
        self.fitness_epoch = 0
        self.generations_advanced = 0
        self.evaluated = 0

    def advance_generation(self):
        self.generations_advanced += 1
        if self.generations_advanced % self.period == 0:
            self.fitness_epoch += 1

    def objective(self, x, epoch=None):
        e = self.fitness_epoch if epoch is None else epoch
        return ((x - 0.3 * e) ** 2).sum(dim=-1) + 10.0 * e

    def _evaluate_batch(self, batch):
        self.evaluated += len(batch)
        batch.set_evals(self.objective(batch.values))


@pytest.mark.parametrize("name", ALGOS)
def test_fitness_epoch_change_reevaluates_parents(name):
    problem = DriftingSphere(seed=1)
    searcher = build(name, problem)
    steps = 10
    for _ in range(steps):
        searcher.step()
        pop = parents(searcher)
        # every parent is scored with the current objective, never a stale one
        torch.testing.assert_close(pop.evals[:, 0], problem.objective(pop.values))
    assert problem.generations_advanced == steps - 1
    changes = problem.fitness_epoch
    assert changes == 3
    # exact evaluation budget: initial N, N trials per generation, and a re-scoring of the
    # parents (PSO: the personal bests; its positions move and are scored in that
    # generation, so re-scoring them too would be thrown away) at each change of data
    assert problem.evaluated == POP + steps * POP + changes * POP


@pytest.mark.parametrize("name", ["de-rand1", "shade-arith", "hybrid-full", "pso-inertia-global"])
def test_fitness_epoch_protocol_is_what_keeps_evals_current(name, monkeypatch):
    """Disable the protocol: the parents' evals then go stale and the check above fails."""
    problem = DriftingSphere(seed=1)
    searcher = build(name, problem)
    monkeypatch.setattr(searcher, "_fitness_epoch", lambda: None)
    searcher.run(4)  # epoch changed after generation 3
    pop = parents(searcher)
    stale = pop.evals[:, 0]
    current = problem.objective(pop.values)
    assert problem.fitness_epoch == 1
    assert not torch.allclose(stale, current)
    assert bool((current - stale > 5).any())


# --------------------------------------------------------------------------------------
# Algorithm-specific adaptation on a run
# --------------------------------------------------------------------------------------


def rastrigin(x):
    return 10 * x.shape[-1] + (x**2 - 10 * torch.cos(2 * math.pi * x)).sum(dim=-1)


def test_sade_probabilities_learn_after_learning_period():
    lp = 10
    problem = make_problem(objective=rastrigin, seed=5, dtype=torch.float64)
    searcher = SaDE(problem, popsize=40, learning_period=lp)
    keys = strategy_keys(searcher)
    assert keys == ["rand1", "ctb2", "rand2", "ctr1"]
    history = []
    for _ in range(3 * lp):
        searcher.step()
        history.append(torch.tensor([searcher.status[f"p/{k}"] for k in keys]))
    for g, p in enumerate(history, start=1):
        assert float(p.sum()) == pytest.approx(1.0)
        assert bool((p > 0).all())
        if g < lp:
            assert torch.equal(p, torch.full((4,), 0.25, dtype=p.dtype)), g
    moved = torch.stack(history[lp:]).sub(0.25).abs().amax(dim=1)
    assert float(moved.max()) > 0.02, "probabilities never left uniform"
    assert bool((moved > 0).all())
    # they follow the success counts of the window: p_k proportional to S_k
    ns = searcher.selector.successes.sum(0).double()
    nf = searcher.selector.failures.sum(0).double()
    s = ns / (ns + nf) + 0.01
    torch.testing.assert_close(history[-1].double(), s / s.sum())


def test_shade_archive_fills_to_popsize():
    searcher = SHADE(make_problem(seed=0), popsize=POP)
    sizes = []
    for _ in range(30):
        searcher.step()
        sizes.append(searcher.status["archive_size"])
    assert max(sizes) == POP
    assert all(a <= b for a, b in zip(sizes, sizes[1:], strict=False))  # grows, never shrinks
    half = SHADE(make_problem(seed=0), popsize=POP, archive_rate=0.5)
    half.run(30)
    assert half.status["archive_size"] == POP // 2
    none = SHADE(make_problem(seed=0), popsize=POP, archive_rate=0.0)
    none.run(5)
    assert none.status["archive_size"] == 0.0


def test_shade_archive_receives_beaten_parents():
    # a capacity of 3N keeps the archive from evicting anyone during the two steps
    searcher = SHADE(make_problem(seed=2, dtype=torch.float64), popsize=POP, archive_rate=3.0)
    searcher.step()
    size_before = searcher.archive.members.shape[0]
    assert size_before == round(searcher.status["success_rate"] * POP)
    before = searcher.population.values.clone()
    searcher.step()
    beaten = (searcher.population.evals[:, 0] < sphere(before)).nonzero().squeeze(1)
    archive = searcher.archive.members
    assert len(beaten) == round(searcher.status["success_rate"] * POP)
    assert archive.shape[0] == size_before + len(beaten)
    for i in beaten.tolist():
        assert bool((archive == before[i]).all(dim=1).any())


@pytest.mark.parametrize("horizon", [10, 6])
def test_hybrid_sinusoidal_phases(horizon):
    lo, hi = 0.0, 0.2
    searcher = SAShadeTriEnsin(
        make_problem(seed=3), popsize=POP, sin_horizon=horizon, F_range=(lo, hi)
    )
    phases, mean_F = [], []
    for _ in range(3 * horizon):
        searcher.step()
        phases.append(searcher.status["sinusoidal_phase"])
        mean_F.append(searcher.status["mean_F"])
    for gen, (phase, f) in enumerate(zip(phases, mean_F, strict=True)):
        g = gen % horizon + 1
        if g <= horizon / 2:
            assert phase in (1.0, 2.0), (gen, phase)
        else:
            assert phase == 0.0, (gen, phase)
        if phase == 1.0:  # non-adaptive decreasing with nu = 0.5: F = 1/2 of the range
            assert f == pytest.approx(lo + 0.5 * (hi - lo), abs=1e-6)
        assert lo <= f <= hi
    assert {1.0, 2.0} <= set(phases)
    off = SAShadeTriEnsin(make_problem(seed=3), popsize=POP, sinusoidal=False)
    off.run(horizon)
    assert "sinusoidal_phase" not in off.status


def test_hybrid_ablation_switches():
    full = SAShadeTriEnsin(make_problem(), popsize=POP)
    assert strategy_keys(full) == ["rand1", "ctb1", "rand2", "ctr1", "trig"]
    no_trig = SAShadeTriEnsin(make_problem(), popsize=POP, trigonometric=False)
    assert "trig" not in strategy_keys(no_trig)
    # without strategy adaptation the probabilities stay uniform after the learning period
    flat = SAShadeTriEnsin(make_problem(seed=1), popsize=POP, strategy_adaptation=False)
    flat.run(12)
    assert all(flat.status[f"p/{k}"] == pytest.approx(0.2) for k in strategy_keys(flat))
    learned = SAShadeTriEnsin(make_problem(seed=1), popsize=POP)
    learned.run(12)
    assert any(learned.status[f"p/{k}"] != pytest.approx(0.2) for k in strategy_keys(learned))


def test_pso_inertia_schedule_and_velocity_clamp():
    searcher = PSO(make_problem(seed=0), popsize=POP, mode="inertia", max_generations=10,
                   v_max=0.25)
    weights = []
    for _ in range(12):
        searcher.step()
        weights.append(searcher.status["inertia"])
        assert float(searcher.velocity.abs().max()) <= 0.25 + 1e-7
    assert weights[0] == pytest.approx(0.9)
    assert weights[9] == pytest.approx(0.4 + 0.5 / 10)
    assert weights[-1] == pytest.approx(0.4)
    constricted = PSO(make_problem(seed=0), popsize=POP)
    constricted.step()
    assert constricted.status["inertia"] == 1.0
    # v_max_fraction clamps to a fraction of the bound width (bounds (-10, 10): 20 * 0.05)
    fraction = PSO(make_problem(seed=0), popsize=POP, mode="inertia", init_velocity="uniform",
                   v_max_fraction=0.05)
    for _ in range(5):
        fraction.step()
        assert float(fraction.velocity.abs().max()) <= 1.0 + 1e-6
    assert float(fraction.velocity.abs().max()) == pytest.approx(1.0)


def test_pso_velocity_clamp_from_the_population_spread():
    """v_max_spread: each coordinate's step within k times the first population's spread
    there (the scale of trained snapshots, which have no bounds)."""
    g = torch.Generator().manual_seed(0)
    init = torch.randn(POP, 6, generator=g, dtype=torch.float64) * torch.tensor(
        [1e-3, 1e-3, 1.0, 1.0, 10.0, 10.0], dtype=torch.float64)
    searcher = PSO(make_problem(seed=0, dtype=torch.float64), init_population=init,
                   v_max_spread=0.5)
    limit = 0.5 * init.std(dim=0)
    for _ in range(6):
        searcher.step()
        assert bool((searcher.velocity.abs() <= limit + 1e-12).all())
    assert bool((searcher.velocity.abs().amax(0) > 0.5 * limit).any())  # it binds
    with pytest.raises(ValueError, match="one velocity clamp"):
        PSO(make_problem(), popsize=POP, v_max=1.0, v_max_spread=1.0)
    with pytest.raises(ValueError, match="v_max_spread"):
        PSO(make_problem(), popsize=POP, v_max_spread=0.0)


@pytest.mark.parametrize(
    "kw",
    [{"mode": "constriction"}, {"mode": "inertia", "max_generations": 10},
     {"mode": "constriction", "topology": "ring", "c1": 1.5, "c2": 2.5}],
)
def test_pso_step_matches_the_velocity_equation(kw):
    """One generation by hand: v <- chi (w v + c1 r1 (p - x) + c2 r2 (l - x)), x <- x + v,
    with r1, r2 = 1/2 + 2^-16 h from the generator's next 16-bit integers."""
    from neuro_de.operators import random_int16

    problem = Problem("min", sphere, solution_length=D, initial_bounds=(-5.0, 5.0), seed=3,
                      dtype=torch.float64)
    searcher = PSO(problem, popsize=POP, init_velocity="zero", **kw)
    for _ in range(3):
        searcher.step()
    x = searcher.population.values.clone()
    v = searcher.velocity.clone()
    p = searcher.personal_best.values.clone()
    f = searcher.personal_best.evals[:, 0].clone()
    if kw.get("topology") == "ring":
        idx = torch.arange(POP)
        cand = torch.stack([(idx - 1) % POP, idx, (idx + 1) % POP], dim=1)
        lbest = p[cand[idx, f[cand].argmin(dim=1)]]
    else:
        lbest = p[f.argmin()].expand(POP, D)
    state = problem.generator.get_state()
    w = 0.9 - 0.5 * 3 / 10 if kw["mode"] == "inertia" else 1.0
    chi = 0.7298 if kw["mode"] == "constriction" else 1.0
    c1 = kw.get("c1", 2.05 if kw["mode"] == "constriction" else 2.0)
    c2 = kw.get("c2", 2.05 if kw["mode"] == "constriction" else 2.0)
    searcher.step()
    replay = torch.Generator().manual_seed(0)
    replay.set_state(state)
    h1, h2 = random_int16((2, POP, D), generator=replay).to(torch.float64)
    r1, r2 = 0.5 + h1 / 2**16, 0.5 + h2 / 2**16
    assert float(r1.min()) >= 0.0 and float(r2.max()) < 1.0
    v_expected = chi * (w * v + c1 * r1 * (p - x) + c2 * r2 * (lbest - x))
    torch.testing.assert_close(searcher.velocity, v_expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(searcher.population.values, x + v_expected, rtol=1e-12,
                               atol=1e-12)


def test_random_int16_uses_every_bit():
    from neuro_de.operators import random_int16

    g = torch.Generator().manual_seed(5)
    h = random_int16((250_001,), generator=g)
    assert h.dtype == torch.int16 and h.shape == (250_001,)
    lanes = h[:250_000].view(-1, 4).to(torch.int32)
    # each of the four 16-bit lanes of a word takes negative values (its top bit) half the
    # time, and its values are spread evenly over [-2^15, 2^15)
    for lane in lanes.T:
        assert abs(float((lane < 0).double().mean()) - 0.5) < 0.01
        hist = torch.histc(lane.double(), bins=16, min=-(2**15), max=2**15) / lane.numel()
        assert float((hist - 1 / 16).abs().max()) < 0.006


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["de-tde-mix", "sade", "shade-lehmer", "hybrid-full",
                                  "pso-constriction-ring"])
def test_runs_on_cuda(name):
    problem = Problem("min", sphere, solution_length=D, initial_bounds=(-5, 5), bounds=(-10, 10),
                      vectorized=True, seed=0, device="cuda")
    searcher = build(name, problem)
    searcher.run(20)
    assert searcher.population.values.device.type == "cuda"
    assert bool(torch.isfinite(parents(searcher).evals).all())
    state = searcher.state_dict()
    searcher.run(3)
    fresh = build(name, Problem("min", sphere, solution_length=D, initial_bounds=(-5, 5),
                                bounds=(-10, 10), vectorized=True, seed=0, device="cuda"))
    fresh.load_state_dict(state)
    fresh.run(3)
    assert torch.equal(fresh.population.values, searcher.population.values)


@pytest.mark.parametrize("make", [
    lambda p: DE(p, popsize=10),
    lambda p: SHADE(p, popsize=10),
    lambda p: SHADE(p, popsize=10, bounds_handling="clip"),
    lambda p: PSO(p, popsize=10),
])
def test_a_uniform_bound_beside_a_varying_one(make):
    # the lower bound is one number for all dimensions (kept as a float), the upper one
    # varies (a tensor): clamping with the pair must still work, and keep them
    ub = torch.tensor([0.5, 1.0, 2.0, 4.0])
    problem = Problem("min", lambda x: (x - 10.0).pow(2).sum(-1), solution_length=4,
                      bounds=([-1.0] * 4, ub.tolist()), vectorized=True, seed=0)
    searcher = make(problem)
    for _ in range(5):
        searcher.step()
    values = searcher.population.values
    assert bool((values >= -1.0).all()) and bool((values <= ub).all())


@pytest.mark.parametrize("chunk", [1 << 20, 6])
def test_copy_rows_where_copies_exactly_the_selected_rows(chunk, monkeypatch):
    from neuro_de.algorithms import base
    from neuro_de.operators import rows

    monkeypatch.setattr(rows, "_CHUNK_ELEMENTS", chunk)  # 6: column chunks of 2
    g = torch.Generator().manual_seed(0)
    source, target = torch.randn(5, 11, generator=g), torch.randn(5, 11, generator=g)
    s_evals, t_evals = torch.randn(5, 1, generator=g), torch.randn(5, 1, generator=g)
    mask = torch.tensor([True, False, True, True, False])
    expected = torch.where(mask[:, None], source, target)
    expected_evals = torch.where(mask[:, None], s_evals, t_evals)
    base.copy_rows_where(mask, (source, s_evals), (target, t_evals))
    assert torch.equal(target, expected) and torch.equal(t_evals, expected_evals)
    base.copy_rows_where(torch.zeros(5, dtype=torch.bool), (source,), (target,))
    assert torch.equal(target, expected)


def test_pso_velocity_update_in_column_chunks_follows_the_equation(monkeypatch):
    """A wide genome's velocity update runs in column chunks (chunk-sized temporaries);
    each chunk draws its own r1, r2 block, and the result is the velocity equation."""
    from neuro_de.algorithms import pso as pso_module
    from neuro_de.operators import random_int16

    monkeypatch.setattr(pso_module, "_CHUNK_ELEMENTS", 2 * POP)  # 2 columns per chunk
    problem = Problem("min", sphere, solution_length=D, initial_bounds=(-5.0, 5.0), seed=3,
                      dtype=torch.float64)
    searcher = PSO(problem, popsize=POP)
    searcher.step()
    x, v = searcher.population.values.clone(), searcher.velocity.clone()
    p = searcher.personal_best.values.clone()
    lbest = p[searcher.personal_best.evals[:, 0].argmin()].expand(POP, D)
    state = problem.generator.get_state()
    searcher.step()
    replay = torch.Generator().manual_seed(0)
    replay.set_state(state)
    blocks = [random_int16((2, POP, min(2, D - s)), generator=replay).to(torch.float64)
              for s in range(0, D, 2)]
    h1, h2 = torch.cat([b[0] for b in blocks], 1), torch.cat([b[1] for b in blocks], 1)
    chi, c = 0.7298, 2.05
    v_expected = chi * (v + c * (0.5 + h1 / 2**16) * (p - x) + c * (0.5 + h2 / 2**16) * (
        lbest - x))
    torch.testing.assert_close(searcher.velocity, v_expected, rtol=1e-12, atol=1e-12)
