"""Running a search with progress, logging and checkpoints, and choosing its winner."""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from evotorch.algorithms.searchalgorithm import SearchAlgorithm
from evotorch.logging import PandasLogger

from .checkpoint import (
    RunInterrupted,
    SignalGuard,
    _check_loadable,
    check_writable,
    load_checkpoint,
    save_checkpoint,
)
from .distributed import any_rank

__all__ = [
    "PopulationCollapsedWarning",
    "RunLogger",
    "evolve",
    "population_collapsed",
    "pretrain_population",
    "select_on_heldout",
]


class PopulationCollapsedWarning(RuntimeWarning):
    """Every individual of the population is the same vector (diversity 0)."""


@torch.no_grad()
def population_collapsed(searcher: SearchAlgorithm) -> bool:
    """Whether all individuals of ``searcher.population`` are identical (O(popsize x d),
    no temporaries beyond one boolean row per chunk)."""
    values = searcher.population.values
    if values.shape[0] < 2:
        return False
    first = values[0]
    return all(bool(torch.eq(values[i], first).all()) for i in range(1, values.shape[0]))


class RunLogger(PandasLogger):
    """EvoTorch's ``PandasLogger`` whose collected rows can be saved and restored, so a
    resumed run's data frame holds every generation, not only those after the resume."""

    @property
    def rows(self) -> list[dict]:
        """The logged status rows (floats and ints only), oldest first."""
        return self._data

    def restore(self, rows: list[dict]) -> None:
        """Replace the collected rows (e.g. with a checkpoint's)."""
        self._data = [dict(r) for r in rows]

    def to_dataframe(self, *args, **kwargs):
        """The rows as a data frame, columns in the order of the latest row.

        Restored rows hold only the scalar items a checkpoint keeps, so without this a
        resumed run's columns would come in another order than an uninterrupted run's.
        """
        frame = super().to_dataframe(*args, **kwargs)
        if self._data:
            order = [c for c in self._data[-1] if c in frame.columns]
            frame = frame[order + [c for c in frame.columns if c not in order]]
        return frame


def _scalar_rows(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in rows]


def _observation_stats(problem) -> dict | None:
    """GymNE's observation-normalisation statistics as tensors (``None``: the problem has
    none), so that a resume continues with them instead of starting them over."""
    if not getattr(problem, "observation_normalization", False) or not callable(
        getattr(problem, "get_observation_stats", None)
    ):
        return None
    norm = problem.get_observation_stats()._rn  # EvoTorch's RunningStat wraps a RunningNorm
    if norm is None or norm.count == 0:
        return {"count": 0}
    return {"count": int(norm.count), "sum": norm.sum.detach().cpu().clone(),
            "sum_of_squares": norm.sum_of_squares.detach().cpu().clone()}


def _restore_observation_stats(problem, stats: dict | None) -> None:
    if stats is None:
        return
    if _observation_stats(problem) is None:
        raise ValueError(
            "The checkpoint holds observation-normalisation statistics but this run's problem "
            "does not normalise observations; build it as for the original run."
        )
    from evotorch.neuroevolution.net.runningnorm import RunningNorm
    from evotorch.neuroevolution.net.runningstat import RunningStat

    restored = RunningStat()
    if stats["count"]:
        norm = RunningNorm(shape=stats["sum"].shape, dtype="float32", device="cpu")
        norm._sum = stats["sum"].to(norm.dtype)
        norm._sum_of_squares = stats["sum_of_squares"].to(norm.dtype)
        norm._count = int(stats["count"])
        restored._rn = norm
    problem.set_observation_stats(restored)


