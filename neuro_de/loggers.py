"""EvoTorch loggers that EvoTorch itself lacks: :class:`TensorBoardLogger`.

EvoTorch 0.6 ships Pandas, StdOut, Pickling, MLflow, Sacred, Neptune and W&B loggers but no
TensorBoard one. :class:`TensorBoardLogger` writes every numeric status item of a search
algorithm as a TensorBoard scalar per generation, through ``torch.utils.tensorboard``.
TensorBoard is an optional dependency: ``pip install 'neuro_de[tensorboard]'``.

Example::

    from neuro_de.loggers import TensorBoardLogger

    with TensorBoardLogger(searcher, log_dir="runs/de_seed0") as tb:
        searcher.run(100)            # or neuro_de.runner.evolve(searcher, 100)
    # then: tensorboard --logdir runs
"""

from __future__ import annotations

import numbers
import os
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from evotorch.algorithms.searchalgorithm import SearchAlgorithm
from evotorch.logging import ScalarLogger

if TYPE_CHECKING:  # pragma: no cover
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["TensorBoardLogger"]

_INSTALL_HINT = (
    "TensorBoardLogger needs the tensorboard package: pip install 'neuro_de[tensorboard]' "
    "(or pip install tensorboard)."
)


def _summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``, imported on first use (TensorBoard is an
    optional dependency)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch raises ImportError when tensorboard is missing
        raise ImportError(_INSTALL_HINT) from exc
    return SummaryWriter


