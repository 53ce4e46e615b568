"""The benchmark scripts run end to end at a tiny size (their numbers are not checked here:
speed lives in the benchmarks, not in tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_algorithms_benchmark_tables_and_call_counts(capsys):
    bench = _load("algorithms")
    bench.main([
        "--dim", "20", "--popsize", "10", "--generations", "4", "--seeds", "1",
        "--floor-repeats", "3", "--functions", "sphere", "--calls", "--calls-generations", "3",
    ])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| sphere |")]
    timed = [r for r in rows if r.count("|") == 9]
    counted = {r.split("|")[2].strip(): float(r.split("|")[3]) for r in rows if r.count("|") == 7}
    kernels = {r.split("|")[2].strip(): float(r.split("|")[6]) for r in rows if r.count("|") == 7}
    assert {r.split("|")[2].strip() for r in timed} >= {"DE", "SHADE", "SAShadeTriEnsin", "PSO"}
    assert set(counted) >= {"DE", "SaDE", "SHADE", "SAShadeTriEnsin", "PSO"}
    # every generation launches operations, and SHADE's adaptation and archive add some
    assert counted["DE"] > 10
    assert counted["SHADE"] > counted["DE"]
    # the bookkeeping's compiled kernels are counted too (PSO has none)
    assert kernels["SHADE"] > kernels["DE"] > 0 and kernels["PSO"] == 0


def test_kernel_counter_counts_kernel_calls_and_restores_them():
    bench = _load("algorithms")
    import numpy as np

    import neuro_de.adaptation.shade as shade

    original = shade.memory_update
    memory = shade.SuccessHistoryMemory(1, 3)
    counter = bench.KernelCounter()
    with counter:
        memory.update(None, np.ones((1, 2)), np.ones(2))
        memory.update(None, np.ones((1, 2)), np.ones(2))
    assert counter.calls == 2
    assert shade.memory_update is original


def test_call_counter_counts_operations_not_attribute_reads():
    bench = _load("algorithms")
    torch = pytest.importorskip("torch")
    x = torch.ones(3)
    counter = bench.CallCounter()
    with counter:
        _ = x.shape, x.dtype, x.numel()
        y = x + 1
        y.mul_(2)
    assert counter.calls == 2
