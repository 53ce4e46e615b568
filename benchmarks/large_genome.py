"""Large genomes: time per generation and peak memory against a floor measured in the same run.

``--dim`` 11,689,512 (ResNet-18's parameter count) by default, ``--popsize`` 10
individuals, float32, a vectorised cheap objective (the sphere ``||x||^2`` as one
``torch.linalg.vector_norm`` pass, which makes no population-sized temporary), no hard
bounds (as a network's weights), the first population uniform in [-1, 1]. The problem is a
plain EvoTorch ``Problem`` with its defaults (so on CPU it keeps a copy of the best and of
the worst solution seen, 0.2x the population at popsize 10, as a network problem does by
default; ``--no-solution-stats`` turns that off).

Rows:

* **floor**: one fused pass over the population into a trial buffer
  (``torch.mul(parents, c, out=trials)``: one read and one write of ``popsize x d``
  floats) plus the objective on the trials, called directly. Its memory is the population
  and the trial buffer: 2x the population.
* **DE, SaDE, SHADE, SAShadeTriEnsin, JDE, JADE, PSO**: one ``searcher.step()`` per
  generation, default settings.

Every row runs in a **fresh subprocess** (one per row and repeat), so its peak memory is
its own: the child builds the problem, reads its resident memory (``VmRSS``), resets the
kernel's high-water mark (``/proc/self/clear_refs``; where that is not allowed the process's
``ru_maxrss`` is used, which then also covers the imports), builds the population and the
algorithm, runs one warm-up generation (it also scores the first population) and
``--generations`` timed ones, and reports the high-water mark (``VmHWM``) minus that
baseline. On CUDA the same is read from ``torch.cuda.max_memory_allocated`` above
``torch.cuda.memory_allocated`` before the population. Population-sized tensors here are
hundreds of MB, which glibc's allocator maps and unmaps directly, so the resident memory
follows the live tensors.

Columns: **ms/gen** (median over the timed generations, then over ``--repeats``
subprocesses), **x floor** (ratio to the floor's ms/gen), **x floor, CPU time** (the same
ratio of the process's CPU time, user and system, on CPU only: on a machine shared with
other work it is not inflated by the time a process waits for a core), **peak / pop**
(peak memory above the process before the population existed, in units of the population's
``popsize x d x 4`` bytes: the population itself counts 1), **goal met**: for the DE
family time <= 3x the floor and peak <= (2 + archive rate) x the population + 0.5
(parents, trials, archive; the mutants are built block by block inside the crossover); for
PSO peak <= 3.5x the population (positions, velocities, personal bests). Since the mutants
are built inside the crossover, ``binomial_crossover``'s phase holds their time and
``_mutants`` only the index and coefficient tables.

``--phases`` adds, per algorithm, where a generation's time and memory go: the operators
the generation loop calls (``binomial_crossover``, ``repair_bounds``, ``one_to_one``,
``copy_rows_where``, ... as looked up in the algorithm's module) and its methods
(``_mutants``, ``_sample_parameters``, ``_evaluate``, the archive's ``add``) wrapped with
timers (wall and CPU time, means over the timed generations of the first repeat), each
with the peak memory above the baseline while it ran; the rest of the generation is
"other". The timers add a little time of their own.

Examples::

    python benchmarks/large_genome.py                          # ResNet-18's size, CPU
    python benchmarks/large_genome.py --phases --algorithms DE,SHADE,PSO
    python benchmarks/large_genome.py --dim 25557032 --device cuda   # ResNet-50's size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evotorch import Problem  # noqa: E402

from neuro_de.algorithms import (  # noqa: E402
    DE,
    JADE,
    JDE,
    PSO,
    SHADE,
    SaDE,
    SAShadeTriEnsin,
)

FLOOR = "floor"
ALGORITHMS: dict[str, Callable[..., object]] = {
    "DE": lambda p, n: DE(p, popsize=n),
    "SaDE": lambda p, n: SaDE(p, popsize=n),
    "SHADE": lambda p, n: SHADE(p, popsize=n),
    "SAShadeTriEnsin": lambda p, n: SAShadeTriEnsin(p, popsize=n),
    "JDE": lambda p, n: JDE(p, popsize=n),
    "JADE": lambda p, n: JADE(p, popsize=n),
    "PSO": lambda p, n: PSO(p, popsize=n),
}
#: DE family: at most this multiple of the floor's time per generation.
GOAL_TIME = 3.0
#: DE family: peak at most (2 + archive rate) x the population + this.
GOAL_MEMORY_SLACK = 0.5
#: PSO: peak at most this multiple of the population.
GOAL_PSO_MEMORY = 3.5
RESNET18 = 11_689_512

#: Names the DE family's generation loop calls, timed with --phases (those present in the
#: algorithm's module are wrapped).
PHASE_FUNCTIONS = (
    "binomial_crossover", "repair_bounds", "candidate_utility", "one_to_one",
    "copy_rows_where", "random_int16", "inside_bounds",
)
PHASE_METHODS = ("_sample_parameters", "_mutants", "_evaluate")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dim", type=int, default=RESNET18,
                        help="genome length d (default: ResNet-18's 11,689,512)")
    parser.add_argument("--popsize", type=int, default=10)
    parser.add_argument("--generations", type=int, default=5,
                        help="timed generations per subprocess, after 1 warm-up")
    parser.add_argument("--repeats", type=int, default=2,
                        help="subprocesses per row, the rows interleaved (medians over them)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help="comma-separated subset")
    parser.add_argument("--phases", action="store_true",
                        help="also time each phase of a generation (a second table)")
    parser.add_argument(
        "--no-solution-stats", action="store_true",
        help="problem with store_solution_stats=False (no kept best/worst solution rows)",
    )
    parser.add_argument("--json", default=None, help="also write the table's rows here (JSON)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- memory
class Memory:
    """Peak memory above a baseline: the process's resident set on CPU, the caching
    allocator's allocated bytes on CUDA."""

    def __init__(self, device: torch.device):
        self.device = device
        self.resettable = device.type == "cuda" or _clear_refs()
        self.baseline = 0
        self.peak = 0  # the high-water mark over everything measured so far

    def start(self) -> None:
        """Take the baseline (before the population exists) and reset the peak."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.baseline = _status_bytes("VmRSS")
            _clear_refs()
        self.peak = self.baseline

    def high_water(self) -> int:
        """The high-water mark since the last reset (bytes, absolute)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device)
        if self.resettable:
            return _status_bytes("VmHWM")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def reset(self) -> None:
        """Fold the current high-water mark into :attr:`peak`, then restart it from now."""
        self.peak = max(self.peak, self.high_water())
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.resettable:
            _clear_refs()

    def peak_above_baseline(self) -> int:
        """Peak bytes above the baseline over everything since :meth:`start`."""
        return max(self.peak, self.high_water()) - self.baseline


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _clear_refs() -> bool:
    """Reset the kernel's resident high-water mark (VmHWM) to the current resident size."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- the child
def sphere(x: torch.Tensor) -> torch.Tensor:
    """``||x||^2`` per row in one pass (no population-sized temporary)."""
    return torch.linalg.vector_norm(x, dim=-1).square()


def make_problem(args: argparse.Namespace, device: torch.device) -> Problem:
    """The unbounded sphere problem of the benchmark."""
    return Problem("min", sphere, solution_length=args.dim, initial_bounds=(-1.0, 1.0),
                   vectorized=True, seed=args.seed, device=device, dtype=torch.float32,
                   store_solution_stats=False if args.no_solution_stats else None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Floor:
    """One fused pass over the population into a trial buffer plus the objective."""

    def __init__(self, problem: Problem, popsize: int):
        self.parents = problem.generate_batch(popsize).values.as_subclass(torch.Tensor)
        self.trials = torch.empty_like(self.parents)

    def step(self) -> None:
        """One floor generation."""
        torch.mul(self.parents, 1.0 + 2.0**-10, out=self.trials)
        sphere(self.trials)


class Phases:
    """Timers (and peak memory) around the functions and methods a generation calls."""

    def __init__(self, searcher, memory: Memory, device: torch.device):
        self.memory, self.device = memory, device
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak: dict[str, int] = {}
        self.active = False
        module = sys.modules[type(searcher).__module__]
        modules = {module, sys.modules[type(searcher).__mro__[1].__module__]}
        try:
            import neuro_de.algorithms.differential_evolution as de_module

            if isinstance(searcher, de_module.DifferentialEvolution):
                modules.add(de_module)
        except ImportError:  # pragma: no cover - layout changed
            pass
        for mod in modules:
            for name in PHASE_FUNCTIONS:
                fn = getattr(mod, name, None)
                if callable(fn):
                    setattr(mod, name, self._wrap(name, fn))
        for name in PHASE_METHODS:
            method = getattr(searcher, name, None)
            if callable(method):
                setattr(searcher, name, self._wrap(name, method))
        archive = getattr(searcher, "archive", None)
        if archive is not None:
            archive.add = self._wrap("archive.add", archive.add)

    def _wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            if not self.active:
                return fn(*args, **kwargs)
            self.active = False  # a nested phase counts in the outer one
            _sync(self.device)
            self.memory.reset()
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                _sync(self.device)
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c0
                high = self.memory.high_water() - self.memory.baseline
                self.peak[name] = max(self.peak.get(name, 0), high)
                self.memory.reset()
                self.active = True

        return timed


def child(args: argparse.Namespace) -> dict:
    """Run one row in this process and return its measurements."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    problem = make_problem(args, device)
    memory = Memory(device)
    memory.start()
    if args.child == FLOOR:
        searcher = Floor(problem, args.popsize)
    else:
        searcher = ALGORITHMS[args.child](problem, args.popsize)
    phases = Phases(searcher, memory, device) if args.phases and args.child != FLOOR else None
    searcher.step()  # warm-up: scores the first population, allocates buffers
    if phases is not None:
        phases.active = True
    times, cpu = [], []
    for _ in range(args.generations):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        searcher.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    archive = getattr(searcher, "archive", None)
    out = {
        "ms": [1e3 * t for t in times],
        "cpu_ms": [1e3 * t for t in cpu],
        "peak": memory.peak_above_baseline(),
        "population": args.popsize * args.dim * 4,
        "archive_rate": (archive.capacity / args.popsize) if archive is not None else 0.0,
        "exact_peak": memory.resettable,
    }
    if phases is not None:
        g = args.generations
        out["phases"] = {k: 1e3 * v / g for k, v in phases.seconds.items()}
        out["phases_cpu"] = {k: 1e3 * v / g for k, v in phases.cpu.items()}
        out["phase_peak"] = phases.peak
    return out


