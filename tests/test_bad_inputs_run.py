"""Bad input to the algorithms and to ``evolve`` fails at construction or before generation 1.

Issue 24 rows #30, #31, #40, #49, #50, #52, #54, #55, #78 and neighbouring mistakes of the
same checks across every algorithm. Each case asserts the exception type and message; the
late rows also assert that no generation ran.
"""

from __future__ import annotations

import os

import pytest
import torch
from evotorch import Problem
from evotorch.algorithms import SNES
from torch import nn

from neuro_de.algorithms import (
    DE,
    JADE,
    JDE,
    LSHADE,
    PSO,
    SHADE,
    DifferentialEvolution,
    SaDE,
    SAShadeTriEnsin,
)
from neuro_de.checkpoint import export_network
from neuro_de.runner import evolve


def problem(dtype=torch.float32):
    return Problem("min", lambda x: (x * x).sum(-1).float(), solution_length=5,
                   initial_bounds=(-1, 1), vectorized=True, seed=0, dtype=dtype)


DE_FAMILY = {
    "DE": lambda p, **kw: DE(p, popsize=8, **kw),
    "SaDE": lambda p, **kw: SaDE(p, popsize=8, **kw),
    "SHADE": lambda p, **kw: SHADE(p, popsize=8, **kw),
    "SAShadeTriEnsin": lambda p, **kw: SAShadeTriEnsin(p, popsize=8, **kw),
    "JDE": lambda p, **kw: JDE(p, popsize=8, **kw),
    "JADE": lambda p, **kw: JADE(p, popsize=8, **kw),
    "LSHADE": lambda p, **kw: LSHADE(p, popsize=8, max_evaluations=200, **kw),
    "DifferentialEvolution": lambda p, **kw: DifferentialEvolution(p, popsize=8, **kw),
}
ALL = {**DE_FAMILY, "PSO": lambda p, **kw: PSO(p, popsize=8, **kw)}


# row #31: an integer-typed problem is refused at construction, naming dtype and fix
@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_integer_problem_is_refused(name, dtype):
    with pytest.raises(TypeError, match=r"floating-point problem.*dtype=torch\.int.*float32"):
        ALL[name](problem(dtype))


# row #30: a population on another device is refused, naming both devices
@pytest.mark.parametrize("name", sorted(ALL))
def test_init_population_on_another_device(name):
    init = torch.zeros(8, 5, device="meta")
    with pytest.raises(ValueError, match=r"`init_population` is on device meta.*cpu.*\.to\("):
        ALL[name](problem(), init_population=init)