def evolve(
    searcher: SearchAlgorithm,
    generations: int,
    *,
    progress: bool = True,
    desc: str = "evolve",
    show: tuple[str, ...] = ("pop_best_eval", "batch_accuracy_max", "success_rate"),
    loggers: tuple[Callable[[SearchAlgorithm], Any], ...] = (),
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    resume: bool | str = False,
    meta: Mapping[str, Any] | None = None,
    guard: SignalGuard | None = None,
    write_checkpoints: bool = True,
    collapse_check_every: int = 10,
) -> Any:
    """Run ``searcher`` to ``generations`` steps with a tqdm bar showing ``show`` items.

    With ``checkpoint``, the run's whole state (the algorithm's ``state_dict()``, which holds
    the population, its evaluations, adaptation memories, archive, RNG state and the
    problem's batch cursor, plus the logger's rows) is written atomically every
    ``checkpoint_every`` generations, at the end, and when ``guard`` reports SIGINT/SIGTERM
    (then :class:`~neuro_de.checkpoint.RunInterrupted` is raised). With ``resume=True`` an
    existing checkpoint is loaded first and the run continues exactly where it stopped;
    without one it is an error (a mistyped path must not restart a long run silently);
    ``resume="if-present"`` starts from the beginning when there is no checkpoint yet.
    Everything a save checks (the path is a writable file, ``meta`` is
    serialisable, the algorithm has ``state_dict()``) is checked before the first
    generation, so a bad checkpoint setting never loses a run.

    Args:
        searcher: A freshly built search algorithm (on resume, built as for the original).
        generations: Total generations of the run (counting those before a resume).
        progress: Show a progress bar (only when stderr is a terminal or a notebook).
        desc: The bar's label.
        show: Status items shown on the bar (those present in the status).
        loggers: Extra logger factories attached to the searcher, e.g.
            ``lambda s: StdOutLogger(s, interval=10)`` or EvoTorch's ``MlflowLogger``.
        checkpoint: Checkpoint file of this run, or ``None``.
        checkpoint_every: Save every N generations (0: only at the end and on a signal).
        resume: ``True``: continue from ``checkpoint``, which must exist
            (``FileNotFoundError`` naming the path otherwise). ``"if-present"``: continue
            when the file exists, start from the beginning otherwise (a script that always
            resumes, e.g. a recipe whose later methods have not started yet). ``False``:
            start over.
        meta: Facts saved with the checkpoint and required to match on resume (e.g. the
            model name, seed, algorithm and genome length).
        guard: A :class:`~neuro_de.checkpoint.SignalGuard` to poll; ``None`` installs one
            for the run when ``checkpoint`` is given. Under ``torch.distributed`` the ranks
            agree on stopping (one all-reduce of one integer per generation).
        write_checkpoints: Save checkpoints (``False`` on every rank but 0 of a replicated
            run, which still *reads* ``checkpoint`` to resume).
        collapse_check_every: Every N generations check whether all individuals have
            become the same vector (diversity 0: DE then only re-creates its parents) and
            warn once (:class:`PopulationCollapsedWarning`); 0 turns the check off.

    Returns:
        The ``pandas.DataFrame`` of every status item per generation (EvoTorch
        ``PandasLogger``), indexed by generation. A searcher whose ``is_terminated``
        becomes true (EvoTorch's stopping hook, e.g. a search that spent its epoch budget)
        stops the run there, fewer than ``generations`` steps.
    """
    from tqdm.auto import tqdm

    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 0:
        raise ValueError(f"`generations` must be an integer >= 0, got {generations!r}.")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or (
        checkpoint_every < 0
    ):
        raise ValueError(f"`checkpoint_every` must be an integer >= 0, got {checkpoint_every!r}.")
    if not isinstance(resume, bool) and resume != "if-present":
        raise ValueError(f"`resume` must be True, False or 'if-present', got {resume!r}.")
    if resume and checkpoint is None:
        raise ValueError(f"`resume={resume!r}` needs a `checkpoint` path.")
    if resume is True and not os.path.exists(checkpoint):
        raise FileNotFoundError(
            f"resume=True but there is no checkpoint at {str(checkpoint)!r}. Check the path, "
            "or pass resume='if-present' to start from the beginning when there is none."
        )
    meta = dict(meta or {})
    if checkpoint is not None and write_checkpoints:
        # every check a save would make, made now: a late failure would lose the run
        check_writable(checkpoint, "checkpoint")
        _check_loadable(meta, "`meta`")
        if not callable(getattr(searcher, "state_dict", None)):
            raise TypeError(
                f"evolve(checkpoint=...) needs an algorithm with state_dict()/"
                f"load_state_dict(); {type(searcher).__name__} has none (EvoTorch's own "
                "algorithms). Use a neuro_de algorithm, or run without `checkpoint`."
            )
    logger = RunLogger(searcher)
    for make_logger in loggers:
        make_logger(searcher)
    start = 0
    if resume and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint, expect=meta)
        searcher.load_state_dict(state["algorithm"])
        _restore_observation_stats(searcher.problem, state.get("observation_stats"))
        logger.restore(state["log"])
        start = int(state["generation"])
        if start > generations:
            raise ValueError(
                f"{checkpoint} is at generation {start}, beyond this run's {generations}."
            )

    def save(done: int) -> None:
        if checkpoint is not None and write_checkpoints:
            obs = _observation_stats(searcher.problem)
            save_checkpoint(
                {"generation": done, "algorithm": searcher.state_dict(),
                 "log": _scalar_rows(logger.rows),
                 **({} if obs is None else {"observation_stats": obs})},
                checkpoint, meta=meta,
            )

    own_guard = guard is None and checkpoint is not None
    if own_guard:
        guard = SignalGuard()
        guard.__enter__()
    # disable=None: no bar when stderr is not a terminal (a redirected log is not flooded)
    bar = tqdm(total=generations, initial=start, desc=desc, disable=None if progress else True,
               leave=False)
    collapsed = False
    done = start
    try:
        for g in range(start, generations):
            if getattr(searcher, "is_terminated", False):  # e.g. a spent budget
                break
            searcher.step()
            done = g + 1
            if not bar.disable:
                status = searcher.status
                bar.set_postfix(
                    {k: f"{float(status[k]):.4g}" for k in show if k in status}, refresh=False
                )
            bar.update(1)
            if guard is not None and any_rank(guard.requested):
                if guard.signum is None:  # another rank was signalled
                    guard.signum = signal.SIGTERM
                save(done)
                raise RunInterrupted(guard.signum, checkpoint)
            if checkpoint_every and done % checkpoint_every == 0 and done < generations:
                save(done)
            if collapse_check_every and done % collapse_check_every == 0 and not collapsed:
                collapsed = population_collapsed(searcher)
                if collapsed:
                    message = (f"{desc}: every individual is the same vector at generation "
                               f"{done} (diversity 0); further generations cannot change it. "
                               "Stop the run, or restart from a more diverse population.")
                    warnings.warn(message, PopulationCollapsedWarning, stacklevel=2)
                    if not bar.disable:
                        bar.write(message)
        if start < done:
            save(done)
    finally:
        bar.close()
        if own_guard:
            guard.__exit__(None, None, None)
    return logger.to_dataframe()


