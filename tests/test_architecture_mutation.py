"""Architecture mutations of Prellberg & Kramer (2018, PPSN, arXiv:1806.08099), §3.2, and the
EvoTorch operator around them (spec seeds_002_003 B.4, B.11, B.12 tests 2 and 3)."""

from __future__ import annotations

import pickle
from collections import Counter

import pytest
import torch
from evotorch import Problem
from scipy.stats import chisquare

from neuro_de.operators.architecture import (
    KINDS,
    ArchitectureMutation,
    Mutation,
    SearchSpace,
    apply_mutation,
    check_arch,
    count_stride2,
    initial_arch,
    mutate,
    mutate_solution,
    to_arch,
)

PAPER = SearchSpace.paper()
M1D = SearchSpace.mnist1d()
MIDDLE = ((32, 3, 1), (64, 3, 2), (96, 5, 1))  # every mutation is valid here (paper space)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- space
def test_space_presets():
    assert PAPER.filters == (16, 32, 64, 96, 128, 192, 256)
    assert PAPER.kernels == (1, 3, 5) and PAPER.strides == (1, 2)
    assert PAPER.max_stride2 == 3 and PAPER.max_blocks == 64
    assert dict(PAPER.weights) == {"add_block": 3, "remove_block": 3, "add_filters": 2,
                                   "remove_filters": 2, "change_kernel": 2, "change_stride": 1}
    assert M1D.filters == (4, 8, 16, 24, 32, 48, 64)
    assert (M1D.kernels, M1D.strides, M1D.max_stride2) == ((1, 3, 5), (1, 2), 3)
    assert SearchSpace(filters=(64, 4, 16)).filters == (4, 16, 64)  # stored sorted
    assert SearchSpace() == PAPER and hash(SearchSpace()) == hash(PAPER)
    assert SearchSpace(weights={"add_block": 1}).weights["remove_block"] == 0
    assert pickle.loads(pickle.dumps(M1D)) == M1D  # checkpoints can hold a space
    with pytest.raises(TypeError):
        M1D.weights["add_block"] = 5  # read only


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"filters": ()}, "filters"),
        ({"filters": (0, 4)}, "filters"),
        ({"filters": (4, 4)}, "filters"),
        ({"filters": (4.0, 8)}, "filters"),
        ({"filters": (True,)}, "filters"),
        ({"filters": 4}, "filters"),
        ({"kernels": ()}, "kernels"),
        ({"kernels": (1, 2)}, "kernels"),
        ({"kernels": (-3,)}, "kernels"),
        ({"kernels": (3, 3)}, "kernels"),
        ({"strides": ()}, "strides"),
        ({"strides": (0, 1)}, "strides"),
        ({"strides": (1, 1.5)}, "strides"),
        ({"strides": (2,)}, "strides"),
        ({"max_stride2": -1}, "max_stride2"),
        ({"max_stride2": 1.0}, "max_stride2"),
        ({"max_blocks": 0}, "max_blocks"),
        ({"weights": {"add_block": -1}}, "weights"),
        ({"weights": dict.fromkeys(KINDS, 0)}, "weights"),
        ({"weights": {"add_block": 1, "grow": 1}}, "weights"),
        ({"weights": {"add_block": float("nan")}}, "weights"),
        ({"weights": [1, 2]}, "weights"),
    ],
)
def test_space_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SearchSpace(**kwargs)


def test_check_arch_accepts_and_rejects():
    assert check_arch(MIDDLE, PAPER) is MIDDLE
    bad = [
        ([(32, 3, 1)], "tuple"),
        ((), "at least one block"),
        (((32, 3),), "Block 0"),
        (((32, 3, 1), (32.0, 3, 1)), "Block 1"),
        (((32, True, 1),), "Block 0"),
        (([32, 3, 1],), "Block 0"),
        (((33, 3, 1),), "filters"),
        (((32, 4, 1),), "kernels"),
        (((32, 3, 3),), "strides"),
        (((32, 3, 2),) * 4, "max_stride2=3"),
    ]
    for arch, msg in bad:
        with pytest.raises(ValueError, match=msg):
            check_arch(arch, PAPER)
    with pytest.raises(ValueError, match="max_blocks=2"):
        check_arch(MIDDLE, SearchSpace(max_blocks=2))