# ----------------------------------------------------------------------------- the parent
def run_child(name: str, args: argparse.Namespace) -> dict:
    """One row in a fresh subprocess (its own peak memory)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name,
           "--dim", str(args.dim), "--popsize", str(args.popsize),
           "--generations", str(args.generations), "--device", args.device,
           "--threads", str(args.threads), "--seed", str(args.seed)]
    cmd += ["--phases"] if args.phases else []
    cmd += ["--no-solution-stats"] if args.no_solution_stats else []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"row {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def goal(name: str, x_floor: float, peak: float, archive_rate: float) -> str:
    """The goals of issue 19 for a row, in words."""
    if name == "PSO":
        return ("yes" if peak <= GOAL_PSO_MEMORY else "no") + f" (memory <= {GOAL_PSO_MEMORY}x)"
    limit = 2.0 + archive_rate + GOAL_MEMORY_SLACK
    time_ok = "yes" if x_floor <= GOAL_TIME else "no"
    memory_ok = "yes" if peak <= limit else "no"
    return f"time {time_ok} (<= {GOAL_TIME:g}x), memory {memory_ok} (<= {limit:g}x)"


def main(argv: list[str] | None = None) -> None:
    """Run the rows (or, with ``--child``, one row) and print the tables."""
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args)))
        return
    names = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in names if a not in ALGORITHMS]
    if unknown:
        raise SystemExit(f"Unknown algorithms {unknown}; choose from {list(ALGORITHMS)}.")
    rows = [FLOOR, *names]
    results: dict[str, list[dict]] = {name: [] for name in rows}
    started = time.perf_counter()
    for r in range(args.repeats):
        shift = r % len(rows)
        for name in rows[shift:] + rows[:shift]:
            results[name].append(run_child(name, args))
    wall = time.perf_counter() - started

    def ms(name: str, key: str = "ms") -> float:
        return statistics.median(statistics.median(res[key]) for res in results[name])

    floor_ms = ms(FLOOR)
    pop_bytes = results[FLOOR][0]["population"]
    exact = all(res["exact_peak"] for runs in results.values() for res in runs)
    print(
        f"# Large genome: d={args.dim:,}, popsize {args.popsize}, float32 (population "
        f"{pop_bytes / 2**20:,.0f} MiB), unbounded sphere, "
        f"{'no kept best/worst rows' if args.no_solution_stats else 'EvoTorch defaults'}, "
        f"device={args.device}, "
        f"threads={args.threads}, torch {torch.__version__}"
    )
    print()
    print(
        f"one subprocess per row and repeat: 1 warm-up + {args.generations} timed generations, "
        f"{args.repeats} repeats interleaved; ms/gen = median; peak = "
        + ("VmHWM above VmRSS before the population" if args.device == "cpu" and exact
           else "ru_maxrss above VmRSS before the population" if args.device == "cpu"
           else "max_memory_allocated above memory_allocated before the population")
        + f" (largest over repeats); {wall:.0f} s in all"
    )
    print()
    cpu = args.device == "cpu"
    print("| row | ms/gen | x floor |" + (" x floor, CPU time |" if cpu else "")
          + " peak / pop | goal met |")
    print("| --- | ---: | ---: |" + (" ---: |" if cpu else "") + " ---: | --- |")
    floor_cpu = ms(FLOOR, "cpu_ms")
    summary = []
    for name in rows:
        peak = max(res["peak"] for res in results[name]) / pop_bytes
        x = ms(name) / floor_ms
        x_cpu = f" {ms(name, 'cpu_ms') / floor_cpu:.2f} |" if cpu else ""
        label = "floor: one pass + objective" if name == FLOOR else name
        met = "" if name == FLOOR else goal(name, x, peak, results[name][0]["archive_rate"])
        print(f"| {label} | {ms(name):,.1f} | {x:.2f} |{x_cpu} {peak:.2f} | {met} |")
        summary.append({"row": label, "ms": ms(name), "x_floor": x, "peak": peak, "goal": met})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dim": args.dim, "popsize": args.popsize, "device": args.device,
                       "rows": summary}, f)
    if args.phases:
        print()
        print("| algorithm | phase | ms/gen | CPU ms/gen | share of CPU time | "
              "peak / pop during it |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for name in names:
            res = results[name][0]
            # means, as the phases' times are sums over the timed generations
            total, total_cpu = statistics.fmean(res["ms"]), statistics.fmean(res["cpu_ms"])
            parts = sorted(res["phases_cpu"].items(), key=lambda kv: -kv[1])
            other = ("other", total - sum(res["phases"].values()),
                     total_cpu - sum(v for _, v in parts))
            for phase, wall, cpu_ms in [*((k, res["phases"][k], v) for k, v in parts), other]:
                peak = res["phase_peak"].get(phase)
                peak_s = "" if peak is None else f"{peak / pop_bytes:.2f}"
                print(f"| {name} | {phase} | {wall:,.1f} | {cpu_ms:,.1f} | "
                      f"{100 * cpu_ms / total_cpu:.0f} % | {peak_s} |")
    print()
    print(
        "goals (issue 19): DE family <= 3x the floor's time and peak <= (2 + archive rate) x "
        "the population + 0.5; PSO peak <= 3.5x the population"
    )


if __name__ == "__main__":
    main()
