"""NE-SGD block partitions and decoding (spec A.7 row 1-2, A.12 item 1)."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision
from torch import nn

from neuro_de.models import MLP, LeNet1, LeNet5
from neuro_de.models.blocks import BlockPartition, derive_seed


def model_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def bn_net() -> nn.Module:
    """A small conv net with BatchNorm whose parameters and running statistics are far from
    their defaults (so that a reset is visible)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 16),
        nn.ReLU(),
        nn.Linear(16, 10),
    )
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 1, 8, 8) * 2 + 1)
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return net


# ----------------------------------------------------------------------------- built-ins
def _covers_everything(partition: BlockPartition, model: nn.Module) -> None:
    listed = [t for b in partition.names for t in partition.tensors(b)]
    everything = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    assert sorted(listed) == sorted(everything)
    assert len(set(listed)) == len(listed)


def test_lenet_and_mlp_partitions():
    p1 = BlockPartition.for_model(LeNet1())
    assert p1.names == ["conv1", "conv2", "fc"]
    assert p1.prefixes("conv2") == ["features.3"]
    p5 = BlockPartition.for_model(LeNet5())
    assert p5.names == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert sum(p5.numel(b) for b in p5.names) == 61_706
    mlp = MLP(64, hidden=(16, 8))
    pm = BlockPartition.for_model(mlp)
    assert pm.names == ["fc1", "fc2", "fc3"] and len(pm) == pm.n == 3
    for model, p in ((LeNet1(), p1), (LeNet5(), p5), (mlp, pm)):
        _covers_everything(p, model)
    table = p5.describe()
    assert "conv1" in table and "61,706" in table


def test_resnet_and_mobilenet_partitions():
    r18 = torchvision.models.resnet18(weights=None)
    p18 = BlockPartition.for_model(r18)
    assert len(p18) == 10
    assert p18.names[0] == "stem" and p18.names[-1] == "fc"
    assert p18.names[1:9] == [f"layer{k}.{j}" for k in range(1, 5) for j in range(2)]
    assert set(p18.tensors("stem")) == {
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
    }
    assert "layer2.0.downsample.1.running_var" in p18.tensors("layer2.0")
    _covers_everything(p18, r18)
    assert len(BlockPartition.for_model(torchvision.models.resnet34(weights=None))) == 18
    mb = torchvision.models.mobilenet_v2(weights=None)
    pmb = BlockPartition.for_model(mb)
    assert pmb.names == [f"features.{i}" for i in range(len(mb.features))] + ["classifier"]
    _covers_everything(pmb, mb)
    pmb.check_resettable()


