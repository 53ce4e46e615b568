"""Tests of neuro_de.dynamics: plots of evolution dynamics from PandasLogger frames."""

from __future__ import annotations

import math

import matplotlib.colors
import matplotlib.lines
import numpy as np
import pandas as pd
import pytest
import torch
from evotorch import Problem
from evotorch.logging import PandasLogger
from torch import nn
from torch.utils.data import TensorDataset

from neuro_de.algorithms import DE, PSO, SHADE, SaDE, SAShadeTriEnsin
from neuro_de.dynamics import (
    PLOT_NAMES,
    STRATEGY_COLORS,
    MissingColumnsError,
    collapsed_generations,
    load_frame,
    load_runs,
    plot_all,
    plot_diversity,
    plot_loss_accuracy,
    plot_pso_swarm,
    plot_strategy_dynamics,
    plot_strategy_parameters,
    plot_success_rate,
    strategy_color,
    strategy_keys,
    strategy_label,
)
from neuro_de.dynamics import plots as plots_module
from neuro_de.problems import SupervisedNetProblem

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GENERATIONS = 15
DE_PLOTS = ["loss_accuracy", "diversity", "success_rate", "strategy_parameters",
            "strategy_dynamics"]
PSO_PLOTS = ["loss_accuracy", "diversity", "success_rate", "pso_swarm"]


def sphere_run(cls, **kw) -> pd.DataFrame:
    problem = Problem("min", lambda x: (x * x).sum(-1), solution_length=8,
                      initial_bounds=(-5, 5), vectorized=True, seed=0)
    searcher = cls(problem, popsize=12, **kw)
    logger = PandasLogger(searcher)
    searcher.run(GENERATIONS)
    return logger.to_dataframe()


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    torch.manual_seed(0)
    return {cls.__name__: sphere_run(cls) for cls in (SAShadeTriEnsin, DE, SaDE, SHADE, PSO)}