@torch.no_grad()
def select_on_heldout(
    problem,
    values: torch.Tensor,
    heldout,
    *,
    key: str = "loss",
    network: Callable[[torch.Tensor], torch.nn.Module] | None = None,
) -> int:
    """Index of the individual with the lowest held-out loss (or highest ``top1``).

    The held-out split is carved from the training data; the test set is never used to
    choose. ``problem`` must offer ``evaluate_vector(vector, data)`` (as
    :class:`~neuro_de.problems.SupervisedNetProblem` does).

    Args:
        problem: The problem the genomes belong to.
        values: The ``(n, d)`` genomes.
        heldout: The held-out data (a data set or a loader).
        key: ``"loss"`` (lowest wins) or ``"top1"`` (highest wins).
        network: Builds the network scored for a genome (e.g. with BatchNorm recalibrated);
            default: ``problem.to_module``.

    Raises:
        ValueError: ``key`` is neither ``"loss"`` nor ``"top1"``, or ``"top1"`` for a
            problem without accuracy (a custom loss), or every individual scored NaN/inf
            (a non-finite network is never chosen).
    """
    if key not in ("loss", "top1"):
        raise ValueError(f"`key` must be 'loss' or 'top1', got {key!r}.")
    if key == "top1" and not getattr(problem, "has_accuracy", True):
        raise ValueError("key='top1' needs a problem that measures accuracy; this one has a "
                         "custom loss without it: select on key='loss'.")
    scores = []
    for i in range(values.shape[0]):
        if network is None:
            metrics = problem.evaluate_vector(values[i], heldout)
        else:
            metrics = problem.evaluate_vector(None, heldout, module=network(values[i]))
        scores.append(metrics[key] if key == "loss" else -metrics[key])
    scores = torch.tensor(scores, dtype=torch.float64)
    finite = torch.isfinite(scores)
    if not bool(finite.any()):
        raise ValueError(f"Every one of the {len(scores)} individuals scored a non-finite "
                         f"held-out {key}; there is no network to choose.")
    return int(torch.where(finite, scores, torch.inf).argmin())


def pretrain_population(
    build_model: Callable[[], torch.nn.Module],
    train_set: Any,
    *,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    meta: Mapping[str, Any] | None = None,
    write_checkpoints: bool = True,
    **train_kwargs: Any,
):
    """Stage 1 of Algorithm 1 (backpropagation snapshots), saved once and reused on resume.

    Calls :func:`neuro_de.population.train_snapshots` on ``build_model()`` and, with
    ``checkpoint``, saves the snapshots (genomes, buffers, the trained network's state and
    loss history) atomically. With ``resume=True`` and an existing checkpoint the
    population is loaded instead of retrained.

    Args:
        build_model: Returns a fresh network of the architecture to train.
        train_set: The training data set.
        checkpoint: File for the population, or ``None``.
        resume: Load ``checkpoint`` when it exists.
        meta: Facts saved with the population and required to match on resume.
        write_checkpoints: Save ``checkpoint`` (``False`` on ranks other than 0).
        **train_kwargs: Passed to :func:`~neuro_de.population.train_snapshots`
            (``epochs``, ``keep_last``, ``optimizer``, ``lr``, ``seed``...).

    Returns:
        A :class:`~neuro_de.population.SnapshotResult`.
    """
    from .population import SnapshotResult, train_snapshots
    from .problems import ParameterView

    meta = dict(meta or {})
    if resume and checkpoint is not None and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint, expect=meta)
        model = build_model()
        model.load_state_dict(state["model_state"])
        model.to(train_kwargs.get("device", "cpu")).eval()
        return SnapshotResult(
            vectors=state["vectors"],
            view=train_kwargs.get("view") or ParameterView(
                model, exclude=train_kwargs.get("exclude")),
            buffers=state["buffers"], excluded=state.get("excluded"),
            meta=state["member_meta"], info=state["info"], model=model,
            loss_history=state["loss_history"],
        )
    snaps = train_snapshots(build_model(), train_set, **train_kwargs)
    if checkpoint is not None and write_checkpoints:
        save_checkpoint(
            {"vectors": snaps.vectors.cpu(), "buffers": snaps.buffers,
             "excluded": snaps.excluded,
             "model_state": {k: v.cpu() for k, v in snaps.model.state_dict().items()},
             "member_meta": snaps.meta, "info": snaps.info,
             "loss_history": list(snaps.loss_history)},
            checkpoint, meta=meta,
        )
    return snaps