def test_to_arch_normalises_sequences():
    assert to_arch([[32, 3, 1], (64, 3, 2)]) == ((32, 3, 1), (64, 3, 2))
    assert to_arch([[torch.tensor(32), 3, 1]], PAPER) == ((32, 3, 1),)
    with pytest.raises(ValueError, match="Not an architecture"):
        to_arch([[32, 3]])
    with pytest.raises(ValueError, match="Not an architecture"):
        to_arch([[32, 3.5, 1]])
    with pytest.raises(ValueError, match="filters"):
        to_arch([[33, 3, 1]], PAPER)


# ---------------------------------------------------------------------------- B.12.2
def test_kind_frequencies_chi_square():
    rng = gen(2018)
    counts = Counter(mutate(MIDDLE, PAPER, rng)[1].kind for _ in range(13_000))
    observed = [counts[k] for k in KINDS]
    expected = [13_000 * w / 13 for w in (3, 3, 2, 2, 2, 1)]
    assert sum(observed) == 13_000
    assert chisquare(observed, expected).pvalue > 0.01


# ---------------------------------------------------------------------------- B.12.3
@pytest.mark.parametrize("space", [M1D, SearchSpace(filters=(4, 8), max_blocks=6),
                                   SearchSpace(weights={"change_stride": 5, "add_block": 2})])
def test_mutation_chains_stay_valid_and_novel(space):
    for seed in range(4):
        rng = gen(seed)
        arch = initial_arch(space, rng)
        history = {arch}
        for _ in range(150):
            child, mutation = mutate(arch, space, rng, exclude=history)
            assert child not in history
            assert 1 <= len(child) <= space.max_blocks
            assert count_stride2(child) <= space.max_stride2
            check_arch(child, space)
            assert mutation.kind in KINDS
            history.add(child)
            arch = child
        assert len(history) == 151  # every child distinct


def test_invalid_children_are_none():
    assert all(apply_mutation(((16, 3, 1),), "remove_block", gen(s), PAPER) is None
               for s in range(20))
    no_down = SearchSpace(max_stride2=0)
    results = [apply_mutation(((16, 3, 1),), "change_stride", gen(s), no_down)
               for s in range(40)]
    assert any(r is None for r in results)  # stride 2 drawn: too many downsampling blocks
    assert all(r[0] == ((16, 3, 1),) for r in results if r is not None)  # stride 1 redrawn
    capped = SearchSpace(max_blocks=3)
    assert apply_mutation(MIDDLE, "add_block", gen(0), capped) is None
    with pytest.raises(ValueError, match="Unknown mutation kind"):
        apply_mutation(MIDDLE, "widen", gen(0), PAPER)


def test_exhausted_neighbourhood_raises():
    tiny = SearchSpace(filters=(4,), kernels=(1,), strides=(1,))
    parent = ((4, 1, 1),)
    history = {parent, ((4, 1, 1), (4, 1, 1))}  # its only neighbours (and itself)
    with pytest.raises(RuntimeError, match="no novel valid neighbour within 300 tries"):
        mutate(parent, tiny, gen(0), exclude=history, max_tries=300)
    # one neighbour left: found
    assert mutate(parent, tiny, gen(0), exclude={parent})[0] == ((4, 1, 1), (4, 1, 1))
    with pytest.raises(RuntimeError, match="no novel valid neighbour"):
        mutate(parent, SearchSpace(filters=(4,), kernels=(1,), strides=(1,), max_blocks=1),
               gen(0), exclude={parent}, max_tries=50)
    with pytest.raises(ValueError, match="max_tries"):
        mutate(parent, tiny, gen(0), max_tries=0)


