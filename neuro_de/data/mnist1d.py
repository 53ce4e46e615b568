"""MNIST-1D (Greydanus, 2020) as train / held-out / test tensors, generated locally.

MNIST-1D is a procedurally generated 1-D analogue of MNIST: ten 12-point templates
("digits") are padded, translated, scaled, sheared, blurred, mixed with correlated and
i.i.d. noise and resampled to 40 points. The ``mnist1d`` package builds the standard
data set from fixed arguments (:func:`mnist1d.data.get_dataset_args`, seed 42) in about
1.3 s: 5,000 signals, of which the first 4,000 are the official training part and the
last 1,000 the official test part, 500 per class in all.

:func:`load_mnist1d` returns them as a :class:`~neuro_de.data.DataSplits`:

* ``train`` and ``heldout``: the 4,000 training signals split by
  :func:`~neuro_de.data.train_heldout_split` (a plain, not stratified, seeded
  permutation: the default ``heldout_fraction=0.2`` gives 3,200 / 800, with 80 +- 9
  held-out signals per class expected, 70 to 103 for ``split_seed=0``), as
  :class:`~torch.utils.data.Subset` of one :class:`SignalTensorDataset`;
* ``test``: the official 1,000 test signals, a :class:`SignalTensorDataset`.

Signals are ``float32`` tensors ``(N, 1, 40)`` (one channel) and labels ``int64``. With
``normalize=True`` they are standardised as ``(x - mean) / std`` with one scalar mean and
std computed over every value of the *training split only* (not the held-out part, not
the test set) and applied to all three parts; both are recorded in :class:`SignalInfo`.

**Nothing is downloaded.** Only :func:`mnist1d.data.make_dataset` is called (never
``get_dataset``, which fetches a pickle from GitHub with ``requests`` when given
``download=True``, its default); ``make_dataset`` only draws from NumPy's random
generator (it touches no file and no network, as its source in mnist1d 0.0.2.post1
shows). It reseeds the *global* ``random`` and ``numpy.random`` generators; their states
are saved and restored around the call, so loading the data does not change them.

**Cache.** When ``root`` is given, the generated raw (unnormalised, ``float32``) arrays are
written there atomically as ``mnist1d_seed{data_seed}.npz`` (a temporary file in the
same folder, then :func:`os.replace`) and read back on later calls, with
``allow_pickle=False``, instead of being regenerated; the ``mnist1d`` package is then not
needed at all. The official ``mnist1d_data.pkl`` is deliberately not read: unpickling a
file can run arbitrary code.

:class:`DatasetInfo` describes square images: its ``input_shape`` would be
``(1, 40, 40)`` and its ``model_kwargs()`` would pass ``image_size``, both wrong for a
signal. The signals carry a :class:`SignalInfo` instead, whose ``input_shape`` is
``(channels, length)`` and whose ``model_kwargs()`` gives ``in_channels``,
``num_classes`` and ``length`` (the keywords of :class:`~neuro_de.models.Conv1DNet`).

References:
    S. Greydanus, D. Kobak. Scaling down deep learning with MNIST-1D. ICML 2024
    (arXiv:2011.14439). https://github.com/greydanus/mnist1d
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset, TensorDataset

from .splits import DataSplits, split_sizes, train_heldout_split

__all__ = [
    "MNIST1D_DEFAULT_SEED",
    "MNIST1D_LENGTH",
    "SignalInfo",
    "SignalTensorDataset",
    "load_mnist1d",
    "mnist1d_arrays",
    "mnist1d_cache_path",
]

#: Seed of the standard MNIST-1D (``get_dataset_args().seed``).
MNIST1D_DEFAULT_SEED = 42
#: Points per signal.
MNIST1D_LENGTH = 40
_TRAIN_SIZE, _TEST_SIZE, _NUM_CLASSES = 4000, 1000, 10
_CACHE_KEYS = ("x", "y", "x_test", "y_test")
_INSTALL_HINT = 'pip install mnist1d (or pip install "neuro_de[mnist1d]")'


@dataclass(frozen=True)
class SignalInfo:
    """What a model must agree with for 1-D signals: channels, length, number of classes.

    Attributes:
        name: Data set name (``"mnist1d"``).
        channels: Signal channels.
        length: Points per signal.
        num_classes: Number of classes.
        mean: Per-channel mean of the training split (one value for MNIST-1D).
        std: Per-channel standard deviation (population, ``correction=0``) of the
            training split.
        normalized: Whether ``(x - mean) / std`` was applied to the returned signals.
        train_size: Samples in the training split.
        heldout_size: Samples in the held-out split.
        test_size: Samples in the test split.
        data_seed: Seed MNIST-1D was generated with (42 for the standard data set).
        split_seed: Seed of the train / held-out permutation.
    """

    name: str
    channels: int
    length: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    normalized: bool = True
    train_size: int | None = None
    heldout_size: int | None = None
    test_size: int | None = None
    data_seed: int | None = None
    split_seed: int | None = None

    @property
    def input_shape(self) -> tuple[int, int]:
        """Shape of one input sample, ``(channels, length)``."""
        return (self.channels, self.length)

    def model_kwargs(self) -> dict[str, Any]:
        """Keywords sizing a 1-D model: ``Conv1DNet(**info.model_kwargs())``."""
        return {
            "in_channels": self.channels,
            "num_classes": self.num_classes,
            "length": self.length,
        }


class SignalTensorDataset(TensorDataset):
    """A :class:`~torch.utils.data.TensorDataset` of ``(signal, label)`` with its info.

    Args:
        signals: ``float32`` tensor ``(N, C, L)``.
        labels: ``int64`` tensor ``(N,)``.
        info: The :class:`SignalInfo` the signals agree with.
    """

    def __init__(self, signals: torch.Tensor, labels: torch.Tensor, *, info: SignalInfo):
        if signals.dim() != 3 or labels.dim() != 1 or len(signals) != len(labels):
            raise ValueError(
                f"expected signals (N, C, L) and labels (N,), got {tuple(signals.shape)} "
                f"and {tuple(labels.shape)}."
            )
        super().__init__(signals, labels)
        self.info = info

    @property
    def signals(self) -> torch.Tensor:
        """All signals, ``(N, C, L)``."""
        return self.tensors[0]

    @property
    def targets(self) -> torch.Tensor:
        """All labels, ``(N,)`` (the attribute name torchvision data sets use)."""
        return self.tensors[1]

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.signals.shape[1:])
        return f"SignalTensorDataset({self.info.name}, n={len(self)}, {shape})"


def _check_seed(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")
    if name == "data_seed" and value >= 2**32:
        raise ValueError(f"`data_seed` must be below 2**32 (NumPy's seed range), got {value!r}.")


def mnist1d_cache_path(root: str | os.PathLike, *, data_seed: int | None = None) -> Path:
    """Where :func:`load_mnist1d` caches the arrays: ``root/mnist1d_seed{data_seed}.npz``."""
    seed = MNIST1D_DEFAULT_SEED if data_seed is None else int(data_seed)
    return Path(root).expanduser() / f"mnist1d_seed{seed}.npz"


def _generate(seed: int) -> dict[str, np.ndarray]:
    """Runs ``mnist1d.data.make_dataset`` with the default arguments and ``seed``."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise ImportError(
            f"MNIST-1D needs the `mnist1d` package ({err}); install it with {_INSTALL_HINT}, "
            "or pass `root` holding a cached mnist1d_seed*.npz."
        ) from err
    args = get_dataset_args()
    args.seed = seed
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        # One BLAS thread: a multi-threaded BLAS rounds mnist1d's transforms differently
        # from call to call, so the data set would not be the same twice.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            raw = make_dataset(args)
    finally:  # make_dataset reseeds the global generators: leave them as they were
        random.setstate(py_state)
        np.random.set_state(np_state)
    return _checked(
        {
            "x": np.asarray(raw["x"], dtype=np.float32),
            "y": np.asarray(raw["y"], dtype=np.int64),
            "x_test": np.asarray(raw["x_test"], dtype=np.float32),
            "y_test": np.asarray(raw["y_test"], dtype=np.int64),
        },
        source=f"mnist1d.make_dataset(seed={seed})",
    )


