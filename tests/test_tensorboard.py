"""TensorBoardLogger: runs a small search with the logger attached and reads the event files
back with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import gc
import math
import sys
import time

import numpy as np
import pytest
import torch
from evotorch import Problem
from evotorch.algorithms import SNES
from evotorch.logging import PandasLogger

pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

from neuro_de.loggers import TensorBoardLogger  # noqa: E402


def sphere(seed: int = 0) -> Problem:
    return Problem("min", lambda x: (x**2).sum(), solution_length=5, initial_bounds=(-1, 1),
                   seed=seed)


def snes(seed: int = 0) -> SNES:
    return SNES(sphere(seed), popsize=8, stdev_init=0.5)


def read(log_dir) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every event
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def next_second() -> None:
    """Wait for the clock's next whole second. A second writer into a folder must sort after
    the first: event file names start with the creation time in whole seconds, then an
    unpadded per-process counter ("...9" sorts after "...10")."""
    time.sleep(math.ceil(time.time()) - time.time() + 0.01)


def numeric_keys(frame) -> set[str]:
    return {c for c in frame.columns if np.issubdtype(frame[c].dtype, np.number)}


def test_every_numeric_status_item_is_a_scalar_per_generation(tmp_path):
    searcher = snes()
    frame_logger = PandasLogger(searcher)
    with TensorBoardLogger(searcher, log_dir=tmp_path) as tb:
        searcher.run(5)
    assert tb.log_dir == str(tmp_path)
    frame = frame_logger.to_dataframe()  # indexed by "iter"
    scalars = read(tmp_path)
    # SNES's numeric items; iter is the step; center, stdev, best, ... are skipped
    assert set(scalars) == numeric_keys(frame) == {
        "mean_eval", "median_eval", "pop_best_eval", "best_eval", "worst_eval"}
    for tag, events in scalars.items():
        assert [step for step, _ in events] == [1, 2, 3, 4, 5]
        expected = frame[tag].to_numpy(dtype=float)
        assert [v for _, v in events] == pytest.approx(expected, rel=1e-6)  # float32 on disk


def test_prefix_interval_and_item_types(tmp_path):
    searcher = snes()
    extra = {"nan_item": math.nan, "inf_item": -math.inf, "tensor_item": torch.tensor(3.0),
             "numpy_item": np.float32(2.5), "int_item": 7, "flag": True, "name": "rand/1",
             "vector": torch.zeros(3), "none": None}
    searcher.after_step_hook.append(lambda: dict(extra))  # merged into the status
    with TensorBoardLogger(searcher, log_dir=tmp_path, tag_prefix="run/", interval=2):
        searcher.run(5)
    scalars = read(tmp_path)
    assert {t for t in scalars if not t.endswith("_eval")} == {
        "run/nan_item", "run/inf_item", "run/tensor_item", "run/numpy_item", "run/int_item",
        "run/flag"}
    assert all(t.startswith("run/") for t in scalars)
    assert [s for s, _ in scalars["run/mean_eval"]] == [2, 4]
    assert all(math.isnan(v) for _, v in scalars["run/nan_item"])  # written as is
    assert [v for _, v in scalars["run/inf_item"]] == [-math.inf, -math.inf]
    assert [v for _, v in scalars["run/tensor_item"]] == [3.0, 3.0]
    assert [v for _, v in scalars["run/numpy_item"]] == [2.5, 2.5]
    assert [v for _, v in scalars["run/int_item"]] == [7.0, 7.0]
    assert [v for _, v in scalars["run/flag"]] == [1.0, 1.0]


def test_neuro_de_run_resumed_from_a_checkpoint_hides_the_stale_steps(tmp_path):
    """The recipes' pattern: a logger factory passed to ``evolve``; a run that went on past
    its last checkpoint (then was killed) and is resumed writes each generation once."""
    from neuro_de.algorithms import DE
    from neuro_de.runner import evolve

    log_dir, ckpt = tmp_path / "tb", tmp_path / "run.pt"

    def tensorboard(searcher):
        return TensorBoardLogger(searcher, log_dir=log_dir, tag_prefix="DE")

    first = DE(sphere(), popsize=8)
    evolve(first, 4, progress=False, checkpoint=ckpt, loggers=(tensorboard,))  # saved at 4
    first.step()  # generations 5 and 6 are logged but never checkpointed ("killed")
    first.step()
    del first
    gc.collect()  # the owned writer closes with its searcher
    assert [s for s, _ in read(log_dir)["DE/mean_eval"]] == [1, 2, 3, 4, 5, 6]
    stale = dict(read(log_dir)["DE/mean_eval"])

    next_second()
    resumed = DE(sphere(), popsize=8)
    frame = evolve(resumed, 8, progress=False, checkpoint=ckpt, resume=True,
                   loggers=(tensorboard,))
    del resumed
    gc.collect()
    scalars = read(log_dir)
    assert [s for s, _ in scalars["DE/mean_eval"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    values = dict(scalars["DE/mean_eval"])
    assert [values[s] for s in (1, 2, 3, 4)] == [stale[s] for s in (1, 2, 3, 4)]
    assert [values[s] for s in range(1, 9)] == pytest.approx(
        frame["mean_eval"].to_numpy(dtype=float), rel=1e-6)
    assert "DE/success_rate" in scalars and "DE/iter" not in scalars


def test_without_purge_the_stale_steps_stay(tmp_path):
    searcher = snes()
    with TensorBoardLogger(searcher, log_dir=tmp_path):
        searcher.run(4)
    again = snes(seed=1)
    again.run(2)  # "restored" at generation 2
    next_second()
    with TensorBoardLogger(again, log_dir=tmp_path, purge_stale=False):
        again.run(2)
    assert [s for s, _ in read(tmp_path)["mean_eval"]] == [1, 2, 3, 4, 3, 4]


def test_flush_semantics(tmp_path):
    # flush_every=1: every logged generation is on disk at once
    searcher = snes()
    tb = TensorBoardLogger(searcher, log_dir=tmp_path / "a", flush_every=1, flush_secs=1e6)
    searcher.step()
    searcher.step()
    assert [s for s, _ in read(tmp_path / "a")["mean_eval"]] == [1, 2]
    tb.close()
    tb.close()  # idempotent
    # the end of searcher.run() flushes (waits for the writer's queue), with no periodic flush
    searcher = snes()
    tb = TensorBoardLogger(searcher, log_dir=tmp_path / "b", flush_secs=1e6)
    searcher.run(3)
    assert [s for s, _ in read(tmp_path / "b")["mean_eval"]] == [1, 2, 3]
    tb.close()
    # logging after close opens a new event file and loses nothing
    next_second()
    searcher.run(1)
    tb.close()
    assert [s for s, _ in read(tmp_path / "b")["mean_eval"]] == [1, 2, 3, 4]


def test_a_given_writer_is_flushed_but_not_closed(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    a, b = snes(0), snes(1)
    tb_a = TensorBoardLogger(a, writer=writer, tag_prefix="a")
    tb_b = TensorBoardLogger(b, writer=writer, tag_prefix="b")
    a.run(2)
    b.run(3)
    tb_a.close()
    tb_b.close()
    writer.add_scalar("after", 1.0, 0)  # still open
    writer.close()
    scalars = read(tmp_path)
    assert [s for s, _ in scalars["a/mean_eval"]] == [1, 2]
    assert [s for s, _ in scalars["b/mean_eval"]] == [1, 2, 3]
    assert "after" in scalars


def test_bad_options_fail_early(tmp_path):
    searcher = snes()
    with pytest.raises(ValueError, match="exactly one of `log_dir` and `writer`"):
        TensorBoardLogger(searcher)
    with pytest.raises(ValueError, match="`interval` must be an integer >= 1"):
        TensorBoardLogger(searcher, log_dir=tmp_path, interval=0)
    with pytest.raises(ValueError, match="`flush_every` must be an integer >= 0"):
        TensorBoardLogger(searcher, log_dir=tmp_path, flush_every=-1)
    with pytest.raises(ValueError, match="`writer` must be a SummaryWriter"):
        TensorBoardLogger(searcher, writer=object())
    with pytest.raises(TypeError):
        TensorBoardLogger(searcher, tmp_path)  # options are keyword-only
    assert not searcher.log_hook  # nothing was attached by the failed calls


def test_missing_tensorboard_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'neuro_de\[tensorboard\]'"):
        TensorBoardLogger(snes(), log_dir=tmp_path)