def _as_number(value: Any) -> float | None:
    """``value`` as a float when it is a real number (Python, NumPy or a one-element tensor),
    else ``None``. NaN and infinities are kept as they are."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            return None
        return float(value.detach().cpu().reshape(()))
    if isinstance(value, np.ndarray):
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            return None
        value = value.reshape(()).item()
    if isinstance(value, (numbers.Real, np.bool_)):  # int, float, bool and NumPy scalars
        return float(value)
    return None


class TensorBoardLogger(ScalarLogger):
    """An EvoTorch logger writing every numeric status item as a TensorBoard scalar.

    On each logged generation, every status item that is a real number (``int``, ``float``,
    ``bool`` as 0/1, a NumPy scalar or a one-element tensor) is written with
    ``SummaryWriter.add_scalar(tag, value, global_step=generation)``, where ``generation``
    is the status item ``iter`` (the searcher's step count, which a resumed neuro_de run
    restores). NaN and infinite values are written as they are; solutions, population-wide
    tensors, strings and other non-numeric items are skipped. The tag is the status key,
    prefixed by ``tag_prefix + "/"`` when one is given (TensorBoard groups the cards by it).

    Writing and flushing: the event file is opened at the first logged generation ``T``,
    in ``log_dir``, with ``SummaryWriter(purge_step=T)`` (when ``purge_stale``), so scalars at
    steps ``>= T`` left in ``log_dir`` by an interrupted run that is now resumed from a
    checkpoint, or by an earlier run into the same folder, are hidden by TensorBoard; use a
    new ``log_dir`` per run to compare runs. ``add_scalar`` only queues an event; the
    writer's background thread writes the queue out and flushes the file every
    ``flush_secs`` seconds. :meth:`flush` waits until every queued event is on disk, where
    a reader (TensorBoard, ``EventAccumulator``) sees it: it is called after every
    ``flush_every`` logged generations and at the end of ``searcher.run()``.
    :meth:`close` (or leaving a ``with`` block) flushes and closes the file; an owned writer
    is also closed when the logger is garbage-collected (with its searcher) and at
    interpreter exit. ``neuro_de.runner.evolve`` does not call ``searcher.run()``, so there
    close the logger (or set ``flush_every``) to be sure the last generations are written
    before reading them. Logging after :meth:`close` opens a new event file.

    Args:
        searcher: The search algorithm whose status is logged (the logger attaches itself
            to its log hook, as every EvoTorch logger does).
        log_dir: Folder of the event files (created). Exactly one of ``log_dir`` and
            ``writer`` is given.
        writer: An open ``SummaryWriter`` to write to instead (e.g. one shared by several
            searchers with different ``tag_prefix``); the logger flushes it but never closes
            it, and ``purge_stale`` does not apply.
        tag_prefix: Prefix of every tag (``"DE"`` gives ``DE/pop_best_eval``); ``""``: none.
        interval: Log every N generations.
        after_first_step: With ``interval > 1``, log at generations 1, N+1, 2N+1, ...
            instead of N, 2N, ...
        skip: Status keys not to write (``iter`` is the step already).
        flush_every: Flush after every N logged generations; 0: only every ``flush_secs``,
            at the end of ``searcher.run()`` and on :meth:`close`.
        flush_secs: Period of the writer's background flush, in seconds.
        purge_stale: Open the event file with ``purge_step`` = the first logged generation.

    Raises:
        ImportError: TensorBoard is not installed (the message names
            ``pip install 'neuro_de[tensorboard]'``).
        ValueError: Both or neither of ``log_dir`` and ``writer``, or a bad number.
    """

    def __init__(
        self,
        searcher: SearchAlgorithm,
        *,
        log_dir: str | os.PathLike | None = None,
        writer: SummaryWriter | None = None,
        tag_prefix: str = "",
        interval: int = 1,
        after_first_step: bool = False,
        skip: Iterable[str] = ("iter",),
        flush_every: int = 0,
        flush_secs: float = 10.0,
        purge_stale: bool = True,
    ):
        writer_class = _summary_writer_class()
        if (log_dir is None) == (writer is None):
            raise ValueError("Give exactly one of `log_dir` and `writer`.")
        if writer is not None and not isinstance(writer, writer_class):
            raise ValueError(f"`writer` must be a SummaryWriter, got {type(writer).__name__}.")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"`interval` must be an integer >= 1, got {interval!r}.")
        if isinstance(flush_every, bool) or not isinstance(flush_every, int) or flush_every < 0:
            raise ValueError(f"`flush_every` must be an integer >= 0, got {flush_every!r}.")
        if not (isinstance(flush_secs, numbers.Real) and flush_secs > 0):
            raise ValueError(f"`flush_secs` must be a number > 0, got {flush_secs!r}.")
        if not isinstance(tag_prefix, str):
            raise ValueError(f"`tag_prefix` must be a string, got {tag_prefix!r}.")
        if isinstance(skip, str):
            skip = (skip,)
        super().__init__(searcher, interval=interval, after_first_step=after_first_step)
        self._writer_class = writer_class
        self._log_dir = None if log_dir is None else os.fspath(log_dir)
        self._writer = writer
        self._owns_writer = writer is None
        self._finalizer: weakref.finalize | None = None
        self._prefix = tag_prefix.rstrip("/") + "/" if tag_prefix else ""
        self._skip = frozenset(skip)
        self._flush_every = flush_every
        self._flush_secs = float(flush_secs)
        self._purge_stale = bool(purge_stale)
        self._logged = 0
        searcher.end_of_run_hook.append(self._end_of_run)

    @property
    def log_dir(self) -> str:
        """The folder of the event files."""
        return self._log_dir if self._log_dir is not None else self._writer.log_dir

    @property
    def writer(self) -> SummaryWriter:
        """The ``SummaryWriter`` (opened now if no generation was logged yet, then without
        ``purge_step``)."""
        return self._open(None)

    def _open(self, step: int | None) -> SummaryWriter:
        if self._writer is None:
            os.makedirs(self._log_dir, exist_ok=True)
            purge = step if (self._purge_stale and step is not None) else None
            self._writer = self._writer_class(
                log_dir=self._log_dir, purge_step=purge, flush_secs=self._flush_secs
            )
            self._finalizer = weakref.finalize(self, self._writer.close)
        return self._writer

    def _log(self, status: dict) -> None:
        step = status.get("iter")
        step = int(step) if isinstance(step, numbers.Integral) else self._steps_count
        scalars = {}
        for key, value in status.items():
            if key in self._skip:
                continue
            number = _as_number(value)
            if number is not None:
                scalars[self._prefix + str(key)] = number
        writer = self._open(step)
        for tag, number in scalars.items():
            writer.add_scalar(tag, number, global_step=step)
        self._logged += 1
        if self._flush_every and self._logged % self._flush_every == 0:
            writer.flush()

    def _end_of_run(self, status: dict) -> None:
        self.flush()

    def flush(self) -> None:
        """Write the buffered events to disk now."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (an owned writer; a given ``writer`` is only
        flushed). Safe to call more than once."""
        if self._writer is None:
            return
        if not self._owns_writer:
            self._writer.flush()
            return
        if self._finalizer is not None:
            self._finalizer()  # closes the writer, once
            self._finalizer = None
        self._writer = None

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"TensorBoardLogger(log_dir={self.log_dir!r}, tag_prefix={self._prefix!r}, "
                f"interval={self._interval})")
