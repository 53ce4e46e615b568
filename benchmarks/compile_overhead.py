"""Does ``torch.compile`` fuse the adaptive DEs' small bookkeeping profitably?

Times two pieces of SHADE's per-generation bookkeeping on popsize-100 tensors, eager and
compiled (inductor, ``dynamic=False``), one CPU thread, and prints a table with the compile
time and the ratio compiled / eager (below 1: compile pays off per call):

* the deterministic part of the truncated-Cauchy F draw (``atan``, ``tan``, ``clamp``...:
  7 operations on 100 elements; the uniforms are drawn outside, as a compiled region cannot
  take the problem's ``torch.Generator``);
* the success-history memory's weighted means (``mv`` of the ``(5, 100)`` float64 table,
  two gathers, a division).

Needs a C++ compiler (inductor's CPU backend). Example::

    python benchmarks/compile_overhead.py
"""

from __future__ import annotations

import math
import statistics
import time

import torch


def cauchy_part(loc: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    width = torch.atan(loc / 0.1) + math.pi / 2
    return (loc + 0.1 / torch.tan(u * width)).clamp(max=1.0)


def memory_part(table, w, num, den):
    sums = torch.mv(table, w)
    return (sums.index_select(0, num) / sums.index_select(0, den)).nan_to_num(0.0)


def per_call_us(fn, args, repeats: int = 3000) -> float:
    for _ in range(100):
        fn(*args)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn(*args)
        times.append((time.perf_counter() - t0) / repeats * 1e6)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    cases = {
        "F draw (Cauchy, 7 ops)": (
            cauchy_part, (torch.rand(100, generator=g), torch.rand(100, generator=g))
        ),
        "memory means (5 ops)": (
            memory_part,
            (torch.rand(5, 100, generator=g, dtype=torch.float64),
             torch.rand(100, generator=g, dtype=torch.float64),
             torch.tensor([3, 2]), torch.tensor([1, 0])),
        ),
    }
    print(f"torch {torch.__version__}, 1 thread, popsize 100")
    print()
    print("| piece | eager µs/call | compiled µs/call | compiled / eager | compile s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (fn, args) in cases.items():
        compiled = torch.compile(fn, dynamic=False)
        t0 = time.perf_counter()
        compiled(*args)
        compile_s = time.perf_counter() - t0
        with torch.inference_mode():
            eager = per_call_us(fn, args)
            fused = per_call_us(compiled, args)
        print(f"| {name} | {eager:.1f} | {fused:.1f} | {fused / eager:.2f} | {compile_s:.1f} |")


if __name__ == "__main__":
    main()