# ---------------------------------------------------------------------------- each kind
def test_add_and_remove_filters():
    arch = ((16, 3, 1), (24, 1, 2), (48, 5, 1))
    seen = set()
    for s in range(60):
        child, m = apply_mutation(arch, "add_filters", gen(s), M1D)
        j = m.index
        seen.add(j)
        nxt = M1D.filters[M1D.filters.index(arch[j][0]) + 1]
        assert child == arch[:j] + ((nxt, *arch[j][1:]),) + arch[j + 1:]
        child, m = apply_mutation(arch, "remove_filters", gen(s), M1D)
        j = m.index
        prev = M1D.filters[M1D.filters.index(arch[j][0]) - 1]
        assert child == arch[:j] + ((prev, *arch[j][1:]),) + arch[j + 1:]
    assert seen == {0, 1, 2}
    top, bottom = ((64, 3, 1),), ((4, 3, 1),)
    assert apply_mutation(top, "add_filters", gen(0), M1D) == (top, Mutation("add_filters", 0))
    assert apply_mutation(bottom, "remove_filters", gen(0), M1D)[0] == bottom
    # the no-op at the top of F is redrawn by the novelty rule
    only = SearchSpace(filters=M1D.filters, weights={"add_filters": 1, "remove_filters": 1})
    for s in range(30):
        child, m = mutate(top, only, gen(s), exclude={top})
        assert (child, m.kind) == (((48, 3, 1),), "remove_filters")


def test_remove_block_never_empties():
    for s in range(30):
        child, m = apply_mutation(MIDDLE, "remove_block", gen(s), PAPER)
        assert child == MIDDLE[:m.index] + MIDDLE[m.index + 1:] and len(child) == 2
    rng = gen(1)
    for _ in range(300):  # from one block, remove_block is always redrawn
        assert len(mutate(((16, 1, 1),), PAPER, rng)[0]) >= 1


def test_add_block_inserts_stride_one():
    positions = Counter()
    for s in range(200):
        child, m = apply_mutation(MIDDLE, "add_block", gen(s), PAPER)
        positions[m.index] += 1
        assert m.kind == "add_block" and child[m.index] == m.block
        assert child[:m.index] + child[m.index + 1:] == MIDDLE
        f, k, stride = m.block
        assert stride == 1 and f in PAPER.filters and k in PAPER.kernels
    assert set(positions) == {0, 1, 2, 3}


def test_deepen_identity_block_shapes():
    arch = ((16, 3, 1), (32, 1, 2))
    for in_channels, may_start in ((1, False), (8, True), (None, False)):
        positions = set()
        for s in range(100):
            child, m = apply_mutation(arch, "add_block", gen(s), M1D, in_channels=in_channels,
                                      deepen_identity=True)
            positions.add(m.index)
            f, k, stride = m.block
            expected_f = in_channels if m.index == 0 else child[m.index - 1][0]
            assert f == expected_f and stride == 1 and k % 2 == 1 and k in M1D.kernels
            assert child[:m.index] + child[m.index + 1:] == arch
        assert positions == ({0, 1, 2} if may_start else {1, 2})
    child, m = mutate(arch, M1D, gen(3), in_channels=1, deepen_identity=True,
                      exclude={arch})
    check_arch(child, M1D)
    with pytest.raises(ValueError, match="in_channels"):
        mutate(arch, M1D, gen(0), in_channels=0)


def test_change_kernel_and_stride():
    kernels, strides = set(), set()
    for s in range(60):
        child, m = apply_mutation(MIDDLE, "change_kernel", gen(s), PAPER)
        j = m.index
        assert child[:j] + child[j + 1:] == MIDDLE[:j] + MIDDLE[j + 1:]
        assert child[j][0] == MIDDLE[j][0] and child[j][2] == MIDDLE[j][2]
        kernels.add(child[j][1])
        child, m = apply_mutation(MIDDLE, "change_stride", gen(s), PAPER)
        j = m.index
        assert child[j][:2] == MIDDLE[j][:2]
        assert child[:j] + child[j + 1:] == MIDDLE[:j] + MIDDLE[j + 1:]
        strides.add(child[j][2])
    assert kernels == {1, 3, 5} and strides == {1, 2}


