"""Tests of the block CNN and the weight-inheritance rules (Prellberg & Kramer 2018; spec
B.5, B.12 tests 1, 7 and 8)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from neuro_de.models.block_cnn import BlockCNN, check_input_size, validate_arch
from neuro_de.operators.inheritance import (
    INHERITANCE,
    MorphismInheritance,
    NoInheritance,
    PaperInheritance,
    PartialInheritance,
    block_map,
    get_inheritance,
    state_keys,
)


@dataclass(frozen=True)
class Mut:
    """A stand-in for neuro_de.operators.architecture.Mutation (duck type)."""

    kind: str
    index: int


IN, CLASSES = 1, 3
SIZES = {1: (24,), 2: (8, 8)}
PARENT = ((4, 3, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1))

W, B = "conv.weight", "conv.bias"
PARAMS = ("conv.weight", "conv.bias", "bn.weight", "bn.bias")
BLOCK = PARAMS + ("bn.running_mean", "bn.running_var", "bn.num_batches_tracked")


def block(i: int, *suffixes: str) -> set[str]:
    return {f"blocks.{i}.{s}" for s in (suffixes or BLOCK)}


def build(arch, dim: int, seed: int, **kwargs) -> BlockCNN:
    torch.manual_seed(seed)
    return BlockCNN(arch, in_channels=IN, num_classes=CLASSES, dim=dim, **kwargs)


def x_batch(dim: int, n: int = 16, seed: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, IN) + SIZES[dim], generator=g)


def trained(arch, dim: int, seed: int = 0) -> BlockCNN:
    """A parent that looks trained: every parameter perturbed (non-zero biases, gamma != 1)
    and non-trivial BatchNorm running statistics from a few train-mode passes."""
    net = build(arch, dim, seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        net.train()
        for s in range(4):
            net(2.0 * x_batch(dim, seed=s) + 0.5)
    return net.eval()


# --------------------------------------------------------------------------- BlockCNN
@pytest.mark.parametrize("dim", [1, 2])
def test_block_cnn_shapes_and_names(dim):
    arch = ((4, 3, 1), (8, 5, 2))
    net = build(arch, dim, 0)
    out = net(torch.zeros((5, IN) + SIZES[dim]))
    assert out.shape == (5, CLASSES)
    assert net.arch == arch
    assert list(net.state_dict()) == state_keys(arch)
    assert state_keys(arch)[:7] == [f"blocks.0.{s}" for s in BLOCK]
    assert state_keys(arch)[-2:] == ["head.weight", "head.bias"]
    conv = net.blocks[1].conv
    assert isinstance(conv, torch.nn.Conv1d if dim == 1 else torch.nn.Conv2d)
    assert conv.stride == (2,) * dim and conv.padding == (2,) * dim
    assert net.state_dict()["blocks.1.conv.weight"].shape == (8, 4) + (5,) * dim
    assert net.head.weight.shape == (CLASSES, 8)
    bn = net.blocks[0].bn
    assert bn.momentum == 0.01 and bn.eps == 1e-3


def test_block_cnn_glorot_and_torch_init():
    net = build(((4, 3, 1), (8, 5, 1)), 2, 0)
    for blk in net.blocks:
        assert torch.all(blk.conv.bias == 0)
        assert torch.all(blk.bn.weight == 1) and torch.all(blk.bn.bias == 0)
        w = blk.conv.weight
        fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
        assert w.abs().max() <= math.sqrt(6.0 / (fan_in + fan_out))
    assert torch.all(net.head.bias == 0)
    assert net.head.weight.abs().max() <= math.sqrt(6.0 / (8 + CLASSES))
    torch_net = build(((4, 3, 1),), 2, 0, init="torch")
    assert torch.any(torch_net.blocks[0].conv.bias != 0)
    # deterministic under torch.manual_seed
    a, b = build(PARENT, 1, 3).state_dict(), build(PARENT, 1, 3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = build(PARENT, 1, 4).state_dict()
    assert not torch.equal(a["blocks.0.conv.weight"], c["blocks.0.conv.weight"])


def test_check_input_size():
    arch = ((4, 3, 2), (4, 1, 2), (4, 5, 2))
    assert check_input_size(arch, 40) == (5,)
    assert check_input_size(arch, (28, 28)) == (4, 4)
    assert check_input_size(arch, 5) == (1,)  # 5 -> 3 -> 2 -> 1
    with pytest.raises(ValueError, match="cannot take.*at least 5 points"):
        check_input_size(arch, 4)  # 4 -> 2 -> 1: the last stride-2 block gets 1 point
    assert check_input_size(((4, 3, 1),), 1) == (1,)
    with pytest.raises(ValueError, match="cannot take"):
        check_input_size(arch, (28, 3))
    net = BlockCNN(arch, in_channels=1, num_classes=2, dim=1)
    with pytest.raises(ValueError, match="cannot take"):
        net(torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="cannot take"):
        net(torch.zeros(2, 3, 40))  # wrong channels
    with pytest.raises(ValueError, match="cannot take"):
        net(torch.zeros(2, 1, 8, 8))  # 2-D input to a 1-D net
    with pytest.raises(ValueError, match="size"):
        check_input_size(arch, 0)


@pytest.mark.parametrize(
    ("arch", "kwargs", "match"),
    [
        ((), {}, "at least one block"),
        (((4, 2, 1),), {}, "even kernel"),
        (((0, 3, 1),), {}, "positive"),
        (((4, 3, 0),), {}, "positive"),
        (((4, 3),), {}, "triple"),
        (((4, 3.0, 1),), {}, "positive"),
        (((4, 3, 1),), {"dim": 3}, "dim"),
        (((4, 3, 1),), {"init": "he"}, "init"),
        (((4, 3, 1),), {"in_channels": 0}, "in_channels"),
        (((4, 3, 1),), {"bn_eps": 0.0}, "bn_eps"),
    ],
)
def test_block_cnn_bad_inputs(arch, kwargs, match):
    options = {"in_channels": 1, "num_classes": 2, "dim": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        BlockCNN(arch, **options)


def test_validate_arch_normalises():
    assert validate_arch([[4, 3, 1], (8, 5, 2)]) == ((4, 3, 1), (8, 5, 2))


# -------------------------------------------------------------------------- block_map
def test_block_map():
    assert block_map(Mut("add_block", 0), 3) == [None, 0, 1, 2]
    assert block_map(Mut("add_block", 3), 3) == [0, 1, 2, None]
    assert block_map(Mut("remove_block", 1), 3) == [0, 2]
    for kind in ("add_filters", "remove_filters", "change_kernel", "change_stride"):
        assert block_map(Mut(kind, 2), 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="out of range"):
        block_map(Mut("add_block", 4), 3)
    with pytest.raises(ValueError, match="out of range"):
        block_map(Mut("change_kernel", 3), 3)
    with pytest.raises(ValueError, match="only block"):
        block_map(Mut("remove_block", 0), 1)
    with pytest.raises(ValueError, match="kind"):
        block_map(Mut("swap", 0), 3)


# ------------------------------------------------------- paper rule: spec B.5 / B.12.1
ALL_PARENT_BLOCKS = set().union(*(block(i) for i in range(4)))
HEAD = {"head.weight", "head.bias"}

#: (name, child arch, mutation, hand-written block map, hand-written inherited keys).
PAPER_CASES = [
    (
        "add_block_equal",
        ((4, 3, 1), (8, 3, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1)),
        Mut("add_block", 2),
        [0, 1, None, 2, 3],
        block(0) | block(1) | block(3) | block(4) | HEAD,
    ),
    (
        "add_block_unequal",
        ((4, 3, 1), (16, 5, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1)),
        Mut("add_block", 1),
        [0, None, 1, 2, 3],
        block(0) | (block(2) - {"blocks.2.conv.weight"}) | block(3) | block(4) | HEAD,
    ),
    (
        "add_block_first_unequal",
        ((4, 3, 1), (4, 3, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1)),
        Mut("add_block", 0),
        [None, 0, 1, 2, 3],
        (block(1) - {"blocks.1.conv.weight"}) | block(2) | block(3) | block(4) | HEAD,
    ),
    (
        "add_block_last_unequal",
        PARENT + ((4, 1, 1),),
        Mut("add_block", 4),
        [0, 1, 2, 3, None],
        ALL_PARENT_BLOCKS | {"head.bias"},
    ),
    (
        "add_block_last_equal",
        PARENT + ((16, 5, 1),),
        Mut("add_block", 4),
        [0, 1, 2, 3, None],
        ALL_PARENT_BLOCKS | HEAD,
    ),
    (
        "remove_block_equal",
        ((4, 3, 1), (8, 3, 1), (16, 3, 1)),
        Mut("remove_block", 2),
        [0, 1, 3],
        block(0) | block(1) | block(2) | HEAD,
    ),
    (
        "remove_block_unequal",
        ((4, 3, 1), (8, 5, 2), (16, 3, 1)),
        Mut("remove_block", 1),
        [0, 2, 3],
        block(0) | (block(1) - {"blocks.1.conv.weight"}) | block(2) | HEAD,
    ),
    (
        "remove_block_last_unequal",
        ((4, 3, 1), (8, 3, 1), (8, 5, 2)),
        Mut("remove_block", 3),
        [0, 1, 2],
        block(0) | block(1) | block(2) | {"head.bias"},
    ),
    (
        "add_filters_middle",
        ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1)),
        Mut("add_filters", 1),
        [0, 1, 2, 3],
        block(0) | (block(2) - {"blocks.2.conv.weight"}) | block(3) | HEAD,
    ),
    (
        "add_filters_last",
        ((4, 3, 1), (8, 3, 1), (8, 5, 2), (32, 3, 1)),
        Mut("add_filters", 3),
        [0, 1, 2, 3],
        block(0) | block(1) | block(2) | {"head.bias"},
    ),
    (
        "remove_filters",
        ((4, 3, 1), (8, 3, 1), (4, 5, 2), (16, 3, 1)),
        Mut("remove_filters", 2),
        [0, 1, 2, 3],
        block(0) | block(1) | (block(3) - {"blocks.3.conv.weight"}) | HEAD,
    ),
    (
        "change_kernel",
        ((4, 3, 1), (8, 5, 1), (8, 5, 2), (16, 3, 1)),
        Mut("change_kernel", 1),
        [0, 1, 2, 3],
        ALL_PARENT_BLOCKS - {"blocks.1.conv.weight"} | HEAD,
    ),
    (
        "change_stride",
        ((4, 3, 2), (8, 3, 1), (8, 5, 2), (16, 3, 1)),
        Mut("change_stride", 0),
        [0, 1, 2, 3],
        ALL_PARENT_BLOCKS | HEAD,
    ),
]


def mapped_key(key: str, bmap: list[int | None]) -> str | None:
    if not key.startswith("blocks."):
        return key
    _, i, rest = key.split(".", 2)
    p = bmap[int(i)]
    return None if p is None else f"blocks.{p}.{rest}"


@pytest.fixture(scope="module", params=[1, 2], ids=["1d", "2d"])
def parent(request):
    dim = request.param
    net = trained(PARENT, dim)
    return dim, net.state_dict()


@pytest.mark.parametrize(
    ("name", "child_arch", "mutation", "bmap", "expected"),
    PAPER_CASES,
    ids=[c[0] for c in PAPER_CASES],
)
def test_paper_inheritance_sets(parent, name, child_arch, mutation, bmap, expected):
    dim, pstate = parent
    assert block_map(mutation, len(PARENT)) == bmap
    fresh = build(child_arch, dim, 1).state_dict()
    before = {k: v.clone() for k, v in pstate.items()}
    fresh_before = {k: v.clone() for k, v in fresh.items()}
    child, fraction = PaperInheritance()(PARENT, pstate, child_arch, mutation, fresh)
    assert list(child) == list(fresh)
    equal = set()
    for key, t in child.items():
        pkey = mapped_key(key, bmap)
        p = pstate.get(pkey) if pkey is not None else None
        if p is not None and p.shape == t.shape and torch.equal(t, p):
            equal.add(key)
    assert equal == expected
    for key in set(child) - expected:
        assert torch.equal(child[key], fresh[key]), key  # re-initialised = fresh
        if key.endswith(PARAMS):
            pkey = mapped_key(key, bmap)
            p = pstate.get(pkey) if pkey is not None else None
            assert p is None or p.shape != child[key].shape or not torch.equal(p, child[key])
    # the inputs are untouched and the outputs are new tensors
    assert all(torch.equal(pstate[k], before[k]) for k in pstate)
    assert all(torch.equal(fresh[k], fresh_before[k]) for k in fresh)
    ptrs = {t.data_ptr() for t in list(pstate.values()) + list(fresh.values())}
    assert not any(t.data_ptr() in ptrs for t in child.values())
    # the fraction is that of the inherited parameter elements
    params = [k for k in child if k.endswith(PARAMS) or k.startswith("head.")]
    want = sum(child[k].numel() for k in params if k in expected)
    assert fraction == pytest.approx(want / sum(child[k].numel() for k in params))
    if name in ("change_stride", "remove_block_equal"):
        assert fraction == 1.0
    # the child state loads into the child network
    build(child_arch, dim, 2).load_state_dict(child)


def test_paper_fraction_by_hand():
    """add filters at block 1 (8 -> 16), 1-D: W_1, b_1, BN_1 (16 * 4 * 3 + 3 * 16 = 240)
    and W_2 (8 * 16 * 5 = 640) fresh, of 24 + 240 + 664 + 432 + 51 = 1411 parameters."""
    pstate = trained(PARENT, 1).state_dict()
    child_arch = ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, 1, 1).state_dict()
    _, fraction = PaperInheritance()(PARENT, pstate, child_arch, Mut("add_filters", 1), fresh)
    assert fraction == pytest.approx((1411 - 880) / 1411)


# ----------------------------------------------------------- no inheritance: B.12.7
@pytest.mark.parametrize(
    ("child_arch", "mutation"), [(c[1], c[2]) for c in PAPER_CASES], ids=[c[0] for c in PAPER_CASES]
)
def test_no_inheritance(parent, child_arch, mutation):
    dim, pstate = parent
    fresh = build(child_arch, dim, 1).state_dict()
    child, fraction = NoInheritance()(PARENT, pstate, child_arch, mutation, fresh)
    assert fraction == 0.0
    bmap = block_map(mutation, len(PARENT))
    for key, t in child.items():
        assert torch.equal(t, fresh[key]) and t.data_ptr() != fresh[key].data_ptr()
        pkey = mapped_key(key, bmap)
        if key.endswith(PARAMS) and pkey is not None and pstate[pkey].shape == t.shape:
            assert not torch.equal(t, pstate[pkey]), key


# ------------------------------------------------------------------ morphism: B.12.8
MORPH_CASES = [
    ("widen_middle", ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1)), Mut("add_filters", 1)),
    ("widen_first", ((8, 3, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1)), Mut("add_filters", 0)),
    ("widen_last", ((4, 3, 1), (8, 3, 1), (8, 5, 2), (32, 3, 1)), Mut("add_filters", 3)),
    ("deepen_middle", ((4, 3, 1), (8, 3, 1), (8, 5, 1), (8, 5, 2), (16, 3, 1)),
     Mut("add_block", 2)),
    ("deepen_k1", ((4, 3, 1), (4, 1, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1)), Mut("add_block", 1)),
    ("deepen_last", PARENT + ((16, 3, 1),), Mut("add_block", 4)),
]


@pytest.mark.parametrize(
    ("name", "child_arch", "mutation"), MORPH_CASES, ids=[c[0] for c in MORPH_CASES]
)
def test_morphism_preserves_function(parent, name, child_arch, mutation):
    dim, pstate = parent
    pnet = build(PARENT, dim, 0)
    pnet.load_state_dict(pstate)
    pnet.eval()
    fresh = build(child_arch, dim, 1).state_dict()
    rule = MorphismInheritance(generator=torch.Generator().manual_seed(0))
    child, fraction = rule(PARENT, pstate, child_arch, mutation, fresh)
    cnet = build(child_arch, dim, 2)
    cnet.load_state_dict(child)
    cnet.eval()
    x = 3.0 * x_batch(dim, n=32, seed=11) - 1.0
    with torch.no_grad():
        delta = (cnet(x) - pnet(x)).abs().max().item()
    assert delta < 1e-5
    if name.startswith("widen"):
        assert fraction == 1.0
    else:
        new = sum(child[f"blocks.{mutation.index}.{s}"].numel() for s in PARAMS)
        total = sum(t.numel() for k, t in child.items() if k.endswith(PARAMS) or "head" in k)
        assert fraction == pytest.approx(1 - new / total)
    # reproducible with the same generator, and the parent state is untouched
    again, _ = MorphismInheritance()(
        PARENT, pstate, child_arch, mutation, fresh, generator=torch.Generator().manual_seed(0)
    )
    assert all(torch.equal(child[k], again[k]) for k in child)


def test_morphism_widen_details(parent):
    dim, pstate = parent
    child_arch = ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, _ = MorphismInheritance(generator=torch.Generator().manual_seed(3))(
        PARENT, pstate, child_arch, Mut("add_filters", 1), fresh
    )
    w, pw = child["blocks.1.conv.weight"], pstate["blocks.1.conv.weight"]
    assert torch.equal(w[:8], pw)
    # every new channel is a copy of an old one, BN statistics included
    g = [next(c for c in range(8) if torch.equal(w[n], pw[c])) for n in range(16)]
    for s in ("conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"):
        assert torch.equal(child[f"blocks.1.{s}"], pstate[f"blocks.1.{s}"][g])
    # the successor's input slices of all copies of channel c sum to the parent's slice c
    nxt, pnxt = child["blocks.2.conv.weight"], pstate["blocks.2.conv.weight"]
    for c in range(8):
        copies = [n for n in range(16) if g[n] == c]
        torch.testing.assert_close(nxt[:, copies].sum(1), pnxt[:, c], rtol=0, atol=1e-6)
        for n in copies:
            torch.testing.assert_close(nxt[:, n], pnxt[:, c] / len(copies))


def test_morphism_noise_breaks_symmetry(parent):
    dim, pstate = parent
    child_arch = ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    rule = MorphismInheritance(generator=torch.Generator().manual_seed(3), noise=0.01)
    child, _ = rule(PARENT, pstate, child_arch, Mut("add_filters", 1), fresh)
    w, pw = child["blocks.1.conv.weight"], pstate["blocks.1.conv.weight"]
    assert torch.equal(w[:8], pw)
    assert not any(torch.equal(w[n], pw[c]) for n in range(8, 16) for c in range(8))


@pytest.mark.parametrize(
    ("child_arch", "index"),
    [
        (((4, 3, 1), (16, 3, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1)), 1),  # f' != f_{j-1}
        (((4, 3, 1), (8, 3, 1), (8, 3, 2), (8, 5, 2), (16, 3, 1)), 2),  # stride 2
    ],
)
def test_morphism_deepen_needs_identity_block(parent, child_arch, index):
    dim, pstate = parent
    fresh = build(child_arch, dim, 1).state_dict()
    with pytest.raises(ValueError, match="identity-shaped"):
        MorphismInheritance()(PARENT, pstate, child_arch, Mut("add_block", index), fresh)


def test_morphism_deepen_first_with_nonnegative_input():
    """Inserted first, the identity block sees the raw input: exact for inputs >= 0."""
    parent_arch = ((4, 3, 1), (8, 3, 2))
    pnet = trained(parent_arch, 2)
    child_arch = ((IN, 3, 1),) + parent_arch
    fresh = build(child_arch, 2, 1).state_dict()
    child, _ = MorphismInheritance()(
        parent_arch, pnet.state_dict(), child_arch, Mut("add_block", 0), fresh
    )
    cnet = build(child_arch, 2, 2)
    cnet.load_state_dict(child)
    cnet.eval()
    x = x_batch(2).abs()
    with torch.no_grad():
        assert (cnet(x) - pnet(x)).abs().max().item() < 1e-5


def test_morphism_fallbacks(parent):
    dim, pstate = parent
    for child_arch, mutation in [
        (((4, 3, 1), (8, 3, 1), (4, 5, 2), (16, 3, 1)), Mut("remove_filters", 2)),
        (((4, 3, 1), (8, 5, 1), (8, 5, 2), (16, 3, 1)), Mut("change_kernel", 1)),
        (((4, 3, 1), (8, 5, 2), (16, 3, 1)), Mut("remove_block", 1)),
    ]:
        fresh = build(child_arch, dim, 1).state_dict()
        a, fa = MorphismInheritance()(PARENT, pstate, child_arch, mutation, fresh)
        b, fb = PartialInheritance()(PARENT, pstate, child_arch, mutation, fresh)
        assert fa == fb and all(torch.equal(a[k], b[k]) for k in a)
    child_arch = ((4, 3, 2), (8, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, fraction = MorphismInheritance()(
        PARENT, pstate, child_arch, Mut("change_stride", 0), fresh
    )
    assert fraction == 1.0 and all(torch.equal(child[k], pstate[k]) for k in child)


# ---------------------------------------------------------------------------- partial
def test_partial_add_filters(parent):
    dim, pstate = parent
    child_arch = ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, fraction = PartialInheritance()(
        PARENT, pstate, child_arch, Mut("add_filters", 1), fresh
    )
    for s in ("conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean",
              "bn.running_var"):
        key = f"blocks.1.{s}"
        assert torch.equal(child[key][:8], pstate[key])
        assert torch.equal(child[key][8:], fresh[key][8:])
    nxt = child["blocks.2.conv.weight"]
    assert torch.equal(nxt[:, :8], pstate["blocks.2.conv.weight"])
    assert torch.all(nxt[:, 8:] == 0)
    # 1-D by hand, of 1411 parameters: the 8 new channels of block 1 are fresh
    # (8 * (4 * 3 + 3) = 120) and the 8 new input slices of W_2 zero (8 * 8 * 5 = 320)
    if dim == 1:
        assert fraction == pytest.approx((1411 - 120 - 320) / 1411)
    # the new channels do not change the function (eval mode)
    pnet, cnet = build(PARENT, dim, 0), build(child_arch, dim, 2)
    pnet.load_state_dict(pstate)
    cnet.load_state_dict(child)
    x = x_batch(dim, seed=9)
    with torch.no_grad():
        assert (cnet.eval()(x) - pnet.eval()(x)).abs().max().item() < 1e-5


def test_partial_add_filters_last_widens_head(parent):
    dim, pstate = parent
    child_arch = ((4, 3, 1), (8, 3, 1), (8, 5, 2), (32, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, _ = PartialInheritance()(PARENT, pstate, child_arch, Mut("add_filters", 3), fresh)
    assert torch.equal(child["head.weight"][:, :16], pstate["head.weight"])
    assert torch.all(child["head.weight"][:, 16:] == 0)


def test_partial_remove_filters_keeps_first(parent):
    dim, pstate = parent
    child_arch = ((4, 3, 1), (8, 3, 1), (4, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, _ = PartialInheritance()(
        PARENT, pstate, child_arch, Mut("remove_filters", 2), fresh
    )
    for s in ("conv.weight", "conv.bias", "bn.weight", "bn.running_var"):
        assert torch.equal(child[f"blocks.2.{s}"], pstate[f"blocks.2.{s}"][:4])
    assert torch.equal(child["blocks.3.conv.weight"], pstate["blocks.3.conv.weight"][:, :4])


def test_partial_kernel_pad_and_crop(parent):
    dim, pstate = parent
    # 3 -> 5 at block 1: zero-padded around the old kernel
    child_arch = ((4, 3, 1), (8, 5, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, _ = PartialInheritance()(PARENT, pstate, child_arch, Mut("change_kernel", 1), fresh)
    w, pw = child["blocks.1.conv.weight"], pstate["blocks.1.conv.weight"]
    inner = (slice(None), slice(None)) + (slice(1, 4),) * dim
    assert torch.equal(w[inner], pw)
    mask = torch.ones(w.shape, dtype=torch.bool)
    mask[inner] = False
    assert torch.all(w[mask] == 0)
    assert torch.equal(child["blocks.1.conv.bias"], pstate["blocks.1.conv.bias"])
    # 5 -> 3 at block 2: the centre crop
    child_arch = ((4, 3, 1), (8, 3, 1), (8, 3, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, fraction = PartialInheritance()(
        PARENT, pstate, child_arch, Mut("change_kernel", 2), fresh
    )
    assert torch.equal(child["blocks.2.conv.weight"], pstate["blocks.2.conv.weight"][inner])
    assert fraction == 1.0
    # hand-made 1-D example: 3 -> 5 pads with zeros, 5 -> 3 crops the middle
    if dim == 1:
        assert child_arch[2][1] == 3
        pw5 = pstate["blocks.2.conv.weight"]
        assert torch.equal(child["blocks.2.conv.weight"][0, 0], pw5[0, 0, 1:4])


def test_partial_add_block_unequal(parent):
    dim, pstate = parent
    child_arch = ((4, 3, 1), (16, 5, 1), (8, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    child, _ = PartialInheritance()(PARENT, pstate, child_arch, Mut("add_block", 1), fresh)
    nxt = child["blocks.2.conv.weight"]
    assert torch.equal(nxt[:, :4], pstate["blocks.1.conv.weight"])
    assert torch.all(nxt[:, 4:] == 0)
    assert all(torch.equal(child[k], fresh[k]) for k in block(1))


# ------------------------------------------------------------- registry and checking
def test_registry():
    assert set(INHERITANCE) == {"paper", "none", "partial", "morphism"}
    for name, cls in INHERITANCE.items():
        rule = get_inheritance(name)
        assert isinstance(rule, cls) and rule.name == name
    rule = PaperInheritance()
    assert get_inheritance(rule) is rule
    g = torch.Generator()
    assert get_inheritance("morphism", generator=g, noise=0.1).generator is g
    with pytest.raises(ValueError, match="valid: .*morphism"):
        get_inheritance("lamarck")
    with pytest.raises(TypeError):
        get_inheritance(3)
    with pytest.raises(ValueError, match="noise"):
        MorphismInheritance(noise=-1.0)


def test_rules_check_their_inputs(parent):
    dim, pstate = parent
    child_arch = ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    with pytest.raises(ValueError, match="after a add_filters"):
        PaperInheritance()(PARENT, pstate, child_arch, Mut("add_filters", 2), fresh)
    with pytest.raises(ValueError, match="kind"):
        PaperInheritance()(PARENT, pstate, child_arch, Mut("grow", 1), fresh)
    bad = dict(pstate)
    del bad["head.bias"]
    with pytest.raises(ValueError, match="missing keys"):
        PaperInheritance()(PARENT, bad, child_arch, Mut("add_filters", 1), fresh)
    with pytest.raises(ValueError, match="needs"):
        PaperInheritance()(PARENT, fresh, child_arch, Mut("add_filters", 1), fresh)


def test_read_only_parent_state(parent):
    """Parent states stored in an EvoTorch ObjectArray hold ReadOnlyTensors."""
    from evotorch.tools import as_read_only_tensor

    dim, pstate = parent
    ro = {k: as_read_only_tensor(v.clone()) for k, v in pstate.items()}
    child_arch = ((4, 3, 1), (16, 3, 1), (8, 5, 2), (16, 3, 1))
    fresh = build(child_arch, dim, 1).state_dict()
    for rule in (PaperInheritance(), PartialInheritance(), MorphismInheritance()):
        child, _ = rule(PARENT, ro, child_arch, Mut("add_filters", 1), fresh)
        assert all(type(t) is torch.Tensor for t in child.values())
        child["blocks.0.conv.weight"].add_(1.0)  # writable
