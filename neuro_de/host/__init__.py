"""The host side of a generation: the per-individual bookkeeping as compiled kernels on
NumPy arrays (:mod:`~neuro_de.host.kernels`) and the moves of small vectors between torch
and the host (:mod:`~neuro_de.host.arrays`). See docs/design.md, "Host bookkeeping"."""

from .arrays import (
    UniformBlock,
    as_host,
    host_dtype,
    host_rows_view,
    host_view,
    to_device,
    uniforms,
)

__all__ = [
    "UniformBlock", "as_host", "host_dtype", "host_rows_view", "host_view", "to_device", "uniforms",
]