# ---------------------------------------------------------------------------- seeds, init
def test_reproducible_with_same_seed():
    def chain(seed):
        rng = gen(seed)
        arch = initial_arch(M1D, rng)
        out, history = [arch], {arch}
        for _ in range(40):
            arch, m = mutate(arch, M1D, rng, exclude=history)
            history.add(arch)
            out.append((arch, m))
        return out

    assert chain(5) == chain(5)
    assert chain(5) != chain(6)


def test_initial_arch_law():
    rng = gen(0)
    archs = [initial_arch(M1D, rng) for _ in range(500)]
    assert all(len(a) == 1 and a[0][2] == 1 for a in archs)
    assert {a[0][0] for a in archs} == set(M1D.filters)
    assert {a[0][1] for a in archs} == set(M1D.kernels)


# ---------------------------------------------------------------------------- solutions
def stub_build_fresh(arch):
    return {"conv.weight": torch.zeros(arch[-1][0], 2), "dense.bias": torch.zeros(3)}


class StubInheritance:
    def __init__(self):
        self.calls = []

    def __call__(self, parent_arch, parent_state, child_arch, mutation, fresh_state):
        assert type(parent_arch) is tuple and isinstance(mutation, Mutation)
        for t in parent_state.values():  # writable plain copies
            assert type(t) is torch.Tensor
            t.add_(100.0)
        self.calls.append((parent_arch, child_arch, mutation))
        state = dict(fresh_state)
        state["dense.bias"] = torch.ones(3)
        return state, 0.25


def test_mutate_solution_with_and_without_weights():
    inherit = StubInheritance()
    parent = {"arch": [[16, 3, 1], [32, 1, 1]],
              "weights": {"conv.weight": torch.ones(32, 2), "dense.bias": torch.ones(3)},
              "val_acc": 0.5}
    history = {((16, 3, 1), (32, 1, 1))}
    child = mutate_solution(parent, space=M1D, inheritance=inherit,
                            build_fresh=stub_build_fresh, rng=gen(0), history=history)
    assert set(child) == {"arch", "weights", "inherited_fraction", "mutation"}
    assert child["arch"] not in history and check_arch(child["arch"], M1D)
    assert child["inherited_fraction"] == 0.25
    assert torch.equal(child["weights"]["dense.bias"], torch.ones(3))
    assert child["mutation"] == (inherit.calls[0][2].kind, inherit.calls[0][2].index)
    assert torch.equal(parent["weights"]["conv.weight"], torch.ones(32, 2))  # untouched
    assert history == {((16, 3, 1), (32, 1, 1))}
    untrained = mutate_solution({"arch": ((16, 3, 1),), "weights": None}, space=M1D,
                                inheritance=inherit, build_fresh=stub_build_fresh, rng=gen(0))
    assert untrained["inherited_fraction"] == 0.0 and len(inherit.calls) == 1
    assert untrained["arch"] != ((16, 3, 1),)  # never the parent itself
    baseline = mutate_solution(parent, space=M1D, inheritance=None,
                               build_fresh=stub_build_fresh, rng=gen(0))
    assert baseline["inherited_fraction"] == 0.0
    with pytest.raises(ValueError, match="inherited fraction"):
        mutate_solution(parent, space=M1D, inheritance=lambda *a: (a[-1], 1.5),
                        build_fresh=stub_build_fresh, rng=gen(0))
    with pytest.raises(ValueError, match="'arch'"):
        mutate_solution({"weights": None}, space=M1D, inheritance=None,
                        build_fresh=stub_build_fresh, rng=gen(0))


INITIAL = [((16, 3, 1),), ((32, 1, 1), (8, 5, 2)), ((4, 3, 1),), ((64, 5, 1),)]