def _checked(arrays: dict[str, np.ndarray], *, source: str) -> dict[str, np.ndarray]:
    """Validates the four arrays' shapes, dtypes and labels."""
    expected = {
        "x": ((_TRAIN_SIZE, MNIST1D_LENGTH), np.float32),
        "y": ((_TRAIN_SIZE,), np.int64),
        "x_test": ((_TEST_SIZE, MNIST1D_LENGTH), np.float32),
        "y_test": ((_TEST_SIZE,), np.int64),
    }
    for key, (shape, dtype) in expected.items():
        a = arrays.get(key)
        if a is None or a.shape != shape or a.dtype != dtype:
            got = "missing" if a is None else f"{a.dtype} {a.shape}"
            raise ValueError(
                f"{source}: array {key!r} should be {np.dtype(dtype).name} {shape}, got {got}."
            )
    for key in ("y", "y_test"):
        if arrays[key].min() < 0 or arrays[key].max() >= _NUM_CLASSES:
            raise ValueError(f"{source}: labels {key!r} are outside 0..{_NUM_CLASSES - 1}.")
    for key in ("x", "x_test"):
        if not np.isfinite(arrays[key]).all():
            raise ValueError(f"{source}: signals {key!r} contain NaN or infinite values.")
    return arrays


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(
            f"cannot read the MNIST-1D cache {str(path)!r} ({err}); delete it to regenerate."
        ) from err
    try:
        return _checked(arrays, source=f"cache {str(path)!r}")
    except ValueError as err:
        raise ValueError(f"{err} Delete the file to regenerate it.") from None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` atomically: a temporary file, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{key: arrays[key] for key in _CACHE_KEYS})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mnist1d_arrays(
    *, data_seed: int | None = None, root: str | os.PathLike | None = None
) -> dict[str, np.ndarray]:
    """The raw MNIST-1D arrays, from the cache under ``root`` or freshly generated.

    Args:
        data_seed: Seed of the generator (default 42, the standard data set).
        root: Cache folder (created if needed); None generates without caching.

    Returns:
        ``{"x": float32 (4000, 40), "y": int64 (4000,), "x_test": float32 (1000, 40),
        "y_test": int64 (1000,)}``, unnormalised (as ``make_dataset`` returns them,
        globally centred and scaled over all 5,000 signals).

    Raises:
        ImportError: If the data must be generated and ``mnist1d`` is not installed.
        ValueError: On a bad seed or an unreadable / malformed cache file.
    """
    _check_seed("data_seed", data_seed, allow_none=True)
    seed = MNIST1D_DEFAULT_SEED if data_seed is None else int(data_seed)
    if root is None:
        return _generate(seed)
    path = mnist1d_cache_path(root, data_seed=seed)
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"`root` {str(path.parent)!r} is a file, not a folder.")
    if path.is_file():
        return _read_cache(path)
    arrays = _generate(seed)
    _write_cache(path, arrays)
    return arrays


def load_mnist1d(
    *,
    heldout_fraction: float = 0.2,
    split_seed: int = 0,
    data_seed: int | None = None,
    normalize: bool = True,
    root: str | os.PathLike | None = None,
) -> DataSplits:
    """MNIST-1D as ``(train, heldout, test)``: 3,200 / 800 / 1,000 signals by default.

    Args:
        heldout_fraction: Fraction of the 4,000 training signals held out, in (0, 1)
            (``floor(fraction * 4000 + 0.5)`` signals).
        split_seed: Seed of the train / held-out permutation.
        data_seed: Seed of MNIST-1D's generator; None (default) gives the standard data
            set (seed 42), another value a fresh draw of the same distribution.
        normalize: Standardise with the training split's scalar mean and std.
        root: Folder caching the generated arrays (see the module docstring); None
            generates them in memory (about 1.3 s) without writing anything.

    Returns:
        A :class:`~neuro_de.data.DataSplits` of ``(N, 1, 40)`` ``float32`` signals and
        ``int64`` labels. ``train`` and ``heldout`` are :class:`~torch.utils.data.Subset`
        of one :class:`SignalTensorDataset`; ``test`` is a :class:`SignalTensorDataset`.
        Each of the three has the same :class:`SignalInfo` as its ``info`` attribute.

    Raises:
        ImportError: If the data must be generated and ``mnist1d`` is not installed.
        ValueError: On a bad fraction (outside (0, 1), or leaving an empty part), a bad
            seed, or an unreadable cache file.
    """
    split_sizes(_TRAIN_SIZE, heldout_fraction)  # validate before generating anything
    _check_seed("split_seed", split_seed)
    _check_seed("data_seed", data_seed, allow_none=True)
    if not isinstance(normalize, bool):
        raise ValueError(f"`normalize` must be True or False, got {normalize!r}.")
    seed = MNIST1D_DEFAULT_SEED if data_seed is None else int(data_seed)
    arrays = mnist1d_arrays(data_seed=seed, root=root)

    x = torch.from_numpy(arrays["x"]).unsqueeze(1)
    y = torch.from_numpy(arrays["y"])
    x_test = torch.from_numpy(arrays["x_test"]).unsqueeze(1)
    y_test = torch.from_numpy(arrays["y_test"])

    raw_train, raw_heldout = train_heldout_split(
        TensorDataset(x, y), heldout_fraction, seed=int(split_seed)
    )
    train_values = x[torch.as_tensor(raw_train.indices)]
    # NumPy in float64: one summation order whatever torch's thread count (a threaded
    # float32 sum rounds differently, and the statistics must be the same every time)
    values = train_values.numpy().astype(np.float64)
    mean, std = float(values.mean()), float(values.std())
    if normalize:
        x = (x - mean) / std
        x_test = (x_test - mean) / std
    info = SignalInfo(
        name="mnist1d",
        channels=1,
        length=MNIST1D_LENGTH,
        num_classes=_NUM_CLASSES,
        mean=(mean,),
        std=(std,),
        normalized=normalize,
        train_size=len(raw_train),
        heldout_size=len(raw_heldout),
        test_size=len(y_test),
        data_seed=seed,
        split_seed=int(split_seed),
    )
    full = SignalTensorDataset(x.contiguous(), y, info=info)
    train, heldout = Subset(full, raw_train.indices), Subset(full, raw_heldout.indices)
    train.info = info
    heldout.info = info
    test = SignalTensorDataset(x_test.contiguous(), y_test, info=info)
    return DataSplits(train, heldout, test)