@pytest.fixture(scope="module")
def net_frames() -> dict[str, pd.DataFrame]:
    """Runs on a SupervisedNetProblem (tiny MLP), whose status adds the accuracy columns."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(48, 6, generator=gen)
    y = torch.randint(0, 3, (48,), generator=gen)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    out = {}
    for cls in (SAShadeTriEnsin, PSO):
        problem = SupervisedNetProblem(net, TensorDataset(x, y), batch_size=16,
                                       generations_per_batch=4, seed=0)
        init = problem.parameter_vector()[None] + 0.05 * torch.randn(
            10, problem.solution_length, generator=gen)
        searcher = cls(problem, init_population=init)
        logger = PandasLogger(searcher)
        searcher.run(GENERATIONS)
        out[cls.__name__] = logger.to_dataframe()
    return out


def assert_png(path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert len(data) > 1000, f"{path} is suspiciously small ({len(data)} bytes)"
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"


def names_of(paths, prefix="") -> list[str]:
    return [p.name[len(prefix):-len(".png")] for p in paths]


# --------------------------------------------------------------------------------------
# the columns the plots rely on
# --------------------------------------------------------------------------------------
def test_logged_columns_are_the_ones_the_plots_read(frames, net_frames):
    sa, pso = frames["SAShadeTriEnsin"], frames["PSO"]
    assert sa.index.name == "iter" and len(sa) == GENERATIONS
    for col in ("pop_best_eval", "mean_eval", "diversity", "success_rate", "mean_F",
                "mean_CR"):
        assert col in sa.columns
    assert strategy_keys(sa) == ["rand1", "ctb1", "rand2", "ctr1", "trig"]
    for key in strategy_keys(sa):
        for prefix in ("p/", "success/", "F/", "CR/"):
            assert f"{prefix}{key}" in sa.columns
    for col in ("spread", "mean_speed", "inertia", "swarm_best_eval", "diversity"):
        assert col in pso.columns
    assert strategy_keys(pso) == []
    for frame in net_frames.values():
        for col in ("batch_accuracy_mean", "batch_accuracy_max", "fitness_epoch"):
            assert col in frame.columns
        assert frame["batch_accuracy_mean"].between(0, 1).all()
    assert strategy_label("trig") == "S_trigo trigonometric"
    assert strategy_label("mystery") == "mystery"


# --------------------------------------------------------------------------------------
# single plots
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "algorithm"),
    [
        (plot_loss_accuracy, "SAShadeTriEnsin"),
        (plot_loss_accuracy, "PSO"),
        (plot_diversity, "SAShadeTriEnsin"),
        (plot_success_rate, "PSO"),
        (plot_strategy_parameters, "SAShadeTriEnsin"),
        (plot_strategy_parameters, "SaDE"),
        (plot_strategy_dynamics, "SAShadeTriEnsin"),
        (plot_strategy_dynamics, "DE"),
        (plot_pso_swarm, "PSO"),
    ],
)
def test_each_plot_writes_a_png(frames, tmp_path, fn, algorithm):
    path = fn(frames[algorithm], tmp_path / "sub" / f"{fn.__name__}.png")
    assert path == tmp_path / "sub" / f"{fn.__name__}.png"
    assert_png(path)


def test_loss_accuracy_draws_the_accuracy_panel_for_network_runs(net_frames, tmp_path):
    with_acc = plot_loss_accuracy(net_frames["SAShadeTriEnsin"], tmp_path / "acc.png")
    plain = net_frames["SAShadeTriEnsin"].drop(
        columns=["batch_accuracy_mean", "batch_accuracy_max"])
    without = plot_loss_accuracy(plain, tmp_path / "loss.png")
    assert_png(with_acc)
    assert_png(without)
    # two panels: a wider image than the fitness-only figure
    width = lambda p: int.from_bytes(p.read_bytes()[16:20], "big")  # noqa: E731
    assert width(with_acc) > width(without)


def test_overlay_of_methods_with_labels_and_options(frames, tmp_path):
    runs = [frames["SAShadeTriEnsin"], frames["SaDE"], frames["PSO"]]
    labels = ["SA-SHADE-tri-ensin", "SaDE", "PSO"]
    assert_png(plot_loss_accuracy(runs, tmp_path / "loss.png", labels=labels, logy=True))
    assert_png(plot_diversity(dict(zip(labels, runs, strict=True)), tmp_path / "div.png"))
    assert_png(plot_success_rate(runs, tmp_path / "sr.png", labels=labels, window=3))
    # PSO has no strategy columns: it is left out of the per-strategy figures, not an error
    assert_png(plot_strategy_parameters(runs, tmp_path / "fcr.png", labels=labels,
                                        fill="carry"))
    assert_png(plot_strategy_dynamics(runs, tmp_path / "dyn.png", labels=labels, window=5,
                                      title="Strategies"))


def test_nan_strategy_parameters_are_gaps_or_carried(frames, tmp_path):
    frame = frames["SaDE"].copy()
    key = strategy_keys(frame)[0]
    frame.loc[frame.index[::2], f"F/{key}"] = math.nan  # strategy unused every other gen
    frame.loc[frame.index[3:8], f"success/{key}"] = math.nan
    for fill in ("gap", "carry"):
        assert_png(plot_strategy_parameters(frame, tmp_path / f"{fill}.png", fill=fill))
    assert_png(plot_strategy_dynamics(frame, tmp_path / "dyn.png"))
    with pytest.raises(ValueError, match="fill"):
        plot_strategy_parameters(frame, tmp_path / "bad.png", fill="zero")


# --------------------------------------------------------------------------------------
# plot_all
# --------------------------------------------------------------------------------------
def test_plot_all_writes_every_available_plot(frames, net_frames, tmp_path):
    sa = plot_all(frames["SAShadeTriEnsin"], tmp_path / "out", prefix="sa_")
    assert names_of(sa, "sa_") == DE_PLOTS
    pso = plot_all(frames["PSO"], tmp_path / "out", prefix="pso_")
    assert names_of(pso, "pso_") == PSO_PLOTS
    net = plot_all(net_frames["PSO"], tmp_path / "out", prefix="net_")
    assert names_of(net, "net_") == PSO_PLOTS
    for path in sa + pso + net:
        assert path.parent == tmp_path / "out"
        assert_png(path)
    both = plot_all([frames["SAShadeTriEnsin"], frames["PSO"]], tmp_path / "both",
                    labels=["DE family", "swarm"])
    assert names_of(both) == list(PLOT_NAMES)


def test_plot_all_skips_absent_columns(frames, tmp_path):
    only = frames["DE"][["diversity"]]
    assert names_of(plot_all(only, tmp_path)) == ["diversity"]
    all_nan = frames["DE"][["diversity", "mean_eval"]].assign(mean_eval=math.nan)
    assert names_of(plot_all(all_nan, tmp_path)) == ["diversity"]
    assert plot_all(frames["DE"][[]], tmp_path / "none") == []
    with pytest.raises(MissingColumnsError, match="spread"):
        plot_pso_swarm(frames["DE"], tmp_path / "pso.png")
    with pytest.raises(MissingColumnsError, match="F/<key>"):
        plot_strategy_parameters(frames["PSO"], tmp_path / "fcr.png")
    with pytest.raises(MissingColumnsError, match="p/<key>"):
        plot_strategy_dynamics([frames["PSO"]], tmp_path / "dyn.png")


def test_csv_round_trip_gives_the_same_plots(frames, tmp_path):
    for name in ("SAShadeTriEnsin", "PSO"):  # the two plot sets (DE family, swarm)
        frame = frames[name]
        csv = tmp_path / f"log_{name}.csv"
        frame.to_csv(csv)
        pd.testing.assert_frame_equal(load_frame(csv), load_frame(frame), check_exact=False,
                                      check_index_type=False)
        from_frame = plot_all(frame, tmp_path / "frame", prefix=f"{name}_")
        from_csv = plot_all(csv, tmp_path / "csv", prefix=f"{name}_")
        assert names_of(from_csv) == names_of(from_frame)
        for path in from_csv:
            assert_png(path)
    # CSV paths as strings, overlaid, labelled by file name
    paths = [str(tmp_path / "log_SAShadeTriEnsin.csv"), tmp_path / "log_PSO.csv"]
    assert [label for label, _ in load_runs(paths)] == ["log_SAShadeTriEnsin", "log_PSO"]
    assert names_of(plot_all(paths, tmp_path / "mixed")) == list(PLOT_NAMES)


def test_generation_as_a_column_is_accepted(frames):
    frame = frames["DE"].reset_index()
    assert "iter" in frame.columns
    loaded = load_frame(frame)
    assert loaded.index.name == "iter"
    assert np.array_equal(loaded.index.to_numpy(), np.arange(1, GENERATIONS + 1))
    shuffled = frame.rename(columns={"iter": "generation"}).iloc[::-1]
    assert np.array_equal(load_frame(shuffled).index.to_numpy(), loaded.index.to_numpy())


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors(frames, tmp_path):
    no_gen = frames["DE"].reset_index(drop=True)
    with pytest.raises(ValueError, match="no generation column"):
        plot_all(no_gen, tmp_path)
    no_index_csv = tmp_path / "no_index.csv"
    frames["DE"].to_csv(no_index_csv, index=False)
    with pytest.raises(ValueError, match="no generation column"):
        plot_diversity(no_index_csv, tmp_path / "d.png")
    with pytest.raises(FileNotFoundError, match="does_not_exist.csv"):
        plot_all(tmp_path / "does_not_exist.csv", tmp_path)
    with pytest.raises(FileNotFoundError):
        plot_diversity(str(tmp_path / "missing.csv"), tmp_path / "d.png")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_frame(empty)
    with pytest.raises(ValueError, match="no rows"):
        load_frame(frames["DE"].iloc[:0])
    with pytest.raises(TypeError, match="DataFrame"):
        plot_all(42, tmp_path)
    with pytest.raises(ValueError, match="labels"):
        plot_all([frames["DE"], frames["PSO"]], tmp_path, labels=["only one"])
    with pytest.raises(ValueError, match="empty list"):
        plot_all([], tmp_path)
    with pytest.raises(ValueError, match="window"):
        plot_success_rate(frames["DE"], tmp_path / "s.png", window=0)
    assert not list(tmp_path.glob("*.png"))


# --------------------------------------------------------------------------------------
# the user-test fixes: formats, legends, labels, held-out curves, collapse, colours
# --------------------------------------------------------------------------------------
@pytest.fixture
def figures(monkeypatch):
    """Every Figure the plot functions save, in order (the files are still written)."""
    seen = []
    real = plots_module._save

    def spy(fig, path):
        seen.append(fig)
        return real(fig, path)

    monkeypatch.setattr(plots_module, "_save", spy)
    return seen


MAGIC = {"png": PNG_SIGNATURE, "pdf": b"%PDF-", "svg": b"<?xml", "jpg": b"\xff\xd8\xff"}


@pytest.mark.parametrize("fmt", sorted(MAGIC))
def test_the_suffix_chooses_the_file_format(frames, tmp_path, fmt):
    path = plot_diversity(frames["DE"], tmp_path / f"div.{fmt.upper()}")
    assert path.read_bytes().startswith(MAGIC[fmt])
    if fmt == "svg":
        assert b"<svg" in path.read_bytes()[:2000]


def test_plot_all_writes_the_requested_format(frames, tmp_path):
    paths = plot_all(frames["SAShadeTriEnsin"], tmp_path, format="pdf")
    assert [p.suffix for p in paths] == [".pdf"] * len(DE_PLOTS)
    assert all(p.read_bytes().startswith(b"%PDF-") for p in paths)
    with pytest.raises(ValueError, match="`format` must be one of"):
        plot_all(frames["DE"], tmp_path, format="csv")


def test_paths_without_a_figure_suffix_fail_before_drawing(frames, tmp_path, figures):
    with pytest.raises(ValueError, match=r"no suffix.*\.png.*\.pdf"):
        plot_loss_accuracy(frames["DE"], tmp_path / "loss")
    with pytest.raises(ValueError, match=r"ends in '\.csv', not a figure format"):
        plot_success_rate(frames["DE"], tmp_path / "rate.csv")
    assert figures == [] and not list(tmp_path.iterdir())


def _legend_boxes(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            out.append((ax.get_window_extent(renderer), legend.get_window_extent(renderer)))
    return out


def test_legends_sit_outside_the_data(frames, net_frames, tmp_path, figures):
    runs = dict(net_frames)
    plot_loss_accuracy(runs, tmp_path / "loss.png")
    plot_success_rate(runs, tmp_path / "rate.png")
    plot_diversity(frames, tmp_path / "div.png")
    plot_pso_swarm(frames["PSO"], tmp_path / "pso.png")
    assert len(figures) == 4
    for fig in figures:
        boxes = _legend_boxes(fig)
        assert boxes, "every figure has a legend"
        for axes_box, legend_box in boxes:
            assert not axes_box.overlaps(legend_box)
            assert legend_box.x0 >= axes_box.x1  # to the right of the axes
            assert legend_box.x1 <= fig.bbox.x1 + 1  # and inside the figure


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_loss_panel_shows_parents_and_accuracy_panel_trials(net_frames, tmp_path, figures):
    plot_loss_accuracy(net_frames["SAShadeTriEnsin"], tmp_path / "la.png")
    loss_ax, acc_ax = figures[0].axes
    assert _legend_texts(loss_ax) == ["parents: best", "parents: mean"]
    assert "parents" in loss_ax.get_title()
    assert _legend_texts(acc_ax) == ["trials: best", "trials: mean"]
    assert "trials" in acc_ax.get_title()


def _heldout_line(ax):
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-." and ln.get_marker() == "o"]
    assert len(lines) == 1
    return lines[0]


def test_heldout_curves_from_arguments_or_columns(net_frames, tmp_path, figures):
    frame = net_frames["SAShadeTriEnsin"]
    held = {0: 1.2, 5: 1.0, 10: 0.9, 15: 0.85}
    acc = pd.Series([0.3, 0.5, 0.6], index=[0, 8, 15])
    plot_loss_accuracy(frame, tmp_path / "a.png", heldout=held, heldout_accuracy=acc)
    loss_ax, acc_ax = figures[-1].axes
    line = _heldout_line(loss_ax)
    assert list(line.get_xdata()) == [0, 5, 10, 15]
    assert list(line.get_ydata()) == pytest.approx([1.2, 1.0, 0.9, 0.85])
    assert "held-out loss (fixed data)" in _legend_texts(loss_ax)
    assert list(_heldout_line(acc_ax).get_ydata()) == pytest.approx([30, 50, 60])
    # a logged column is picked up by itself (NaN between measurements)
    logged = frame.assign(heldout_loss=np.nan)
    logged.loc[logged.index[::5], "heldout_loss"] = 0.7
    plot_loss_accuracy(logged, tmp_path / "b.png")
    line = _heldout_line(figures[-1].axes[0])
    assert list(line.get_xdata()) == list(logged.index[::5])
    # one curve per run, by position or by label
    runs = {"SA": frame, "PSO": net_frames["PSO"]}
    plot_loss_accuracy(runs, tmp_path / "c.png", heldout=[held, None])
    plot_loss_accuracy(runs, tmp_path / "d.png", heldout={"PSO": pd.Series(held)})
    assert len(figures) == 4


@pytest.mark.parametrize(
    ("heldout", "error", "match"),
    [
        ([{0: 1.0}], ValueError, "1 curves for 2 runs"),
        ({0: 1.0}, ValueError, "one curve but 2 runs"),
        ({"nope": {0: 1.0}}, ValueError, r"names runs \['nope'\]"),
        ([[1.0, 2.0], None], TypeError, r"`heldout`\[0\] must be a pandas Series"),
        ([pd.Series([1.0], index=["a"]), None], ValueError, "indexed by generation"),
        (3.0, TypeError, "`heldout` must be a Series"),
    ],
)
def test_bad_heldout_curves_are_refused(frames, tmp_path, heldout, error, match):
    with pytest.raises(error, match=match):
        plot_loss_accuracy([frames["DE"], frames["SHADE"]], tmp_path / "x.png", heldout=heldout)


def test_successes_after_diversity_collapse_are_flagged(frames, tmp_path, figures):
    frame = frames["SAShadeTriEnsin"].copy()
    start = float(frame["diversity"].iloc[0])
    frame.loc[frame.index >= 11, "diversity"] = start * 1e-5
    assert list(collapsed_generations(frame)) == list(range(11, GENERATIONS + 1))
    assert list(collapsed_generations(frame, 1e-6)) == []
    plot_success_rate(frame, tmp_path / "rate.png")
    ax = figures[-1].axes[0]
    spans = [p for p in ax.patches if p.get_alpha() is not None and p.get_alpha() < 0.5]
    assert len(spans) == 1
    x0, x1 = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert x0 == pytest.approx(10.5) and x1 == pytest.approx(GENERATIONS + 0.5)
    assert any("float-noise" in t for t in _legend_texts(ax))
    assert "float-noise" in ax.get_title()
    # no collapse, or the shading turned off: nothing flagged
    plot_success_rate(frames["SAShadeTriEnsin"].assign(diversity=start), tmp_path / "b.png")
    plot_success_rate(frame, tmp_path / "c.png", collapse=None)
    for fig in figures[-2:]:
        assert not fig.axes[0].patches
        assert not any("float-noise" in t for t in _legend_texts(fig.axes[0]))
    for bad in (0.0, 1.0, -1e-3, "1e-3", True):
        with pytest.raises(ValueError, match="`collapse` must be a ratio in"):
            plot_success_rate(frame, tmp_path / "d.png", collapse=bad)


def test_strategy_parameter_legends_say_what_each_algorithm_logs(frames, tmp_path, figures):
    runs = {name: frames[name] for name in ("DE", "SHADE", "SaDE", "SAShadeTriEnsin")}
    plot_strategy_parameters(runs, tmp_path / "fcr.png")
    fig = figures[-1]
    titles = {ax.get_title().split(":")[0]: ax.get_title() for ax in fig.axes[:4]}
    assert "fixed F = 0.5, CR = 0.9" in titles["DE"] and "memory" not in titles["DE"]
    assert "memory of successful values" in titles["SHADE"]
    assert "memory of successful values" in titles["SAShadeTriEnsin"]
    assert "median memory" in titles["SaDE"]
    assert "SHADE" not in fig.legends[0].get_title().get_text()
    # an unlabelled single DE run is recognised by its constant values
    plot_strategy_parameters(frames["DE"], tmp_path / "de.png")
    assert "fixed F = 0.5" in figures[-1].axes[0].get_title()
    assert "SHADE" not in figures[-1].axes[0].get_title()


def _legend_colours(fig) -> dict[str, str]:
    legend = fig.legends[0]
    return {t.get_text(): matplotlib.colors.to_hex(h.get_color())
            for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)
            if isinstance(h, matplotlib.lines.Line2D)}


def test_strategy_colours_are_the_same_in_single_and_overlay_plots(frames, tmp_path, figures):
    de, sade = frames["DE"], frames["SAShadeTriEnsin"]
    assert strategy_keys(de) == ["rand1"]
    plot_strategy_parameters(de, tmp_path / "de.png")
    plot_strategy_parameters([sade, de], tmp_path / "both.png", labels=["hybrid", "DE"])
    plot_strategy_dynamics([de, sade], tmp_path / "dyn.png", labels=["DE", "hybrid"])
    single, overlay, dyn = (_legend_colours(f) for f in figures)
    blue = matplotlib.colors.to_hex(STRATEGY_COLORS["rand1"])
    assert single["S1 rand/1"] == overlay["S1 rand/1"] == dyn["S1 rand/1"] == blue
    for key in strategy_keys(sade):
        assert overlay[strategy_label(key)] == matplotlib.colors.to_hex(strategy_color(key))
    # the data lines themselves use the legend's colour
    de_axes = figures[0].axes[0]
    assert matplotlib.colors.to_hex(de_axes.get_lines()[0].get_color()) == blue
    # keys of user strategies get a colour of their own, the same every time
    assert strategy_color("my/centroid") == strategy_color("my/centroid")
    assert strategy_color("my/centroid") not in STRATEGY_COLORS.values()
