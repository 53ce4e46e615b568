"""Atomic checkpoints, safe loading, signal-aware stopping and network export.

A long run never loses work: :func:`save_checkpoint` writes to a temporary file in the
same folder, flushes it to disk and renames it over the target (``os.replace`` is atomic
on POSIX and Windows), so a crash or a signal during the write leaves the previous
checkpoint intact. :func:`load_checkpoint` uses ``torch.load(..., weights_only=True)``:
a checkpoint holds tensors and plain Python values only, never pickled objects, so loading
a file from elsewhere cannot execute code. Winners are exported as ``safetensors`` plus a
small JSON file of provenance (:func:`export_network`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FORMAT",
    "CheckpointError",
    "RunInterrupted",
    "SignalGuard",
    "export_network",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "neuro_de.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: unreadable, truncated, or written by another run."""


class RunInterrupted(RuntimeError):
    """A run stopped on SIGINT/SIGTERM after saving its checkpoint."""

    def __init__(self, signum: int, path: str | os.PathLike | None = None):
        self.signum = int(signum)
        self.path = None if path is None else Path(path)
        name = signal.Signals(self.signum).name
        where = f"; checkpoint saved to {self.path}" if self.path is not None else ""
        super().__init__(f"stopped by {name}{where}. Rerun with --resume to continue.")


def check_writable(path: str | os.PathLike, what: str = "checkpoint") -> Path:
    """Refuse, before any compute, a ``path`` that cannot be written.

    Args:
        path: The file the run will write (its parent folders are created as needed).
        what: The argument's name, used in the message.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        IsADirectoryError: ``path`` is an existing directory.
        PermissionError: the folder that would hold ``path`` cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"`{what}`={str(path)!r} is an existing directory; give a file path inside it, "
            f"e.g. {str(path / 'run.pt')!r}."
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"`{what}`={str(path)!r} cannot be written: {str(folder)!r} is not a writable "
            "folder. Choose a path in a folder you can write."
        )
    return path


def _atomic_write(path: Path, write) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(err.errno, f"cannot create the folder of {str(path)!r}: "
                        f"{err.strerror}") from err
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is an existing directory; give a file path.")
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}.{threading.get_ident()}")
    try:
        try:
            fh = open(tmp, "wb")
        except OSError as err:
            raise type(err)(err.errno, f"cannot write {str(path)!r}: {err.strerror}") from err
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass
    return path


_PLAIN = (bool, int, float, str, type(None), torch.dtype, torch.device, torch.Size)


def _check_loadable(value: Any, where: str) -> None:
    """Refuse, before writing, anything ``torch.load(weights_only=True)`` would refuse."""
    if isinstance(value, (torch.Tensor, *_PLAIN)):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; use str or int.")
            _check_loadable(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_loadable(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}; a checkpoint holds only tensors, numbers, "
        "strings, None and lists/tuples/dicts of them (so it loads with weights_only=True)."
    )


def save_checkpoint(
    state: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``state`` (tensors and plain Python values) to ``path`` atomically.

    Args:
        state: What to save. Every value must be loadable with ``weights_only=True``:
            tensors, numbers, strings, ``None``, and lists/tuples/dicts of those.
        path: Target file; its folder is created when missing.
        meta: Facts identifying the run (model, seed, algorithm, genome length...), kept
            beside the state; :func:`load_checkpoint` checks them against ``expect``.

    Returns:
        The path written.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"`state` must be a mapping, got {type(state).__name__}.")
    _check_loadable(state, "state")
    _check_loadable(meta or {}, "meta")
    payload = {"format": FORMAT, "meta": dict(meta or {}), "state": dict(state)}
    return _atomic_write(Path(path), lambda fh: torch.save(payload, fh))


def load_checkpoint(
    path: str | os.PathLike,
    *,
    expect: Mapping[str, Any] | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Args:
        path: The checkpoint file.
        expect: Entries the checkpoint's ``meta`` must hold with equal values (e.g. the
            model name and genome length): a checkpoint of another run raises instead of
            resuming wrongly.
        map_location: Where tensors are loaded.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        CheckpointError: If the file is corrupted or truncated, is not a neuro_de
            checkpoint, or does not match ``expect``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupted or truncated?): {exc}. Delete it "
            "to start over, or resume from an intact copy."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint.")
    meta = payload.get("meta", {})
    for key, value in (expect or {}).items():
        if key not in meta or meta[key] != value:
            raise CheckpointError(
                f"{path} belongs to another run: its {key!r} is {meta.get(key)!r}, this run "
                f"has {value!r}. Use another --checkpoint-dir or drop --resume."
            )
    return payload["state"]


class SignalGuard:
    """Turn SIGINT/SIGTERM into a flag that a loop polls, so it can save and stop cleanly.

    Use as a context manager around a run; the previous handlers are restored on exit. A
    second signal while the first is pending falls through to the previous handler (a
    second Ctrl-C still interrupts a run that does not poll). Outside the main thread
    (where Python cannot install handlers) the guard is inert.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
                return
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def export_network(
    module: torch.nn.Module, path: str | os.PathLike, *, provenance: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Save ``module``'s state as ``<path>.safetensors`` and ``provenance`` as ``<path>.json``.

    Args:
        module: The network (parameters and buffers are saved).
        path: File path without suffix.
        provenance: JSON-serialisable facts: algorithm, seed, generations, data, metrics.

    Returns:
        The two paths written.
    """
    from safetensors.torch import save as st_save

    base = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    weights = base.with_name(base.name + ".safetensors")
    meta = base.with_name(base.name + ".json")
    blob = st_save(tensors)
    _atomic_write(weights, lambda fh: fh.write(blob))
    text = json.dumps(dict(provenance), indent=2, sort_keys=True, default=str)
    _atomic_write(meta, lambda fh: fh.write(text.encode()))
    return weights, meta
