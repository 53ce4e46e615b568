"""Reader for the IDX binary format of MNIST-like data sets, gzip-compressed or not.

torchvision's ``MNIST`` reads only the uncompressed ``*-ubyte`` files; this reader also
reads the ``*-ubyte.gz`` files directly, in memory, so a read-only folder holding only the
compressed files can be used without writing anything. The tensors are identical to
torchvision's (``uint8`` images of shape ``(N, 28, 28)``, ``int64`` labels).

References:
    Y. LeCun, C. Cortes, C. J. C. Burges. The MNIST database of handwritten digits,
    http://yann.lecun.com/exdb/mnist/ (section "File formats").
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch

__all__ = ["read_idx", "find_idx_file"]

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def find_idx_file(folder: Path, stem: str) -> Path | None:
    """Returns ``folder/stem`` if it exists, else ``folder/stem.gz`` if that exists, else None."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: str | Path) -> torch.Tensor:
    """Reads one IDX file (``.gz`` files are decompressed in memory).

    Args:
        path: The file, e.g. ``.../MNIST/raw/train-images-idx3-ubyte.gz``.

    Returns:
        A tensor with the file's shape and type (``uint8`` for MNIST images and labels).

    Raises:
        ValueError: If the file is not a well-formed IDX file (the message names it).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"cannot read IDX file {path}: {err}") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated (incomplete IDX header).")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path} holds {len(data)} bytes but its IDX header {shape} implies {expected}; "
            "the file is truncated or corrupt."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))
