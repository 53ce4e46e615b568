"""The benchmark scripts run end to end at a tiny size (their numbers are not checked here:
speed lives in the benchmarks, not in tests). None of them needs a GPU; ``gpu.sh`` is run
only on its no-GPU path."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rows(out: str, first: str) -> dict[str, list[str]]:
    """Table rows whose first cell starts with ``first``, by their first two cells."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith(first):
            rows[" / ".join(cells[:2])] = cells
    return rows


# ----------------------------------------------------------------------------- algorithms.py
def test_algorithms_benchmark_tables_and_call_counts(capsys):
    bench = _load("algorithms")
    bench.main([
        "--dim", "20", "--popsize", "10", "--generations", "4", "--seeds", "1",
        "--floor-repeats", "3", "--functions", "sphere", "--calls", "--calls-generations", "3",
    ])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| sphere |")]
    timed = {r.split("|")[2].strip(): r for r in rows if r.count("|") == 9}
    counted = {r.split("|")[2].strip(): float(r.split("|")[3]) for r in rows if r.count("|") == 6}
    names = {"DE", "SaDE", "SHADE", "SAShadeTriEnsin", "JDE", "JADE", "PSO"}
    assert set(timed) >= names
    assert set(counted) >= names
    # without --evox the DE/PSO goal has no peer in the run, and says so
    assert timed["DE"].rstrip(" |").endswith("needs --evox")
    assert timed["SHADE"].rstrip(" |").split("|")[-1].strip() in ("yes", "no")
    # every generation launches operations, and SHADE's adaptation and archive add some
    assert counted["DE"] > 10
    assert counted["SHADE"] > counted["DE"]
    assert "host kernel" not in out


def test_algorithms_goals_compare_rows_of_the_same_run():
    bench = _load("algorithms")
    assert bench.goal_met("DE", 1.0, 1.0) == "needs --evox"
    assert bench.goal_met("DE", 1.0, 1.0, evox_de_ms=1.0) == "yes"
    assert bench.goal_met("PSO", 1.1, 1.0, evox_de_ms=1.0) == "no"
    for name in ("SaDE", "SHADE", "SAShadeTriEnsin", "JDE", "JADE"):
        assert bench.goal_met(name, 1.9, 1.0) == "yes"
        assert bench.goal_met(name, 2.1, 1.0) == "no"
    assert bench.goal_met("DE-pbest", 5.0, 1.0) == ""


def test_call_counter_counts_operations_not_attribute_reads():
    bench = _load("algorithms")
    x = torch.ones(3)
    counter = bench.CallCounter()
    with counter:
        _ = x.shape, x.dtype, x.numel()
        y = x + 1
        y.mul_(2)
    assert counter.calls == 2


# ----------------------------------------------------------------------------- network.py
def test_network_benchmark_runs_against_an_evaluation_only_row(capsys):
    bench = _load("network")
    bench.main(["--generations", "1", "--repeats", "2", "--batch-size", "8",
                "--generations-per-batch", "1", "--algorithms", "DE,SHADE,PSO", "--phases"])
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()
            if line.startswith("| ") and line.count("|") == 8}
    assert "eval-only (the floor)" in rows
    for name in ("DE", "SHADE", "PSO"):
        cells = [c.strip() for c in rows[name].strip().strip("|").split("|")]
        assert float(cells[1]) > 0 and float(cells[2]) > 0
        assert cells[-1] in ("yes", "no")
    assert "lenet5 (61,706 parameters)" in out
    # --phases: where each generation goes, the evaluation among them
    for name in ("DE", "SHADE", "PSO"):
        assert f"| {name} | _evaluate |" in out and f"| {name} | the whole generation |" in out
    # and the direct measure: the whole generation minus the evaluation, against eval-only
    phase_part, summary_part = out.split("The direct measure of the overhead")
    lines = phase_part.splitlines()
    base = next(float(line.split("|")[3]) for line in lines
                if line.startswith("| eval-only | the whole generation |"))
    for name in ("DE", "SHADE", "PSO"):
        phases = {c[2].strip(): float(c[3]) for c in (line.split("|") for line in lines)
                  if len(c) == 6 and c[1].strip() == name}
        summary = next(line for line in summary_part.splitlines()
                       if line.startswith(f"| {name} | "))
        cells = [c.strip() for c in summary.strip().strip("|").split("|")]
        outside = phases["the whole generation"] - phases["_evaluate"]
        assert float(cells[1]) == pytest.approx(outside, abs=0.016)  # three roundings
        # the printed milliseconds are rounded to 0.01: allow for that in the percentage
        assert float(cells[2].rstrip(" %")) == pytest.approx(
            100 * outside / base, abs=0.06 + 100 * 0.02 * (1 + outside / base) / base)
        assert cells[3] == ("yes" if float(cells[1]) / base <= 0.05 else "no")