class DictProblem(Problem):
    def __init__(self, initial=INITIAL, **kwargs):
        super().__init__(objective_sense="max", dtype=object, device="cpu", **kwargs)
        self._initial = initial

    def _fill(self, values):
        for i in range(len(values)):
            arch = self._initial[i % len(self._initial)]
            weights = None if i % 2 == 0 else {"conv.weight": torch.full((arch[-1][0], 2), 7.0),
                                               "dense.bias": torch.ones(3)}
            values[i] = {"arch": arch, "weights": weights}

    def _evaluate_batch(self, batch):
        batch.set_evals(torch.zeros(len(batch)))


def test_architecture_mutation_operator():
    problem = DictProblem()
    parents = problem.generate_batch(4)
    before = [dict(parents.values[i]) for i in range(4)]
    history = set(INITIAL)
    inherit = StubInheritance()
    op = ArchitectureMutation(problem, space=M1D, inheritance=inherit, history=history,
                              build_fresh=stub_build_fresh, generator=gen(0))
    children = op(parents)
    assert len(children) == 4 and torch.isnan(children.evals).all()
    archs = []
    for i in range(4):
        child = dict(children.values[i])
        arch = to_arch(child["arch"], M1D)
        archs.append(arch)
        assert arch not in history
        assert tuple(child["mutation"]) == (op.last_mutations[i].kind, op.last_mutations[i].index)
        assert child["inherited_fraction"] == (0.0 if i % 2 == 0 else 0.25)
        bias = child["weights"]["dense.bias"].as_subclass(torch.Tensor)
        assert torch.equal(bias, torch.zeros(3) if i % 2 == 0 else torch.ones(3))
    assert len(set(archs)) == 4  # distinct within the call
    assert len(inherit.calls) == 2  # only the trained parents inherit
    assert history == set(INITIAL)  # read only
    for i in range(4):  # parents untouched (the stub wrote into its copies)
        now = dict(parents.values[i])
        assert to_arch(now["arch"]) == to_arch(before[i]["arch"])
        if now["weights"] is not None:
            w = now["weights"]["conv.weight"].as_subclass(torch.Tensor)
            assert torch.equal(w, torch.full_like(w, 7.0))


def test_operator_respects_history_and_problem_seed():
    problem = DictProblem(initial=[((4, 1, 1),)], seed=1)
    space = SearchSpace(filters=(4, 8), kernels=(1,), strides=(1,))
    history = {((4, 1, 1),), ((4, 1, 1), (4, 1, 1)), ((8, 1, 1), (4, 1, 1)),
               ((4, 1, 1), (8, 1, 1))}  # every neighbour but ((8, 1, 1),)
    op = ArchitectureMutation(problem, space=space, inheritance=None, history=history,
                              build_fresh=stub_build_fresh)
    assert op.generator is problem.generator
    for _ in range(5):
        child = op(problem.generate_batch(1)).values[0]
        assert to_arch(child["arch"]) == ((8, 1, 1),)
    with pytest.raises(RuntimeError, match="no novel valid neighbour"):
        op(problem.generate_batch(2))  # the second row has no novel neighbour left

    def first_children(seed):
        p = DictProblem(seed=seed)
        o = ArchitectureMutation(p, space=M1D, inheritance=None, history=set(),
                                 build_fresh=stub_build_fresh)
        c = o(p.generate_batch(4))
        return [to_arch(c.values[i]["arch"]) for i in range(4)]

    assert first_children(3) == first_children(3)


def test_operator_argument_errors():
    with pytest.raises(TypeError, match="object-dtype"):
        ArchitectureMutation(Problem("max", lambda x: x.sum(), solution_length=2,
                                     initial_bounds=(0, 1)),
                             space=M1D, inheritance=None, history=set(),
                             build_fresh=stub_build_fresh)
    with pytest.raises(TypeError, match="SearchSpace"):
        ArchitectureMutation(DictProblem(), space=None, inheritance=None, history=set(),
                             build_fresh=stub_build_fresh)
    with pytest.raises(ValueError, match="max_tries"):
        ArchitectureMutation(DictProblem(), space=M1D, inheritance=None, history=set(),
                             build_fresh=stub_build_fresh, max_tries=0)