def test_fallback_partition():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert BlockPartition.for_model(seq).to_dict() == {"0": ["0"], "2": ["2"]}

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
            self.act = nn.Identity()

    assert BlockPartition.for_model(Wrapper()).names == ["body.0", "body.2"]

    class Direct(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.fc = nn.Linear(2, 2)

    with pytest.raises(ValueError, match=r"directly on itself.*'scale'.*Pass one"):
        BlockPartition.for_model(Direct())


# ------------------------------------------------------------------------------ errors
def test_partition_errors():
    net = LeNet5()
    with pytest.raises(ValueError, match="empty"):
        BlockPartition(net, {})
    with pytest.raises(ValueError, match=r"Block 'a' is empty"):
        BlockPartition(net, {"a": [], "b": ["features", "classifier"]})
    with pytest.raises(ValueError, match=r"leaves 2 tensor.*'classifier.4.weight'"):
        BlockPartition(net, {"f": ["features"], "c": ["classifier.0", "classifier.2"]})
    with pytest.raises(ValueError, match=r"block 'f' \(prefix 'features'\).*block 'g'"):
        BlockPartition(net, {"f": ["features"], "g": ["features.0"], "c": ["classifier"]})
    with pytest.raises(ValueError, match=r"'feature' .*matches no module.*'features'"):
        BlockPartition(net, {"f": ["feature"], "c": ["classifier"]})
    with pytest.raises(ValueError, match=r"'act'.*hold no parameter"):
        BlockPartition(net, {"f": ["features"], "c": ["classifier"], "act": ["features.1"]})
    with pytest.raises(TypeError, match="mapping"):
        BlockPartition(net, ["features", "classifier"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a module"):
        BlockPartition.from_modules(net, {"w": ["features.0.weight"], "c": ["classifier"]})


def test_prefix_boundaries():
    class Deep(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*[nn.Linear(2, 2) for _ in range(11)])

    net = Deep()
    rest = [f"features.{i}" for i in range(11) if i != 1]
    p = BlockPartition(net, {"one": "features.1", "rest": rest})
    assert p.tensors("one") == ["features.1.weight", "features.1.bias"]
    assert p.block_of("features.10.bias") == "rest"
    with pytest.raises(ValueError, match=r"features\.10\.weight"):
        BlockPartition(net, {"one": ["features.1"], "rest": rest[:-1]})


def test_from_modules_and_per_module():
    net = LeNet5()
    p = BlockPartition.from_modules(net, ["features", "classifier"])
    assert p.names == ["features", "classifier"]
    r18 = torchvision.models.resnet18(weights=None)
    pm = BlockPartition.per_module(r18)
    assert len(pm) == 21  # 20 convolutions + fc
    assert pm.prefixes("conv1") == ["conv1", "bn1"]
    assert pm.prefixes("layer1.0.conv2") == ["layer1.0.conv2", "layer1.0.bn2"]
    assert pm.prefixes("layer2.0.downsample.0") == [
        "layer2.0.downsample.0",
        "layer2.0.downsample.1",
    ]
    _covers_everything(pm, r18)
    with pytest.raises(ValueError, match="no module of types"):
        BlockPartition.per_module(nn.Sequential(nn.LayerNorm(3)))


# ---------------------------------------------------------------------------- decoding
def test_decode_keeps_and_resets_blocks():
    net = bn_net()
    p = BlockPartition.per_module(net)
    assert p.names == ["0", "3", "7", "9"]
    before = model_hash(net)
    original = {k: v.clone() for k, v in net.state_dict().items()}
    code = torch.tensor([0, 1, 0, 1])
    rng_before = torch.get_rng_state()
    out = p.decode(net, code, seed=3)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert model_hash(net) == before
    assert out is not net
    state = out.state_dict()
    for block, bit in zip(p.names, code.tolist(), strict=True):
        for name in p.tensors(block):
            if bit == 1:
                assert torch.equal(state[name], original[name]), name
        if bit == 0:
            for name in p.parameters(block):
                assert not torch.equal(state[name], original[name]), name
    # BN of a reset block: statistics back to their defaults; BN of a kept block: unchanged
    assert torch.equal(state["1.running_mean"], torch.zeros(4))
    assert torch.equal(state["1.running_var"], torch.ones(4))
    assert int(state["1.num_batches_tracked"]) == 0
    assert int(original["1.num_batches_tracked"]) == 3
    for buf in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(state[f"4.{buf}"], original[f"4.{buf}"])
    # reproducible for a seed, different for another
    again = p.decode(net, [0, 1, 0, 1], seed=3).state_dict()
    assert all(torch.equal(again[k], v) for k, v in state.items())
    other = p.decode(net, "0101", seed=4).state_dict()
    assert not torch.equal(other["0.weight"], state["0.weight"])
    # a block's fresh values depend on the seed and the block, not on the other bits
    alone = p.decode(net, [0, 1, 1, 1], seed=3).state_dict()
    assert torch.equal(alone["0.weight"], state["0.weight"])
    assert torch.equal(alone["7.weight"], original["7.weight"])
    # all ones: an exact copy
    copy_ = p.decode(net, [1, 1, 1, 1]).state_dict()
    assert all(torch.equal(copy_[k], v) for k, v in original.items())
    assert derive_seed(3, 0) == derive_seed(3, 0) != derive_seed(3, 1)


def test_decode_with_init_fn():
    net = bn_net()
    p = BlockPartition.per_module(net)
    seen = []

    def zero(module):
        seen.append(type(module).__name__)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.weight)

    out = p.decode(net, [1, 1, 0, 1], init_fn=zero)
    assert seen == ["Linear"]
    assert torch.count_nonzero(out[7].weight) == 0
    assert torch.equal(out[7].bias, net[7].bias)  # init_fn left it alone


def test_decode_errors():
    net = bn_net()
    p = BlockPartition.per_module(net)
    with pytest.raises(ValueError, match=r"length 3 but the partition has 4 blocks"):
        p.decode(net, [1, 0, 1])
    with pytest.raises(ValueError, match=r"position 2 \(block '7'\) is 2"):
        p.decode(net, [1, 0, 2, 1])
    with pytest.raises(TypeError, match="integers 0/1"):
        p.decode(net, torch.tensor([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="does not fit"):
        p.decode(LeNet5(), [1, 0, 1, 1])

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(2))

        def forward(self, x):
            return x * self.gain

    odd = nn.Sequential(nn.Linear(2, 2), Scaled())
    q = BlockPartition.for_model(odd)
    with pytest.raises(ValueError, match=r"'1.gain'.*reset_parameters.*init_fn"):
        q.decode(odd, [1, 0])
    out = q.decode(odd, [1, 0], init_fn=lambda m: hasattr(m, "gain") and m.gain.data.zero_())
    assert torch.count_nonzero(out[1].gain) == 0