def test_network_evaluation_only_scores_popsize_trials_and_rescores_on_a_new_batch():
    bench = _load("network")
    args = bench.parse_args(["--batch-size", "4", "--generations-per-batch", "2",
                             "--algorithms", ""])
    rows, _ = bench.build_rows(args, [], torch.device("cpu"))
    floor = rows[bench.EVAL_ONLY]
    scored = []
    original = floor.problem.evaluate
    floor.problem.evaluate = lambda batch: (scored.append(len(batch)), original(batch))[1]
    for _ in range(4):  # generations 2..5 of the row: minibatch changes at 2 and 4
        floor.step()
    assert scored == [10, 10, 10, 10, 10, 10]
    assert bool(torch.isfinite(floor.trials.evals).all())


def test_network_table_ratios_are_per_repeat_against_the_evaluation_only_row():
    bench = _load("network")
    blocks = {bench.EVAL_ONLY: [(1.0, 1.0), (2.0, 2.0), (1.0, 1.0)],
              "DE": [(1.02, 1.0), (2.2, 2.0), (1.04, 1.0)]}
    lines = bench.table(blocks, 10)
    de = [c.strip() for c in lines[-1].strip().strip("|").split("|")]
    assert de[0] == "DE" and de[2] == "1.040" and de[3] == "+4.0 %"
    assert de[4] == "1.020-1.100" and de[5] == "1.000" and de[6] == "yes"


# ----------------------------------------------------------------------------- large_genome.py
def test_large_genome_child_measures_time_and_peak_memory():
    bench = _load("large_genome")
    floor = bench.child(bench.parse_args(["--child", "floor", "--dim", "3000",
                                          "--generations", "2"]))
    assert len(floor["ms"]) == 2 and floor["population"] == 10 * 3000 * 4
    assert floor["peak"] >= 0 and floor["archive_rate"] == 0.0
    shade = bench.child(bench.parse_args(["--child", "SHADE", "--dim", "3000",
                                          "--generations", "2", "--phases"]))
    assert shade["archive_rate"] == 1.0
    assert {"binomial_crossover", "_mutants", "_evaluate", "archive.add"} <= set(shade["phases"])
    assert all(v >= 0 for v in shade["phases"].values())


def test_large_genome_benchmark_end_to_end_in_subprocesses(capsys, tmp_path):
    bench = _load("large_genome")
    path = tmp_path / "rows.json"
    bench.main(["--dim", "2000", "--generations", "1", "--repeats", "1", "--algorithms", "DE",
                "--json", str(path)])
    out = capsys.readouterr().out
    assert "| floor: one pass + objective |" in out and "| DE |" in out
    rows = json.loads(path.read_text())["rows"]
    assert [r["row"] for r in rows] == ["floor: one pass + objective", "DE"]
    assert rows[1]["goal"].startswith("time ")


def test_large_genome_goals():
    bench = _load("large_genome")
    assert bench.goal("DE", 2.9, 2.4, 0.0) == "time yes (<= 3x), memory yes (<= 2.5x)"
    assert bench.goal("SHADE", 3.1, 3.6, 1.0) == "time no (<= 3x), memory no (<= 3.5x)"
    assert bench.goal("PSO", 9.0, 3.4, 0.0).startswith("yes")


# ----------------------------------------------------------------------------- gpu.sh
def test_gpu_script_without_a_gpu_says_so_and_exits_0(tmp_path):
    script = ROOT / "benchmarks" / "gpu.sh"
    assert os.access(script, os.X_OK)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    env.pop("GPU_SH_DEVICE", None)
    proc = subprocess.run([str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA GPU" in proc.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_gpu_script_is_valid_bash():
    proc = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu.sh")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ----------------------------------------------------------------------------- crossover.py
def test_crossover_benchmark_rows_and_the_same_trials_built_or_not():
    bench = _load("crossover")
    lines = bench.main(["--dim", "3000", "--popsize", "6", "--rounds", "2"])
    names = [line.split("|")[1].strip() for line in lines if line.startswith("| ")][2:]
    assert names == ["floor: one pass + objective", "random draws", "draws + mask",
                     "mutants built, then crossed", "mutants unbuilt (the DE loop)"]
    assert lines[-2].split("|")[4].strip() == "1.000"  # built against itself
    # the two mutant rows make the same trials from the same generator state
    made = []
    for name in ("mutants built, then crossed", "mutants unbuilt (the DE loop)"):
        rows, trials = bench.rows_of(6, 3000, seed=4)
        rows[name]()
        made.append(trials.clone())
    assert torch.equal(made[0], made[1])