# neighbours of #30: wrong shape and non-finite values
@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("bad, pattern", [
    (torch.zeros(8, 4), r"4 columns.*solution_length is 5"),
    (torch.full((8, 5), float("nan")), r"NaN or inf"),
    (torch.full((8, 5), float("inf")), r"NaN or inf"),
])
def test_init_population_bad_values(name, bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        ALL[name](problem(), init_population=bad)


# row #40 and neighbours: p_max names itself and its range
@pytest.mark.parametrize("p_max", [2, 0, -0.1, 1.5, "0.2", True])
def test_shade_p_max(p_max):
    with pytest.raises(ValueError, match=r"`p_max` must be a number in \(0, 1\]"):
        SHADE(problem(), popsize=8, p_max=p_max)


@pytest.mark.parametrize("p_best", [(None, 2.0), (None, 0.0), (0.5, 0.2), 0.2, (0.1,),
                                    (-0.1, 0.2)])
def test_composition_p_best(p_best):
    with pytest.raises((ValueError, TypeError), match=r"`p_best`"):
        DifferentialEvolution(problem(), popsize=8, strategies="current-to-pbest/1",
                              p_best=p_best)


# neighbouring mistakes: F_range / CR_range on every rule that takes them
RANGED = ["SHADE", "SAShadeTriEnsin", "JDE", "JADE", "LSHADE", "SaDE"]
BAD_RANGES = [(0.9, 0.1), (-0.5, 0.5), (0.0, 3.0), (0.5,), "0.5", (float("nan"), 1.0)]


@pytest.mark.parametrize("name", RANGED)
@pytest.mark.parametrize("arg", ["F_range", "CR_range"])
@pytest.mark.parametrize("bad", BAD_RANGES, ids=repr)
def test_bad_ranges(name, arg, bad):
    if name == "SaDE" and arg == "F_range" and bad == (0.0, 3.0):
        pytest.skip("SaDE's F is not bounded above by 1")
    with pytest.raises((ValueError, TypeError), match=arg):
        ALL[name](problem(), **{arg: bad})


@pytest.mark.parametrize("name", sorted(DE_FAMILY))
@pytest.mark.parametrize("bad", ["reflect-ish", "", 3])
def test_bad_bounds_handling(name, bad):
    with pytest.raises((ValueError, TypeError), match="bounds_handling"):
        DE_FAMILY[name](problem(), bounds_handling=bad)


@pytest.mark.parametrize("kw, pattern", [
    ({"selector": "sade"}, "selector"),
    ({"selector": 3}, "selector"),
    ({"parameters": "shade"}, "parameters"),
    ({"parameters": 0.5}, "parameters"),
    ({"archive_rate": -1.0}, "archive_rate"),
    ({"archive_rate": "1"}, "archive_rate"),
    ({"strategies": "rand/9"}, "rand/9"),
    ({"strategies": []}, "strateg"),
])
def test_composition_components(kw, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        DifferentialEvolution(problem(), popsize=8, **kw)


def test_lshade_needs_max_evaluations():
    with pytest.raises((ValueError, TypeError), match="max_evaluations"):
        LSHADE(problem(), popsize=8)


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("popsize", [0, -3, 2.5])
def test_bad_popsize(name, popsize):
    build = {"LSHADE": lambda p, **kw: LSHADE(p, max_evaluations=200, **kw)}.get(
        name, lambda p, **kw: type(ALL[name](problem()))(p, **kw))
    with pytest.raises((ValueError, TypeError), match="popsize"):
        build(problem(), popsize=popsize)


# late rows: the error comes before any generation runs
class Counting(DE):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.steps = 0

    def _step(self):
        self.steps += 1
        super()._step()


def searcher():
    return Counting(problem(), popsize=8)


def test_checkpoint_is_a_directory(tmp_path):  # row #50
    s = searcher()
    with pytest.raises(IsADirectoryError, match=rf"{tmp_path}.*run\.pt"):
        evolve(s, 3, checkpoint=tmp_path, progress=False)
    assert s.steps == 0


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions")
@pytest.mark.parametrize("sub", ["run.pt", "deeper/run.pt"])
def test_checkpoint_unwritable(tmp_path, sub):  # row #49
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    s = searcher()
    try:
        with pytest.raises(PermissionError, match=rf"`checkpoint`=.*locked/{sub}.*writable"):
            evolve(s, 3, checkpoint=locked / sub, progress=False)
    finally:
        locked.chmod(0o700)
    assert s.steps == 0


@pytest.mark.parametrize("meta", [{"model": nn.Linear(2, 2)}, {"f": lambda: 0},
                                  {"s": {1, 2}}, {("a", "b"): 1}, {"x": [object()]}])
def test_meta_not_serialisable(tmp_path, meta):  # row #54
    s = searcher()
    with pytest.raises(TypeError, match=r"`meta`"):
        evolve(s, 3, checkpoint=tmp_path / "run.pt", meta=meta, progress=False)
    assert s.steps == 0


def test_evotorch_algorithm_with_checkpoint(tmp_path):  # row #55
    s = SNES(problem(), stdev_init=1.0, popsize=8)
    with pytest.raises(TypeError, match=r"SNES has none.*without `checkpoint`"):
        evolve(s, 3, checkpoint=tmp_path / "run.pt", progress=False)
    assert s.step_count == 0


def test_resume_missing_checkpoint_is_an_error(tmp_path):  # row #52
    s = searcher()
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*mistyped\.pt.*if-present"):
        evolve(s, 1, checkpoint=tmp_path / "mistyped.pt", resume=True, progress=False)
    assert s.step_count == 0


def test_resume_if_present_is_silent(tmp_path, recwarn):
    evolve(searcher(), 1, checkpoint=tmp_path / "run.pt", resume="if-present", progress=False)
    assert not [w for w in recwarn if "checkpoint" in str(w.message)]
    frame = evolve(searcher(), 2, checkpoint=tmp_path / "run.pt", resume="if-present",
                   progress=False)
    assert len(frame) == 2


@pytest.mark.parametrize("resume", ["yes", "if_present", 1.0, None])
def test_resume_bad_value(tmp_path, resume):
    with pytest.raises(ValueError, match=r"`resume` must be True, False or 'if-present'"):
        evolve(searcher(), 1, checkpoint=tmp_path / "run.pt", resume=resume, progress=False)


@pytest.mark.parametrize("resume", [True, "if-present"])
def test_resume_without_checkpoint(resume):
    with pytest.raises(ValueError, match=r"needs a `checkpoint` path"):
        evolve(searcher(), 1, resume=resume, progress=False)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions")
def test_export_network_unwritable_names_the_path(tmp_path):  # row #78
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"cannot write '.*locked/net\.safetensors'"):
            export_network(nn.Linear(2, 2), locked / "net", provenance={"a": 1})
    finally:
        locked.chmod(0o700)


def test_checkpoint_under_a_file(tmp_path):  # row #49, also as root
    (tmp_path / "afile").write_text("x")
    s = searcher()
    with pytest.raises(PermissionError, match=r"`checkpoint`=.*afile/run\.pt.*writable folder"):
        evolve(s, 3, checkpoint=tmp_path / "afile" / "run.pt", progress=False)
    assert s.steps == 0


def test_export_network_under_a_file_names_the_path(tmp_path):  # row #78, also as root
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError, match=r"afile/net\.safetensors"):
        export_network(nn.Linear(2, 2), tmp_path / "afile" / "net", provenance={"a": 1})


