"""Moving the small per-individual vectors between torch and the host kernels."""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "UniformBlock", "as_host", "host_dtype", "host_rows_view", "host_view", "to_device",
    "uniforms",
]


def as_host(x, dtype=None) -> np.ndarray:
    """A NumPy array of ``x`` (a tensor on any device, an array, a sequence): a view of a
    CPU tensor's memory, a copy from an accelerator (or of a dtype NumPy lacks, as float32).
    ``dtype`` converts when it differs."""
    if isinstance(x, torch.Tensor):
        if x.requires_grad:
            x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        a = x.numpy()
    else:
        a = np.asarray(x)
    if dtype is not None and a.dtype != dtype:
        a = a.astype(dtype)
    return a


def host_dtype(dtype: torch.dtype) -> np.dtype:
    """The NumPy dtype that holds host copies of values of ``dtype``: float64 for float64,
    float32 otherwise (NumPy lacks bfloat16, and the kernels are compiled for these two)."""
    return np.dtype(np.float64 if dtype == torch.float64 else np.float32)


def host_rows_view(t: torch.Tensor) -> np.ndarray | None:
    """A NumPy view of a CPU tensor of rows (float32/float64, row-contiguous), for the
    compiled row copies; None where there is none (an accelerator, another dtype)."""
    if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64):
        return None
    if t.ndim != 2 or (t.shape[1] > 1 and t.stride(1) != 1):
        return None
    return t.detach().numpy()


def host_view(a: np.ndarray) -> torch.Tensor:
    """A CPU tensor sharing ``a``'s memory, made outside inference mode so that it stays
    an ordinary tensor wherever it is used."""
    with torch.inference_mode(False):
        return torch.from_numpy(a)


def to_device(a: np.ndarray, device: torch.device, view: torch.Tensor | None = None):
    """``a`` as a tensor on ``device``: on the CPU ``view`` (a tensor already sharing
    ``a``'s memory) or a new view, elsewhere a copy."""
    if device.type == "cpu":
        return view if view is not None else torch.from_numpy(a)
    return torch.from_numpy(a).to(device)


def uniforms(shape, generator: torch.Generator | None, device=None) -> np.ndarray:
    """float64 uniforms in [0, 1) on the host, drawn from ``generator`` (on its own
    device; on ``device`` or the CPU with the global generator when it is None)."""
    if generator is not None:
        device = generator.device
    u = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    return as_host(u)


class UniformBlock:
    """A block of float64 uniforms redrawn in place each time (one torch call), with its
    host view made once on the CPU (copied from an accelerator)."""

    def __init__(self, shape, device):
        with torch.inference_mode(False):
            self._block = torch.empty(shape, dtype=torch.float64, device=device)
        self._host = self._block.numpy() if self._block.device.type == "cpu" else None

    def draw(self, generator: torch.Generator | None) -> np.ndarray:
        self._block.uniform_(generator=generator)
        return self._host if self._host is not None else self._block.cpu().numpy()