# row #37: weights not adding up to 1 are renormalised (documented, intended)
def test_strategy_weights_are_renormalised():
    from neuro_de.adaptation.selectors import FixedStrategies

    selector = FixedStrategies([1.0, 1.0, 2.0])
    assert torch.allclose(selector.probabilities, torch.tensor([0.25, 0.25, 0.5],
                                                                dtype=torch.float64))


@pytest.mark.parametrize("weights", [[], [-1.0, 2.0], [0.0, 0.0], [float("nan"), 1.0],
                                     [float("inf"), 1.0]])
def test_bad_strategy_weights(weights):
    from neuro_de.adaptation.selectors import FixedStrategies

    with pytest.raises(ValueError, match=r"Strategy probabilities must be finite, >= 0"):
        FixedStrategies(weights)


def test_resumed_frame_keeps_the_column_order(tmp_path):
    whole = evolve(searcher(), 4, progress=False)
    evolve(searcher(), 2, checkpoint=tmp_path / "run.pt", progress=False)
    resumed = evolve(searcher(), 4, checkpoint=tmp_path / "run.pt", resume=True,
                     progress=False)
    assert list(resumed.columns) == list(whole.columns)
    assert len(resumed) == 4


class NormalisingProblem(Problem):
    """A vector problem with GymNE's observation-statistics interface (row #56)."""

    def __init__(self):
        from evotorch.neuroevolution.net.runningstat import RunningStat

        super().__init__("min", lambda x: (x * x).sum(-1), solution_length=5,
                         initial_bounds=(-1, 1), vectorized=True, seed=0)
        self.observation_normalization = True
        self._obs = RunningStat()

    def get_observation_stats(self):
        return self._obs

    def set_observation_stats(self, rs):
        self._obs.reset()
        self._obs.update(rs)


class Observing(DE):
    def _step(self):
        self.problem.get_observation_stats().update(torch.randn(3).numpy())
        super()._step()


def test_observation_stats_survive_a_resume(tmp_path):  # row #56
    first = Observing(NormalisingProblem(), popsize=8)
    evolve(first, 3, checkpoint=tmp_path / "run.pt", progress=False)
    before = first.problem.get_observation_stats()
    second = Observing(NormalisingProblem(), popsize=8)
    evolve(second, 3, checkpoint=tmp_path / "run.pt", resume=True, progress=False)
    after = second.problem.get_observation_stats()
    assert after.count == before.count == 3
    assert torch.allclose(torch.as_tensor(after.sum), torch.as_tensor(before.sum))


def test_observation_stats_need_a_normalising_problem(tmp_path):
    evolve(Observing(NormalisingProblem(), popsize=8), 2, checkpoint=tmp_path / "run.pt",
           progress=False)
    with pytest.raises(ValueError, match=r"observation-normalisation statistics.*as for the"):
        evolve(Observing(problem(), popsize=8), 3, checkpoint=tmp_path / "run.pt", resume=True,
               progress=False)
